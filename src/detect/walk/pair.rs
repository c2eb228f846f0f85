//! The walk's loop on two threads: a second one owns the recent window, judges it and the
//! bucket against the baseline, and moves the window on to the next bucket while this one
//! takes the walk's step (the score, the waves, what the baseline learns) and finds the
//! shifts of the hot bucket before.
//!
//! The window keeps a copy of the baseline's count of every value in it, the bucket's own
//! values included, so judging the bucket there needs no lookup into the baseline's large
//! map (about 50 ms of CPU on the bench capture when done with lookups). A hot bucket teaches the
//! baseline nothing, so its shifts are found while the next bucket is judged, not between.
//!
//! Why not a `rayon::join` for each pair of halves (as before): the halves are 50-140 µs,
//! short enough for the pool's second worker to fall asleep between them, and waking it took
//! most of each half. Two joins per bucket bought 10% over running every half on one thread
//! (walk 0.30 s against 0.33 s on the bench capture, whose longer halves sum to 0.19 s). Here
//! the two threads hand each other one message per bucket each way and wait for it spinning,
//! then yielding, and only then blocking.

use super::step::Walk;
use crate::detect::features::BucketFeatures;
use crate::detect::shift::Shift;
use crate::detect::window::Window;
use crate::timeline::Bucket;
use crossbeam_channel::{Receiver, TryRecvError, bounded};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// Busy polls of a hand-off before yielding the core.
const SPINS: u32 = 200;
/// Yields before blocking: a hand-off this late means the other thread lost its core.
const YIELDS: u32 = 400;

/// Walks `buckets` in order, each bucket and the window ending with it judged against the
/// baseline as it stands, then stepped; returns the walk.
pub(super) fn run<'a>(
    walk: Walk<'a>,
    buckets: &[Bucket],
    width: i64,
    res_score: &(dyn Fn(usize) -> Option<f64> + Sync),
) -> Walk<'a> {
    let shared = RwLock::new(walk);
    std::thread::scope(|s| {
        // Made in here, so that a panic on this side drops the sender and ends the window's
        // thread instead of leaving the scope waiting for it.
        let (go_tx, go_rx) = bounded::<usize>(1);
        let (wx_tx, wx_rx) = bounded::<(BucketFeatures, BucketFeatures)>(1);
        let shared = &shared;
        let window_side = (!sequential()).then(|| {
            std::thread::Builder::new()
                .name("holo-window".into())
                .spawn_scoped(s, move || {
                    let mut window = Window::new(width);
                    window.advance(buckets, 0);
                    // Bucket i's window is judged once the baseline has taken step i - 1; then
                    // the window moves on while step i runs (it reads the buckets alone).
                    while let Some(i) = wait(&go_rx) {
                        let Some(b) = buckets.get(i) else { break };
                        let both = {
                            let base = &read(shared).base;
                            let wx = window.features(base);
                            (window.newest_features(b, base, width, res_score(i)), wx)
                        };
                        if wx_tx.send(both).is_err() {
                            break;
                        }
                        window.advance(buckets, i + 1);
                    }
                })
        });
        let Some(Ok(window_side)) = window_side else {
            // No thread to be had: the same work, one half after the other.
            let mut window = Window::new(width);
            window.advance(buckets, 0);
            let walk = &mut *shared.write().unwrap_or_else(PoisonError::into_inner);
            for (i, b) in buckets.iter().enumerate() {
                let wx = window.features(&walk.base);
                let x = window.newest_features(b, &walk.base, width, res_score(i));
                walk.step_now(i, b, &x, &wx);
                window.advance(buckets, i + 1);
            }
            return;
        };
        // A hot bucket whose shifts are still to be found.
        let mut hot: Option<(usize, &Bucket)> = None;
        for (i, b) in buckets.iter().enumerate() {
            // The window's thread has taken the previous message: this never waits.
            if go_tx.send(i).is_err() {
                break;
            }
            let found: Option<(usize, Vec<Shift>)> =
                hot.take().map(|(j, hb)| (j, read(shared).shifts_of(hb)));
            let Some((x, wx)) = wait(&wx_rx) else {
                break;
            };
            let mut walk = shared.write().unwrap_or_else(PoisonError::into_inner);
            if let Some((j, s)) = found {
                walk.bucket_shifts.insert(j, s);
            }
            if walk.step(i, b, &x, &wx) {
                hot = Some((i, b));
            }
        }
        if let Some((j, hb)) = hot {
            let mut walk = shared.write().unwrap_or_else(PoisonError::into_inner);
            let s = walk.shifts_of(hb);
            walk.bucket_shifts.insert(j, s);
        }
        drop(go_tx);
        // A panic on the window's side is a bug: pass it on rather than return half a walk.
        if let Err(e) = window_side.join() {
            std::panic::resume_unwind(e);
        }
    });
    shared.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// Tests compare the two ways of walking.
#[cfg(test)]
static SEQUENTIAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(test)]
fn sequential() -> bool {
    SEQUENTIAL.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(not(test))]
const fn sequential() -> bool {
    false
}

fn read<'g, 'a>(shared: &'g RwLock<Walk<'a>>) -> RwLockReadGuard<'g, Walk<'a>> {
    shared.read().unwrap_or_else(PoisonError::into_inner)
}

/// The next message, or `None` once the other side is gone.
fn wait<T>(rx: &Receiver<T>) -> Option<T> {
    for n in 0..SPINS + YIELDS {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if n < SPINS => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.recv().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::SEQUENTIAL;
    use crate::detect::walk::tests::analyze_demo;
    use std::sync::atomic::Ordering;

    /// The two threads find what one thread finds: every bucket's score, every hot bucket's
    /// shifts (found a bucket late on two threads) and every wave, to the bit.
    #[test]
    fn two_threads_walk_as_one() {
        let run = |one: bool| {
            SEQUENTIAL.store(one, Ordering::Relaxed);
            let a = analyze_demo();
            SEQUENTIAL.store(false, Ordering::Relaxed);
            a
        };
        let (one, two) = (run(true), run(false));
        let (f1, f2) = (&one.findings, &two.findings);
        assert!(!f1.bucket_shifts.is_empty() && !f1.waves.is_empty());
        assert_eq!(format!("{:?}", f1.buckets), format!("{:?}", f2.buckets));
        assert_eq!(
            format!("{:?}", f1.bucket_shifts),
            format!("{:?}", f2.bucket_shifts)
        );
        assert_eq!(format!("{:?}", f1.waves), format!("{:?}", f2.waves));
        assert_eq!(format!("{:?}", f1.entities), format!("{:?}", f2.entities));
    }
}
