//! Signature sniffing: which compression and which container a stream holds, decided from its
//! first bytes only (never the file name). The bytes read while sniffing are kept and replayed
//! to the parser.

use crate::capture::input::read_full;
use crate::capture::layout::{LegacyLayout, MAX_RECORD};
use crate::capture::{CaptureFormat, Compression, LinkType};
use std::io::{self, Read};

/// A recognised container.
pub(crate) enum Container {
    /// Legacy pcap with its record layout.
    Legacy(LegacyLayout),
    /// pcapng (the first SHB is complete in the prefix).
    Pcapng,
}

/// The result of sniffing.
pub(crate) struct Sniffed {
    pub format: CaptureFormat,
    pub container: Container,
    /// Every byte read so far (the whole legacy header or first SHB).
    pub prefix: Vec<u8>,
}

/// Why a stream was rejected.
#[derive(Debug)]
pub(crate) enum Reject {
    /// Reading failed.
    Io(io::Error),
    /// Not a capture; the reason in our own words.
    Not(String),
}

impl From<io::Error> for Reject {
    fn from(e: io::Error) -> Self {
        Reject::Io(e)
    }
}

/// The compression announced by a stream's first bytes.
pub(crate) fn compression_of(sig: &[u8]) -> Compression {
    if sig.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if sig.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Reads (at least) the capture header after `prefix` and identifies the container.
pub(crate) fn sniff(r: &mut dyn Read, mut prefix: Vec<u8>) -> Result<Sniffed, Reject> {
    let n = read_full(r, &mut prefix, 4)?;
    if n == 0 {
        return Err(Reject::Not("empty file".into()));
    }
    if n < 4 {
        return Err(Reject::Not(format!(
            "truncated header ({n} of 4 signature bytes)"
        )));
    }
    let sig = [prefix[0], prefix[1], prefix[2], prefix[3]];
    let (format, big_endian) = match sig {
        [0xd4, 0xc3, 0xb2, 0xa1] => (CaptureFormat::Pcap, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (CaptureFormat::Pcap, true),
        [0x4d, 0x3c, 0xb2, 0xa1] => (CaptureFormat::PcapNs, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (CaptureFormat::PcapNs, true),
        [0x34, 0xcd, 0xb2, 0xa1] => (CaptureFormat::PcapModified, false),
        [0xa1, 0xb2, 0xcd, 0x34] => {
            // pcap-parser only reads the little-endian variant; such files are not known to exist.
            return Err(Reject::Not(
                "big-endian modified pcap (a1 b2 cd 34) is not supported".into(),
            ));
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => return sniff_pcapng(r, prefix),
        [a, b, c, d] => {
            return Err(Reject::Not(format!(
                "unknown signature {a:02x} {b:02x} {c:02x} {d:02x}"
            )));
        }
    };
    let n = read_full(r, &mut prefix, 24)?;
    if n < 24 {
        return Err(Reject::Not(format!("truncated header ({n} of 24 bytes)")));
    }
    let u32_at = |at: usize| {
        let b = [prefix[at], prefix[at + 1], prefix[at + 2], prefix[at + 3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let layout = LegacyLayout {
        big_endian,
        nanos: format == CaptureFormat::PcapNs,
        modified: format == CaptureFormat::PcapModified,
        snaplen: u32_at(16),
        // The upper 16 bits of the link field hold FCS flags, not the link type.
        link: LinkType((u32_at(20) & 0xffff) as u16),
    };
    Ok(Sniffed {
        format,
        container: Container::Legacy(layout),
        prefix,
    })
}

fn sniff_pcapng(r: &mut dyn Read, mut prefix: Vec<u8>) -> Result<Sniffed, Reject> {
    let n = read_full(r, &mut prefix, 12)?;
    if n < 12 {
        return Err(Reject::Not(format!("truncated header ({n} of 28 bytes)")));
    }
    let big_endian = match prefix[8..12] {
        [0x1a, 0x2b, 0x3c, 0x4d] => true,
        [0x4d, 0x3c, 0x2b, 0x1a] => false,
        _ => {
            return Err(Reject::Not(
                "pcapng section header with an invalid byte-order mark".into(),
            ));
        }
    };
    let b = [prefix[4], prefix[5], prefix[6], prefix[7]];
    let len = if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    };
    if len < 28 || len % 4 != 0 || u64::from(len) > MAX_RECORD {
        return Err(Reject::Not(format!(
            "pcapng section header claims an impossible length of {len} bytes"
        )));
    }
    let n = read_full(r, &mut prefix, len as usize)?;
    if n < len as usize {
        return Err(Reject::Not(format!(
            "truncated header ({n} of {len} bytes)"
        )));
    }
    if pcap_parser::parse_sectionheaderblock(&prefix).is_err() {
        return Err(Reject::Not("unparseable pcapng section header".into()));
    }
    Ok(Sniffed {
        format: CaptureFormat::Pcapng,
        container: Container::Pcapng,
        prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(bytes: &[u8]) -> String {
        match sniff(&mut io::Cursor::new(bytes.to_vec()), Vec::new()) {
            Err(Reject::Not(r)) => r,
            Err(Reject::Io(e)) => format!("io {e}"),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(reason(b""), "empty file");
        assert_eq!(reason(&[0; 4096]), "unknown signature 00 00 00 00");
        assert_eq!(reason(b"hello world"), "unknown signature 68 65 6c 6c");
        assert_eq!(
            reason(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0]),
            "truncated header (10 of 24 bytes)"
        );
        assert_eq!(
            reason(&[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4]),
            "pcapng section header with an invalid byte-order mark"
        );
        let mut huge = vec![
            0x0a, 0x0d, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0x7f, 0x4d, 0x3c, 0x2b, 0x1a,
        ];
        assert!(reason(&huge).contains("impossible length"));
        huge[4..8].copy_from_slice(&64u32.to_le_bytes());
        assert_eq!(reason(&huge), "truncated header (12 of 64 bytes)");
    }

    #[test]
    fn compression_signatures() {
        assert_eq!(compression_of(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(compression_of(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(compression_of(&[0xd4, 0xc3, 0xb2, 0xa1]), Compression::None);
    }
}
