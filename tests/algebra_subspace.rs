//! Subspace behaviour: CCIPCA recovers planted directions, the fast path equals the full-vector
//! path, attribution finds a planted field, engrams round-trip exactly.

use holoscope::algebra::leaf::{LeafSet, LeafTable};
use holoscope::algebra::{Layout, PacketEncoder, Schema, synth};
use holoscope::decode::field::{Field, Packet};
use holoscope::subspace::{
    Engram, FastScorer, OnlineSubspace, ProfileJudge, ResidualBuffer, StripedSubspace, attribute,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller from two uniforms in (0, 1].
    let u1 = (f64::from(rng.next_u32()) + 1.0) / 4_294_967_296.0;
    let u2 = f64::from(rng.next_u32()) / 4_294_967_296.0;
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[test]
fn ccipca_recovers_planted_directions() {
    let d = 64;
    let mut rng = ChaCha8Rng::from_seed([7; 32]);
    // Three orthonormal planted directions: normalised random vectors, Gram-Schmidt.
    let mut dirs: Vec<Vec<f32>> = Vec::new();
    for _ in 0..3 {
        let mut v: Vec<f32> = (0..d).map(|_| gauss(&mut rng)).collect();
        for u in &dirs {
            let p: f32 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= p * b);
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        dirs.push(v);
    }
    let sd = [5.0f32, 4.0, 3.0];
    let offset: Vec<f32> = (0..d).map(|i| i as f32 * 0.1).collect();
    let mut sub = OnlineSubspace::new(d, 3);
    for _ in 0..6000 {
        let mut x = offset.clone();
        for (u, s) in dirs.iter().zip(sd) {
            let z = gauss(&mut rng) * s;
            x.iter_mut().zip(u).for_each(|(a, b)| *a += z * b);
        }
        x.iter_mut().for_each(|a| *a += 0.1 * gauss(&mut rng));
        sub.update(&x);
    }
    let basis = sub.basis();
    assert_eq!(basis.k(), 3);
    for u in &dirs {
        // cos² of the principal angle between u and the learned span.
        let c2: f32 = (0..3)
            .map(|i| {
                basis
                    .row(i)
                    .iter()
                    .zip(u)
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    .powi(2)
            })
            .sum();
        assert!(c2 > 0.97, "cos² = {c2}");
    }
    let ev = sub.eigenvalues();
    assert!(ev[0] > ev[2], "{ev:?}");
    assert!((ev[0] - 25.0).abs() < 8.0, "{ev:?}");
    assert!(sub.explained_ratio() > 0.9, "{}", sub.explained_ratio());
    // An in-span point has near-zero residual; an orthogonal offset has its full length.
    let mut inside = offset.clone();
    inside
        .iter_mut()
        .zip(&dirs[1])
        .for_each(|(a, b)| *a += 6.0 * b);
    assert!(sub.residual(&inside) < 0.6, "{}", sub.residual(&inside));
    let recon = sub.reconstruct(&inside);
    let err: f32 = recon
        .iter()
        .zip(&inside)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    assert!(err.sqrt() < 0.6);
    assert!(sub.threshold().is_finite() && sub.threshold() > 0.0);
}

fn trained(layout: Layout, n: usize) -> (Schema, StripedSubspace, Vec<Packet>) {
    let schema = Schema::packets(11, layout);
    let mut enc = PacketEncoder::new(schema.clone());
    let mut sub = StripedSubspace::new(layout, 8);
    let pkts = synth::packets(3, n);
    for p in &pkts {
        sub.update(&enc.encode(p));
    }
    (schema, sub, pkts)
}

#[test]
fn fast_path_equals_full_vector_path() {
    for layout in [Layout::striped(16, 256), Layout::whole(1024)] {
        let (schema, sub, _) = trained(layout, 400);
        let basis = sub.basis();
        let mut enc = PacketEncoder::new(schema.clone());
        let mut table = LeafTable::new(schema);
        let mut fast = FastScorer::new(&basis);
        let mut set = LeafSet::default();
        let mut profile = Vec::new();
        let mut test = synth::packets(99, 200);
        test.push(Packet {
            dst_port: Some(31337),
            proto: Some(6),
            ..Packet::default()
        });
        for p in &test {
            table.leaves_of(p, &mut set);
            let m = fast.score(&table, &set, &mut profile);
            let x = enc.encode(p);
            let slow = basis.residual(&x);
            let scale = slow.magnitude.max(1.0);
            assert!(
                (m - slow.magnitude).abs() < 2e-3 * scale,
                "{m} vs {}",
                slow.magnitude
            );
            for (a, b) in profile.iter().zip(&slow.profile) {
                assert!((a - b).abs() < 2e-3 * scale.max(b.abs()), "{a} vs {b}");
            }
            let fa = fast.attribute(&table, &set);
            let sa = attribute(&basis, &x, &enc.leaves(p));
            assert_eq!(fa.len(), sa.len());
            for s in &sa {
                let f = fa.iter().find(|a| a.field == s.field).unwrap();
                assert!(
                    (f.score - s.score).abs() < 2e-3,
                    "{:?} {} vs {}",
                    s.field,
                    f.score,
                    s.score
                );
            }
        }
    }
}

#[test]
fn planted_anomalous_field_ranks_first_and_scores_differ() {
    // Normal traffic the subspace can capture: a few hosts and services.
    let layout = Layout::striped(16, 256);
    let schema = Schema::packets(11, layout);
    let mut enc = PacketEncoder::new(schema);
    let mut sub = StripedSubspace::new(layout, 8);
    let normal = |i: u32| {
        let mut p = synth::packets(u64::from(i), 1).remove(0);
        p.src_ip = Some(std::net::IpAddr::from([10, 0, 0, (i % 3) as u8]));
        p.dst_ip = Some(std::net::IpAddr::from([192, 0, 2, (i % 2) as u8]));
        p.dns = None;
        p.ntp = None;
        p.proto = Some(6);
        p.dst_port = Some([80, 443][(i % 2) as usize]);
        p
    };
    for i in 0..1500 {
        sub.update(&enc.encode(&normal(i)));
    }
    let basis = sub.basis();
    // A normal packet with only the destination port changed to one never seen.
    let mut p = normal(7);
    let before = basis.residual(&enc.encode(&p)).magnitude;
    p.dst_port = Some(31337);
    let x = enc.encode(&p);
    let after = basis.residual(&x);
    assert!(after.magnitude > before, "{} vs {before}", after.magnitude);
    let attr = attribute(&basis, &x, &enc.leaves(&p));
    assert_eq!(attr[0].field, Field::DstPort, "{attr:?}");
    assert!(attr[0].score > 0.5, "{attr:?}");
    // Field-specific, not one number for every field: the normal fields stay near 0.
    assert!(attr[1..].iter().all(|a| a.score.abs() < 0.2), "{attr:?}");
}

#[test]
fn engram_round_trip_is_exact_and_versioned() {
    let layout = Layout::striped(4, 64);
    let (schema, sub, pkts) = trained(layout, 300);
    let mut enc = PacketEncoder::new(schema.clone());
    let mut judge = ProfileJudge::new(4);
    let mut buf = ResidualBuffer::default();
    let mut acc = holoscope::algebra::Accumulator::new(layout.dim());
    let basis = sub.basis();
    for p in &pkts {
        let x = enc.encode(p);
        let r = basis.residual(&x);
        judge.learn(&r.profile);
        buf.push(r.magnitude);
        acc.add_weighted(&x, 0.37);
        acc.decay(0.999);
    }
    let mut e = Engram::new(schema.clone(), sub);
    e.profile = Some(judge);
    e.accumulator = Some(acc);
    e.residuals = Some(buf);
    let json = e.to_json().unwrap();
    let back = Engram::from_json(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.to_json().unwrap(), json);
    back.check_schema(&schema).unwrap();
    assert!(back.check_schema(&Schema::packets(12, layout)).is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.engram.json");
    e.save(&path).unwrap();
    assert_eq!(Engram::load(&path).unwrap(), e);
    let future = json.replacen("\"version\":1", "\"version\":99", 1);
    assert!(matches!(
        Engram::from_json(&future),
        Err(holoscope::subspace::EngramError::Version { found: 99 })
    ));
    // RON keeps the base64 vectors exact; check its scalars too.
    let ron_text = ron::to_string(&e).unwrap();
    let from_ron: Engram = ron::from_str(&ron_text).unwrap();
    assert_eq!(from_ron, e, "RON loses precision");
}

#[test]
fn profile_alignment_separates_directions() {
    let mut judge = ProfileJudge::new(8);
    for i in 0..300 {
        let w = 1.0 + f64::from(i % 7) * 0.1;
        judge.learn(&[w, w, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]);
    }
    let familiar = judge.judge(&[3.0, 3.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]);
    let novel = judge.judge(&[0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 3.0, 3.0]);
    assert!((familiar.magnitude - novel.magnitude).abs() < 1e-9);
    assert!(
        familiar.alignment > 0.5 && novel.alignment < 0.5,
        "{familiar:?} {novel:?}"
    );
}
