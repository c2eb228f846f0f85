//! Hostile input: random bytes and mutated captures never panic and never make the reader
//! allocate from a length field; big legitimate records still grow the buffer.

// Test helpers outside #[test] functions: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use holoscope::capture::{self, Warning, WarningKind};
use proptest::prelude::*;
use std::io::Cursor;

fn pcap(records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (s, us, data) in records {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&us.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().div_ceil(4) * 4) as u32;
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(len as usize - 4, 0);
    out.extend_from_slice(&len.to_le_bytes());
    out
}

fn pcapng() -> Vec<u8> {
    pcapng_with_if(0)
}

fn pcapng_with_if(if_id: u32) -> Vec<u8> {
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = block(0x0a0d_0d0a, &shb);
    // IDB: Ethernet, snaplen 0, if_tsresol 9.
    let mut idb = vec![1, 0, 0, 0, 0, 0, 0, 0];
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(block(1, &idb));
    let mut epb = if_id.to_le_bytes().to_vec();
    let ts: u64 = 1_700_000_000_000_000_000;
    epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(ts as u32).to_le_bytes());
    epb.extend_from_slice(&5u32.to_le_bytes());
    epb.extend_from_slice(&60u32.to_le_bytes());
    epb.extend_from_slice(b"hello");
    out.extend(block(6, &epb));
    let mut spb = 4u32.to_le_bytes().to_vec();
    spb.extend_from_slice(b"abcd");
    out.extend(block(3, &spb));
    out
}

fn drain(bytes: Vec<u8>) -> (usize, Vec<Warning>) {
    let limit = bytes.len();
    let Ok(mut src) = capture::from_reader("fuzz".into(), Box::new(Cursor::new(bytes))) else {
        return (0, Vec::new());
    };
    let mut n = 0;
    while let Ok(Some(p)) = src.next_packet() {
        assert!(p.data.len() <= limit);
        n += 1;
        assert!(n <= limit, "more packets than bytes");
    }
    (n, src.take_warnings())
}

/// Peak resident memory of this process in KiB (Linux), to catch a length field turned into
/// an allocation: the buffers are zero-filled, so a big allocation is a big RSS.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mutate(mut base: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, b) in edits {
        let i = at % base.len();
        base[i] = b;
    }
    base.truncate(base.len() - cut % base.len());
    base
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        drain(bytes);
    }

    #[test]
    fn magic_then_random(magic in 0usize..5, tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let heads: [&[u8]; 5] = [
            &[0xd4, 0xc3, 0xb2, 0xa1], &[0xa1, 0xb2, 0x3c, 0x4d], &[0x34, 0xcd, 0xb2, 0xa1],
            &[0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a], &[0x1f, 0x8b, 8, 0],
        ];
        let mut bytes = heads[magic].to_vec();
        bytes.extend(tail);
        drain(bytes);
    }

    #[test]
    fn mutated_pcap(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>()) {
        let base = pcap(&[(1_600_000_000, 5, vec![1; 60]), (1_600_000_001, 7, vec![2; 40])]);
        drain(mutate(base, &edits, cut));
    }

    #[test]
    fn mutated_pcapng(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>()) {
        drain(mutate(pcapng(), &edits, cut));
    }
}

#[test]
fn synthetic_files_read_as_built() {
    let (n, w) = drain(pcapng());
    assert_eq!(n, 2);
    assert!(w.is_empty(), "{w:?}");
    let (n, w) = drain(pcap(&[(1, 2, vec![0; 10]), (3, 4, vec![0; 10])]));
    assert_eq!(n, 2);
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn unknown_interface_is_skipped_and_counted() {
    let (n, w) = drain(pcapng_with_if(3));
    assert_eq!(n, 1, "only the SPB (interface 0) remains");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::UnknownInterface);
    assert_eq!(
        w[0].message,
        format!(
            "1 packet referring to an undescribed interface was skipped (first at byte {})",
            28 + 32
        )
    );
}

#[test]
fn huge_claim_with_data_behind_it_stops_at_the_cap() {
    // A record claiming 1.4 GB followed by 3 MiB of real bytes: the buffer fills, and the
    // claim is refused without growing towards it.
    let mut bytes = pcap(&[(1, 0, vec![7; 100])]);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&1_409_179_648u32.to_le_bytes());
    bytes.extend_from_slice(&1_409_179_648u32.to_le_bytes());
    bytes.resize(bytes.len() + (3 << 20), 0xab);
    let (n, w) = drain(bytes);
    assert_eq!(n, 1);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::Corrupt);
    assert_eq!(w[0].offset, Some(24 + 16 + 100));
}

/// A pcapng block claiming fewer bytes than its own framing (type and two lengths, 12 bytes)
/// is damage, said as such: pcap-parser 0.17 takes the framing off a Process Information
/// Block's claim unchecked (a panic with overflow checks, found by fuzzing; without them, where
/// the file ends there, the wrapped length read as a record cut short).
#[test]
fn a_block_shorter_than_its_framing_is_inconsistent() {
    let base = pcapng();
    let at = base.len() as u64;
    for tail in [&[][..], &[0u8; 32][..]] {
        let mut bytes = base.clone();
        bytes.extend_from_slice(&0x8000_0001u32.to_le_bytes());
        bytes.extend_from_slice(&9u32.to_le_bytes());
        bytes.extend_from_slice(tail);
        let (n, w) = drain(bytes);
        assert_eq!(n, 2, "the packets before the damage");
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].kind, WarningKind::Corrupt, "{w:?}");
        assert_eq!(w[0].offset, Some(at));
        assert!(w[0].message.contains("inconsistent lengths"), "{w:?}");
    }
}

#[test]
fn records_bigger_than_the_initial_buffer_are_read() {
    let big = vec![0x5a; 5 << 20];
    let bytes = pcap(&[
        (1, 0, vec![1; 10]),
        (2, 0, big.clone()),
        (3, 0, vec![2; 10]),
    ]);
    let mut src = capture::from_reader("big".into(), Box::new(Cursor::new(bytes))).expect("open");
    let mut sizes = Vec::new();
    while let Some(p) = src.next_packet().expect("read") {
        sizes.push(p.data.len());
    }
    assert_eq!(sizes, [10, 5 << 20, 10]);
    // The snaplen (65535) is exceeded by the big record: counted.
    let w = src.take_warnings();
    assert_eq!(
        w.iter().map(|w| w.kind).collect::<Vec<_>>(),
        [WarningKind::SnaplenViolation]
    );
}

#[test]
fn peak_memory_stays_small() {
    // Runs after (or alongside) the property tests in this binary; none of them may have
    // pushed the process near the 64 MiB record cap times a few.
    for _ in 0..64 {
        drain(mutate(pcapng(), &[(7, 0x7f)], 0));
        drain(mutate(pcap(&[(1, 0, vec![0; 20])]), &[(35, 0x7f)], 0));
    }
    if let Some(kib) = peak_rss_kib() {
        assert!(kib < 400 * 1024, "peak RSS {kib} KiB");
    }
}
