//! The structural packet encoder, full-vector path: every leaf is materialised and summed.
//!
//! A packet is a nested record `{l2: {..}, l3: {..}, l4: {..}, app: {..}}`. Each leaf is
//! `role(path) ⊙ filler(value)` (see [`super::schema`]); the leaves of a stripe are bundled
//! (summed, no threshold) into that stripe's block of the flat vector. This is the reference
//! implementation; [`super::leaf::LeafTable`] caches the same leaf vectors for the fast path.

use super::primitives::bind_into;
use super::schema::{Filler, Schema};
use crate::decode::field::{Field, Packet, ValueRef};
use rustc_hash::FxHashMap;

/// Default number of cached filler vectors before new ones are derived without caching.
pub const DEFAULT_FILLER_CACHE: usize = 1 << 14;

/// Encodes packets into flat vectors of `schema.layout.dim()` coordinates.
#[derive(Clone, Debug)]
pub struct PacketEncoder {
    schema: Schema,
    /// Role vector (stripe dimension) and stripe of every encoded field, by `Field as usize`.
    roles: Vec<Option<(usize, Box<[f32]>)>>,
    fillers: FxHashMap<(Field, OwnedFillerKey), Box<[f32]>>,
    max_cached: usize,
    name_buf: Vec<u8>,
}

/// An owned copy of a [`Filler`] (cache key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum OwnedFillerKey {
    U(u64),
    Ip(std::net::IpAddr),
    Mac([u8; 6]),
    Text(Box<[u8]>),
    Ephemeral,
    Level(u32),
}

impl OwnedFillerKey {
    pub(crate) fn of(f: Filler<'_>) -> Self {
        match f {
            Filler::U(v) => Self::U(v),
            Filler::Ip(v) => Self::Ip(v),
            Filler::Mac(v) => Self::Mac(v),
            Filler::Text(t) => Self::Text(t.into()),
            Filler::Ephemeral => Self::Ephemeral,
            Filler::Level(l) => Self::Level(l),
        }
    }

    pub(crate) fn as_filler(&self) -> Filler<'_> {
        match self {
            Self::U(v) => Filler::U(*v),
            Self::Ip(v) => Filler::Ip(*v),
            Self::Mac(v) => Filler::Mac(*v),
            Self::Text(t) => Filler::Text(t),
            Self::Ephemeral => Filler::Ephemeral,
            Self::Level(l) => Filler::Level(*l),
        }
    }
}

impl PacketEncoder {
    /// An encoder for a schema (derives the role atoms now).
    #[must_use]
    pub fn new(schema: Schema) -> Self {
        let d = schema.layout.stripe_dim as usize;
        let roles = Field::ALL
            .iter()
            .map(|f| {
                if matches!(schema.encoder(*f), super::schema::FieldEncoder::Skip) {
                    return None;
                }
                let mut r = vec![0.0; d];
                schema.fill_role(*f, &mut r);
                Some((schema.stripe(*f), r.into_boxed_slice()))
            })
            .collect();
        Self {
            schema,
            roles,
            fillers: FxHashMap::default(),
            max_cached: DEFAULT_FILLER_CACHE,
            name_buf: Vec::new(),
        }
    }

    /// [`PacketEncoder::new`] that never caches a filler. For [`super::leaf::LeafTable`]:
    /// it asks for each (field, filler) pair once, since it keeps the bound leaf itself, so
    /// the cache never answered and only copied every leaf (the drafting probe's 8,192 leaves
    /// of 1,024 dimensions: 32 MiB of fresh memory per report).
    #[must_use]
    pub fn uncached(schema: Schema) -> Self {
        Self {
            max_cached: 0,
            ..Self::new(schema)
        }
    }

