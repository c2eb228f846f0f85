//! Packing a (field, value) pair into one `u64` so per-bucket counting is a single hash-map
//! increment with no allocation.
//!
//! Layout: `field (8 bits) | kind (2 bits) | payload (54 bits)`. Integers up to 2^54, IPv4
//! addresses and MACs (48 bits) are stored inline; IPv6 addresses and text are interned once in
//! the [`Interner`] and stored by id. Decoding a key needs the interner that made it.

use crate::decode::{Field, Value, ValueRef};
use crate::text::Untrusted;
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr};

const KIND_U: u64 = 0;
const KIND_V4: u64 = 1;
const KIND_MAC: u64 = 2;
const KIND_INTERNED: u64 = 3;
const PAYLOAD_BITS: u32 = 54;
const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;

/// A packed (field, value) key. Ordering groups keys by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldKey(pub u64);

impl FieldKey {
    /// The field part.
    #[must_use]
    pub fn field(self) -> Field {
        let idx = usize::try_from(self.0 >> 56).unwrap_or(0);
        Field::ALL.get(idx).copied().unwrap_or(Field::Timestamp)
    }

    /// The key of a small integer value (no interner needed).
    #[must_use]
    pub fn small(field: Field, v: u64) -> Self {
        Self::pack(field, KIND_U, v)
    }

    /// True when the value lives in an [`Interner`] (IPv6, text, huge integers).
    #[must_use]
    pub fn is_interned(self) -> bool {
        self.kind() == KIND_INTERNED
    }

    fn kind(self) -> u64 {
        (self.0 >> PAYLOAD_BITS) & 0b11
    }

    fn payload(self) -> u64 {
        self.0 & PAYLOAD_MASK
    }

    /// The key of a value stored inline (integers up to 2^54, IPv4 addresses, MACs): no
    /// interner needed, so any table can key a (field, value) by it with one cheap hash.
    /// `None` for values an [`Interner`] holds (IPv6, text, huge integers).
    #[inline]
    #[must_use]
    pub fn inline(field: Field, v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::U(u) if u <= PAYLOAD_MASK => Some(FieldKey::pack(field, KIND_U, u)),
            ValueRef::Ip(IpAddr::V4(a)) => {
                Some(FieldKey::pack(field, KIND_V4, u64::from(u32::from(a))))
            }
            ValueRef::Mac(m) => {
                let mut b = [0u8; 8];
                b[2..].copy_from_slice(&m);
                Some(FieldKey::pack(field, KIND_MAC, u64::from_be_bytes(b)))
            }
            _ => None,
        }
    }

    fn pack(field: Field, kind: u64, payload: u64) -> Self {
        FieldKey((u64::from(field as u8) << 56) | (kind << PAYLOAD_BITS) | (payload & PAYLOAD_MASK))
    }
}

/// Interned values that do not fit inline (IPv6 addresses, text, huge integers).
///
/// Indexed by the hash of the borrowed value, with a chain of ids per hash, so a lookup that
/// hits (nearly every one) compares against the stored value without building an owned copy:
/// the old map keyed by `Value` cloned every DNS name or HTTP path once per packet.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    /// Hash of a value -> the newest id with that hash.
    heads: FxHashMap<u64, u32>,
    /// Per id: the next older id with the same hash (`u32::MAX` ends the chain).
    chain: Vec<u32>,
    values: Vec<Value>,
}

fn hash_of(v: ValueRef<'_>) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(v)
}

impl Interner {
    /// Number of interned values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing was interned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn find(&self, h: u64, v: ValueRef<'_>) -> Option<u32> {
        let mut id = *self.heads.get(&h)?;
        while id != u32::MAX {
            let i = id as usize;
            if self.values.get(i).is_some_and(|x| x.as_ref() == v) {
                return Some(id);
            }
            id = self.chain.get(i).copied().unwrap_or(u32::MAX);
        }
        None
    }

    fn intern_ref(&mut self, v: ValueRef<'_>) -> u64 {
        let h = hash_of(v);
        if let Some(id) = self.find(h, v) {
            return u64::from(id);
        }
        let id = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(v.to_owned());
        self.chain
            .push(self.heads.get(&h).copied().unwrap_or(u32::MAX));
        self.heads.insert(h, id);
        u64::from(id)
    }

    /// The key for a value of a field, interning it when needed.
    pub fn key(&mut self, field: Field, v: ValueRef<'_>) -> FieldKey {
        match FieldKey::inline(field, v) {
            Some(k) => k,
            None => FieldKey::pack(field, KIND_INTERNED, self.intern_ref(v)),
        }
    }

    /// The key of a value if it exists already (never interns; for queries and rule replay).
    #[must_use]
    pub fn lookup(&self, field: Field, v: &Value) -> Option<FieldKey> {
        let v = v.as_ref();
        FieldKey::inline(field, v).or_else(|| {
            self.find(hash_of(v), v)
                .map(|id| FieldKey::pack(field, KIND_INTERNED, u64::from(id)))
        })
    }

    /// The value a key stands for.
    #[must_use]
    pub fn value(&self, key: FieldKey) -> Value {
        let p = key.payload();
        match key.kind() {
            KIND_U => Value::U(p),
            KIND_V4 => Value::Ip(IpAddr::V4(Ipv4Addr::from(u32::try_from(p).unwrap_or(0)))),
            KIND_MAC => {
                let b = p.to_be_bytes();
                Value::Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            _ => usize::try_from(p)
                .ok()
                .and_then(|i| self.values.get(i).cloned())
                .unwrap_or_else(|| Value::Text(Untrusted::new(b"?"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn keys_round_trip_every_kind() {
        let mut i = Interner::default();
        let t = Untrusted::new(b"example.com");
        let cases = [
            (Field::DstPort, Value::U(53)),
            (
                Field::SrcIp,
                Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            ),
            (Field::SrcIp, Value::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            (Field::SrcMac, Value::Mac([1, 2, 3, 4, 5, 6])),
            (Field::DnsQname, Value::Text(t)),
            (Field::DnsId, Value::U(u64::MAX)),
        ];
        for (f, v) in cases {
            let k = i.key(f, v.as_ref());
            assert_eq!(k.field(), f);
            assert_eq!(i.value(k), v);
            assert_eq!(i.lookup(f, &v), Some(k));
        }
        // Same value in two fields: different keys.
        assert_ne!(
            i.key(Field::SrcPort, ValueRef::U(80)),
            i.key(Field::DstPort, ValueRef::U(80))
        );
    }
}
