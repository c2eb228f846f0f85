//! Matching a rule against a decoded packet: no allocation, one direct field read per
//! condition (not a [`Packet::visit`] walk), so replaying many rules over a capture stays cheap.
//!
//! A condition on a field the packet does not have is false (a rule on `dst_port` never
//! matches ICMP). Text compares the exact bytes.

use super::model::{Condition, Op, Rule, mask32, mask128};
use crate::decode::{Field, Packet, Value, ValueRef};
use std::net::IpAddr;

/// The value of one field of a packet, borrowed.
#[must_use]
pub fn field_value(p: &Packet, field: Field) -> Option<ValueRef<'_>> {
    use ValueRef::{Ip, Mac, Text, U};
    let u = |v: Option<u64>| v.map(U);
    match field {
        #[allow(clippy::cast_sign_loss)]
        Field::Timestamp => Some(U(p.ts.0 as u64)),
        Field::Interface => Some(U(u64::from(p.interface))),
        Field::LinkType => Some(U(u64::from(p.link_type))),
        Field::FrameLen => Some(U(u64::from(p.frame_len))),
        Field::SrcMac => p.src_mac.map(Mac),
        Field::DstMac => p.dst_mac.map(Mac),
        Field::Vlan => u(p.vlan.map(u64::from)),
        Field::MplsLabel => u(p.mpls_label.map(u64::from)),
        Field::EtherType => u(p.ether_type.map(u64::from)),
        Field::IpVersion => u(p.ip_version.map(u64::from)),
        Field::SrcIp => p.src_ip.map(Ip),
        Field::DstIp => p.dst_ip.map(Ip),
        Field::Ttl => u(p.ttl.map(u64::from)),
        Field::Df => u(p.df.map(u64::from)),
        Field::IpLen => u(p.ip_len.map(u64::from)),
        Field::FragOffset => u(p.frag_offset.map(u64::from)),
        Field::FragMore => u(p.frag_more.map(u64::from)),
        Field::Proto => u(p.proto.map(u64::from)),
        Field::SrcPort => u(p.src_port.map(u64::from)),
        Field::DstPort => u(p.dst_port.map(u64::from)),
        Field::TcpFlags => u(p.tcp_flags.map(u64::from)),
        Field::TcpWindow => u(p.tcp_window.map(u64::from)),
        Field::PayloadLen => u(p.payload_len.map(u64::from)),
        Field::IcmpType => u(p.icmp_type.map(u64::from)),
        Field::IcmpCode => u(p.icmp_code.map(u64::from)),
        Field::DnsId => p.dns.as_ref().map(|d| U(u64::from(d.id))),
        Field::DnsQr => p.dns.as_ref().map(|d| U(u64::from(d.qr))),
        Field::DnsOpcode => p.dns.as_ref().map(|d| U(u64::from(d.opcode))),
        Field::DnsRcode => p.dns.as_ref().map(|d| U(u64::from(d.rcode))),
        Field::DnsQname => p.dns.as_ref().and_then(|d| d.qname.as_ref()).map(Text),
        Field::DnsQtype => p
            .dns
            .as_ref()
            .and_then(|d| d.qtype)
            .map(|v| U(u64::from(v))),
        Field::DnsAnswers => p.dns.as_ref().map(|d| U(u64::from(d.answers))),
        Field::DnsSize => p.dns.as_ref().map(|d| U(u64::from(d.size))),
        Field::TlsSni => p.tls.as_ref().and_then(|t| t.sni.as_ref()).map(Text),
        Field::TlsAlpn => p.tls.as_ref().and_then(|t| t.alpn.as_ref()).map(Text),
        Field::HttpMethod => p.http.as_ref().and_then(|h| h.method.as_ref()).map(Text),
        Field::HttpHost => p.http.as_ref().and_then(|h| h.host.as_ref()).map(Text),
        Field::HttpPath => p.http.as_ref().and_then(|h| h.path.as_ref()).map(Text),
        Field::HttpUserAgent => p
            .http
            .as_ref()
            .and_then(|h| h.user_agent.as_ref())
            .map(Text),
        Field::NtpMode => p.ntp.map(|n| U(u64::from(n.mode))),
        Field::NtpSize => p.ntp.map(|n| U(u64::from(n.size))),
    }
}

