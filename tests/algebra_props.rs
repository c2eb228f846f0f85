//! Property tests of the algebra: near-orthogonal atoms, exact unbinding, role-filler
//! dissimilarity, accumulator linearity and half-life.

use holoscope::algebra::accumulator::half_life_factor;
use holoscope::algebra::atom::{AtomKind, atom};
use holoscope::algebra::primitives::{bind, cosine, unbind};
use holoscope::algebra::{Accumulator, Layout, PacketEncoder, Schema};
use holoscope::decode::field::{Field, ValueRef};
use proptest::prelude::*;

const D: usize = 4096;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_atoms_are_near_orthogonal(a in "[a-z0-9.:]{1,24}", b in "[a-z0-9.:]{1,24}", seed: u64) {
        prop_assume!(a != b);
        for kind in [AtomKind::Bipolar, AtomKind::Ternary] {
            let c = cosine(&atom(seed, a.as_bytes(), kind, D), &atom(seed, b.as_bytes(), kind, D));
            // 6 standard deviations of a random cosine (1/sqrt(D)).
            prop_assert!(c.abs() < 6.0 / (D as f32).sqrt(), "{c}");
        }
    }

    #[test]
    fn unbind_recovers_the_filler(a in "[a-z]{1,12}", b in "[a-z]{1,12}", seed: u64) {
        let va = atom(seed, a.as_bytes(), AtomKind::Bipolar, D);
        let vb = atom(seed, b.as_bytes(), AtomKind::Bipolar, D);
        prop_assert_eq!(unbind(&bind(&va, &vb), &va), vb.clone());
        // Ternary keys recover the filler wherever the key is non-zero.
        let ta = atom(seed, a.as_bytes(), AtomKind::Ternary, D);
        let back = unbind(&bind(&ta, &vb), &ta);
        prop_assert!(cosine(&back, &vb) > 0.75);
    }

    #[test]
    fn same_value_in_two_roles_is_dissimilar(v in 0u64..32768, seed: u64) {
        let mut e = PacketEncoder::new(Schema::packets(seed, Layout::whole(D as u32)));
        let pairs = [(Field::SrcPort, Field::DstPort), (Field::Ttl, Field::Proto), (Field::IpLen, Field::PayloadLen)];
        for (f, g) in pairs {
            let (_, a) = e.leaf(f, ValueRef::U(v)).unwrap();
            let (_, b) = e.leaf(g, ValueRef::U(v)).unwrap();
            prop_assert!(cosine(&a, &b).abs() < 6.0 / (D as f32).sqrt());
        }
    }

    #[test]
    fn shards_merge_to_the_whole(
        vs in prop::collection::vec((prop::collection::vec(-3i8..=3, 32), 1u8..5), 1..60),
        cut in 0usize..60,
    ) {
        let cut = cut.min(vs.len());
        let mut whole = Accumulator::new(32);
        let mut a = Accumulator::new(32);
        let mut b = Accumulator::new(32);
        for (i, (v, w)) in vs.iter().enumerate() {
            let v: Vec<f32> = v.iter().map(|x| f32::from(*x)).collect();
            whole.add_weighted(&v, f64::from(*w));
            if i < cut { a.add_weighted(&v, f64::from(*w)) } else { b.add_weighted(&v, f64::from(*w)) }
        }
        a.merge(&b);
        // Integer weights: exact.
        prop_assert_eq!(a, whole);
    }

    #[test]
    fn decay_is_linear_and_halves_at_the_half_life(h in 1.0f64..5000.0, x in -100.0f32..100.0) {
        let mut acc = Accumulator::new(1);
        acc.add(&[x]);
        acc.decay_steps(h, h);
        prop_assert!((acc.sums()[0] - f64::from(x) / 2.0).abs() < 1e-9 * f64::from(x.abs()).max(1.0));
        prop_assert!((half_life_factor(h).powf(2.0 * h) - 0.25).abs() < 1e-12);
    }
}
