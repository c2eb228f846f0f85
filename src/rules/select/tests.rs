//! Unit tests of the condition search, its columns and its counts.

use super::counts::top_by_excess;
use super::*;
use crate::decode::ValueRef;
use crate::time::Timestamp;
use std::net::IpAddr;

/// A sample with every packet kept (strides of 1).
fn sample<'a>(wave: &'a [Packet], base: &'a [Packet], wave_s: f64, base_s: f64) -> Sample<'a> {
    Sample {
        wave: crate::rules::refs(wave),
        wave_stride: 1.0,
        base: crate::rules::refs(base),
        base_stride: 1.0,
        wave_seconds: wave_s,
        base_seconds: base_s,
        shift_mass: 0.0,
        own_ports: None,
    }
}

fn pkt(src: &str, dst: &str, proto: u8, dport: u16, len: u16, t: i64) -> Packet {
    Packet {
        ts: Timestamp(t * 1_000_000_000),
        src_ip: Some(src.parse().unwrap()),
        dst_ip: Some(dst.parse().unwrap()),
        proto: Some(proto),
        src_port: Some(40_000),
        dst_port: Some(dport),
        ip_len: Some(u32::from(len)),
        ..Packet::default()
    }
}

#[test]
fn choose_covers_the_flood_and_spares_the_baseline() {
    // Baseline: clients talk HTTP to the server. Wave: the same background plus a UDP
    // flood from one host to port 53 of the server, with two packet sizes.
    let bg = |t| pkt("10.0.0.5", "10.0.0.10", 6, 80, 60, t);
    let base: Vec<Packet> = (0..200).map(bg).collect();
    let mut wave: Vec<Packet> = (0..20).map(bg).collect();
    for i in 0..400 {
        let len = if i % 2 == 0 { 100 } else { 1400 };
        wave.push(pkt("10.0.0.66", "10.0.0.10", 17, 53, len, 1000));
    }
    let s = sample(&wave, &base, 20.0, 200.0);
    let c = choose(&s, &|_, _| 0.0);
    assert!(!c.conditions.is_empty());
    assert!(c.coverage > 0.99, "{c:?}");
    assert!(c.collateral < 1e-9, "{c:?}");
    let flood = &wave[20];
    let rule_hits = |p: &Packet| c.conditions.iter().all(|k| k.cond.matches(p));
    assert!(rule_hits(flood) && rule_hits(&wave[21]));
    assert!(!rule_hits(&base[0]));
    // Tightening names the traffic: the flood's source and protocol are in the rule.
    let fields: Vec<Field> = c.conditions.iter().map(|k| k.cond.field).collect();
    assert!(
        fields.contains(&Field::Proto) && fields.contains(&Field::SrcIp),
        "{fields:?}"
    );
}

#[test]
fn a_wave_under_its_expected_background_is_measured_by_its_shifts() {
    let wave: Vec<Packet> = (0..100)
        .map(|i| pkt("10.0.0.5", "10.0.0.1", 17, 53, 60, i))
        .collect();
    let base: Vec<Packet> = (0..1000)
        .map(|i| pkt("10.0.0.6", "10.0.0.1", 17, 53, 60, i))
        .collect();
    // 1000 baseline packets over as many seconds as the wave: the wave (100) carries
    // nothing beyond them by rate.
    let mut s = sample(&wave, &base, 10.0, 10.0);
    assert!((s.total_excess() - 100.0).abs() < 1e-9);
    s.shift_mass = 30.0;
    assert!((s.total_excess() - 30.0).abs() < 1e-9);
    // Beyond its background the rate's excess is used, whatever the shifts say.
    let s = Sample {
        base_seconds: 1000.0,
        ..s
    };
    assert!((s.total_excess() - 90.0).abs() < 1e-9);
}

