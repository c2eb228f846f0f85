//! Application payloads: HTTP/1.1 text, DNS messages (built with simple-dns) and NTP.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{A, AAAA, MX, RData, TXT};
use simple_dns::{
    CLASS, CharacterString, Label, Name, Packet, PacketFlag, QCLASS, QTYPE, Question,
    ResourceRecord, TYPE,
};

use super::rng::SampleRng;

/// Request paths of the benign browsing mix.
pub const PATHS: [&str; 12] = [
    "/",
    "/index.html",
    "/css/site.css",
    "/js/app.js",
    "/img/logo.png",
    "/api/v1/status",
    "/news/2026/03/article-1187.html",
    "/search?q=quarterly+report",
    "/favicon.ico",
    "/docs/manual.pdf",
    "/api/v1/items?page=2",
    "/login",
];

/// User agents of the benign browsing mix.
pub const USER_AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:136.0) Gecko/20100101 Firefox/136.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
    "curl/8.12.1",
    "python-requests/2.32.3",
];

/// An HTTP/1.1 GET request. Byte slices so hostile samples can carry invalid UTF-8.
pub fn http_request(host: &[u8], path: &[u8], ua: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(host.len() + path.len() + ua.len() + 120);
    r.extend_from_slice(b"GET ");
    r.extend_from_slice(path);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    r.extend_from_slice(host);
    r.extend_from_slice(b"\r\nUser-Agent: ");
    r.extend_from_slice(ua);
    r.extend_from_slice(
        b"\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: close\r\n\r\n",
    );
    r
}

/// An HTTP/1.1 response with a body of `body_len` bytes of HTML-like filler.
pub fn http_response(rng: &mut SampleRng, path: &[u8], body_len: usize) -> Vec<u8> {
    // Cached images: browsers revalidate them, so a body-less 304 is the common answer (and
    // an HTML filler body labelled image/png would be a malformed PNG).
    let png = path.ends_with(b".png");
    let body_len = if png { 0 } else { body_len };
    let (status, ctype) = if png {
        ("304 Not Modified", "image/png")
    } else if path.ends_with(b".ico") {
        ("404 Not Found", "text/html")
    } else if path.starts_with(b"/api") {
        ("200 OK", "application/json")
    } else {
        ("200 OK", "text/html; charset=utf-8")
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: nginx/1.26.3\r\nDate: Mon, 02 Mar 2026 09:00:00 GMT\r\n\
         Content-Type: {ctype}\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    );
    let mut r = Vec::with_capacity(head.len() + body_len);
    r.extend_from_slice(head.as_bytes());
    const WORDS: [&[u8]; 8] = [
        b"<p>",
        b"lorem ",
        b"ipsum ",
        b"dolor ",
        b"report ",
        b"</p>\n",
        b"quarter ",
        b"<div>",
    ];
    while r.len() < head.len() + body_len {
        let w = WORDS[rng.index(WORDS.len())];
        let room = head.len() + body_len - r.len();
        r.extend_from_slice(&w[..w.len().min(room)]);
    }
    r
}

fn dns_err(e: simple_dns::SimpleDnsError) -> io::Error {
    io::Error::other(format!("sample dns build: {e}"))
}

/// A DNS name from raw bytes split at dots; labels are taken verbatim (hostile samples put
/// control bytes in them) and cut to the 63-byte label limit.
fn name(bytes: &[u8]) -> Name<'_> {
    let labels: Vec<Label<'_>> = bytes
        .split(|&b| b == b'.')
        .filter(|l| !l.is_empty())
        .map(|l| Label::new_unchecked(&l[..l.len().min(63)]))
        .collect();
    Name::new_with_labels(&labels)
}

/// The answer data of a benign lookup.
pub enum Answer<'a> {
    /// IPv4 address.
    A([u8; 4]),
    /// IPv6 address.
    Aaaa([u8; 16]),
    /// Mail exchanger name.
    Mx(&'a str),
    /// Text strings (each at most 255 bytes).
    Txt(Vec<&'a [u8]>),
}

impl Answer<'_> {
    fn qtype(&self) -> TYPE {
        match self {
            Answer::A(_) => TYPE::A,
            Answer::Aaaa(_) => TYPE::AAAA,
            Answer::Mx(_) => TYPE::MX,
            Answer::Txt(_) => TYPE::TXT,
        }
    }
}

