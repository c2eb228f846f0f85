//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/` and by the regression test
//! `tests/fuzz_regressions.rs`, which replays every committed corpus file and crash reproducer
//! through the same functions on every CI run.
//!
//! Each entry takes arbitrary bytes, runs one parser the way holoscope runs it on hostile input,
//! and checks invariants that must hold for any input (no panic, bounded output, round trips).
//! A violated invariant panics, which is what a fuzzer reports as a crash.

use crate::capture::{self, LinkType, RawPacket};
use crate::decode::{self, FirstFlight, Packet, ValueRef};
use crate::time::Timestamp;
use std::io::Cursor;

/// Records read from one fuzz input at most: keeps each execution short.
const MAX_RECORDS: usize = 4096;

/// Total bytes of packet text: no length field may make it larger than the frame.
fn text_bytes(p: &Packet) -> usize {
    let mut n = 0;
    p.visit(|_, v| {
        if let ValueRef::Text(t) = v {
            n += t.len();
        }
    });
    n
}

/// Longest DNS name (RFC 1035): compression pointers may expand a name beyond the bytes of its
/// packet (fuzzing found a 252-byte name in a 199-byte message), never beyond this.
const MAX_DNS_NAME: usize = 255;

fn check_packet(p: &Packet, data: &[u8]) {
    // Text comes from the frame's bytes (ALPN gains one comma per protocol), except a DNS name,
    // which compression can expand up to its 255-byte limit.
    assert!(
        text_bytes(p) <= data.len() + 1 + MAX_DNS_NAME,
        "text larger than the frame allows"
    );
    assert!(decode::transport_payload(p, data).len() <= data.len());
}

/// Capture readers (pcap, pcapng, gzip/zstd around either) followed by decoding and TLS
/// first-flight reassembly of every record, exactly as ingest does.
pub fn capture(data: &[u8]) {
    let Ok(mut src) = capture::from_reader("fuzz".into(), Box::new(Cursor::new(data.to_vec())))
    else {
        return;
    };
    let mut flight = FirstFlight::new();
    for _ in 0..MAX_RECORDS {
        let Ok(Some(raw)) = src.next_packet() else {
            break;
        };
        // A record never claims more captured bytes than its stated original length allows
        // to be kept (snaplen cuts only shorten).
        let mut p = decode::decode(&raw);
        check_packet(&p, raw.data);
        let payload = decode::transport_payload(&p, raw.data);
        if !payload.is_empty() {
            flight.observe(&mut p, payload);
        }
    }
    let _ = src.take_warnings();
    flight.finish();
}

/// The link, network and transport decoders: the first two bytes choose the link type (any
/// value, including unsupported ones), the rest is the frame.
pub fn link(data: &[u8]) {
    let (link, frame) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return,
    };
    let raw = RawPacket {
        ts: Timestamp(0),
        interface: 0,
        link: LinkType(link),
        orig_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
        data: frame,
        offset: 0,
    };
    let p = decode::decode(&raw);
    check_packet(&p, frame);
}

/// Which application decoder an [`app`] input is aimed at.
#[derive(Clone, Copy, Debug)]
pub enum App {
    /// DNS over UDP port 53.
    Dns,
    /// HTTP request over TCP port 80.
    Http,
    /// NTP over UDP port 123.
    Ntp,
}

/// One application decoder: `data` becomes the payload of an Ethernet/IPv4 frame to the
/// protocol's port, so the decoder sees it through the normal path.
pub fn app(which: App, data: &[u8]) {
    let frame = match which {
        App::Dns => frame_udp(53, data),
        App::Ntp => frame_udp(123, data),
        App::Http => frame_tcp(80, 1, data),
    };
    link_ethernet(&frame, data);
}

