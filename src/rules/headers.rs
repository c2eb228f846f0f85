//! The packet fields drafted rules can name, kept compactly for every packet of a drafting
//! pass that read the capture (the analysis kept no packets), so the replay of the drafts runs
//! from memory instead of reading and decoding the capture a second time (that second pass
//! cost about a third of `holoscope report`). With kept packets the replay reads those.
//!
//! Drafted header conditions only use [`super::select::FIELDS`], and replay reads only those
//! plus the addresses, so a packet rebuilt from these fields matches every drafted rule exactly
//! as the decoded packet did. Text companions (`dns_qname=*.t.example`) read the DNS, TLS and
//! HTTP parts: those of every packet that has one are kept too ([`TextParts`], in file order,
//! up to [`TEXT_PACKETS`]; moved out of the packet, not copied), so text rules replay from
//! memory as well. Rules on other fields (analyst edits) still replay against the capture.

use super::model::Rule;
use super::scan::Class;
use crate::decode::field::{Dns, Http, Tls};
use crate::decode::{Field, Packet};
use std::net::IpAddr;

/// The [`super::select::FIELDS`] of one packet, with its class (wave index, baseline, other).
#[derive(Clone, Copy, Debug)]
pub(super) struct Headers {
    src_ip: Option<IpAddr>,
    dst_ip: Option<IpAddr>,
    ip_len: Option<u32>,
    payload_len: Option<u32>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    src_mac: Option<[u8; 6]>,
    /// 0: other, 1: baseline, 2 + i: wave i.
    class: u16,
    /// Whether the packet had a DNS, TLS or HTTP part (kept in [`TextParts`], in order).
    text: bool,
    proto: Option<u8>,
    tcp_flags: Option<u8>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    ttl: Option<u8>,
    df: Option<bool>,
    ip_version: Option<u8>,
}

impl Headers {
    /// The fields of `p` and its class; `None` for a wave index beyond what fits (then the
    /// caller replays against the capture instead).
    pub(super) fn of(p: &Packet, class: Class) -> Option<Self> {
        let class = match class {
            Class::Other => 0,
            Class::Baseline => 1,
            Class::Wave(i) => u16::try_from(i).ok()?.checked_add(2)?,
        };
        Some(Headers {
            src_ip: p.src_ip,
            dst_ip: p.dst_ip,
            ip_len: p.ip_len,
            payload_len: p.payload_len,
            src_port: p.src_port,
            dst_port: p.dst_port,
            src_mac: p.src_mac,
            class,
            text: has_text(p),
            proto: p.proto,
            tcp_flags: p.tcp_flags,
            icmp_type: p.icmp_type,
            icmp_code: p.icmp_code,
            ttl: p.ttl,
            df: p.df,
            ip_version: p.ip_version,
        })
    }

    /// The packet's class again.
    pub(super) fn class(&self) -> Class {
        match self.class {
            0 => Class::Other,
            1 => Class::Baseline,
            n => Class::Wave(usize::from(n - 2)),
        }
    }

    /// Whether the packet had a DNS, TLS or HTTP part.
    pub(super) fn has_text(&self) -> bool {
        self.text
    }

    /// Writes the kept fields into `p`, whose other fields stay as they are (reusing one
    /// packet avoids building a whole [`Packet`] per record).
    pub(super) fn fill(&self, p: &mut Packet) {
        p.src_ip = self.src_ip;
        p.dst_ip = self.dst_ip;
        p.ip_len = self.ip_len;
        p.payload_len = self.payload_len;
        p.src_port = self.src_port;
        p.dst_port = self.dst_port;
        p.src_mac = self.src_mac;
        p.proto = self.proto;
        p.tcp_flags = self.tcp_flags;
        p.icmp_type = self.icmp_type;
        p.icmp_code = self.icmp_code;
        p.ttl = self.ttl;
        p.df = self.df;
        p.ip_version = self.ip_version;
    }
}

/// Most packets whose DNS, TLS or HTTP parts are kept for the replay (24 bytes and the parts
/// each); past it none are, and text rules replay against the capture.
pub const TEXT_PACKETS: usize = 1 << 22;

/// Whether a packet has a DNS, TLS or HTTP part.
pub(super) fn has_text(p: &Packet) -> bool {
    p.dns.is_some() || p.tls.is_some() || p.http.is_some()
}

/// The DNS, TLS and HTTP parts of one packet, kept for the replay.
#[derive(Debug, Default)]
pub(super) struct TextParts {
    dns: Option<Box<Dns>>,
    tls: Option<Box<Tls>>,
    http: Option<Box<Http>>,
}

impl TextParts {
    /// Moves the parts out of `p` (a packet no sample keeps).
    pub(super) fn take(p: &mut Packet) -> Self {
        TextParts {
            dns: p.dns.take(),
            tls: p.tls.take(),
            http: p.http.take(),
        }
    }

    /// A copy of the parts of `p`.
    pub(super) fn of(p: &Packet) -> Self {
        TextParts {
            dns: p.dns.clone(),
            tls: p.tls.clone(),
            http: p.http.clone(),
        }
    }