fn value_eq(a: ValueRef<'_>, b: &Value) -> bool {
    match (a, b) {
        (ValueRef::U(x), Value::U(y)) => x == *y,
        (ValueRef::Ip(x), Value::Ip(y)) => x == *y,
        (ValueRef::Mac(x), Value::Mac(y)) => x == *y,
        (ValueRef::Text(x), Value::Text(y)) => x.as_bytes() == y.as_bytes(),
        _ => false,
    }
}

/// Whether `name` is strictly under `domain` (lower case): it ends with `.` and the domain,
/// ASCII case ignored; one trailing root dot of the name is ignored.
fn under_domain(name: &[u8], domain: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    name.len() > domain.len()
        && name
            .len()
            .checked_sub(domain.len() + 1)
            .and_then(|dot| name.get(dot..))
            .is_some_and(|tail| {
                tail.first() == Some(&b'.')
                    && tail
                        .get(1..)
                        .is_some_and(|t| t.eq_ignore_ascii_case(domain))
            })
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => u32::from(a) & mask32(len) == u32::from(n),
        (IpAddr::V6(a), IpAddr::V6(n)) => u128::from(a) & mask128(len) == u128::from(n),
        _ => false,
    }
}

impl Condition {
    /// Whether the packet satisfies this condition.
    #[must_use]
    pub fn matches(&self, p: &Packet) -> bool {
        field_value(p, self.field).is_some_and(|v| self.matches_value(v))
    }

    /// Whether a value of the condition's field satisfies it (a packet's match depends on
    /// nothing else, so callers may match each distinct value once).
    #[must_use]
    pub fn matches_value(&self, v: ValueRef<'_>) -> bool {
        match (&self.op, v) {
            (Op::Eq(want), v) => value_eq(v, want),
            (Op::In(set), v) => set.iter().any(|w| value_eq(v, w)),
            (Op::Range(lo, hi), ValueRef::U(x)) => (*lo..=*hi).contains(&x),
            (Op::Cidr(net, len), ValueRef::Ip(ip)) => in_prefix(ip, *net, *len),
            (Op::Mask { mask, bits }, ValueRef::U(x)) => x & mask == *bits,
            (Op::Gt(n), ValueRef::U(x)) => x > *n,
            (Op::Lt(n), ValueRef::U(x)) => x < *n,
            (Op::Subdomain(d), ValueRef::Text(t)) => under_domain(t.as_bytes(), d.as_bytes()),
            _ => false,
        }
    }
}

