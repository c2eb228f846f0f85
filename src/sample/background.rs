//! Benign background: Poisson session arrivals with a slow rise and fall in rate, each
//! session a small realistic exchange (DNS, HTTP, TLS, NTP, ping) between a client and a
//! server. Never touches the attack addresses in [`super::hosts`].

use std::io;

use super::apps::{self, Answer};
use super::frame::{Ep, Sink};
use super::hosts::{self, Net, SITES, Site};
use super::rng::SampleRng;
use super::tcp::{Conn, MSS};
use super::tls;

/// Mean packets per background session (measured on the demo mix), used to turn the
/// configured packets-per-second into a session rate.
pub const PACKETS_PER_SESSION: f64 = 6.7;

/// Text the sessions put on the wire: benign, or terminal-hostile for escaping tests.
pub struct Texts {
    /// Names used for DNS, SNI and Host (hostile variants replace the site names).
    pub names: Vec<Vec<u8>>,
    /// HTTP paths.
    pub paths: Vec<Vec<u8>>,
    /// User agents.
    pub agents: Vec<Vec<u8>>,
    /// User agent of the sample's attack tool (the HTTP flood wave).
    pub tool_agent: Vec<u8>,
    /// Start with one DNS, HTTP and TLS exchange per name (so every hostile string is on the
    /// wire in every field, whatever the PRNG picks later).
    pub showcase: bool,
}

/// Strings with every kind of byte a terminal or a report must not pass through raw.
pub const HOSTILE: [&[u8]; 8] = [
    b"evil\x1b]0;pwned\x07.example",
    b"\x1b[2Jclear\x1b[31m.example",
    b"bell\x07\x07.c1\x9b31m.example",
    b"quote\"s'semi;colon{brace}.example",
    b"new\nline\r\nbreak.example",
    b"back\\slash\\\\x1b.example",
    b"bad\xff\xfe\xc3\x28utf8.example",
    b"osc8\x1b]8;;http://x.example\x1b\\link\x1b]8;;\x1b\\.example",
];

impl Texts {
    /// The benign texts: real-looking names, paths and browser user agents.
    #[must_use]
    pub fn benign() -> Self {
        Self {
            names: SITES.iter().map(|s| s.name.as_bytes().to_vec()).collect(),
            paths: apps::PATHS.iter().map(|p| p.as_bytes().to_vec()).collect(),
            agents: apps::USER_AGENTS
                .iter()
                .map(|u| u.as_bytes().to_vec())
                .collect(),
            tool_agent: b"ApacheBench/2.3".to_vec(),
            showcase: false,
        }
    }

    /// Hostile texts: the [`HOSTILE`] strings everywhere text appears.
    #[must_use]
    pub fn hostile() -> Self {
        let names: Vec<Vec<u8>> = HOSTILE.iter().map(|h| h.to_vec()).collect();
        let paths = HOSTILE
            .iter()
            .map(|h| [b"/".as_slice(), h, b"?q=\x1b[6n;\"{}\"".as_slice()].concat())
            .collect();
        let agents = HOSTILE
            .iter()
            .map(|h| [b"Mozilla/5.0 ".as_slice(), h].concat())
            .collect();
        let tool_agent = [b"ab/2.3 ".as_slice(), HOSTILE[3], HOSTILE[0]].concat();
        Self {
            names,
            paths,
            agents,
            tool_agent,
            showcase: true,
        }
    }
}

/// Generates background sessions in `[start_us, end_us)` (relative microseconds) at about
/// `pps` packets per second.
///
/// # Errors
/// Propagates frame build errors.
pub fn generate(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    texts: &Texts,
    (start_us, end_us): (i64, i64),
    pps: f64,
) -> io::Result<()> {
    let base_rate = (pps / PACKETS_PER_SESSION).max(0.01);
    // Thinning: candidates at the peak rate, accepted with probability rate(t)/peak.
    let peak = base_rate * 1.4;
    let mut t = start_us;
    let mut next_sync = start_us + 3_000_000;
    if texts.showcase {
        t = showcase(sink, rng, net, texts, t)?;
    }
    loop {
        t += (rng.exp(1.0 / peak) * 1e6) as i64;
        if t >= end_us {
            break;
        }
        while next_sync <= t {
            ntp_sync(sink, rng, net, next_sync)?;
            next_sync += 64_000_000;
        }
        if !rng.chance(diurnal(t) / 1.4) {
            continue;
        }
        session(sink, rng, net, texts, t)?;
    }
    Ok(())
}

