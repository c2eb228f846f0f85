//! The decoder on real captures: link types, tags, tunnels and application fields come out as
//! tshark 4.0.17 shows them (figures checked by hand with `tshark -T fields`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::shared;
use holoscope::decode::{Field, Value};
use holoscope::engine::{self, Analysis};
use holoscope::text::Untrusted;

fn analyze(rel: &str) -> Option<Analysis> {
    let p = shared(rel)?;
    let src = holoscope::capture::open(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Some(engine::analyze(src, &engine::Options::default(), |_| {}))
}

fn values(a: &Analysis, f: Field) -> Vec<(Value, u64)> {
    let tl = &a.agg.timeline;
    tl.field_counts(0..tl.buckets().len(), f).0
}

fn text(s: &str) -> Value {
    Value::Text(Untrusted::new(s.as_bytes()))
}

fn decoded(a: &Analysis, k: &str) -> u64 {
    a.agg.stats.decoded().get(k).copied().unwrap_or(0)
}

#[test]
fn tls_sni_from_client_hellos() {
    let Some(a) = analyze("captures/benign_tls_sni_chrome_google.pcap") else {
        return;
    };
    assert!(
        values(&a, Field::TlsSni)
            .iter()
            .any(|(v, _)| *v == text("google.de")),
        "{:?}",
        values(&a, Field::TlsSni)
    );
    let Some(a) = analyze("captures/fmt_linktype_ipv4_228.pcap") else {
        return;
    };
    assert_eq!(values(&a, Field::TlsSni), vec![(text("www.perdu.com"), 1)]);
    assert_eq!(decoded(&a, "tcp"), 7);
    let Some(a) = analyze("captures/benign_tls_quic_ipv6_sni.pcap") else {
        return;
    };
    assert!(
        values(&a, Field::TlsSni)
            .iter()
            .any(|(v, _)| *v == text("cloudflare-quic.com"))
    );
    assert!(decoded(&a, "ipv6") > 0);
}

#[test]
fn vlan_stacks_and_mpls_give_the_innermost_tag() {
    let Some(a) = analyze("captures/fmt_vlan_triple_tag.pcap") else {
        return;
    };
    assert_eq!(values(&a, Field::Vlan), vec![(Value::U(10), 14)]);
    assert_eq!(decoded(&a, "ipv4"), 14);
    let Some(a) = analyze("captures/fmt_vlan_8021ad_qinq.pcap") else {
        return;
    };
    let mut v = values(&a, Field::Vlan);
    v.sort();
    assert_eq!(v, vec![(Value::U(30), 1), (Value::U(40), 1)]);
    let Some(a) = analyze("captures/fmt_vlan_mpls_mixed_timejump.pcap") else {
        return;
    };
    assert!(
        values(&a, Field::MplsLabel)
            .iter()
            .any(|(v, _)| *v == Value::U(29))
    );
}

#[test]
fn every_supported_link_type_reaches_the_network_layer() {
    for (rel, ipv4, ipv6) in [
        ("captures/fmt_linktype_sll2.pcap", true, true),
        ("captures/fmt_pcap_nanosecond_sll.pcap", true, false),
        ("captures/fmt_linktype_raw_101.pcap", true, false),
        ("captures/fmt_linktype_ipv4_228.pcap", true, false),
        ("captures/fmt_linktype_null_loopback_quic.pcap", false, true),
        ("captures/fmt_pcap_modified_kuznetzov.pcap", true, false),
    ] {
        let Some(a) = analyze(rel) else { return };
        assert_eq!(
            decoded(&a, "ipv4") > 0,
            ipv4,
            "{rel}: {:?}",
            a.agg.stats.decoded()
        );
        assert_eq!(
            decoded(&a, "ipv6") > 0,
            ipv6,
            "{rel}: {:?}",
            a.agg.stats.decoded()
        );
        assert!(
            a.agg.stats.stops.is_empty() || rel.contains("sll2"),
            "{rel}: {:?}",
            a.agg.stats.stops
        );
    }
}

#[test]
fn dns_names_and_ntp_sizes_are_measured_on_the_payload() {
    let Some(a) = analyze("captures/fmt_linktype_raw_101.pcap") else {
        return;
    };
    assert_eq!(values(&a, Field::DnsQname), vec![(text("example.com"), 1)]);
    let Some(a) = analyze("captures/fmt_timestamp_2106_overflow.pcapng") else {
        return;
    };
    assert_eq!(
        values(&a, Field::DnsQname),
        vec![(text("www.tcpdump.org"), 1)]
    );
    let Some(a) = analyze("captures/benign_mixed_services.pcap") else {
        return;
    };
    // Two NTP packets of 48 bytes on the wire as UDP payload (frames are 90 bytes).
    assert_eq!(values(&a, Field::NtpSize), vec![(Value::U(48), 2)]);
}

#[test]
fn fragments_are_counted_not_misread() {
    let Some(a) = analyze("captures/fmt_ipv4_fragments.pcapng") else {
        return;
    };
    assert_eq!(a.agg.stats.packets, 6);
    assert!(
        decoded(&a, "ip_fragment") >= 4,
        "{:?}",
        a.agg.stats.decoded()
    );
    let Some(a) = analyze("captures/fmt_ipv6_fragmented_dns.pcap") else {
        return;
    };
    assert_eq!(a.agg.stats.packets, 8);
    assert!(
        decoded(&a, "ip_fragment") > 0,
        "{:?}",
        a.agg.stats.decoded()
    );
}

#[test]
fn whole_corpus_analyses_without_panic_and_counts_add_up() {
    let Some(dir) = shared("captures") else {
        return;
    };
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "zst")
            {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 100, "{} capture files", files.len());
    for p in files {
        let Ok(src) = holoscope::capture::open(&p) else {
            continue;
        };
        let a = engine::analyze(src, &engine::Options::default(), |_| {});
        let tl = &a.agg.timeline;
        assert_eq!(
            tl.totals(0..tl.buckets().len()).0,
            a.agg.stats.packets,
            "{}",
            p.display()
        );
        assert_eq!(
            a.agg.index.len() as u64,
            a.agg.stats.packets,
            "{}",
            p.display()
        );
    }
}