impl Rule {
    /// Whether every condition holds for the packet (no allocation).
    #[must_use]
    pub fn matches(&self, p: &Packet) -> bool {
        self.def.conditions.iter().all(|c| c.matches(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::field::Dns;
    use crate::rules::model::{Action, RuleDef, RuleId};
    use crate::text::Untrusted;

    fn rule(conds: Vec<Condition>) -> Rule {
        Rule::new(
            RuleId(1),
            RuleDef {
                action: Action::Drop,
                conditions: conds,
                priority: 100,
            },
        )
    }

    #[test]
    fn field_value_agrees_with_visit() {
        let p = Packet {
            src_ip: Some("10.0.0.5".parse().unwrap()),
            dst_port: Some(53),
            tcp_flags: Some(2),
            dns: Some(Box::new(Dns {
                qname: Some(Untrusted::new(b"x.example")),
                size: 300,
                ..Dns::default()
            })),
            ..Packet::default()
        };
        for f in Field::ALL {
            assert_eq!(
                field_value(&p, *f).map(ValueRef::to_owned),
                p.get(*f),
                "{f:?}"
            );
        }
    }

    #[test]
    fn conjunction_of_every_operator() {
        let p = Packet {
            src_ip: Some("10.1.2.3".parse().unwrap()),
            proto: Some(6),
            dst_port: Some(25565),
            tcp_flags: Some(0x02),
            ip_len: Some(60),
            ..Packet::default()
        };
        let c = |f, op| Condition::new(f, op).unwrap();
        let r = rule(vec![
            c(Field::SrcIp, Op::Cidr("10.0.0.0".parse().unwrap(), 8)),
            c(Field::Proto, Op::In(vec![Value::U(6), Value::U(17)])),
            c(Field::DstPort, Op::Range(25000, 26000)),
            c(
                Field::TcpFlags,
                Op::Mask {
                    mask: 0x12,
                    bits: 0x02,
                },
            ),
            c(Field::IpLen, Op::Gt(40)),
            c(Field::IpLen, Op::Lt(100)),
        ]);
        assert!(r.matches(&p));
        let mut q = p.clone();
        q.tcp_flags = Some(0x12);
        assert!(!r.matches(&q));
        let mut q = p.clone();
        q.src_ip = Some("11.0.0.1".parse().unwrap());
        assert!(!r.matches(&q));
        let mut q = p;
        q.dst_port = None;
        assert!(!r.matches(&q), "absent field never matches");
        assert!(rule(vec![]).matches(&Packet::default()));
        let v6 = rule(vec![c(
            Field::SrcIp,
            Op::Cidr("2001:db8::".parse().unwrap(), 32),
        )]);
        let mut p6 = Packet {
            src_ip: Some("2001:db8::1".parse().unwrap()),
            ..Packet::default()
        };
        assert!(v6.matches(&p6));
        p6.src_ip = Some("10.0.0.1".parse().unwrap());
        assert!(!v6.matches(&p6));
    }

    #[test]
    fn subdomain_matches_names_strictly_under_the_domain() {
        let c = Condition::new(Field::DnsQname, Op::Subdomain("t.example".into())).unwrap();
        let q = |name: &[u8]| Packet {
            dns: Some(Box::new(Dns {
                qname: Some(Untrusted::new(name)),
                ..Dns::default()
            })),
            ..Packet::default()
        };
        for yes in [
            &b"a.t.example"[..],
            b"x.y.T.Example",
            b"a.t.example.",
            b"-.t.example",
        ] {
            assert!(c.matches(&q(yes)), "{yes:?}");
        }
        for no in [
            &b"t.example"[..],
            b"t.example.",
            b"evilt.example",
            b"a.t.example.org",
            b".t.exampl",
            b"",
            b".",
            b"at.example",
        ] {
            assert!(!c.matches(&q(no)), "{no:?}");
        }
        assert!(!c.matches(&Packet::default()), "no name, no match");
        let sni = Condition::new(Field::TlsSni, Op::Subdomain("cdn.example".into())).unwrap();
        let p = Packet {
            tls: Some(Box::new(crate::decode::field::Tls {
                sni: Some(Untrusted::new(b"a.cdn.example")),
                ..Default::default()
            })),
            ..Packet::default()
        };
        assert!(sni.matches(&p));
        // Only names take it, and only well-formed lower-case domains.
        assert!(Condition::new(Field::HttpHost, Op::Subdomain("a.example".into())).is_err());
        assert!(Condition::new(Field::DstPort, Op::Subdomain("a.example".into())).is_err());
        for bad in [
            "",
            "A.example",
            "a..example",
            ".a.example",
            "a.example.",
            "a b.example",
            "a\"x",
        ] {
            assert!(
                Condition::new(Field::DnsQname, Op::Subdomain(bad.into())).is_err(),
                "{bad:?}"
            );
        }
        let long = ["a"; 64].concat();
        assert!(Condition::new(Field::DnsQname, Op::Subdomain(long)).is_err());
    }
}
