//! The committed demo capture: determinism, truth consistency, and that every packet is
//! well formed for third-party parsers (pcap-parser, etherparse, simple-dns, tls-parser).

// Helpers outside #[test] fns panic on purpose: a malformed sample is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::OnceLock;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use holoscope::sample::{SampleConfig, Truth, write_sample};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
use sha2::{Digest, Sha256};

/// SHA-256 of `samples/demo.pcap`. A change here must be deliberate: regenerate with
/// `cargo run --example gen_sample` and update this constant and the committed files.
const DEMO_SHA256: &str = "a2718e33fa0341d5b1b070c296895648886472b34438cf927d9ee9efbc53dc26";

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

fn demo() -> &'static (Vec<u8>, Truth) {
    static DEMO: OnceLock<(Vec<u8>, Truth)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let mut bytes = Vec::new();
        let truth = write_sample(&SampleConfig::demo(), &mut bytes).unwrap();
        (bytes, truth)
    })
}

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// All records as (epoch microseconds, frame), read with pcap-parser's legacy reader.
fn records(bytes: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut reader = LegacyPcapReader::new(1 << 16, bytes).unwrap();
    let mut out = Vec::new();
    let mut saw_header = false;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        assert_eq!(h.snaplen, 262_144);
                        assert_eq!(h.network, pcap_parser::Linktype::ETHERNET);
                        saw_header = true;
                    }
                    PcapBlockOwned::Legacy(b) => {
                        assert_eq!(b.caplen, b.origlen);
                        let ts = i64::from(b.ts_sec) * 1_000_000 + i64::from(b.ts_usec);
                        out.push((ts, b.data.to_vec()));
                    }
                    PcapBlockOwned::NG(_) => panic!("pcapng block in a legacy pcap"),
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("pcap error: {e:?}"),
        }
    }
    assert!(saw_header);
    out
}

#[test]
fn same_seed_gives_identical_bytes_and_matches_the_committed_file() {
    let (a, ta) = demo();
    let mut b = Vec::new();
    let tb = write_sample(&SampleConfig::demo(), &mut b).unwrap();
    assert_eq!(sha_hex(a), sha_hex(&b));
    assert_eq!(ta, &tb);
    assert_eq!(sha_hex(a), DEMO_SHA256, "generator output changed");
    let committed = std::fs::read(format!("{SAMPLES}/demo.pcap")).unwrap();
    assert_eq!(
        sha_hex(&committed),
        DEMO_SHA256,
        "samples/demo.pcap is stale"
    );
    let ron = std::fs::read_to_string(format!("{SAMPLES}/demo.truth.ron")).unwrap();
    assert_eq!(&Truth::from_ron(&ron).unwrap(), ta);
    let csv = std::fs::read_to_string(format!("{SAMPLES}/demo.truth.csv")).unwrap();
    assert_eq!(csv, ta.to_csv());
}

#[test]
fn another_seed_gives_another_capture() {
    let cfg = SampleConfig {
        seed: 1,
        duration_secs: 5.0,
        waves: Vec::new(),
        ..SampleConfig::demo()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    write_sample(&cfg, &mut a).unwrap();
    write_sample(&SampleConfig { seed: 2, ..cfg }, &mut b).unwrap();
    assert_ne!(sha_hex(&a), sha_hex(&b));
}

#[test]
fn truth_lists_four_ordered_waves_with_quiet_gaps() {
    let (bytes, truth) = demo();
    let kinds: Vec<&str> = truth.waves.iter().map(|w| w.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "port_scan_tcp_syn",
            "syn_flood_spoofed",
            "dns_tunnel_txt",
            "ntp_amplification"
        ]
    );
    for w in &truth.waves {
        assert!(w.start < w.end, "{w:?}");
        assert!((3.0..=31.0).contains(&(w.end - w.start)), "{w:?}");
    }
    for pair in truth.waves.windows(2) {
        assert!(pair[1].start - pair[0].end >= 25.0, "{pair:?}");
    }
    let recs = records(bytes);
    assert_eq!(recs.len() as u64, truth.packets);
    assert!((30_000..=60_000).contains(&recs.len()), "{}", recs.len());
    assert!(bytes.len() < 8_000_000, "{}", bytes.len());
    assert!(
        recs.windows(2).all(|w| w[0].0 <= w[1].0),
        "records out of time order"
    );
}

