//! Writes seed inputs for every fuzz target (see `fuzz/` and `scripts/fuzz.sh`) from real
//! captures: whole small capture files for `capture`, link-type-prefixed frames for `link`, and
//! the application payloads of DNS, HTTP, NTP and TLS packets for their decoders; command lines,
//! a session file and rule files for the text formats.
//!
//! Run: `cargo run --release --example fuzz_seeds -- OUT_DIR CAPTURE...`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::capture;
use holoscope::decode::{self, Field};
use holoscope::rules::{self, ExportFormat, Rule};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Seeds per target and capture, so one large capture does not dominate.
const PER_CAPTURE: usize = 40;

struct Out {
    dir: PathBuf,
    seen: HashSet<(String, Vec<u8>)>,
}

impl Out {
    fn put(&mut self, target: &str, data: &[u8]) {
        if data.is_empty() || !self.seen.insert((target.to_string(), data.to_vec())) {
            return;
        }
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("seed-{:04}", self.seen.len());
        std::fs::write(dir.join(name), data).unwrap();
    }
}

fn from_capture(out: &mut Out, path: &Path) {
    if std::fs::metadata(path).map_or(0, |m| m.len()) <= 256 * 1024 {
        out.put("capture", &std::fs::read(path).unwrap());
    }
    let Ok(mut src) = capture::open(path) else {
        return;
    };
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    let mut budget = 20_000;
    while let Ok(Some(raw)) = src.next_packet() {
        budget -= 1;
        if budget == 0 {
            break;
        }
        let p = decode::decode(&raw);
        let payload = decode::transport_payload(&p, raw.data).to_vec();
        let mut framed = raw.link.0.to_be_bytes().to_vec();
        framed.extend_from_slice(&raw.data[..raw.data.len().min(2048)]);
        let mut seeds: Vec<(&str, Vec<u8>)> = vec![("link", framed)];
        if p.get(Field::DnsId).is_some() {
            seeds.push(("dns", payload.clone()));
        }
        if p.get(Field::HttpMethod).is_some() {
            seeds.push(("http", payload.clone()));
        }
        if p.get(Field::NtpMode).is_some() {
            seeds.push(("ntp", payload.clone()));
        }
        if p.proto == Some(6) && payload.first() == Some(&0x16) {
            let mut t = vec![3u8];
            t.extend_from_slice(&payload);
            seeds.push(("tls", t));
        }
        for (target, data) in seeds {
            let n = counts.entry(target).or_default();
            if *n < PER_CAPTURE {
                *n += 1;
                out.put(target, &data);
            }
        }
    }
}

fn text_seeds(out: &mut Out) {
    for line in [
        "goto 1:30",
        "goto @1700000000.5",
        "window 30s",
        "baseline 0:00..1:30",
        "accept all",
        "accept R3",
        "reject R1",
        "edit R2 drop when dst_port=8080 tcp_flags&SA=S",
        "suppress src_ip=10.0.0.1",
        "suppress dns_qname=\"a;b\\\"c\"",
        "export nft out.nft",
        "save sessions/x.ron",
        "theme high-contrast",
        "explain 10.0.0.66",
        "quit",
    ] {
        out.put("command", line.as_bytes());
    }
    let rules: Vec<Rule> = [
        "R3 drop when proto=6 dst_ip=10.10.10.10 dst_port=25565 tcp_flags&SA=S priority=100",
        "R4 rate-limit 2000/s when src_port=53 dns_size>300 priority=200",
        "R5 alert when dns_qname=\"a b\\\"c\\\\d\\x1b]0;x\\x07\\xff\" priority=7",
        "R6 drop when src_ip=10.0.0.0/8 dst_ip=2001:db8::/32 dst_port=1000..2000 priority=1",
        "R7 drop when proto=6,17 tcp_flags=S,SA,. src_mac=aa:bb:cc:dd:ee:ff priority=100",
        "R8 drop when http_host=\"a,b\",\"c d\" frag_offset&0x1fff=0x0 ttl<5 priority=0",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect();
    for r in &rules {
        out.put("rules", r.to_string().as_bytes());
    }
    if let Ok(ron) = rules::export(ExportFormat::Ron, &rules) {
        out.put("rules", ron.as_bytes());
    }
    if let Ok(s) = holoscope::session::SessionFile::new(Path::new("samples/demo.pcap")) {
        let mut s = s;
        s.cursor = Some(1_700_000_090.0);
        s.journal = vec!["accept 1".into(), "suppress src_ip=10.0.0.5".into()];
        if let Ok(t) = s.to_text() {
            out.put("session", t.as_bytes());
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: fuzz_seeds OUT_DIR CAPTURE..."));
    let mut out = Out {
        dir,
        seen: HashSet::new(),
    };
    for c in args {
        from_capture(&mut out, Path::new(&c));
    }
    text_seeds(&mut out);
    println!("{} seeds written", out.seen.len());
}