#[test]
fn nothing_to_separate_gives_no_conditions_or_full_collateral() {
    // The wave is just more of the baseline's traffic: any condition keeps collateral.
    let p = |t| pkt("10.0.0.5", "10.0.0.10", 6, 80, 60, t);
    let base: Vec<Packet> = (0..100).map(p).collect();
    let wave: Vec<Packet> = (0..300).map(p).collect();
    let s = sample(&wave, &base, 10.0, 100.0);
    let c = choose(&s, &|_, _| 0.0);
    assert!(c.conditions.is_empty() || c.collateral > 0.99, "{c:?}");
}

#[test]
fn shared_baseline_columns_choose_what_fresh_ones_do() {
    // Two waves against one baseline, as drafting does: the shared columns (and the
    // whole-sample counts of the first step) must give the same choice as columns found
    // per call; columns of another baseline slice are not used.
    let base: Vec<Packet> = (0..300)
        .map(|t| {
            let dst = if t % 3 == 0 { "10.0.0.11" } else { "10.0.0.10" };
            pkt(
                "10.0.0.5",
                dst,
                6,
                80 + u16::try_from(t % 4).unwrap(),
                60,
                t,
            )
        })
        .collect();
    let flood: Vec<Packet> = (0..500)
        .map(|i| pkt("10.0.0.66", "10.0.0.10", 17, 53, 100 + (i % 3) * 700, 1000))
        .chain((0..30).map(|t| base[t].clone()))
        .collect();
    let scan: Vec<Packet> = (0..400)
        .map(|i| pkt("10.0.0.77", "10.0.0.11", 6, 1 + i, 44, 2000))
        .collect();
    let shared = BaseColumns::new(crate::rules::refs(&base));
    let other_base = base[..100].to_vec();
    let unrelated = BaseColumns::new(crate::rules::refs(&other_base));
    for wave in [&flood, &scan] {
        let s = sample(wave, &base, 10.0, 300.0);
        let key = |c: &Choice| {
            let conds: Vec<String> = c.conditions.iter().map(|k| k.cond.to_string()).collect();
            (conds, c.coverage.to_bits(), c.collateral.to_bits())
        };
        let fresh = choose(&s, &|_, _| 0.0);
        assert!(!fresh.conditions.is_empty());
        assert_eq!(
            key(&choose_with(&s, Some(&shared), &|_, _| 0.0)),
            key(&fresh)
        );
        assert_eq!(
            key(&choose_with(&s, Some(&unrelated), &|_, _| 0.0)),
            key(&fresh)
        );
    }
}

#[test]
fn a_busier_background_than_the_baseline_average_does_not_buy_a_blanket_rule() {
    // Baseline: 10 packets/s of clients on many ports. The wave's 10 s hold twice that
    // background plus 150 reflected NTP packets, so the expected excess (350 - 100) runs
    // high and the reflection's own signature "keeps" only 60% of it; conditions that
    // match nearly everything keep 100%. The draft must still name the reflection.
    let client = |i: u16, t: i64| {
        let mut p = pkt("10.0.0.5", "10.0.0.10", 6, 1000 + i % 400, 60 + i % 900, t);
        p.src_port = Some(40_000 + i);
        p
    };
    let base: Vec<Packet> = (0..3000u16).map(|i| client(i, i64::from(i) / 10)).collect();
    let mut wave: Vec<Packet> = (0..200u16).map(|i| client(i * 7, 1000)).collect();
    for _ in 0..150 {
        let mut p = pkt("198.51.100.9", "10.0.0.105", 17, 5156, 468, 1000);
        p.src_port = Some(123);
        wave.push(p);
    }
    let s = sample(&wave, &base, 10.0, 300.0);
    let c = choose(&s, &|_, _| 0.0);
    assert!(c.collateral < 0.01, "{c:?}");
    let rule_hits = |p: &Packet| c.conditions.iter().all(|k| k.cond.matches(p));
    assert!(wave[200..].iter().all(rule_hits), "{c:?}");
    assert!(!wave[..200].iter().any(rule_hits), "{c:?}");
}