/// Relative rate in `[0.6, 1.4]`: a triangle wave with a 150 s period, standing in for the
/// daily rise and fall. Piecewise linear so it is bit-identical on every platform.
#[allow(clippy::cast_precision_loss)]
fn diurnal(t_us: i64) -> f64 {
    let period = 150_000_000;
    let phase = (t_us.rem_euclid(period)) as f64 / period as f64;
    let tri = if phase < 0.5 {
        phase * 2.0
    } else {
        2.0 - phase * 2.0
    };
    0.6 + 0.8 * tri
}

/// One DNS lookup, HTTP request and TLS hello for each name, 100 ms apart; returns the end.
fn showcase(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    texts: &Texts,
    mut t: i64,
) -> io::Result<i64> {
    for (i, name) in texts.names.iter().enumerate() {
        let client = net.clients[i % net.clients.len()];
        let site = SITES[i % SITES.len()];
        let path = texts.paths[i % texts.paths.len()].as_slice();
        let ua = texts.agents[i % texts.agents.len()].as_slice();
        dns_lookup(sink, rng, net, (client, None), (&site, name), t)?;
        http(
            sink,
            rng,
            net,
            client,
            (&site, name),
            (path, ua),
            t + 30_000,
        )?;
        https(sink, rng, client, net.site_v4(&site), name, t + 60_000)?;
        t += 100_000;
    }
    Ok(t)
}

fn session(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    texts: &Texts,
    t: i64,
) -> io::Result<()> {
    let ci = rng.index(net.clients.len());
    let client = net.clients[ci];
    let client6 = net.clients6[ci];
    let si = rng.index(SITES.len());
    let site = SITES[si];
    let name = texts.names[si % texts.names.len()].as_slice();
    match rng.weighted(&[40, 10, 16, 6, 3]) {
        0 => dns_lookup(sink, rng, net, (client, client6), (&site, name), t),
        1 => {
            let path = texts.paths[rng.index(texts.paths.len())].as_slice();
            let ua = texts.agents[rng.index(texts.agents.len())].as_slice();
            http(sink, rng, net, client, (&site, name), (path, ua), t)
        }
        2 => {
            let ep6 = match (client6, site.v6) {
                (Some(c6), Some(s6)) if rng.chance(0.6) => Some((c6, hosts::remote6(s6))),
                _ => None,
            };
            let (c, s) = ep6.unwrap_or((client, net.site_v4(&site)));
            https(sink, rng, c, s, name, t)
        }
        3 => ntp(sink, rng, client, net.ntp, t),
        _ => ping(sink, rng, net, (client, client6), t),
    }
}

fn dns_lookup(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    (client, client6): (Ep, Option<Ep>),
    (site, name): (&Site, &[u8]),
    t: i64,
) -> io::Result<()> {
    let (c, r) = match client6 {
        Some(c6) if rng.chance(0.5) => (c6, net.resolver6),
        _ => (client, net.resolver),
    };
    let mx = format!(
        "mail.{}",
        site.name.split_once('.').map_or(site.name, |(_, d)| d)
    );
    let spf = b"v=spf1 include:_spf.example.com ~all".as_slice();
    let answers = match rng.weighted(&[60, 25, 8, 7]) {
        0 => vec![Answer::A(site.v4)],
        1 => match site.v6 {
            Some(l) => vec![Answer::Aaaa([
                0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, l,
            ])],
            None => Vec::new(),
        },
        2 => vec![Answer::Mx(&mx)],
        _ => vec![Answer::Txt(vec![spf])],
    };
    let ttl = [60, 300, 3600][rng.index(3)];
    let (q, a) = apps::dns_pair(rng.u16(), name, &answers, ttl)?;
    let sport = rng.range(32_768, 61_000) as u16;
    sink.udp(t, (&c, &r), (sport, 53), &q)?;
    let mut done = t + rng.range(150, 900) as i64;
    if rng.chance(0.3) {
        // Cache miss: the resolver asks upstream before answering.
        let up = hosts::remote([192, 0, 2, 53]);
        let rs = rng.range(1024, 65_000) as u16;
        sink.udp(done, (&net.resolver, &up), (rs, 53), &q)?;
        done += rng.range(8_000, 40_000) as i64;
        sink.udp(done, (&up, &net.resolver), (53, rs), &a)?;
        done += 120;
    }
    sink.udp(done, (&r, &c), (53, sport), &a)
}

