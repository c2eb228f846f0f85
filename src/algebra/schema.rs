//! How each packet field is encoded: the per-field encoder table, the layout (dimension and
//! stripes), role atoms and filler keys. This is the one place that decides it.
//!
//! # Default encoder table ([`Schema::packets`])
//!
//! | encoder | fields | why |
//! |---|---|---|
//! | skip | `timestamp`, `dns_id` | the time axis is not a feature of a packet; DNS ids are random by design and would only add noise |
//! | port | `src_port`, `dst_port` | categorical below 32768; every port from 32768 up (the Linux and IANA ephemeral ranges) shares one `ephemeral` atom, so client ports do not look novel on every connection |
//! | log-scale, 64 levels to 65535 | `frame_len`, `ip_len`, `payload_len`, `dns_size`, `ntp_size`, `tcp_window`, `dns_answers`, `frag_offset` | sizes and counts: 60 vs 64 bytes is close, 60 vs 1500 is not |
//! | linear, 64 levels over 0..255 | `ttl` | hop counts: 63 is next to 64 |
//! | categorical | everything else (MACs, IPs, protocol numbers, flags, DNS/TLS/HTTP text...) | identity matters, closeness does not |
//!
//! A circular encoder ([`Scalar::Circular`]) is available for time of day or week but is not in
//! the default table: a capture's baseline and attack windows usually differ in time anyway.
//!
//! # Names (part of the atom compatibility contract)
//!
//! Role of a field = `atom("role:" + layer) ⊙ atom("role:" + field name)`: a record binds its
//! path, and by linearity binding the record's bundle equals binding each leaf with the product
//! of the atoms along its path. Categorical fillers are shared across fields (`u:80` is the same
//! atom in `src_port` and `dst_port`); binding with different roles makes the leaves
//! near-orthogonal. Filler names: `u:<decimal>`, `ip:<std display>`, `mac:<aa:bb:..>`,
//! `t:<raw bytes>`, `port:ephemeral`. The stripe of a field is `FNV-1a-64(path) mod stripes`.

use super::atom::{AtomKind, fill_atom};
use super::scalar::Scalar;
use crate::decode::field::{Field, ValueRef};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::io::Write as _;
use std::net::IpAddr;

/// Vector layout: `stripes` consecutive blocks of `stripe_dim` coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layout {
    /// Number of stripes (1 = one whole-packet vector).
    pub stripes: u32,
    /// Coordinates per stripe.
    pub stripe_dim: u32,
}

impl Default for Layout {
    /// 16 stripes of 256 (D = 4096): about 2.6 of the schema's fields share a stripe.
    fn default() -> Self {
        Layout::striped(16, 256)
    }
}

impl Layout {
    /// One vector of `dim` coordinates (the whole-packet default is 4096).
    #[must_use]
    pub fn whole(dim: u32) -> Self {
        Self {
            stripes: 1,
            stripe_dim: dim.max(1),
        }
    }

    /// `stripes` x `stripe_dim` (e.g. 32 x 1024).
    #[must_use]
    pub fn striped(stripes: u32, stripe_dim: u32) -> Self {
        Self {
            stripes: stripes.max(1),
            stripe_dim: stripe_dim.max(1),
        }
    }

    /// Total dimension.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.stripes as usize * self.stripe_dim as usize
    }

    /// Coordinate range of stripe `s` in a flat vector.
    #[must_use]
    pub fn range(&self, s: usize) -> std::ops::Range<usize> {
        let d = self.stripe_dim as usize;
        s * d..(s + 1) * d
    }

    /// The stripe of a leaf path: FNV-1a 64 of the path bytes, modulo the stripe count.
    #[must_use]
    pub fn stripe_of(&self, path: &str) -> usize {
        (fnv1a64(path.as_bytes()) % u64::from(self.stripes)) as usize
    }
}