#[test]
fn the_top_values_come_out_as_a_full_sort_orders_them() {
    // Many ties (a spoofed flood's sources all carry the same excess) and a few larger.
    let ips: Vec<std::net::IpAddr> = (0..500u32)
        .map(|i| std::net::IpAddr::from((i * 7919 % 65_521).to_be_bytes()))
        .collect();
    let mut vals: Vec<(ValueRef<'_>, f64)> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| (ValueRef::Ip(*ip), if i % 97 == 0 { 9.0 } else { 2.0 }))
        .collect();
    let mut full = vals.clone();
    full.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.to_owned().cmp(&b.0.to_owned()))
    });
    for k in [0, 1, 2, 16, 499, 500, 600] {
        top_by_excess(&mut vals, k);
        let k = k.min(vals.len());
        assert_eq!(vals[..k], full[..k], "k = {k}");
    }
    // Borrowed values order as owned ones do.
    let (a, b) = (
        crate::text::Untrusted::new(b"ab"),
        crate::text::Untrusted::new(b"b"),
    );
    let refs = [
        ValueRef::U(3),
        ValueRef::Ip(ips[1]),
        ValueRef::Text(&a),
        ValueRef::Text(&b),
    ];
    for x in refs {
        for y in refs {
            assert_eq!(x.cmp(&y), x.to_owned().cmp(&y.to_owned()));
        }
    }
}

#[test]
fn numeric_counts_equal_matching_every_packet() {
    // Ports, flag bytes and IPv4 sources, partly shared between wave and baseline; one
    // baseline packet has an IPv6 source, so that column falls back to the general path.
    let mk = |i: u32, v6: bool| {
        let src: IpAddr = if v6 {
            "2001:db8::1".parse().unwrap()
        } else {
            IpAddr::from((0x0a00_0000 + i * 2_654_435_761 % 4096).to_be_bytes())
        };
        Packet {
            src_ip: Some(src),
            dst_ip: Some(IpAddr::from(((192 << 24) + i % 300).to_be_bytes())),
            src_port: Some(u16::try_from(i * 7919 % 65_536).unwrap()),
            tcp_flags: Some(u8::try_from(i * 37 % 64).unwrap()),
            ..Packet::default()
        }
    };
    let wave: Vec<Packet> = (0..700).map(|i| mk(i, false)).collect();
    let base: Vec<Packet> = (400..1500).map(|i| mk(i, i == 999)).collect();
    let s = sample(&wave, &base, 1.0, 1.0);
    let shared = BaseColumns::new(crate::rules::refs(&base));
    let all_w: Vec<usize> = (0..wave.len()).collect();
    let all_b: Vec<usize> = (0..base.len()).collect();
    let half_w: Vec<usize> = (0..wave.len()).step_by(2).collect();
    let third_b: Vec<usize> = (0..base.len()).step_by(3).collect();
    let ops = [
        Op::Range(1000, 30_000),
        Op::Range(0, 0),
        Op::Gt(20_000),
        Op::Gt(u64::MAX),
        Op::Lt(5000),
        Op::Lt(0),
        Op::Mask {
            mask: 0x12,
            bits: 0x02,
        },
        Op::Cidr("10.0.0.0".parse().unwrap(), 22),
        Op::Cidr("10.0.12.0".parse().unwrap(), 24),
        Op::Cidr("192.0.0.0".parse().unwrap(), 25),
        Op::Cidr("0.0.0.0".parse().unwrap(), 0),
    ];
    let mut numeric_used = 0;
    // The columns as the search builds them, all in one walk over the packets: the same
    // indices and new values, in the same order, as building each column alone.
    let cols = Column::all(&s, &shared.cols);
    assert_eq!(cols.len(), FIELDS.len());
    for (fi, &field) in FIELDS.iter().enumerate() {
        let col = &cols[fi];
        let alone = Column::new(&s, &shared.cols[fi], field);
        assert_eq!(col.wave, alone.wave, "{field:?}");
        assert_eq!(col.extra, alone.extra, "{field:?}");
        for (w, b) in [(&all_w, &all_b), (&half_w, &third_b)] {
            let counts = FieldCounts::new(col, w, b);
            for op in &ops {
                let Ok(cond) = Condition::new(field, op.clone()) else {
                    continue;
                };
                let want = (
                    w.iter().filter(|&&i| cond.matches(&wave[i])).count(),
                    b.iter().filter(|&&i| cond.matches(&base[i])).count(),
                );
                assert_eq!(counts.matching(&cond), want, "{field:?} {op:?}");
                numeric_used += usize::from(counts.numeric(&cond).is_some());
            }
        }
    }
    // Ports, flags and destinations take the numeric path; the mixed source column not.
    assert!(numeric_used >= 20, "{numeric_used}");
    let src = FIELDS.iter().position(|f| *f == Field::SrcIp).unwrap();
    assert!(
        Column::new(&s, &shared.cols[src], Field::SrcIp)
            .numbers()
            .is_none()
    );
}

