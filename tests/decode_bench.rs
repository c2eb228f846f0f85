//! Micro benchmark (ignored by default; speed is not asserted in tests). Run with
//! `cargo test --release --no-default-features --test decode_bench -- --ignored --nocapture`.

use etherparse::PacketBuilder;
use holoscope::capture::{LinkType, RawPacket};
use holoscope::decode::decode;
use holoscope::time::Timestamp;
use std::hint::black_box;
use std::time::Instant;

fn per_packet(name: &str, link: LinkType, frame: &[u8]) {
    let raw = RawPacket {
        ts: Timestamp(1),
        interface: 0,
        link,
        orig_len: frame.len() as u32,
        data: frame,
        offset: 0,
    };
    let n = 500_000u32;
    // The best of several rounds: the figure of interest is the cost, not the machine's load.
    let best = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(decode(black_box(&raw)));
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min);
    println!("{name:<28} {best:>7.1} ns/packet");
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn decode_ns_per_packet() {
    println!(
        "size_of::<Packet>() = {}",
        std::mem::size_of::<holoscope::decode::Packet>()
    );
    let eth = || PacketBuilder::ethernet2([1; 6], [2; 6]);
    let mut v = Vec::new();
    let _ = eth()
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 443, 1, 500)
        .ack(1)
        .write(&mut v, &[]);
    per_packet("eth/ipv4/tcp ack", LinkType::ETHERNET, &v);
    let mut v = Vec::new();
    let _ = eth()
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 22, 1, 500)
        .ack(1)
        .write(&mut v, &[0x55; 1200]);
    per_packet("eth/ipv4/tcp 1200B opaque", LinkType::ETHERNET, &v);
    let mut v = Vec::new();
    let _ = eth()
        .ipv6([1; 16], [2; 16], 64)
        .udp(5000, 443)
        .write(&mut v, &[0x40; 1200]);
    per_packet("eth/ipv6/udp quic-like", LinkType::ETHERNET, &v);
    let mut v = Vec::new();
    let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01";
    let _ = eth()
        .ipv4([10, 0, 0, 1], [8, 8, 8, 8], 64)
        .udp(40000, 53)
        .write(&mut v, q);
    per_packet("eth/ipv4/udp dns query", LinkType::ETHERNET, &v);
    let mut v = Vec::new();
    let _ = eth().ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 80, 1, 500).ack(1).write(
        &mut v,
        b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n",
    );
    per_packet("eth/ipv4/tcp http get", LinkType::ETHERNET, &v);
}