/// TLS ClientHello reassembly: the input is cut into TCP segments (each cut length taken from
/// the input itself) and fed through [`FirstFlight`] in order.
pub fn tls(data: &[u8]) {
    let Some((&cuts, body)) = data.split_first() else {
        return;
    };
    let step = usize::from(cuts % 16).max(1) * 16;
    let mut flight = FirstFlight::new();
    let mut seq = 1000u32;
    for chunk in body.chunks(step) {
        let frame = frame_tcp(443, seq, chunk);
        let raw = ethernet(&frame);
        let mut p = decode::decode(&raw);
        check_packet(&p, &frame);
        let payload = decode::transport_payload(&p, &frame);
        if !payload.is_empty() {
            flight.observe(&mut p, payload);
        }
        if let Some(t) = &p.tls {
            assert!(t.sni.as_ref().map_or(0, |s| s.len()) <= body.len() + 1);
        }
        seq = seq.wrapping_add(u32::try_from(chunk.len()).unwrap_or(0));
    }
    flight.finish();
}

/// The command language: anything that parses prints back to a line that parses to the same
/// command, and completion never panics.
pub fn command(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::command::complete(line, &crate::command::Context::default());
    if let Ok(cmd) = crate::command::parse(line) {
        let shown = cmd.to_string();
        let again = crate::command::parse(&shown)
            .unwrap_or_else(|e| panic!("{shown:?} does not parse back: {e}"));
        assert_eq!(again, cmd, "round trip of {shown:?}");
    }
}

/// Session files: a file that loads saves back to one that loads to the same session.
pub fn session(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = crate::session::SessionFile::parse(text) {
        let back = s.to_text().unwrap_or_else(|e| panic!("save: {e}"));
        let again =
            crate::session::SessionFile::parse(&back).unwrap_or_else(|e| panic!("reload: {e}"));
        // Compared as text: a NaN cursor is a valid RON float but never equal to itself.
        assert_eq!(again.to_text().ok(), Some(back));
    }
}

/// Rule import: the RON rule format and the one-line rule syntax. Whatever imports exports
/// back to text that imports to the same rules, and every exporter either renders a rule or
/// refuses it with an error (never a panic).
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rule) = text.parse::<crate::rules::Rule>() {
        let shown = rule.to_string();
        let again: crate::rules::Rule = shown
            .parse()
            .unwrap_or_else(|e| panic!("{shown:?} does not parse back: {e}"));
        assert_eq!(again.to_string(), shown);
    }
    if let Ok(rules) = crate::rules::import_ron(text) {
        for f in crate::rules::ExportFormat::ALL {
            let _ = crate::rules::export(*f, &rules);
        }
        if let Ok(ron) = crate::rules::export(crate::rules::ExportFormat::Ron, &rules) {
            let back = crate::rules::import_ron(&ron).unwrap_or_else(|e| panic!("reimport: {e}"));
            assert_eq!(back, rules);
        }
    }
}

fn link_ethernet(frame: &[u8], payload: &[u8]) {
    let raw = ethernet(frame);
    let p = decode::decode(&raw);
    check_packet(&p, frame);
    // The payload the decoders saw is exactly the one we wrapped.
    assert_eq!(decode::transport_payload(&p, frame), payload);
}

fn ethernet(frame: &[u8]) -> RawPacket<'_> {
    RawPacket {
        ts: Timestamp(0),
        interface: 0,
        link: LinkType(1),
        orig_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
        data: frame,
        offset: 0,
    }
}

/// Payloads larger than one IPv4 datagram are cut, like a capture would.
fn clip(payload: &[u8]) -> &[u8] {
    &payload[..payload.len().min(60_000)]
}

fn frame_udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let payload = clip(payload);
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(40000, dst_port);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // Writing into a Vec cannot fail for a payload that fits one datagram.
    let _ = b.write(&mut out, payload);
    out
}

fn frame_tcp(dst_port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let payload = clip(payload);
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, dst_port, seq, 64240)
        .ack(1)
        .psh();
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, payload);
    out
}

/// Theme files: any text either patches the default theme or is refused with a message (the
/// TUI then keeps the old theme); every colour of a patched theme is usable by the heat scale.
#[cfg(feature = "tui")]
pub fn theme(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = crate::ui::theme::Theme::default();
    if let Ok(t) = crate::ui::theme::Theme::patch(&base, "fuzz", text) {
        for r in [0.0, 0.5, 1.0, 2.0, f32::NAN, f32::INFINITY] {
            let _ = t.heat_color(r);
        }
    }
}