/// `BaseColumns::has` answers exactly what a set of the baseline's (field, value) pairs did:
/// inline values (ports, lengths, IPv4, MACs), values the columns key by value (IPv6),
/// absent values, and fields the columns do not hold.
#[test]
fn base_columns_know_every_baseline_value_and_nothing_else() {
    let mut base: Vec<Packet> = (0..50)
        .map(|i| pkt("10.0.0.5", "10.0.0.10", 6, 80 + (i % 3) as u16, 60, i))
        .collect();
    base.push(Packet {
        src_ip: Some("2001:db8::1".parse().unwrap()),
        src_mac: Some([2, 0, 0, 0, 0, 1]),
        ip_len: Some(u32::MAX),
        ..Packet::default()
    });
    let cols = BaseColumns::new(crate::rules::refs(&base));
    let mut want = std::collections::HashSet::new();
    for p in &base {
        for &f in FIELDS {
            if let Some(v) = crate::rules::matcher::field_value(p, f) {
                want.insert((f, v.to_owned()));
            }
        }
    }
    assert!(want.len() > 8, "the baseline has values of many fields");
    for (f, v) in &want {
        assert!(cols.has(*f, v.as_ref()), "{f:?} {v:?}");
    }
    let ip = |s: &str| ValueRef::Ip(s.parse::<IpAddr>().unwrap());
    for (f, v) in [
        (Field::DstPort, ValueRef::U(83)),
        (Field::SrcPort, ValueRef::U(80)),
        (Field::SrcIp, ip("10.0.0.6")),
        (Field::SrcIp, ip("2001:db8::2")),
        (Field::IpLen, ValueRef::U(u64::from(u32::MAX) - 1)),
        (Field::SrcMac, ValueRef::Mac([2, 0, 0, 0, 0, 2])),
        // Every baseline packet has frame length 0, but it is not a drafting field: never in
        // the columns, so always new.
        (Field::FrameLen, ValueRef::U(0)),
    ] {
        assert!(
            !want.contains(&(f, v.to_owned())),
            "the probe must be absent: {f:?}"
        );
        assert!(!cols.has(f, v), "{f:?} {v:?}");
    }
}