/// FNV-1a, 64 bit (a named, stable hash).
#[must_use]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// How one field's value becomes a filler.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldEncoder {
    /// Not encoded.
    Skip,
    /// One atom per value.
    Categorical,
    /// Categorical below `ephemeral_from`, one shared atom from there up.
    Port {
        /// First port treated as ephemeral.
        ephemeral_from: u16,
    },
    /// A quantised scalar (non-integer values are skipped).
    Scalar(Scalar),
}

/// A filler, borrowed from a packet value: what the leaf cache is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filler<'a> {
    /// Integer atom `u:<v>`.
    U(u64),
    /// Address atom.
    Ip(IpAddr),
    /// MAC atom.
    Mac([u8; 6]),
    /// Text atom `t:<bytes>`.
    Text(&'a [u8]),
    /// The shared ephemeral-port atom.
    Ephemeral,
    /// Level of the field's scalar encoder.
    Level(u32),
}

impl Filler<'_> {
    /// Writes the atom name of a categorical filler (nothing for levels).
    pub fn write_name(&self, buf: &mut Vec<u8>) {
        buf.clear();
        // Writing to a Vec cannot fail.
        let _ = match self {
            Filler::U(v) => write!(buf, "u:{v}"),
            Filler::Ip(ip) => write!(buf, "ip:{ip}"),
            Filler::Mac(m) => write!(buf, "mac:{}", crate::decode::field::format_mac(*m)),
            Filler::Text(t) => {
                buf.extend_from_slice(b"t:");
                buf.extend_from_slice(t);
                Ok(())
            }
            Filler::Ephemeral => write!(buf, "port:ephemeral"),
            Filler::Level(_) => Ok(()),
        };
    }

    /// A 64-bit hash for cache lookups (FxHash; equality is still checked on lookup).
    #[must_use]
    pub fn key_hash(&self, field: Field) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        h.write_u8(field as u8);
        match self {
            Filler::U(v) => {
                h.write_u8(0);
                h.write_u64(*v);
            }
            Filler::Ip(IpAddr::V4(a)) => {
                h.write_u8(1);
                h.write_u32(u32::from(*a));
            }
            Filler::Ip(IpAddr::V6(a)) => {
                h.write_u8(2);
                h.write_u128(u128::from(*a));
            }
            Filler::Mac(m) => {
                h.write_u8(3);
                h.write(m);
            }
            Filler::Text(t) => {
                h.write_u8(4);
                h.write(t);
            }
            Filler::Ephemeral => h.write_u8(5),
            Filler::Level(l) => {
                h.write_u8(6);
                h.write_u32(*l);
            }
        }
        h.finish()
    }
}

/// The encoder table, layout, seed and atom alphabet: everything that fixes the encoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Global seed of every atom.
    pub seed: u64,
    /// Atom alphabet.
    pub kind: AtomKind,
    /// Vector layout.
    pub layout: Layout,
    /// Encoder per field, indexed by `Field as usize`.
    pub encoders: Vec<FieldEncoder>,
}

impl Schema {
    /// The default packet table (see the module docs) with the given seed and layout.
    #[must_use]
    pub fn packets(seed: u64, layout: Layout) -> Self {
        let encoders = Field::ALL.iter().map(|f| default_encoder(*f)).collect();
        Self {
            seed,
            kind: AtomKind::Bipolar,
            layout,
            encoders,
        }
    }

    /// Replaces one field's encoder.
    #[must_use]
    pub fn with(mut self, field: Field, enc: FieldEncoder) -> Self {
        if let Some(e) = self.encoders.get_mut(field as usize) {
            *e = enc;
        }
        self
    }

    /// The encoder of a field.
    #[must_use]
    pub fn encoder(&self, field: Field) -> FieldEncoder {
        self.encoders
            .get(field as usize)
            .copied()
            .unwrap_or(FieldEncoder::Skip)
    }

