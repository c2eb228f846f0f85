//! The decoded packets of a pass, kept for the stage that needs them again: rule drafting
//! samples every wave's packets and replays its drafts on every packet. Without them it reads
//! and decodes the whole capture a second time: 0.9 s of the 6.7 s of CPU, and 0.4 s of the
//! 4 s, that `holoscope report` took on the 1.5 M-packet bench capture.
//!
//! The pass hands every consumer the same shared batch, so keeping one is keeping a reference
//! to it: no copy. The packets are held only up to a budget ([`Options::keep_packets`]); a
//! capture beyond it gives them all up at once, and drafting reads the file again as before.
//!
//! [`Options::keep_packets`]: super::Options::keep_packets

use crate::decode::Packet;
use std::sync::Arc;

/// Packets [`super::Options::keep_packets`] allows by default when a command will draft rules.
/// A decoded packet takes 192 bytes plus its DNS, TLS or HTTP parts, so this is about
/// 0.8 GB at most; on the 1.5 M-packet bench capture `report`'s peak grew by 104 MiB, since
/// drafting no longer builds its own copies.
pub const DEFAULT_KEEP: u64 = 4_000_000;

/// Every packet of the pass that the capture filter kept, in file order, in the batches the
/// pass decoded them in.
#[derive(Clone, Default)]
pub struct KeptPackets {
    batches: Vec<Arc<Vec<Packet>>>,
    packets: u64,
}

impl std::fmt::Debug for KeptPackets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptPackets")
            .field("batches", &self.batches.len())
            .field("packets", &self.packets)
            .finish()
    }
}

impl KeptPackets {
    /// Number of packets kept.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.packets
    }

    /// True when no packet is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packets == 0
    }

    /// The packets in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Packet> {
        self.batches.iter().flat_map(|b| b.iter())
    }

    /// The batches, in file order (the packets in the order the pass decoded them).
    pub fn batches(&self) -> impl Iterator<Item = &[Packet]> {
        self.batches.iter().map(|b| b.as_slice())
    }

    /// Packet `index` of batch `batch` (in [`KeptPackets::batches`] order).
    #[must_use]
    pub fn get(&self, batch: usize, index: usize) -> Option<&Packet> {
        self.batches.get(batch).and_then(|b| b.get(index))
    }
}

/// Keeps the pass's batches while they fit the budget.
pub(super) struct Keeper {
    budget: Option<u64>,
    kept: KeptPackets,
}

impl Keeper {
    /// A keeper holding at most `budget` packets (`None`: keeps nothing).
    pub(super) fn new(budget: Option<u64>) -> Self {
        Keeper {
            budget,
            kept: KeptPackets::default(),
        }
    }

    /// Keeps one batch, or gives everything up once the batches exceed the budget (so memory
    /// is bounded by the budget, whatever the capture's size).
    pub(super) fn keep(&mut self, batch: &Arc<Vec<Packet>>) {
        let Some(budget) = self.budget else { return };
        let n = self.kept.packets + batch.len() as u64;
        if n > budget {
            self.budget = None;
            self.kept = KeptPackets::default();
            return;
        }
        self.kept.packets = n;
        self.kept.batches.push(Arc::clone(batch));
    }

    /// The packets, if every batch fitted.
    pub(super) fn finish(self) -> Option<KeptPackets> {
        self.budget.map(|_| self.kept)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn batch(n: usize) -> Arc<Vec<Packet>> {
        Arc::new(vec![Packet::default(); n])
    }

    #[test]
    fn keeps_batches_within_the_budget() {
        let mut k = Keeper::new(Some(10));
        let (a, b) = (batch(4), batch(6));
        k.keep(&a);
        k.keep(&b);
        drop((a, b));
        let kept = k.finish().unwrap();
        assert_eq!(kept.len(), 10);
        let sizes: Vec<usize> = kept.batches().map(<[Packet]>::len).collect();
        assert_eq!(sizes, vec![4, 6]);
        assert_eq!(kept.iter().count(), 10);
    }

    #[test]
    fn gives_everything_up_past_the_budget() {
        let mut k = Keeper::new(Some(10));
        let (a, b, c) = (batch(4), batch(7), batch(1));
        k.keep(&a);
        k.keep(&b);
        // Nothing is kept any more, even what would fit again.
        k.keep(&c);
        assert_eq!(Arc::strong_count(&a), 1, "the first batch was let go");
        assert!(k.finish().is_none());
        assert!(Keeper::new(None).finish().is_none());
    }
}