#[test]
fn a_clients_own_port_is_never_named() {
    // The wave: an upload from 10.0.0.5's own port 6643 to the service 10.0.0.9:4433, with its
    // acknowledgements. The baseline: the same pair's keep-alive, from another own port.
    let seg = |sport: u16, dport: u16, len: u32, up: bool, t: i64| {
        let (a, b) = if up {
            ("10.0.0.5", "10.0.0.9")
        } else {
            ("10.0.0.9", "10.0.0.5")
        };
        Packet {
            src_port: Some(sport),
            ip_len: Some(len),
            ..pkt(a, b, 6, dport, 0, t)
        }
    };
    let mut wave = Vec::new();
    let mut base = Vec::new();
    for t in 0..200 {
        wave.push(seg(6643, 4433, 1500, true, 1000));
        wave.push(seg(4433, 6643, 40, false, 1000));
        base.push(seg(6000, 4433, 53, true, t));
        base.push(seg(4433, 6000, 40, false, t));
    }
    let names = |c: &Choice, port: u64| {
        c.conditions.iter().any(|k| {
            matches!(k.cond.field, Field::SrcPort | Field::DstPort)
                && match &k.cond.op {
                    Op::Eq(v) => *v == Value::U(port),
                    Op::In(vs) => vs.contains(&Value::U(port)),
                    _ => false,
                }
        })
    };
    // Offered every port, the search keys the rule on the connection's own port.
    let s = sample(&wave, &base, 20.0, 200.0);
    let pinned = choose(&s, &|_, _| 0.0);
    assert!(names(&pinned, 6643), "{pinned:?}");
    // Told which ports are clients' own, it never names them, and still covers the upload.
    let own: OwnPorts = [6643, 6000].into_iter().collect();
    let s = Sample {
        own_ports: Some(&own),
        ..s
    };
    let c = choose(&s, &|_, _| 0.0);
    assert!(!names(&c, 6643) && !names(&c, 6000), "{c:?}");
    assert!(c.coverage >= 0.5 && c.collateral < 1e-9, "{c:?}");
}

#[test]
fn a_size_the_other_size_implies_is_pruned_and_nothing_else() {
    // Upload segments (IP 1500, payload 1460) and acknowledgements (IP 40, no payload); the
    // baseline has acknowledgements only.
    let seg = |ip: u32, payload: u32, t: i64| Packet {
        ip_len: Some(ip),
        payload_len: Some(payload),
        ..pkt("10.0.0.5", "10.0.0.9", 6, 4433, 0, t)
    };
    let mut wave: Vec<Packet> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                seg(1500, 1460, 5)
            } else {
                seg(40, 0, 5)
            }
        })
        .collect();
    let base: Vec<Packet> = (0..200).map(|t| seg(40, 0, t)).collect();
    let cond = |f: Field, op: Op| Candidate {
        cond: Condition::new(f, op).unwrap(),
        prior: 0.0,
    };
    let ip_set = || cond(Field::IpLen, Op::In(vec![Value::U(40), Value::U(1500)]));
    let payload = || cond(Field::PayloadLen, Op::Eq(Value::U(1460)));
    let pruned = |wave: &[Packet], conditions: Vec<Candidate>| -> Vec<String> {
        let s = sample(wave, &base, 20.0, 200.0);
        let base_cols = BaseColumns::new(s.base);
        let columns = Column::all(&s, &base_cols.cols);
        let mut choice = Choice {
            conditions,
            coverage: 0.5,
            collateral: 0.0,
        };
        prune(&s, &columns, &mut choice);
        choice
            .conditions
            .iter()
            .map(|c| c.cond.to_string())
            .collect()
    };
    let proto = || cond(Field::Proto, Op::Eq(Value::U(6)));
    // The IP length set adds nothing to the payload length, which is needed (the
    // acknowledgements fail it alone): the matched packets' one IP length replaces both, so
    // firewalls can export the rule. The protocol, which no packet fails, is not a size.
    assert_eq!(
        pruned(&wave, vec![ip_set(), proto(), payload()]),
        ["ip_len=1500", "proto=6"]
    );
    // A payload length the IP length implies simply goes.
    assert_eq!(
        pruned(
            &wave,
            vec![payload(), cond(Field::IpLen, Op::Eq(Value::U(1500)))]
        ),
        ["ip_len=1500"]
    );
    // A wave segment of IP length 1500 with options (payload 1448), which the rule leaves
    // out: no IP length says the same, so only the redundant set goes.
    wave.push(seg(1500, 1448, 5));
    assert_eq!(
        pruned(&wave, vec![ip_set(), proto(), payload()]),
        ["proto=6", "payload_len=1460"]
    );
    // Without a second size there is nothing to prune.
    assert_eq!(
        pruned(&wave, vec![ip_set(), proto()]),
        ["ip_len=40,1500", "proto=6"]
    );
}
