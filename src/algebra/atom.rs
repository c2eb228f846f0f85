//! Atom vectors derived from a seed and a name, and the codebook that caches them.
//!
//! # Compatibility contract (changing any step changes every engram ever saved)
//!
//! ```text
//! digest = SHA-256( "holoscope-atom-v1"            (17 ASCII bytes)
//!                   || seed as u64 little-endian   (8 bytes)
//!                   || len(name) as u64 LE         (8 bytes)
//!                   || name bytes )
//! rng    = ChaCha8Rng::from_seed(digest)            (rand_chacha 0.10, 32-byte seed)
//! bipolar: for each block of 32 coordinates take rng.next_u32(); bit j (LSB first) of the
//!          word gives coordinate 32*block + j: 1 -> +1.0, 0 -> -1.0 (a short last block
//!          uses the low bits).
//! ternary: for each coordinate take rng.next_u32() as u; t = (u as u64 * 3) >> 32 in {0,1,2};
//!          0 -> -1.0, 1 -> 0.0, 2 -> +1.0.
//! ```
//!
//! Neither `StdRng` nor `DefaultHasher` is used: their algorithms may change between releases.
//! A shorter atom of the same name is a prefix of a longer one (bipolar) or of the same stream.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Domain separator of the atom derivation (version 1 of the contract above).
const DOMAIN: &[u8] = b"holoscope-atom-v1";

/// The alphabet of atom coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtomKind {
    /// Coordinates in {-1, +1}: binding is its own inverse.
    #[default]
    Bipolar,
    /// Coordinates in {-1, 0, +1}, each with probability 1/3 (the holon-rs alphabet).
    Ternary,
}

/// The 32-byte ChaCha8 seed of an atom (see the module contract).
#[must_use]
pub fn atom_seed(seed: u64, name: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(seed.to_le_bytes());
    h.update((name.len() as u64).to_le_bytes());
    h.update(name);
    h.finalize().into()
}

/// Writes the atom `name` into `out` (its length is the dimension).
pub fn fill_atom(seed: u64, name: &[u8], kind: AtomKind, out: &mut [f32]) {
    let mut rng = ChaCha8Rng::from_seed(atom_seed(seed, name));
    match kind {
        AtomKind::Bipolar => {
            for block in out.chunks_mut(32) {
                let word = rng.next_u32();
                for (j, x) in block.iter_mut().enumerate() {
                    *x = if (word >> j) & 1 == 1 { 1.0 } else { -1.0 };
                }
            }
        }
        AtomKind::Ternary => {
            for x in out.iter_mut() {
                let t = (u64::from(rng.next_u32()) * 3) >> 32;
                *x = match t {
                    0 => -1.0,
                    1 => 0.0,
                    _ => 1.0,
                };
            }
        }
    }
}

/// A fresh atom vector of dimension `dim`.
#[must_use]
pub fn atom(seed: u64, name: &[u8], kind: AtomKind, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    fill_atom(seed, name, kind, &mut v);
    v
}

/// A uniform random permutation of `0..n` derived from a name (Fisher-Yates driven by the same
/// ChaCha8 stream as atoms; index j draws `(u64(next_u32) * (j + 1)) >> 32`).
#[must_use]
pub fn permutation(seed: u64, name: &[u8], n: usize) -> Vec<u32> {
    let mut rng = ChaCha8Rng::from_seed(atom_seed(seed, name));
    let mut p: Vec<u32> = (0..n as u32).collect();
    for j in (1..n).rev() {
        let r = ((u64::from(rng.next_u32()) * (j as u64 + 1)) >> 32) as usize;
        p.swap(j, r);
    }
    p
}

/// Caches atoms of one seed, kind and dimension by name.
///
/// Iteration (and so [`Codebook::cleanup`]) follows name order, not insertion order, so that
/// ties resolve the same way in every process.
#[derive(Clone, Debug)]
pub struct Codebook {
    seed: u64,
    kind: AtomKind,
    dim: usize,
    atoms: BTreeMap<Box<[u8]>, Box<[f32]>>,
}

impl Codebook {
    /// An empty codebook.
    #[must_use]
    pub fn new(seed: u64, kind: AtomKind, dim: usize) -> Self {
        Self {
            seed,
            kind,
            dim,
            atoms: BTreeMap::new(),
        }
    }

    /// Dimension of the atoms.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Global seed.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Atom alphabet.
    #[must_use]
    pub fn kind(&self) -> AtomKind {
        self.kind
    }

    /// Number of cached atoms.
    #[must_use]
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// True when no atom is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    /// The atom `name`, derived on first use.
    pub fn get(&mut self, name: &[u8]) -> &[f32] {
        let (seed, kind, dim) = (self.seed, self.kind, self.dim);
        self.atoms
            .entry(name.into())
            .or_insert_with(|| atom(seed, name, kind, dim).into_boxed_slice())
    }

    /// The cached atom `name`, if any (no derivation).
    #[must_use]
    pub fn cached(&self, name: &[u8]) -> Option<&[f32]> {
        self.atoms.get(name).map(|v| &**v)
    }

    /// Cached atoms in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[f32])> {
        self.atoms.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The cached atom nearest to `v` by cosine, with its similarity (the first in name order
    /// on a tie); `None` for an empty codebook.
    #[must_use]
    pub fn cleanup(&self, v: &[f32]) -> Option<(&[u8], f32)> {
        let mut best: Option<(&[u8], f32)> = None;
        for (name, a) in self.iter() {
            let s = super::primitives::cosine(v, a);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((name, s));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_vector_and_alphabets() {
        let a = atom(7, b"l4.dst_port", AtomKind::Bipolar, 1000);
        assert_eq!(a, atom(7, b"l4.dst_port", AtomKind::Bipolar, 1000));
        assert_ne!(a, atom(8, b"l4.dst_port", AtomKind::Bipolar, 1000));
        assert!(a.iter().all(|x| *x == 1.0 || *x == -1.0));
        let t = atom(7, b"x", AtomKind::Ternary, 3000);
        let zeros = t.iter().filter(|x| **x == 0.0).count();
        assert!((800..1200).contains(&zeros), "{zeros}");
        // Prefix property of the bipolar layout.
        assert_eq!(
            &atom(7, b"l4.dst_port", AtomKind::Bipolar, 4096)[..1000],
            &a[..]
        );
    }

    #[test]
    fn pinned_first_coordinates() {
        // Guards the compatibility contract: if this changes, saved engrams become invalid.
        // The digest prefix was checked independently with Python's hashlib.
        assert_eq!(&atom_seed(0, b"holoscope")[..4], &[0xac, 0x4b, 0xc3, 0x80]);
        assert_eq!(
            atom(0, b"holoscope", AtomKind::Bipolar, 8),
            vec![-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0]
        );
        assert_eq!(
            atom(0, b"holoscope", AtomKind::Ternary, 8),
            vec![0.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
        );
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(1, b"perm", 500);
        p.sort_unstable();
        assert!(p.iter().enumerate().all(|(i, v)| *v as usize == i));
    }

    #[test]
    fn cleanup_finds_the_noisy_atom() {
        let mut cb = Codebook::new(3, AtomKind::Bipolar, 2048);
        for n in ["a", "b", "c", "d"] {
            cb.get(n.as_bytes());
        }
        let mut v = cb.cached(b"c").unwrap().to_vec();
        for x in v.iter_mut().step_by(4) {
            *x = -*x;
        }
        let (name, s) = cb.cleanup(&v).unwrap();
        assert_eq!(name, b"c");
        assert!(s > 0.4);
    }
}
