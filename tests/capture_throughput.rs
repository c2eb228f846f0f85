//! Throughput check, run by hand (no timed assertions):
//! `cargo test --release --no-default-features --test capture_throughput -- --ignored --nocapture`
//! It writes a large pcap of small packets and compares our source with pcap-parser's bare
//! streaming loop over the same file.

// Test helpers outside #[test] functions: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use holoscope::capture::{self, PacketIndex};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
use std::io::{BufWriter, Write};
use std::time::Instant;

const PACKETS: u32 = 4_000_000;

fn write_pcap(path: &std::path::Path) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    w.write_all(&65535u32.to_le_bytes()).unwrap();
    w.write_all(&1u32.to_le_bytes()).unwrap();
    let frame = [0x42u8; 60];
    for i in 0..PACKETS {
        w.write_all(&(1_700_000_000 + i / 100_000).to_le_bytes())
            .unwrap();
        w.write_all(&(i % 100_000 * 10).to_le_bytes()).unwrap();
        w.write_all(&60u32.to_le_bytes()).unwrap();
        w.write_all(&60u32.to_le_bytes()).unwrap();
        w.write_all(&frame).unwrap();
    }
    w.flush().unwrap();
}

#[test]
#[ignore = "measurement, run by hand in release mode"]
fn throughput() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    write_pcap(tmp.path());
    for round in 0..3 {
        let t = Instant::now();
        let mut r =
            LegacyPcapReader::new(1 << 20, std::fs::File::open(tmp.path()).unwrap()).unwrap();
        let (mut n, mut bytes) = (0u64, 0u64);
        loop {
            match r.next() {
                Ok((len, block)) => {
                    if let PcapBlockOwned::Legacy(b) = block {
                        n += 1;
                        bytes += b.data.len() as u64;
                    }
                    r.consume(len);
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => r.refill().unwrap(),
                Err(e) => panic!("{e:?}"),
            }
        }
        let bare = t.elapsed();

        let t = Instant::now();
        let mut src = capture::open(tmp.path()).unwrap();
        let (mut m, mut bytes2, mut sum) = (0u64, 0u64, 0i64);
        let mut index = PacketIndex::new();
        while let Some(p) = src.next_packet().unwrap() {
            m += 1;
            bytes2 += p.data.len() as u64;
            sum = sum.wrapping_add(p.ts.0);
            index.push(p.offset);
        }
        let ours = t.elapsed();
        assert_eq!((n, bytes), (m, bytes2));
        println!(
            "round {round}: {n} packets; pcap-parser bare {:.1} M/s, holoscope source {:.1} M/s (with index push) [{sum}]",
            n as f64 / bare.as_secs_f64() / 1e6,
            m as f64 / ours.as_secs_f64() / 1e6,
        );
    }
}
