//! Hostile input: random bytes for every link type and random mutations of valid frames never
//! panic, and decoded text never exceeds what the frame could hold.

use etherparse::{PacketBuilder, VlanId};
use holoscope::capture::{LinkType, RawPacket};
use holoscope::decode::{FirstFlight, Packet, decode, transport_payload};
use holoscope::time::Timestamp;
use proptest::prelude::*;

const LINKS: [u16; 11] = [0, 1, 101, 108, 113, 228, 229, 276, 160, 239, 65535];

fn raw(link: u16, data: &[u8], orig_len: u32) -> RawPacket<'_> {
    RawPacket {
        ts: Timestamp(0),
        interface: 0,
        link: LinkType(link),
        orig_len,
        data,
        offset: 0,
    }
}

/// Total bytes of packet text: no length field may make it larger than the frame.
fn text_bytes(p: &Packet) -> usize {
    let mut n = 0;
    p.visit(|_, v| {
        if let holoscope::decode::ValueRef::Text(t) = v {
            n += t.len();
        }
    });
    n
}

fn check(p: &Packet, data: &[u8]) {
    // Text comes from the frame (ALPN gains one comma per protocol), except a DNS name, which
    // compression pointers can expand to its 255-byte limit (found by fuzzing).
    assert!(
        text_bytes(p) <= data.len() + 1 + 255,
        "text larger than the frame"
    );
    assert!(transport_payload(p, data).len() <= data.len());
    if let Some(off) = p.payload_offset {
        assert!((off as usize) < data.len());
    }
}

/// Valid frames of every kind, as mutation seeds.
fn seeds() -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut push = |link: u16, v: Vec<u8>| out.push((link, v));
    let eth = || PacketBuilder::ethernet2([1; 6], [2; 6]);
    let mut v = Vec::new();
    let _ = eth().ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9).udp(53, 53).write(&mut v, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    push(1, std::mem::take(&mut v));
    let _ = eth()
        .double_vlan(VlanId::try_new(5).unwrap_or(VlanId::ZERO), VlanId::ZERO)
        .ipv6([1; 16], [2; 16], 9)
        .tcp(5, 443, 1, 1)
        .write(&mut v, &[0x16, 3, 1, 0, 60, 1, 0, 0, 56, 3, 3]);
    push(1, std::mem::take(&mut v));
    let _ = eth()
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9)
        .tcp(5, 80, 1, 1)
        .write(&mut v, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    push(1, std::mem::take(&mut v));
    let _ = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9)
        .udp(123, 123)
        .write(&mut v, &[0x1b; 48]);
    push(101, std::mem::take(&mut v));
    let _ = PacketBuilder::ipv6([1; 16], [2; 16], 9)
        .icmpv6_echo_request(1, 1)
        .write(&mut v, &[0; 8]);
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&v);
    push(276, sll2);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(link in prop::sample::select(&LINKS[..]), data in prop::collection::vec(any::<u8>(), 0..300), extra in 0u32..70000) {
        let p = decode(&raw(link, &data, data.len() as u32 + extra));
        check(&p, &data);
    }

    #[test]
    fn random_bytes_behind_valid_headers_never_panic(seed in 0usize..8, tail in prop::collection::vec(any::<u8>(), 0..200)) {
        // Valid link + IP prefixes followed by junk: exercises L4 and the app decoders.
        let prefixes: [(u16, &[u8]); 4] = [
            (101, &[0x45, 0, 0x01, 0x00, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 53, 0, 53, 0, 0xec, 0, 0]),
            (101, &[0x45, 0, 0x01, 0x00, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 9, 1, 187, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 1, 0, 0, 0, 0, 0]),
            (228, &[0x45, 0, 0x01, 0x00, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 123, 0, 123, 0, 0xec, 0, 0]),
            (229, &[0x60, 0, 0, 0, 0, 0xc8, 0, 64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
        ];
        let (link, prefix) = prefixes[seed % prefixes.len()];
        let mut data = prefix.to_vec();
        data.extend_from_slice(&tail);
        let p = decode(&raw(link, &data, data.len() as u32));
        check(&p, &data);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        seed in 0usize..5,
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let seeds = seeds();
        let (link, mut data) = seeds[seed % seeds.len()].clone();
        for (at, b) in flips {
            let n = data.len();
            data[at % n] = b;
        }
        let orig = data.len() as u32;
        data.truncate(cut % (data.len() + 1));
        let p = decode(&raw(link, &data, orig));
        check(&p, &data);
    }

    #[test]
    fn first_flight_never_panics(segs in prop::collection::vec((any::<u32>(), prop::collection::vec(any::<u8>(), 0..600), any::<bool>()), 1..40)) {
        let mut ff = FirstFlight::new();
        for (seq, mut payload, start) in segs {
            if start && payload.len() > 9 {
                payload[..6].copy_from_slice(&[0x16, 3, 1, 0x10, 0, 1]);
            }
            let mut p = Packet {
                proto: Some(6),
                src_ip: Some([10, 0, 0, 1].into()),
                dst_ip: Some([10, 0, 0, 2].into()),
                src_port: Some(1000),
                dst_port: Some(443),
                tcp_seq: Some(seq % 4000),
                payload_len: Some(payload.len() as u32),
                ..Packet::default()
            };
            ff.observe(&mut p, &payload);
        }
        prop_assert!(ff.pending() <= 1);
    }
}
