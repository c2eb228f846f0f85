//! The four attack waves. Each tags its frames with the wave index (via [`Sink::wave`]) and
//! describes itself for the truth file: who, against whom, and a display filter that matches
//! its packets and nothing in the background.

use std::io;

use etherparse::TcpOptionElement;
use serde::{Deserialize, Serialize};

use super::apps;
use super::frame::{Ep, Flags, Ip, Seg, Sink};
use super::hosts::{self, Net};
use super::rng::SampleRng;

/// Kind of a generated attack wave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaveKind {
    /// SYN scan of ~2000 ports of the web server from one internal host.
    PortScan,
    /// SYN flood from spoofed sources to one port of the app server.
    SynFlood,
    /// DNS tunnel: long base32 TXT queries under one domain, large TXT answers.
    DnsTunnel,
    /// NTP monlist (mode 7) amplification: many reflectors flood one client.
    NtpAmplification,
    /// HTTP request flood: one internal host fetches one page of the web server over and over
    /// with a benchmarking tool's user agent (the hostile sample's tool agent is hostile).
    HttpFlood,
}

impl WaveKind {
    /// The snake_case kind written to the truth files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            WaveKind::PortScan => "port_scan_tcp_syn",
            WaveKind::SynFlood => "syn_flood_spoofed",
            WaveKind::DnsTunnel => "dns_tunnel_txt",
            WaveKind::NtpAmplification => "ntp_amplification",
            WaveKind::HttpFlood => "http_request_flood",
        }
    }
}

/// One wave in a sample: what, when (seconds from the capture start) and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveSpec {
    /// Attack kind.
    pub kind: WaveKind,
    /// Offset of the first packet from the capture start, seconds.
    pub start_secs: f64,
    /// Length of the wave, seconds.
    pub duration_secs: f64,
    /// Packet rate of the attack traffic (requests per second; replies come on top).
    pub rate: f64,
}

/// Who/what a wave was, for the truth row (times and counts are measured afterwards).
pub struct WaveLabel {
    /// Attacker address, `spoofed` or `many`.
    pub attacker: String,
    /// Target address(es).
    pub target: String,
    /// Wireshark display filter selecting exactly this wave.
    pub filter: String,
}

fn v4(ep: &Ep) -> String {
    ep.ip.to_string()
}

/// Generates one wave into `sink` (already tagged by the caller) and returns its label.
///
/// # Errors
/// Propagates frame build errors.
pub fn generate(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    spec: &WaveSpec,
    tool_agent: &[u8],
) -> io::Result<WaveLabel> {
    let t0 = (spec.start_secs * 1e6) as i64;
    let len = (spec.duration_secs * 1e6).max(1.0) as i64;
    let count = (spec.rate * spec.duration_secs).max(1.0) as u64;
    match spec.kind {
        WaveKind::PortScan => port_scan(sink, rng, net, t0, len, count),
        WaveKind::SynFlood => syn_flood(sink, rng, net, t0, len, count),
        WaveKind::DnsTunnel => dns_tunnel(sink, rng, net, t0, len, count),
        WaveKind::NtpAmplification => ntp_amp(sink, rng, net, t0, len, count),
        WaveKind::HttpFlood => http_flood(sink, rng, net, (t0, len, count), tool_agent),
    }
}

/// `count` complete HTTP exchanges (handshake, GET, response, close) from the flooder to the
/// web server, each on a new connection.
fn http_flood(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    (t0, len, count): (i64, i64, u64),
    agent: &[u8],
) -> io::Result<WaveLabel> {
    let flooder = hosts::lan(hosts::HTTP_FLOODER[3], false);
    let req = apps::http_request(b"intranet.corp.example", b"/login", agent);
    let ts: Vec<i64> = times(rng, t0, len, count).collect();
    for t in ts {
        let mut conn = super::tcp::Conn::new(rng, flooder, net.web, 80);
        let t = conn.handshake(sink, rng, t)?;
        let t = conn.send(sink, rng, t, true, &req)?;
        let resp = apps::http_response(rng, b"/login", 600);
        let t = conn.send(sink, rng, t + 500, false, &resp)?;
        conn.close(sink, t + 100)?;
    }
    Ok(WaveLabel {
        attacker: v4(&flooder),
        target: v4(&net.web),
        filter: format!(
            "ip.addr=={} && ip.addr=={} && tcp.port==80",
            v4(&flooder),
            v4(&net.web)
        ),
    })
}