fn http(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    client: Ep,
    (site, name): (&Site, &[u8]),
    (path, ua): (&[u8], &[u8]),
    t: i64,
) -> io::Result<()> {
    // Most plain HTTP stays on the intranet; keep the port-80 servers realistic.
    let server = if rng.chance(0.6) {
        if rng.chance(0.5) { net.web } else { net.app }
    } else {
        net.site_v4(site)
    };
    let mut conn = Conn::new(rng, client, server, 80);
    let t = conn.handshake(sink, rng, t)?;
    let t = conn.send(sink, rng, t, true, &apps::http_request(name, path, ua))?;
    let body = rng.range(100, MSS as u64 + 400) as usize;
    let think = rng.range(200, 4000) as i64;
    let resp = apps::http_response(rng, path, body);
    let t = conn.send(sink, rng, t + think, false, &resp)?;
    conn.close(sink, t + 300)?;
    Ok(())
}

fn https(
    sink: &mut Sink,
    rng: &mut SampleRng,
    client: Ep,
    server: Ep,
    name: &[u8],
    t: i64,
) -> io::Result<()> {
    let pq = rng.chance(0.2);
    let alpn: &[&[u8]] = if rng.chance(0.8) {
        &[b"h2", b"http/1.1"]
    } else {
        &[b"http/1.1"]
    };
    let mut conn = Conn::new(rng, client, server, 443);
    let t = conn.handshake(sink, rng, t)?;
    let hello = tls::client_hello(rng, name, alpn, pq);
    let t = conn.send(sink, rng, t, true, &hello)?;
    let mut flight = tls::server_hello(rng, pq);
    // Encrypted extensions, certificate chain, verify and finished.
    let n = rng.range(700, 1_600) as usize;
    flight.extend_from_slice(&tls::app_data(rng, n));
    let t = conn.send(sink, rng, t + 300, false, &flight)?;
    let mut fin = vec![0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
    fin.extend_from_slice(&tls::app_data(rng, 53));
    let n = rng.range(120, 400) as usize;
    fin.extend_from_slice(&tls::app_data(rng, n));
    let t = conn.send(sink, rng, t + 200, true, &fin)?;
    let n = rng.range(150, 1_800) as usize;
    let resp = tls::app_data(rng, n);
    let think = rng.range(500, 20_000) as i64;
    let t = conn.send(sink, rng, t + think, false, &resp)?;
    conn.close(sink, t + rng.range(1_000, 200_000) as i64)?;
    Ok(())
}

fn ntp(sink: &mut Sink, rng: &mut SampleRng, client: Ep, server: Ep, t: i64) -> io::Result<()> {
    let sport = rng.range(32_768, 61_000) as u16;
    let abs = sink.base_us + t;
    sink.udp(t, (&client, &server), (sport, 123), &apps::ntp_request(abs))?;
    let dt = rng.range(100, 500) as i64;
    sink.udp(
        t + dt,
        (&server, &client),
        (123, sport),
        &apps::ntp_reply(abs, abs + dt),
    )
}

/// The local NTP server polling its upstream (port 123 on both sides, like ntpd).
fn ntp_sync(sink: &mut Sink, rng: &mut SampleRng, net: &Net, t: i64) -> io::Result<()> {
    let abs = sink.base_us + t;
    sink.udp(
        t,
        (&net.ntp, &net.ntp_upstream),
        (123, 123),
        &apps::ntp_request(abs),
    )?;
    let dt = rng.range(9_000, 30_000) as i64;
    sink.udp(
        t + dt,
        (&net.ntp_upstream, &net.ntp),
        (123, 123),
        &apps::ntp_reply(abs, abs + dt),
    )
}

fn ping(
    sink: &mut Sink,
    rng: &mut SampleRng,
    net: &Net,
    (client, client6): (Ep, Option<Ep>),
    t: i64,
) -> io::Result<()> {
    let (src, dst) = match client6 {
        Some(c6) if rng.chance(0.4) => (c6, hosts::remote6(0x10)),
        _ => (
            client,
            [net.gateway, net.web, hosts::remote([192, 0, 2, 10])][rng.index(3)],
        ),
    };
    let remote = dst.mac == hosts::GATEWAY_MAC && dst != net.gateway;
    let id = rng.u16();
    let mut payload = [0u8; 56];
    for (i, b) in payload.iter_mut().enumerate().skip(16) {
        *b = i as u8; // Linux ping's incrementing pattern after the timestamp
    }
    for seq in 1..=4u16 {
        let at = t + i64::from(seq - 1) * 1_000_000 + rng.range(0, 300) as i64;
        payload[..8].copy_from_slice(&(sink.base_us + at).to_le_bytes());
        sink.echo(at, (&src, &dst), false, (id, seq), &payload)?;
        let rtt = if remote {
            rng.range(12_000, 60_000)
        } else {
            rng.range(100, 700)
        } as i64;
        sink.echo(at + rtt, (&dst, &src), true, (id, seq), &payload)?;
    }
    Ok(())
}