/// A recursive query and its answer for `qname`.
///
/// # Errors
/// When simple-dns rejects a record (a TXT string over 255 bytes).
pub fn dns_pair(
    id: u16,
    qname: &[u8],
    answers: &[Answer<'_>],
    ttl: u32,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let qtype = answers.first().map_or(TYPE::A, Answer::qtype);
    let question = Question::new(
        name(qname),
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    );
    let mut q = Packet::new_query(id);
    q.set_flags(PacketFlag::RECURSION_DESIRED);
    q.questions.push(question.clone());
    let query = q.build_bytes_vec().map_err(dns_err)?;

    let mut r = Packet::new_reply(id);
    r.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
    r.questions.push(question);
    for a in answers {
        let rdata = match a {
            Answer::A(ip) => RData::A(A::from(Ipv4Addr::from(*ip))),
            Answer::Aaaa(ip) => RData::AAAA(AAAA::from(Ipv6Addr::from(*ip))),
            Answer::Mx(ex) => RData::MX(MX {
                preference: 10,
                exchange: name(ex.as_bytes()),
            }),
            Answer::Txt(strings) => {
                let mut t = TXT::new();
                for s in strings {
                    t.add_char_string(CharacterString::new(s).map_err(dns_err)?);
                }
                RData::TXT(t)
            }
        };
        r.answers
            .push(ResourceRecord::new(name(qname), CLASS::IN, ttl, rdata));
    }
    let reply = r.build_bytes_vec_compressed().map_err(dns_err)?;
    Ok((query, reply))
}

/// NTP seconds at the Unix epoch (1900 to 1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp_ts(us: i64) -> [u8; 8] {
    let us = u64::try_from(us).unwrap_or(0);
    let secs = us / 1_000_000 + NTP_UNIX_OFFSET;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    ((secs << 32) | frac).to_be_bytes()
}

/// A 48-byte NTPv4 client request (mode 3) sent at epoch microsecond `now_us`.
#[must_use]
pub fn ntp_request(now_us: i64) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x23; // LI 0, VN 4, mode 3
    p[2] = 6; // poll
    p[3] = 0xe9; // precision
    p[40..48].copy_from_slice(&ntp_ts(now_us));
    p
}

/// The 48-byte NTPv4 server reply (mode 4, stratum 2) to a request sent at `sent_us`.
#[must_use]
pub fn ntp_reply(sent_us: i64, now_us: i64) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x24; // LI 0, VN 4, mode 4
    p[1] = 2; // stratum
    p[2] = 6;
    p[3] = 0xe8;
    p[12..16].copy_from_slice(&[192, 0, 2, 123]); // reference id: upstream server
    p[16..24].copy_from_slice(&ntp_ts(now_us - 40_000_000));
    p[24..32].copy_from_slice(&ntp_ts(sent_us));
    p[32..40].copy_from_slice(&ntp_ts(now_us - 20));
    p[40..48].copy_from_slice(&ntp_ts(now_us));
    p
}

/// An NTP mode-7 `MON_GETLIST_1` response: 8-byte header plus six 72-byte entries (440
/// bytes, IP length 468), the classic monlist amplification payload.
pub fn ntp_monlist(rng: &mut SampleRng, seq: u8) -> [u8; 440] {
    let mut p = [0u8; 440];
    p[0] = 0xd7; // response, more, version 2, mode 7
    p[1] = seq & 0x7f;
    p[2] = 3; // implementation XNTPD
    p[3] = 42; // MON_GETLIST_1
    p[4..6].copy_from_slice(&6u16.to_be_bytes()); // items
    p[6..8].copy_from_slice(&72u16.to_be_bytes()); // item size
    rng.fill(&mut p[8..]);
    p
}

/// Random DNS-safe base32 text (RFC 4648 alphabet, lower case) of `len` characters.
pub fn base32(rng: &mut SampleRng, len: usize) -> String {
    const ALPHA: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..len).map(|_| char::from(ALPHA[rng.index(32)])).collect()
}