/// Spreads `count` events over `len` microseconds with jitter, in increasing order.
fn times(rng: &mut SampleRng, t0: i64, len: i64, count: u64) -> impl Iterator<Item = i64> {
    let step = len / i64::try_from(count.max(1)).unwrap_or(1);
    let jit: Vec<i64> = (0..count)
        .map(|_| rng.range(0, step.max(1) as u64) as i64)
        .collect();
    jit.into_iter()
        .enumerate()
        .map(move |(i, j)| t0 + i as i64 * step + j)
}

fn port_scan(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    t0: i64,
    len: i64,
    count: u64,
) -> io::Result<WaveLabel> {
    let scanner = hosts::lan(hosts::SCANNER[3], false);
    let target = net.web;
    // nmap scans ports in random order; 1..=count, Fisher-Yates.
    let n = count.clamp(1, 65_535) as u16;
    let mut ports: Vec<u16> = (1..=n).collect();
    for i in (1..ports.len()).rev() {
        ports.swap(i, rng.index(i + 1));
    }
    let sport = rng.range(40_000, 60_000) as u16;
    let open = [22u16, 80, 443];
    let mss = [TcpOptionElement::MaximumSegmentSize(1460)];
    let ts: Vec<i64> = times(rng, t0, len, u64::from(n)).collect();
    for (&port, t) in ports.iter().zip(ts) {
        let seq = rng.u32();
        let syn = Seg {
            sport,
            dport: port,
            seq,
            ack: 0,
            flags: Flags {
                syn: true,
                ..Flags::default()
            },
            window: 1024,
        };
        sink.tcp(t, (&scanner, &target), syn, &mss, &[])?;
        let rt = t + rng.range(60, 400) as i64;
        let ack = seq.wrapping_add(1);
        if open.contains(&port) {
            let sa = Seg {
                sport: port,
                dport: sport,
                seq: rng.u32(),
                ack,
                flags: Flags {
                    syn: true,
                    ack: true,
                    ..Flags::default()
                },
                window: 64_240,
            };
            sink.tcp(rt, (&target, &scanner), sa, &mss, &[])?;
            let rst = Seg {
                sport,
                dport: port,
                seq: ack,
                ack: 0,
                flags: Flags {
                    rst: true,
                    ..Flags::default()
                },
                window: 0,
            };
            sink.tcp(rt + 50, (&scanner, &target), rst, &[], &[])?;
        } else {
            let ra = Seg {
                sport: port,
                dport: sport,
                seq: 0,
                ack,
                flags: Flags {
                    rst: true,
                    ack: true,
                    ..Flags::default()
                },
                window: 0,
            };
            sink.tcp(rt, (&target, &scanner), ra, &[], &[])?;
        }
    }
    Ok(WaveLabel {
        attacker: v4(&scanner),
        target: v4(&target),
        filter: format!("ip.addr=={} && ip.addr=={}", v4(&scanner), v4(&target)),
    })
}

/// A random unicast IPv4 address outside every range the sample uses or that is reserved.
fn spoofed(rng: &mut SampleRng) -> [u8; 4] {
    loop {
        let a = rng.u32().to_be_bytes();
        let reserved = matches!(
            a[0],
            0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203 | 224..=255
        );
        if !reserved {
            return a;
        }
    }
}