    /// The filler of a value, or `None` when the field is skipped or the value does not fit
    /// the encoder (e.g. text for a scalar field).
    #[must_use]
    pub fn filler<'a>(&self, field: Field, value: ValueRef<'a>) -> Option<Filler<'a>> {
        match (self.encoder(field), value) {
            (FieldEncoder::Skip, _) => None,
            (FieldEncoder::Port { ephemeral_from }, ValueRef::U(v)) => {
                Some(if v >= u64::from(ephemeral_from) {
                    Filler::Ephemeral
                } else {
                    Filler::U(v)
                })
            }
            (FieldEncoder::Scalar(s), ValueRef::U(v)) => Some(Filler::Level(s.level(v as f64))),
            (FieldEncoder::Scalar(_), _) => None,
            (_, ValueRef::U(v)) => Some(Filler::U(v)),
            (_, ValueRef::Ip(ip)) => Some(Filler::Ip(ip)),
            (_, ValueRef::Mac(m)) => Some(Filler::Mac(m)),
            (_, ValueRef::Text(t)) => Some(Filler::Text(t.as_bytes())),
        }
    }

    /// The stripe of a field.
    #[must_use]
    pub fn stripe(&self, field: Field) -> usize {
        self.layout.stripe_of(&field.path())
    }

    /// Writes the role vector of a field (dimension = `out.len()`).
    pub fn fill_role(&self, field: Field, out: &mut [f32]) {
        let mut tmp = vec![0.0f32; out.len()];
        fill_atom(
            self.seed,
            format!("role:{}", field.layer().name()).as_bytes(),
            self.kind,
            out,
        );
        fill_atom(
            self.seed,
            format!("role:{}", field.name()).as_bytes(),
            self.kind,
            &mut tmp,
        );
        super::primitives::bind_into(out, &tmp);
    }

    /// Writes the filler vector into `out` (`name_buf` is scratch space).
    pub fn fill_filler(
        &self,
        field: Field,
        f: Filler<'_>,
        name_buf: &mut Vec<u8>,
        out: &mut [f32],
    ) {
        if let (Filler::Level(l), FieldEncoder::Scalar(s)) = (f, self.encoder(field)) {
            s.fill(self.seed, self.kind, l, out);
        } else {
            f.write_name(name_buf);
            fill_atom(self.seed, name_buf, self.kind, out);
        }
    }
}

fn default_encoder(f: Field) -> FieldEncoder {
    use Field as F;
    let log = FieldEncoder::Scalar(Scalar::Log {
        max: 65535.0,
        levels: 64,
    });
    match f {
        F::Timestamp | F::DnsId => FieldEncoder::Skip,
        F::SrcPort | F::DstPort => FieldEncoder::Port {
            ephemeral_from: 32768,
        },
        F::FrameLen
        | F::IpLen
        | F::PayloadLen
        | F::DnsSize
        | F::NtpSize
        | F::TcpWindow
        | F::DnsAnswers
        | F::FragOffset => log,
        F::Ttl => FieldEncoder::Scalar(Scalar::Linear {
            lo: 0.0,
            hi: 255.0,
            levels: 64,
        }),
        _ => FieldEncoder::Categorical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fillers_follow_the_table() {
        let s = Schema::packets(1, Layout::default());
        assert_eq!(s.filler(Field::DnsId, ValueRef::U(5)), None);
        assert_eq!(
            s.filler(Field::DstPort, ValueRef::U(80)),
            Some(Filler::U(80))
        );
        assert_eq!(
            s.filler(Field::SrcPort, ValueRef::U(50000)),
            Some(Filler::Ephemeral)
        );
        assert!(matches!(
            s.filler(Field::IpLen, ValueRef::U(1500)),
            Some(Filler::Level(_))
        ));
        let mut b = Vec::new();
        Filler::U(80).write_name(&mut b);
        assert_eq!(b, b"u:80");
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert!(s.stripe(Field::DstPort) < 16);
    }
}
