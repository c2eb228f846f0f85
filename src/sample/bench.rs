//! Benchmark-scale captures streamed from templates.
//!
//! Building every frame with etherparse costs about a microsecond; benchmarks want millions
//! of packets, so a one-minute pool (the normal background at a higher rate, plus short
//! waves) is built once and replayed. Each replay cycle shifts time by the pool's span and
//! moves every client's ephemeral port (32768-60999) by a per-cycle offset, fixing the TCP or
//! UDP checksum incrementally (RFC 1624), so each cycle opens new connections between the
//! same hosts, as a real network does.
//!
//! Addresses stay the same in every cycle. An earlier version moved the LAN to a new /24 per
//! cycle: every bucket then brought unseen addresses, the detector rightly saw one endless
//! change from the second cycle on, and the benchmark drafted rules for 4 waves instead of
//! the capture's 4 per cycle.

use std::io::{self, Write};

use super::SampleConfig;
use super::frame::Rec;
use super::pcap;
use super::waves::{WaveKind, WaveSpec};

const POOL_SECS: i64 = 60;
/// Background generated before the pool and dropped: the generator starts with no session
/// open, so its packet rate climbs for most of a minute; a pool cut from the steady part
/// keeps the rate level across cycles instead of a sawtooth from about 600 to 1300 packets/s
/// with a near-silent second at every seam.
const WARMUP_SECS: i64 = 60;

/// The generator's ephemeral client ports (`tcp::Conn::new`), the range cycles rotate.
const EPHEMERAL: std::ops::Range<u16> = 32_768..61_000;
/// Per-cycle port offset: a prime, so successive cycles do not land on recent ports.
const PORT_STEP: u32 = 7_919;

/// Where to patch one template frame (IPv4 TCP/UDP only; other frames are replayed as they
/// are).
struct Patch {
    /// Offset of the source port (the destination port follows it).
    ports: usize,
    /// Offset of the TCP or UDP checksum.
    l4_csum: usize,
    udp: bool,
}

fn patch_info(frame: &[u8]) -> Option<Patch> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = 14;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    // Later fragments carry no transport header.
    if u16::from_be_bytes([frame[ip + 6], frame[ip + 7]]) & 0x1fff != 0 {
        return None;
    }
    let l4 = ip + ihl;
    let (l4_csum, udp) = match frame[ip + 9] {
        6 if frame.len() >= l4 + 18 => (l4 + 16, false),
        17 if frame.len() >= l4 + 8 => (l4 + 6, true),
        _ => return None,
    };
    Some(Patch {
        ports: l4,
        l4_csum,
        udp,
    })
}

