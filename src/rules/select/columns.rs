//! The value columns of the samples: each packet's value of a field as an index into the
//! field's distinct values, with wave and baseline counts per value, and the same values as
//! plain numbers for counting range, bound, mask and prefix candidates in one loop.

use super::{FIELDS, Sample};
use crate::decode::{Field, Packet, ValueRef};
use crate::timeline::FieldKey;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// No value of the field (the packet lacks it).
pub(super) const ABSENT: u32 = u32::MAX;

/// Value -> index for one field's values. Integers, IPv4 addresses and MACs are keyed by
/// their packed timeline key ([`FieldKey::inline`]): one word to hash instead of a
/// [`ValueRef`], which was most of building the columns. Text and IPv6 keep a value map.
pub(super) struct ValueIds<'a> {
    field: Field,
    packed: FxHashMap<FieldKey, u32>,
    other: FxHashMap<ValueRef<'a>, u32>,
}

impl<'a> ValueIds<'a> {
    fn new(field: Field) -> Self {
        ValueIds {
            field,
            packed: FxHashMap::default(),
            other: FxHashMap::default(),
        }
    }

    /// The index of a value, if it has one.
    pub(super) fn get(&self, v: ValueRef<'_>) -> Option<u32> {
        match FieldKey::inline(self.field, v) {
            Some(k) => self.packed.get(&k).copied(),
            None => {
                // Maps are covariant in their keys: look up with the shorter-lived value.
                let other: &FxHashMap<ValueRef<'_>, u32> = &self.other;
                other.get(&v).copied()
            }
        }
    }

    /// The index of a value, giving it `next()` when it has none yet.
    fn get_or_insert_with(&mut self, v: ValueRef<'a>, next: impl FnOnce() -> u32) -> u32 {
        match FieldKey::inline(self.field, v) {
            Some(k) => *self.packed.entry(k).or_insert_with(next),
            None => *self.other.entry(v).or_insert_with(next),
        }
    }
}

/// Every baseline sample packet's value of one drafting field, as an index into the field's
/// distinct values, with the count of each over the whole sample.
pub(super) struct BaseColumn<'a> {
    pub(super) ids: ValueIds<'a>,
    pub(super) values: Vec<ValueRef<'a>>,
    pub(super) base: Vec<u32>,
    /// Baseline packets per value index (the first greedy step counts the whole sample).
    pub(super) all: Vec<u64>,
}

/// The baseline sample's columns for every drafting field. Every wave of a capture is drafted
/// against the same baseline sample, so these are found once and shared: hashing the 60,000
/// baseline packets' values again for each of 60 waves was a sixth of drafting's time.
pub struct BaseColumns<'a> {
    pub(super) packets: &'a [&'a Packet],
    pub(super) cols: Vec<BaseColumn<'a>>,
}

impl<'a> BaseColumns<'a> {
    /// The columns of `base` (the [`Sample::base`] they will be used with).
    #[must_use]
    pub fn new(base: &'a [&'a Packet]) -> Self {
        let cols = FIELDS
            .iter()
            .map(|&field| {
                let mut col = BaseColumn {
                    ids: ValueIds::new(field),
                    values: Vec::new(),
                    base: Vec::with_capacity(base.len()),
                    all: Vec::new(),
                };
                for p in base {
                    let id = match crate::rules::matcher::field_value(p, field) {
                        None => ABSENT,
                        Some(v) => col.ids.get_or_insert_with(v, || {
                            col.values.push(v);
                            col.all.push(0);
                            u32::try_from(col.values.len() - 1).unwrap_or(ABSENT)
                        }),
                    };
                    if let Some(n) = col.all.get_mut(id as usize) {
                        *n += 1;
                    }
                    col.base.push(id);
                }
                col
            })
            .collect();
        BaseColumns {
            packets: base,
            cols,
        }
    }
}

impl BaseColumns<'_> {
    /// Whether some baseline sample packet has this value of a drafting field (false for
    /// any other field).
    #[must_use]
    pub fn has(&self, field: Field, v: ValueRef<'_>) -> bool {
        FIELDS
            .iter()
            .position(|f| *f == field)
            .and_then(|i| self.cols.get(i))
            .is_some_and(|c| c.ids.get(v).is_some())
    }
}

/// Every sample packet's value of one drafting field, as an index into the field's distinct
/// values (the baseline's first, then those only the wave has), found once per [`choose`]:
/// each greedy step then counts indices instead of hashing every packet's value again for
/// every field.
pub(super) struct Column<'c, 'a> {
    pub(super) shared: &'c BaseColumn<'a>,
    /// Values the baseline sample does not have, with indices after the baseline's.
    pub(super) extra: Vec<ValueRef<'a>>,
    pub(super) extra_ids: ValueIds<'a>,
    pub(super) wave: Vec<u32>,
    /// The values as plain numbers, found on the first range or prefix candidate.
    pub(super) numbers: std::cell::OnceCell<Option<Numbers>>,
}

