//! Round trips through the pcapng writer and the tee.

use super::*;
use crate::capture::{LinkType, OwnedPacket, from_reader};
use crate::time::Timestamp;

fn pkt(ts: i64, link: u16, data: &[u8], orig_len: u32) -> OwnedPacket {
    OwnedPacket {
        ts: Timestamp(ts),
        interface: 0,
        link: LinkType(link),
        orig_len,
        data: data.to_vec(),
        offset: 0,
    }
}

fn read_all(bytes: Vec<u8>) -> (Vec<OwnedPacket>, Vec<Warning>) {
    let mut src = from_reader("t".into(), Box::new(io::Cursor::new(bytes))).unwrap();
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        out.push(p.to_owned());
    }
    (out, src.take_warnings())
}

#[test]
fn packets_come_back_unchanged() {
    let pkts = [
        pkt(1_700_000_000_123_456_789, 1, &[1, 2, 3, 4, 5], 60),
        pkt(1_700_000_001_000_000_001, 101, &[0x45; 7], 7),
        pkt(1_700_000_002_000_000_000, 1, &[], 0),
        pkt(4_294_967_296_000_000_001, 1, &[9; 8], 1500),
    ];
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    for p in &pkts {
        w.write_packet(&p.as_raw()).unwrap();
    }
    assert_eq!(w.packets(), 4);
    let (back, warnings) = read_all(w.into_inner());
    assert_eq!(back.len(), pkts.len(), "{warnings:?}");
    for (a, b) in pkts.iter().zip(&back) {
        assert_eq!(
            (a.ts, a.link, a.orig_len, &a.data),
            (b.ts, b.link, b.orig_len, &b.data)
        );
    }
    // Two link types: interfaces 0 and 1, reused for the third and fourth packets.
    assert_eq!(
        back.iter().map(|p| p.interface).collect::<Vec<_>>(),
        [0, 1, 0, 0]
    );
}

#[test]
fn tee_writes_part_then_renames() {
    let d = tempfile::tempdir().unwrap();
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    for i in 0..10 {
        w.write_packet(&pkt(1_000_000_000 * i, 1, &[i as u8; 20], 20).as_raw())
            .unwrap();
    }
    let bytes = w.into_inner();
    let src = from_reader("in".into(), Box::new(io::Cursor::new(bytes.clone()))).unwrap();
    let dest = d.path().join("out.pcapng");
    let (mut tee_src, handle) = tee(src, &dest, IndexBy::Input).unwrap();
    assert!(part_path(&dest).exists());
    let mut n = 0;
    while tee_src.next_packet().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 10);
    assert_eq!(handle.outcome().unwrap(), (10, dest.clone()));
    assert!(!part_path(&dest).exists());
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        bytes,
        "same writer, same bytes"
    );
}

#[test]
fn unfinished_tee_keeps_the_part_file() {
    let d = tempfile::tempdir().unwrap();
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    for i in 0..3 {
        w.write_packet(&pkt(i, 1, &[1; 30], 30).as_raw()).unwrap();
    }
    let src = from_reader("in".into(), Box::new(io::Cursor::new(w.into_inner()))).unwrap();
    let dest = d.path().join("o.pcapng");
    let (mut t, handle) = tee(src, &dest, IndexBy::Input).unwrap();
    assert!(t.next_packet().unwrap().is_some());
    drop(t);
    assert!(
        handle
            .outcome()
            .unwrap_err()
            .contains("did not end cleanly")
    );
    assert!(!dest.exists());
    let (back, _) = read_all(std::fs::read(part_path(&dest)).unwrap());
    assert_eq!(back.len(), 1);
}

