//! Benchmark-scale captures streamed from templates.
//!
//! Building every frame with etherparse costs about a microsecond; benchmarks want millions
//! of packets, so a one-minute pool (the normal background at a higher rate, plus short
//! waves) is built once and replayed. Each replay cycle shifts time by the pool length and
//! moves the LAN to another /24 (10.0.k.x), patching the addresses and fixing the checksums
//! incrementally (RFC 1624), so flows do not simply repeat.

use std::io::{self, Write};

use super::SampleConfig;
use super::frame::Rec;
use super::pcap;
use super::waves::{WaveKind, WaveSpec};

const POOL_SECS: i64 = 60;

/// Where to patch one template frame (IPv4 only; other frames are replayed as they are).
struct Patch {
    ip: usize,
    src_lan: bool,
    dst_lan: bool,
    l4_csum: Option<usize>,
}

fn patch_info(frame: &[u8]) -> Option<Patch> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = 14;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let lan = |o: usize| frame[o..o + 3] == [10, 0, 0];
    let l4 = ip + ihl;
    let l4_csum = match frame[ip + 9] {
        6 if frame.len() >= l4 + 18 => Some(l4 + 16),
        17 if frame.len() >= l4 + 8 => Some(l4 + 6),
        _ => None,
    };
    Some(Patch {
        ip,
        src_lan: lan(ip + 12),
        dst_lan: lan(ip + 16),
        l4_csum,
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

fn apply(buf: &mut [u8], p: &Patch, subnet: u8) {
    // A UDP checksum of 0 means "none" and must stay so; decided once, before any update
    // (an intermediate result may itself be 0).
    let l4 = p
        .l4_csum
        .filter(|&c| buf[p.ip + 9] == 6 || buf[c] != 0 || buf[c + 1] != 0);
    for (on, off) in [(p.src_lan, p.ip + 12), (p.dst_lan, p.ip + 16)] {
        if !on {
            continue;
        }
        let old = u16::from_be_bytes([buf[off + 2], buf[off + 3]]);
        buf[off + 2] = subnet;
        let new = u16::from_be_bytes([buf[off + 2], buf[off + 3]]);
        fix_csum(buf, p.ip + 10, old, new);
        if let Some(c) = l4 {
            fix_csum(buf, c, old, new);
        }
    }
    // UDP transmits a computed zero as 0xffff (both are zero in one's complement).
    if let Some(c) = l4 {
        if buf[p.ip + 9] == 17 && buf[c] == 0 && buf[c + 1] == 0 {
            buf[c..c + 2].copy_from_slice(&[0xff, 0xff]);
        }
    }
}

fn pool(seed: u64) -> io::Result<Vec<Rec>> {
    let w = |kind, start_secs, duration_secs, rate| WaveSpec {
        kind,
        start_secs,
        duration_secs,
        rate,
    };
    let cfg = SampleConfig {
        seed,
        duration_secs: POOL_SECS as f64,
        hosts: 120,
        background_pps: 1_200.0,
        waves: vec![
            w(WaveKind::PortScan, 8.0, 2.0, 500.0),
            w(WaveKind::SynFlood, 22.0, 3.0, 2_000.0),
            w(WaveKind::DnsTunnel, 35.0, 6.0, 20.0),
            w(WaveKind::NtpAmplification, 48.0, 2.0, 800.0),
        ],
        ..SampleConfig::demo()
    };
    Ok(super::generate(&cfg)?.0)
}

/// Streams a pcap of exactly `packets` packets: the demo background mix at ~1200 pps from
/// 120 clients with a short wave of each kind in every cycle (the pool covers 60 s, but its
/// sessions run on, so a cycle lasts about two minutes), each cycle in a new address range.
///
/// # Errors
/// Write errors from `out`, or a frame the generator could not build.
pub fn write_bench_capture(packets: u64, seed: u64, out: &mut impl Write) -> io::Result<()> {
    let recs = pool(seed)?;
    let patches: Vec<Option<Patch>> = recs.iter().map(|r| patch_info(&r.frame)).collect();
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(&pcap::global_header());
    let mut written = 0u64;
    // Sessions started near the end of the pool run past it, so a cycle lasts the pool's whole
    // span (plus a small gap) to keep time monotonic across cycles.
    let span = match (recs.first(), recs.last()) {
        (Some(a), Some(b)) => b.ts_us - a.ts_us + 5_000,
        _ => 0,
    };
    let mut cycle: i64 = 0;
    while written < packets && !recs.is_empty() {
        let shift = cycle * span;
        let subnet = (cycle % 256) as u8;
        for (r, p) in recs.iter().zip(&patches) {
            if written == packets {
                break;
            }
            buf.extend_from_slice(&pcap::record_header(r.ts_us + shift, r.frame.len()));
            let start = buf.len();
            buf.extend_from_slice(&r.frame);
            if let (Some(p), true) = (p, subnet != 0) {
                apply(&mut buf[start..], p, subnet);
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
}