/// A [`Column`] being built, one packet at a time.
struct Building<'c, 'a> {
    field: Field,
    shared: &'c BaseColumn<'a>,
    extra: Vec<ValueRef<'a>>,
    extra_ids: ValueIds<'a>,
    wave: Vec<u32>,
}

impl<'c, 'a> Building<'c, 'a> {
    fn new(shared: &'c BaseColumn<'a>, field: Field, packets: usize) -> Self {
        Building {
            field,
            shared,
            extra: Vec::new(),
            extra_ids: ValueIds::new(field),
            wave: Vec::with_capacity(packets),
        }
    }

    /// The next wave packet's value index (new values get the next index after the
    /// baseline's and the wave's earlier ones).
    fn push(&mut self, p: &'a Packet) {
        let id = match crate::rules::matcher::field_value(p, self.field) {
            None => ABSENT,
            Some(v) => match self.shared.ids.get(v) {
                Some(id) => id,
                None => {
                    let next = self.shared.values.len() + self.extra.len();
                    let extra = &mut self.extra;
                    self.extra_ids.get_or_insert_with(v, || {
                        extra.push(v);
                        u32::try_from(next).unwrap_or(ABSENT)
                    })
                }
            },
        };
        self.wave.push(id);
    }

    fn done(self) -> Column<'c, 'a> {
        Column {
            shared: self.shared,
            extra: self.extra,
            extra_ids: self.extra_ids,
            wave: self.wave,
            numbers: std::cell::OnceCell::new(),
        }
    }
}

/// Every value of a column as a plain number, by value index, when they are all integers or
/// all IPv4 addresses: a range, bound, prefix or mask candidate is then counted in a tight
/// loop over these instead of matching each value through [`Condition::matches_value`]
/// (those scans were a third of the condition search).
pub(super) enum Numbers {
    U(Vec<u64>),
    V4(Vec<u32>),
}

impl Numbers {
    pub(super) fn of<'a>(mut values: impl Iterator<Item = ValueRef<'a>>) -> Option<Self> {
        let first = values.next()?;
        let rest = std::iter::once(first).chain(values);
        match first {
            ValueRef::U(_) => rest
                .map(|v| match v {
                    ValueRef::U(x) => Some(x),
                    _ => None,
                })
                .collect::<Option<Vec<u64>>>()
                .map(Numbers::U),
            ValueRef::Ip(IpAddr::V4(_)) => rest
                .map(|v| match v {
                    ValueRef::Ip(IpAddr::V4(a)) => Some(u32::from(a)),
                    _ => None,
                })
                .collect::<Option<Vec<u32>>>()
                .map(Numbers::V4),
            _ => None,
        }
    }
}

impl<'c, 'a> Column<'c, 'a> {
    /// The wave sample's column of one field (as [`Column::all`] finds it).
    #[cfg(test)]
    pub(super) fn new(s: &Sample<'a>, shared: &'c BaseColumn<'a>, field: Field) -> Self {
        let mut b = Building::new(shared, field, s.wave.len());
        for p in s.wave {
            b.push(p);
        }
        b.done()
    }

    /// The wave sample's columns of every drafting field ([`FIELDS`], with the baseline's
    /// `shared` in the same order), found in one walk over the packets: a column at a time,
    /// each walk read every sample packet again (hundreds of megabytes on a bench capture's
    /// 64 waves) for one value of each.
    pub(super) fn all(s: &Sample<'a>, shared: &'c [BaseColumn<'a>]) -> Vec<Self> {
        let mut cols: Vec<Building<'c, 'a>> = FIELDS
            .iter()
            .zip(shared)
            .map(|(f, sh)| Building::new(sh, *f, s.wave.len()))
            .collect();
        for p in s.wave {
            for c in &mut cols {
                c.push(p);
            }
        }
        cols.into_iter().map(Building::done).collect()
    }

    /// The index of a value, if either sample has it.
    pub(super) fn id_of(&self, v: ValueRef<'_>) -> Option<u32> {
        self.shared.ids.get(v).or_else(|| self.extra_ids.get(v))
    }

    pub(super) fn len(&self) -> usize {
        self.shared.values.len() + self.extra.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = ValueRef<'a>> + '_ {
        self.shared.values.iter().chain(&self.extra).copied()
    }

    pub(super) fn numbers(&self) -> Option<&Numbers> {
        self.numbers
            .get_or_init(|| Numbers::of(self.values()))
            .as_ref()
    }
}

/// Wave and baseline packets over the value indices whose number satisfies `hit`.
pub(super) fn sum_where<T: Copy>(
    xs: &[T],
    counts: &[(u64, u64)],
    hit: impl Fn(T) -> bool,
) -> (usize, usize) {
    let (mut nw, mut nb) = (0u64, 0u64);
    for (x, (w, b)) in xs.iter().zip(counts) {
        if hit(*x) {
            nw += w;
            nb += b;
        }
    }
    let n = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
    (n(nw), n(nb))
}
