//! The hostile sample carries raw control bytes in every text field, so the escaping tests
//! have something to escape; and it is still well-formed at the packet level.

// Helpers outside #[test] fns panic on purpose: a malformed sample is a test failure.
#![allow(clippy::unwrap_used)]

use holoscope::sample::{HOSTILE, SampleConfig, write_sample};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn hostile_sample_contains_raw_control_bytes() {
    let mut bytes = Vec::new();
    let truth = write_sample(&SampleConfig::hostile(), &mut bytes).unwrap();
    assert!(truth.waves.is_empty());
    assert!(bytes.len() < 300_000, "{}", bytes.len());
    for needle in [
        b"\x1b]0;pwned\x07".as_slice(),
        b"\x1b[2J",
        b"\x9b31m",
        b"\xff\xfe\xc3\x28",
        b"\"s'semi;colon{brace}",
        b"new\nline",
        b"back\\slash",
    ] {
        assert!(contains(&bytes, needle), "missing {needle:?}");
    }
    // In HTTP Host and User-Agent headers too, not only in DNS labels.
    assert!(contains(&bytes, b"Host: evil\x1b]0;pwned\x07.example"));
    assert!(contains(&bytes, b"User-Agent: Mozilla/5.0 \x1b[2J"));
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/hostile.pcap")).unwrap();
    assert_eq!(committed, bytes, "samples/hostile.pcap is stale");
    assert_eq!(HOSTILE.len(), 8);
}

#[test]
fn hostile_frames_still_parse() {
    let mut bytes = Vec::new();
    write_sample(&SampleConfig::hostile(), &mut bytes).unwrap();
    let mut off = 24;
    let mut n = 0;
    while off < bytes.len() {
        let len = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &bytes[off + 16..off + 16 + len];
        etherparse::SlicedPacket::from_ethernet(frame).unwrap();
        off += 16 + len;
        n += 1;
    }
    assert_eq!(off, bytes.len());
    assert!(n > 100, "{n}");
}