/// One's-complement update of the checksum at `at` for a 16-bit word changing `old -> new`.
fn fix_csum(buf: &mut [u8], at: usize, old: u16, new: u16) {
    let hc = u16::from_be_bytes([buf[at], buf[at + 1]]);
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    buf[at..at + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// The port a cycle gives an ephemeral port; other ports are left alone.
fn rotate(port: u16, cycle: u32) -> u16 {
    if !EPHEMERAL.contains(&port) {
        return port;
    }
    let width = u32::from(EPHEMERAL.end - EPHEMERAL.start);
    let off = (u32::from(port - EPHEMERAL.start) + cycle.wrapping_mul(PORT_STEP)) % width;
    EPHEMERAL.start + off as u16
}

fn apply(buf: &mut [u8], p: &Patch, cycle: u32) {
    // A UDP checksum of 0 means "none" and must stay so; decided once, before any update
    // (an intermediate result may itself be 0).
    let csum = !p.udp || buf[p.l4_csum] != 0 || buf[p.l4_csum + 1] != 0;
    for off in [p.ports, p.ports + 2] {
        let old = u16::from_be_bytes([buf[off], buf[off + 1]]);
        let new = rotate(old, cycle);
        if new == old {
            continue;
        }
        buf[off..off + 2].copy_from_slice(&new.to_be_bytes());
        if csum {
            fix_csum(buf, p.l4_csum, old, new);
        }
    }
    // UDP transmits a computed zero as 0xffff (both are zero in one's complement).
    if csum && p.udp && buf[p.l4_csum] == 0 && buf[p.l4_csum + 1] == 0 {
        buf[p.l4_csum..p.l4_csum + 2].copy_from_slice(&[0xff, 0xff]);
    }
}

fn pool(seed: u64) -> io::Result<Vec<Rec>> {
    let w = |kind, start_secs, duration_secs, rate| WaveSpec {
        kind,
        start_secs,
        duration_secs,
        rate,
    };
    let warm = WARMUP_SECS as f64;
    let cfg = SampleConfig {
        seed,
        duration_secs: (WARMUP_SECS + POOL_SECS) as f64,
        hosts: 120,
        background_pps: 1_200.0,
        waves: vec![
            w(WaveKind::PortScan, warm + 8.0, 2.0, 500.0),
            w(WaveKind::SynFlood, warm + 22.0, 3.0, 2_000.0),
            w(WaveKind::DnsTunnel, warm + 35.0, 6.0, 20.0),
            w(WaveKind::NtpAmplification, warm + 48.0, 2.0, 800.0),
        ],
        ..SampleConfig::demo()
    };
    // Keep [warm-up, warm-up + pool) and move it to the start: sessions open at the cut
    // start mid-way and those still open at the end are cut, as in any capture.
    let t0 = cfg.start_epoch_secs.saturating_mul(1_000_000);
    let (from, to) = (
        t0 + WARMUP_SECS * 1_000_000,
        t0 + (WARMUP_SECS + POOL_SECS) * 1_000_000,
    );
    let mut recs = super::generate(&cfg)?.0;
    recs.retain(|r| (from..to).contains(&r.ts_us));
    for r in &mut recs {
        r.ts_us -= WARMUP_SECS * 1_000_000;
    }
    Ok(recs)
}

/// Streams a pcap of exactly `packets` packets: the demo background mix at ~1200 pps from
/// 120 clients with a short wave of each kind in every 60 s cycle, each cycle on new client
/// ports.
///
/// # Errors
/// Write errors from `out`, or a frame the generator could not build.
pub fn write_bench_capture(packets: u64, seed: u64, out: &mut impl Write) -> io::Result<()> {
    let recs = pool(seed)?;
    let patches: Vec<Option<Patch>> = recs.iter().map(|r| patch_info(&r.frame)).collect();
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(&pcap::global_header());
    let mut written = 0u64;
    // The pool holds [0, POOL_SECS) of its own time, so cycles tile without a gap.
    let span = POOL_SECS * 1_000_000;
    let mut cycle: i64 = 0;
    while written < packets && !recs.is_empty() {
        let shift = cycle * span;
        let rot = u32::try_from(cycle).unwrap_or(0);
        for (r, p) in recs.iter().zip(&patches) {
            if written == packets {
                break;
            }
            buf.extend_from_slice(&pcap::record_header(r.ts_us + shift, r.frame.len()));
            let start = buf.len();
            buf.extend_from_slice(&r.frame);
            if let (Some(p), true) = (p, rot != 0) {
                apply(&mut buf[start..], p, rot);
            }
            written += 1;
            if buf.len() >= 1 << 20 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        cycle += 1;
    }
    out.write_all(&buf)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_checksum_matches_full_recompute() {
        // IPv4 header from RFC 1071 style example; recompute fully after a change.
        let mut h: [u8; 20] = [
            0x45, 0, 0, 0x3c, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0, 10, 0, 0, 5, 192, 0, 2, 10,
        ];
        let full = |h: &[u8; 20]| {
            let mut s = 0u32;
            for i in (0..20).step_by(2) {
                if i != 10 {
                    s += u32::from(u16::from_be_bytes([h[i], h[i + 1]]));
                }
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            !(s as u16)
        };
        let c = full(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let old = u16::from_be_bytes([h[14], h[15]]);
        h[14] = 7;
        let new = u16::from_be_bytes([h[14], h[15]]);
        fix_csum(&mut h, 10, old, new);
        assert_eq!(u16::from_be_bytes([h[10], h[11]]), full(&h));
    }

    /// One's-complement sum over the IPv4 pseudo-header and the whole transport segment,
    /// checksum included: 0xffff when the checksum is right.
    fn l4_sum(frame: &[u8]) -> u16 {
        let ip = 14;
        let ihl = usize::from(frame[ip] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]));
        let seg = &frame[ip + ihl..ip + total];
        let mut s: u32 = 0;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        add(&frame[ip + 12..ip + 20]);
        add(&[0, frame[ip + 9]]);
        add(&(seg.len() as u16).to_be_bytes());
        add(seg);
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn cycles_rotate_client_ports_and_keep_checksums_valid() {
        let recs = pool(3).unwrap();
        let (mut rotated, mut checked) = (0, 0);
        for r in &recs {
            let Some(p) = patch_info(&r.frame) else {
                continue;
            };
            let ip_total = usize::from(u16::from_be_bytes([r.frame[16], r.frame[17]]));
            let whole = r.frame.len() >= 14 + ip_total;
            let had_csum = !p.udp || r.frame[p.l4_csum] != 0 || r.frame[p.l4_csum + 1] != 0;
            let valid_before = whole && had_csum && l4_sum(&r.frame) == 0xffff;
            let mut f = r.frame.clone();
            apply(&mut f, &p, 5);
            let ports = |b: &[u8]| {
                [
                    u16::from_be_bytes([b[p.ports], b[p.ports + 1]]),
                    u16::from_be_bytes([b[p.ports + 2], b[p.ports + 3]]),
                ]
            };
            for (a, b) in ports(&r.frame).into_iter().zip(ports(&f)) {
                assert_eq!(b, rotate(a, 5));
                assert_eq!(EPHEMERAL.contains(&a), EPHEMERAL.contains(&b));
                if EPHEMERAL.contains(&a) {
                    assert_ne!(a, b);
                    rotated += 1;
                } else {
                    assert_eq!(a, b, "server ports stay");
                }
            }
            if valid_before {
                assert_eq!(l4_sum(&f), 0xffff, "checksum after rotation");
                checked += 1;
            }
            if !had_csum {
                assert_eq!(&f[p.l4_csum..p.l4_csum + 2], &[0, 0]);
            }
        }
        assert!(rotated > 10_000 && checked > 10_000, "{rotated} {checked}");
        // Distinct cycles give distinct ports for the same template port.
        assert_ne!(rotate(40_000, 1), rotate(40_000, 2));
        assert_eq!(rotate(443, 9), 443);
    }
}