/// The four filters of the truth file, re-implemented on parsed packets: (wave index, match).
fn wave_of(p: &SlicedPacket<'_>) -> Option<usize> {
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let h = ip.header();
    let (src, dst) = (h.source(), h.destination());
    let has = |a: [u8; 4]| src == a || dst == a;
    let (sport, dport, udp) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port(), false),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port(), true),
        _ => (0, 0, false),
    };
    if has([10, 0, 0, 66]) && has([10, 0, 0, 10]) {
        return Some(0);
    }
    if has([10, 0, 0, 11]) && !udp && (sport == 8080 || dport == 8080) && p.transport.is_some() {
        return Some(1);
    }
    if udp && (sport == 53 || dport == 53) && (has([10, 0, 0, 77]) || has([198, 51, 100, 53])) {
        return Some(2);
    }
    if dst == [10, 0, 0, 105] && udp && sport == 123 && h.total_len() == 468 {
        return Some(3);
    }
    None
}

#[test]
fn every_packet_parses_and_wave_counts_match_the_filters() {
    let (bytes, truth) = demo();
    let mut counts = [0u64; 4];
    let mut first = [i64::MAX; 4];
    let mut last = [i64::MIN; 4];
    let mut dns = 0;
    for (ts, frame) in records(bytes) {
        let p = SlicedPacket::from_ethernet(&frame).unwrap_or_else(|e| panic!("{ts}: {e:?}"));
        assert!(p.transport.is_some(), "{ts}: no transport");
        if let Some(w) = wave_of(&p) {
            counts[w] += 1;
            first[w] = first[w].min(ts);
            last[w] = last[w].max(ts);
        }
        if let Some(TransportSlice::Udp(u)) = &p.transport
            && (u.source_port() == 53 || u.destination_port() == 53)
        {
            let msg =
                simple_dns::Packet::parse(u.payload()).unwrap_or_else(|e| panic!("{ts}: {e:?}"));
            assert_eq!(msg.questions.len(), 1);
            dns += 1;
        }
    }
    assert!(dns > 1_000, "{dns}");
    for (i, w) in truth.waves.iter().enumerate() {
        assert_eq!(counts[i], w.packets, "{}", w.wave);
        assert_eq!(first[i] as f64 / 1e6, w.start, "{}", w.wave);
        assert_eq!(last[i] as f64 / 1e6, w.end, "{}", w.wave);
    }
}

#[test]
fn client_hellos_parse_including_the_ones_split_over_two_segments() {
    use tls_parser::{
        TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_client_hello_extensions,
        parse_tls_plaintext,
    };
    let (bytes, _) = demo();
    // Client-to-443 payloads per flow, kept until a whole first record is there.
    let mut pending: HashMap<(Vec<u8>, u16), Vec<u8>> = HashMap::new();
    let (mut whole, mut split) = (0, 0);
    for (_, frame) in records(bytes) {
        let p = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            continue;
        };
        if t.destination_port() != 443 || t.payload().is_empty() {
            continue;
        }
        let src = match &p.net {
            Some(NetSlice::Ipv4(ip)) => ip.header().source().to_vec(),
            Some(NetSlice::Ipv6(ip)) => ip.header().source().to_vec(),
            _ => continue,
        };
        let key = (src, t.source_port());
        let segs = pending.entry(key.clone()).or_default();
        if segs.is_empty() && !t.payload().starts_with(&[0x16, 0x03, 0x01]) {
            continue; // later records of an already seen hello's connection
        }
        let first_segment = segs.is_empty();
        segs.extend_from_slice(t.payload());
        let need = usize::from(u16::from_be_bytes([segs[3], segs[4]])) + 5;
        if segs.len() < need {
            assert!(first_segment, "hello spans more than two segments");
            continue;
        }
        let record = pending.remove(&key).unwrap();
        if first_segment {
            whole += 1
        } else {
            split += 1
        }
        let (_, plain) = parse_tls_plaintext(&record).unwrap();
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = &plain.msg[0] else {
            panic!("not a ClientHello: {:?}", plain.msg)
        };
        let (_, exts) = parse_tls_client_hello_extensions(ch.ext.unwrap()).unwrap();
        assert!(
            exts.iter()
                .any(|e| matches!(e, TlsExtension::SNI(v) if !v.is_empty()))
        );
        assert!(
            exts.iter()
                .any(|e| matches!(e, TlsExtension::ALPN(v) if v.contains(&b"http/1.1".as_slice())))
        );
        assert!(
            exts.iter()
                .any(|e| matches!(e, TlsExtension::SupportedVersions(_)))
        );
        // Mark the connection so its later client records are skipped.
        pending.insert(key, Vec::new());
    }
    assert!(whole > 100, "{whole}");
    let share = f64::from(split) / f64::from(whole + split);
    assert!(
        (0.1..0.3).contains(&share),
        "split {split} of {}",
        whole + split
    );
}