    /// The schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Total dimension of an encoded packet.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.schema.layout.dim()
    }

    /// The role vector and stripe of a field (`None` when skipped).
    #[must_use]
    pub fn role(&self, field: Field) -> Option<(usize, &[f32])> {
        self.roles
            .get(field as usize)?
            .as_ref()
            .map(|(s, r)| (*s, &**r))
    }

    /// Writes the bound leaf `role(field) ⊙ filler` into `out` (stripe dimension); returns the
    /// stripe, or `None` (and leaves `out` untouched) when the field is skipped.
    pub fn fill_leaf(&mut self, field: Field, f: Filler<'_>, out: &mut [f32]) -> Option<usize> {
        let (stripe, role) = self.roles.get(field as usize)?.as_ref()?;
        let key = (field, OwnedFillerKey::of(f));
        if let Some(v) = self.fillers.get(&key) {
            out.copy_from_slice(v);
        } else {
            self.schema.fill_filler(field, f, &mut self.name_buf, out);
            if self.fillers.len() < self.max_cached {
                self.fillers.insert(key, out.to_vec().into_boxed_slice());
            }
        }
        bind_into(out, role);
        Some(*stripe)
    }

    /// The bound leaf vector of one field value and its stripe.
    pub fn leaf(&mut self, field: Field, value: ValueRef<'_>) -> Option<(usize, Vec<f32>)> {
        let f = self.schema.filler(field, value)?;
        let mut out = vec![0.0; self.schema.layout.stripe_dim as usize];
        let s = self.fill_leaf(field, f, &mut out)?;
        Some((s, out))
    }

    /// Every encoded leaf of a packet: field, stripe, bound vector.
    pub fn leaves(&mut self, p: &Packet) -> Vec<(Field, usize, Vec<f32>)> {
        let mut out = Vec::new();
        p.visit(|field, value| {
            if let Some((s, v)) = self.leaf(field, value) {
                out.push((field, s, v));
            }
        });
        out
    }

    /// Adds the packet's encoding into `out` (flat, `dim()` long; shorter is ignored).
    pub fn encode_into(&mut self, p: &Packet, out: &mut [f32]) {
        if out.len() < self.dim() {
            return;
        }
        let layout = self.schema.layout;
        let mut leaf = vec![0.0f32; layout.stripe_dim as usize];
        p.visit(|field, value| {
            let Some(f) = self.schema.filler(field, value) else {
                return;
            };
            if let Some(s) = self.fill_leaf(field, f, &mut leaf) {
                for (o, x) in out[layout.range(s)].iter_mut().zip(&leaf) {
                    *o += x;
                }
            }
        });
    }

    /// The packet's flat encoding.
    pub fn encode(&mut self, p: &Packet) -> Vec<f32> {
        let mut out = vec![0.0; self.dim()];
        self.encode_into(p, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::primitives::cosine;
    use crate::algebra::schema::Layout;

    #[test]
    fn same_value_in_different_roles_is_far_apart() {
        let mut e = PacketEncoder::new(Schema::packets(9, Layout::whole(4096)));
        let a = e.encode(&Packet {
            dst_port: Some(80),
            ..Packet::default()
        });
        let b = e.encode(&Packet {
            src_port: Some(80),
            ..Packet::default()
        });
        let c = e.encode(&Packet {
            dst_port: Some(80),
            ..Packet::default()
        });
        assert_eq!(a, c);
        // Both share the frame fields (interface, link type, frame length): remove them.
        let base = e.encode(&Packet::default());
        let da: Vec<f32> = a.iter().zip(&base).map(|(x, y)| x - y).collect();
        let db: Vec<f32> = b.iter().zip(&base).map(|(x, y)| x - y).collect();
        assert!(cosine(&da, &db).abs() < 0.08, "{}", cosine(&da, &db));
    }

    #[test]
    fn striped_leaves_land_in_their_stripe() {
        let layout = Layout::striped(8, 128);
        let mut e = PacketEncoder::new(Schema::packets(9, layout));
        let p = Packet {
            dst_port: Some(53),
            proto: Some(17),
            ..Packet::default()
        };
        let v = e.encode(&p);
        let s = e.schema().stripe(Field::DstPort);
        let (_, leaf) = e.leaf(Field::DstPort, ValueRef::U(53)).unwrap();
        let block = &v[layout.range(s)];
        assert!(cosine(block, &leaf) > 0.3);
    }
}