fn syn_flood(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    t0: i64,
    len: i64,
    count: u64,
) -> io::Result<WaveLabel> {
    let target = net.app;
    let port = hosts::FLOOD_PORT;
    let ts: Vec<i64> = times(rng, t0, len, count).collect();
    for (i, t) in ts.into_iter().enumerate() {
        let src = hosts::remote(spoofed(rng));
        let sport = rng.range(1024, 65_535) as u16;
        let seq = rng.u32();
        // hping3 --flood --rand-source style: window 512, no options.
        let syn = Seg {
            sport,
            dport: port,
            seq,
            ack: 0,
            flags: Flags {
                syn: true,
                ..Flags::default()
            },
            window: 512,
        };
        sink.tcp(t, (&src, &target), syn, &[], &[])?;
        // The server answers until its backlog is full, then only now and then.
        if i < 256 || rng.chance(0.15) {
            let sa = Seg {
                sport: port,
                dport: sport,
                seq: rng.u32(),
                ack: seq.wrapping_add(1),
                flags: Flags {
                    syn: true,
                    ack: true,
                    ..Flags::default()
                },
                window: 64_240,
            };
            let mss = [TcpOptionElement::MaximumSegmentSize(1460)];
            sink.tcp(
                t + rng.range(20, 200) as i64,
                (&target, &src),
                sa,
                &mss,
                &[],
            )?;
        }
    }
    Ok(WaveLabel {
        attacker: "spoofed".into(),
        target: v4(&target),
        filter: format!("ip.addr=={} && tcp.port=={port}", v4(&target)),
    })
}

fn dns_tunnel(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    t0: i64,
    len: i64,
    count: u64,
) -> io::Result<WaveLabel> {
    let host = hosts::lan(hosts::TUNNEL_HOST[3], false);
    let auth = hosts::remote(hosts::TUNNEL_AUTH);
    let sport = rng.range(32_768, 61_000) as u16;
    let ts: Vec<i64> = times(rng, t0, len, count).collect();
    for (i, t) in ts.into_iter().enumerate() {
        let a = apps::base32(rng, 60);
        let n = rng.range(20, 60) as usize;
        let b = apps::base32(rng, n);
        let qname = format!("{a}.{b}.{i:04x}.{}", hosts::TUNNEL_DOMAIN);
        let chunks: Vec<String> = (0..3)
            .map(|_| {
                let n = rng.range(180, 255) as usize;
                apps::base32(rng, n)
            })
            .collect();
        let strings: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        let (q, a) = apps::dns_pair(
            rng.u16(),
            qname.as_bytes(),
            &[apps::Answer::Txt(strings)],
            0,
        )?;
        let up = rng.range(1024, 65_000) as u16;
        sink.udp(t, (&host, &net.resolver), (sport, 53), &q)?;
        let t1 = t + rng.range(100, 400) as i64;
        sink.udp(t1, (&net.resolver, &auth), (up, 53), &q)?;
        let t2 = t1 + rng.range(15_000, 45_000) as i64;
        sink.udp(t2, (&auth, &net.resolver), (53, up), &a)?;
        sink.udp(
            t2 + rng.range(60, 200) as i64,
            (&net.resolver, &host),
            (53, sport),
            &a,
        )?;
    }
    Ok(WaveLabel {
        attacker: v4(&host),
        target: format!("{};{}", v4(&net.resolver), v4(&auth)),
        filter: format!(
            "udp.port==53 && (ip.addr=={} || ip.addr=={})",
            v4(&host),
            v4(&auth)
        ),
    })
}

fn ntp_amp(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    t0: i64,
    len: i64,
    count: u64,
) -> io::Result<WaveLabel> {
    let victim = net.amp_victim();
    let base = hosts::REFLECTOR_BASE;
    // The attacker spoofs the victim with one source port; every reflector answers to it.
    let vport = rng.range(1024, 65_535) as u16;
    let ts: Vec<i64> = times(rng, t0, len, count).collect();
    for (i, t) in ts.into_iter().enumerate() {
        let r = base[3].wrapping_add(rng.range(0, u64::from(hosts::REFLECTORS)) as u8);
        let src = Ep {
            mac: hosts::GATEWAY_MAC,
            ip: Ip::V4([base[0], base[1], base[2], r]),
        };
        let body = apps::ntp_monlist(rng, i as u8);
        sink.udp(t, (&src, &victim), (123, vport), &body)?;
    }
    Ok(WaveLabel {
        attacker: "many".into(),
        target: v4(&victim),
        filter: format!("ip.dst=={} && udp.srcport==123 && ip.len==468", v4(&victim)),
    })
}