#[test]
fn targets_that_clobber_the_input_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("cap.pcap");
    std::fs::write(&input, b"x").unwrap();
    assert!(check_target(&input, &input, false).is_err());
    assert!(
        check_target(
            &d.path()
                .join("../")
                .join(d.path().file_name().unwrap())
                .join("cap.pcap"),
            &input,
            false
        )
        .is_err()
    );
    assert!(check_target(&d.path().join("other.pcapng"), &input, false).is_ok());
    assert!(check_target(&d.path().join("other.pcapng"), Path::new("-"), false).is_ok());
    #[cfg(feature = "follow")]
    {
        // `cap.pcap7` is what the follow would take for tcpdump's next rotated file.
        assert!(check_target(&d.path().join("cap.pcap7"), &input, true).is_err());
        assert!(check_target(&d.path().join("cap.pcap7"), &input, false).is_ok());
        assert!(check_target(&d.path().join("copy.pcapng"), &input, true).is_ok());
    }
}

/// A tee that indexes its copy hands on the copy's offsets, not the input's (a legacy pcap,
/// laid out differently), and each reads back from the copy as the packet it was.
#[test]
fn tee_indexed_by_the_copy_reads_back_from_the_copy() {
    let d = tempfile::tempdir().unwrap();
    // Legacy pcap, microseconds, Ethernet: a 24-byte header, then 16-byte record headers.
    let mut input = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        input.extend_from_slice(&v.to_le_bytes());
    }
    let datas: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 20 + usize::from(i)]).collect();
    for (i, data) in datas.iter().enumerate() {
        let len = u32::try_from(data.len()).unwrap();
        for v in [u32::try_from(i).unwrap(), 0, len, len] {
            input.extend_from_slice(&v.to_le_bytes());
        }
        input.extend_from_slice(data);
    }
    let src = from_reader("in".into(), Box::new(io::Cursor::new(input))).unwrap();
    let dest = d.path().join("copy.pcapng");
    let (mut t, handle) = tee(src, &dest, IndexBy::Copy).unwrap();
    let mut offsets = Vec::new();
    while let Some(p) = t.next_packet().unwrap() {
        offsets.push(p.offset);
    }
    drop(t);
    handle.outcome().unwrap();
    let mut copy = crate::capture::open(&dest).unwrap();
    while copy.next_packet().unwrap().is_some() {}
    let ctx = copy.index_context().unwrap();
    assert_eq!(offsets.len(), 6);
    for ((i, data), off) in datas.iter().enumerate().zip(offsets) {
        let back = crate::capture::read_packet_at(&dest, &ctx, off).unwrap();
        assert_eq!(back.data, *data, "packet {i} at {off}");
        assert_eq!(
            back.ts,
            Timestamp(1_000_000_000 * i64::try_from(i).unwrap())
        );
    }
}

/// While the source runs, `flush` makes every packet passed on so far readable in
/// `FILE.part` by its copy offset (the live TUI lists a host's packets from there); before,
/// they sat in the 1 MiB write buffer until the half-second flush.
#[test]
fn flush_makes_the_running_copy_readable() {
    let d = tempfile::tempdir().unwrap();
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    for i in 0..8u8 {
        w.write_packet(&pkt(1_000_000_000 * i64::from(i), 1, &[i; 40], 40).as_raw())
            .unwrap();
    }
    let src = from_reader("in".into(), Box::new(io::Cursor::new(w.into_inner()))).unwrap();
    let dest = d.path().join("live.pcapng");
    let (mut t, handle) = tee(src, &dest, IndexBy::Copy).unwrap();
    let offsets: Vec<u64> = (0..5)
        .map(|_| t.next_packet().unwrap().unwrap().offset)
        .collect();
    let part = part_path(&dest);
    handle.flush();
    let (back, _) = read_all(std::fs::read(&part).unwrap());
    assert_eq!(back.len(), 5, "every packet passed on is in the copy");
    let mut copy = crate::capture::open(&part).unwrap();
    while copy.next_packet().unwrap().is_some() {}
    let ctx = copy.index_context().unwrap();
    for (i, off) in offsets.into_iter().enumerate() {
        let p = crate::capture::read_packet_at(&part, &ctx, off).unwrap();
        assert_eq!(p.data, vec![u8::try_from(i).unwrap(); 40]);
    }
    // The copy goes on and ends as usual.
    while t.next_packet().unwrap().is_some() {}
    drop(t);
    assert_eq!(handle.outcome().unwrap(), (8, dest));
}
