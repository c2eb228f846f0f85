//! Minimal legacy pcap writer (microsecond, little-endian, Ethernet).
//!
//! Hand-written because the format is two fixed little-endian headers and pcap-parser only
//! reads; pulling in a writer crate for 40 bytes of layout is not worth a dependency.

use std::io::{self, Write};

/// Snapshot length announced in the global header (tcpdump's default).
pub const SNAPLEN: u32 = 262_144;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;

/// The 24-byte global header: magic a1b2c3d4 (µs), version 2.4, zone 0, sigfigs 0.
#[must_use]
pub fn global_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// The 16-byte record header for a frame captured whole at `ts_us` (epoch microseconds).
#[must_use]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn record_header(ts_us: i64, len: usize) -> [u8; 16] {
    let mut h = [0u8; 16];
    let secs = ts_us.div_euclid(1_000_000) as u32;
    let frac = ts_us.rem_euclid(1_000_000) as u32;
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&frac.to_le_bytes());
    h[8..12].copy_from_slice(&len.min(SNAPLEN).to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    h
}

/// Writes one record (header + frame, truncated to the snap length).
pub fn write_record(out: &mut impl Write, ts_us: i64, frame: &[u8]) -> io::Result<()> {
    out.write_all(&record_header(ts_us, frame.len()))?;
    let keep = frame.len().min(SNAPLEN as usize);
    out.write_all(&frame[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_have_the_documented_layout() {
        let g = global_header();
        assert_eq!(&g[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes([g[16], g[17], g[18], g[19]]), 262_144);
        let r = record_header(1_772_442_000_123_456, 60);
        assert_eq!(u32::from_le_bytes([r[0], r[1], r[2], r[3]]), 1_772_442_000);
        assert_eq!(u32::from_le_bytes([r[4], r[5], r[6], r[7]]), 123_456);
        assert_eq!(&r[8..12], &60u32.to_le_bytes());
        assert_eq!(&r[12..16], &60u32.to_le_bytes());
    }
}
