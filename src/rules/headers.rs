//! The packet fields drafted rules can name, kept compactly for every packet of the drafting
//! pass, so the replay of the drafts runs from memory instead of reading and decoding the
//! capture a second time (that second pass cost about a third of `holoscope report`).
//!
//! Drafted conditions only use [`super::select::FIELDS`], and replay reads only those plus the
//! addresses, so a packet rebuilt from these fields matches every drafted rule exactly as the
//! decoded packet did. Rules on other fields (analyst edits) still replay against the capture.

use super::model::Rule;
use super::scan::Class;
#[cfg(test)]
use crate::decode::Field;
use crate::decode::Packet;
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

/// Whether every condition of every rule reads only fields [`Headers`] keeps.
pub(super) fn covers(rules: &[Rule]) -> bool {
    rules.iter().all(|r| {
        r.def
            .conditions
            .iter()
            .all(|c| super::select::FIELDS.contains(&c.field))
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
}