    /// Exchanges the parts with those of `p`: done twice around a replay step, it lends them
    /// to the replay's one reusable packet without copying.
    pub(super) fn swap(&mut self, p: &mut Packet) {
        std::mem::swap(&mut self.dns, &mut p.dns);
        std::mem::swap(&mut self.tls, &mut p.tls);
        std::mem::swap(&mut self.http, &mut p.http);
    }
}

/// Fields read from a packet's DNS, TLS or HTTP part only: exact in the replay when every
/// packet that has such a part is kept whole (a packet without one has none of them).
fn in_text_parts(f: Field) -> bool {
    use Field::{
        DnsAnswers, DnsId, DnsOpcode, DnsQname, DnsQr, DnsQtype, DnsRcode, DnsSize, HttpHost,
        HttpMethod, HttpPath, HttpUserAgent, TlsAlpn, TlsSni,
    };
    matches!(
        f,
        DnsId
            | DnsQr
            | DnsOpcode
            | DnsRcode
            | DnsQname
            | DnsQtype
            | DnsAnswers
            | DnsSize
            | TlsSni
            | TlsAlpn
            | HttpMethod
            | HttpHost
            | HttpPath
            | HttpUserAgent
    )
}

/// Whether every condition of every rule reads only fields [`Headers`] keeps, or with
/// `texts`, fields of the DNS, TLS and HTTP parts.
pub(super) fn covers(rules: &[Rule], texts: bool) -> bool {
    rules.iter().all(|r| {
        r.def
            .conditions
            .iter()
            .all(|c| super::select::FIELDS.contains(&c.field) || (texts && in_text_parts(c.field)))
    })
}

/// Fields [`Headers`] keeps besides [`super::select::FIELDS`]: none (the addresses replay
/// reads for uninvolved hosts are among them). Checked by the tests below.
#[cfg(test)]
const KEPT: &[Field] = &[
    Field::Proto,
    Field::SrcIp,
    Field::DstIp,
    Field::SrcPort,
    Field::DstPort,
    Field::TcpFlags,
    Field::IcmpType,
    Field::IcmpCode,
    Field::IpLen,
    Field::PayloadLen,
    Field::Ttl,
    Field::Df,
    Field::IpVersion,
    Field::SrcMac,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::matcher::field_value;

    #[test]
    fn keeps_every_draftable_field_and_the_class() {
        for f in super::super::select::FIELDS {
            assert!(KEPT.contains(f), "{f:?} is draftable but not kept");
        }
        let p = Packet {
            src_ip: Some("10.0.0.5".parse().unwrap()),
            dst_ip: Some("2001:db8::1".parse().unwrap()),
            ip_len: Some(1500),
            payload_len: Some(1460),
            src_port: Some(53),
            dst_port: Some(40000),
            src_mac: Some([1, 2, 3, 4, 5, 6]),
            proto: Some(17),
            tcp_flags: Some(0x12),
            icmp_type: Some(3),
            icmp_code: Some(1),
            ttl: Some(64),
            df: Some(true),
            ip_version: Some(4),
            ..Packet::default()
        };
        let h = Headers::of(&p, Class::Wave(3)).unwrap();
        assert_eq!(h.class(), Class::Wave(3));
        assert_eq!(
            Headers::of(&p, Class::Baseline).unwrap().class(),
            Class::Baseline
        );
        assert_eq!(Headers::of(&p, Class::Other).unwrap().class(), Class::Other);
        let mut q = Packet::default();
        h.fill(&mut q);
        for f in KEPT {
            assert_eq!(field_value(&p, *f), field_value(&q, *f), "{f:?}");
        }
    }

    #[test]
    fn text_part_fields_are_exactly_those_read_from_the_parts() {
        use crate::decode::field::{Dns, Http, Tls};
        use crate::text::Untrusted;
        let t = |b: &[u8]| Some(Untrusted::new(b));
        let mut p = Packet {
            dns: Some(Box::new(Dns {
                qname: t(b"a.example"),
                qtype: Some(16),
                id: 7,
                size: 90,
                answers: 1,
                qr: true,
                ..Dns::default()
            })),
            tls: Some(Box::new(Tls {
                sni: t(b"b.example"),
                alpn: t(b"h2"),
                ..Tls::default()
            })),
            http: Some(Box::new(Http {
                method: t(b"GET"),
                host: t(b"c.example"),
                path: t(b"/"),
                user_agent: t(b"x"),
            })),
            ..Packet::default()
        };
        let bare = Packet::default();
        for f in Field::ALL {
            let from_parts = field_value(&p, *f) != field_value(&bare, *f);
            assert_eq!(from_parts, in_text_parts(*f), "{f:?}");
        }
        // Lent to a packet and given back: the packet sees them, then has none again.
        let mut parts = TextParts::take(&mut p);
        assert!(!has_text(&p));
        let mut q = Packet::default();
        parts.swap(&mut q);
        assert_eq!(
            field_value(&q, Field::TlsSni).map(|v| v.to_owned()),
            Some(crate::decode::Value::Text(Untrusted::new(b"b.example")))
        );
        parts.swap(&mut q);
        assert!(!has_text(&q));
    }
}
