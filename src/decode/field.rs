//! The field schema: the one place that names every decoded field.
//!
//! Every later stage (timeline, detectors, algebra, rules, report, TUI) refers to fields through
//! [`Field`] and reads values through [`Packet::visit`] / [`Packet::get`], so a name is spelled
//! exactly once, here.

use crate::text::Untrusted;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The protocol layer a field belongs to (also the record level of the structural encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Capture metadata (timestamp, interface, lengths).
    Frame,
    /// Link layer: Ethernet, SLL, VLAN, MPLS.
    L2,
    /// Network layer: IPv4/IPv6.
    L3,
    /// Transport layer: TCP, UDP, ICMP.
    L4,
    /// Application layer: DNS, TLS, HTTP, NTP.
    App,
}

impl Layer {
    /// Lower-case name used in paths (`l4.dst_port`) and reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Layer::Frame => "frame",
            Layer::L2 => "l2",
            Layer::L3 => "l3",
            Layer::L4 => "l4",
            Layer::App => "app",
        }
    }
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $var:ident = $name:literal, $layer:ident, $counted:literal; )*) => {
        /// A named field of a decoded packet.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u8)]
        pub enum Field { $( $(#[$doc])* $var, )* }

        impl Field {
            /// Every field, in schema order.
            pub const ALL: &'static [Field] = &[ $( Field::$var, )* ];

            /// The field's name as used in reports, rules and the command language.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $( Field::$var => $name, )* }
            }

            /// The layer (record) the field belongs to.
            #[must_use]
            pub fn layer(self) -> Layer {
                match self { $( Field::$var => Layer::$layer, )* }
            }

            /// Whether the timeline keeps per-value counts of this field. Only the timestamp
            /// is excluded: it is the time axis itself.
            #[must_use]
            pub fn counted(self) -> bool {
                match self { $( Field::$var => $counted, )* }
            }
        }
    };
}

fields! {
    /// Capture timestamp.
    Timestamp = "timestamp", Frame, false;
    /// Interface index (pcapng IDB, 0 for legacy pcap).
    Interface = "interface", Frame, true;
    /// LINKTYPE of the record.
    LinkType = "link_type", Frame, true;
    /// Original (on-wire) frame length.
    FrameLen = "frame_len", Frame, true;
    /// Source MAC address.
    SrcMac = "src_mac", L2, true;
    /// Destination MAC address.
    DstMac = "dst_mac", L2, true;
    /// Innermost 802.1Q/802.1ad VLAN id.
    Vlan = "vlan", L2, true;
    /// Innermost MPLS label.
    MplsLabel = "mpls_label", L2, true;
    /// EtherType of the payload after link headers and tags.
    EtherType = "ether_type", L2, true;
    /// IP version (4 or 6).
    IpVersion = "ip_version", L3, true;
    /// Source IP address.
    SrcIp = "src_ip", L3, true;
    /// Destination IP address.
    DstIp = "dst_ip", L3, true;
    /// IPv4 TTL or IPv6 hop limit.
    Ttl = "ttl", L3, true;
    /// IPv4 don't-fragment flag.
    Df = "df", L3, true;
    /// IP total length (IPv4 total length; IPv6 payload length + 40).
    IpLen = "ip_len", L3, true;
    /// Fragment offset in bytes.
    FragOffset = "frag_offset", L3, true;
    /// More-fragments flag.
    FragMore = "frag_more", L3, true;
    /// IP protocol / IPv6 next header of the transport (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    Proto = "proto", L3, true;
    /// Transport source port.
    SrcPort = "src_port", L4, true;
    /// Transport destination port.
    DstPort = "dst_port", L4, true;
    /// TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128).
    TcpFlags = "tcp_flags", L4, true;
    /// TCP receive window.
    TcpWindow = "tcp_window", L4, true;
    /// Transport payload length (from IP lengths, not the captured bytes).
    PayloadLen = "payload_len", L4, true;
    /// ICMP/ICMPv6 type.
    IcmpType = "icmp_type", L4, true;
    /// ICMP/ICMPv6 code.
    IcmpCode = "icmp_code", L4, true;
    /// DNS transaction id.
    DnsId = "dns_id", App, true;
    /// DNS QR bit (0 query, 1 response).
    DnsQr = "dns_qr", App, true;
    /// DNS opcode.
    DnsOpcode = "dns_opcode", App, true;
    /// DNS response code.
    DnsRcode = "dns_rcode", App, true;
    /// First question's name.
    DnsQname = "dns_qname", App, true;
    /// First question's type.
    DnsQtype = "dns_qtype", App, true;
    /// Answer count.
    DnsAnswers = "dns_answers", App, true;
    /// DNS message size (UDP payload length).
    DnsSize = "dns_size", App, true;
    /// TLS ClientHello server name.
    TlsSni = "tls_sni", App, true;
    /// TLS ClientHello ALPN protocols, comma-joined.
    TlsAlpn = "tls_alpn", App, true;
    /// HTTP request method.
    HttpMethod = "http_method", App, true;
    /// HTTP Host header.
    HttpHost = "http_host", App, true;
    /// HTTP request path.
    HttpPath = "http_path", App, true;
    /// HTTP User-Agent header.
    HttpUserAgent = "http_user_agent", App, true;
    /// NTP mode (3 client, 4 server, 7 private...).
    NtpMode = "ntp_mode", App, true;
    /// NTP message size (UDP payload length).
    NtpSize = "ntp_size", App, true;
}

impl Field {
    /// Looks a field up by its schema name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The record path used by the structural encoding, e.g. `l4.dst_port`.
    #[must_use]
    pub fn path(self) -> String {
        format!("{}.{}", self.layer().name(), self.name())
    }
}

/// A borrowed field value, as handed out by [`Packet::visit`] (no allocation). Ordered as
/// [`Value`] is (the same variants in the same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueRef<'a> {
    /// Any integer, flag byte or boolean (as 0/1).
    U(u64),
    /// An IP address.
    Ip(IpAddr),
    /// A MAC address.
    Mac([u8; 6]),
    /// Text from the packet.
    Text(&'a Untrusted),
}

/// An owned field value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// Any integer, flag byte or boolean (as 0/1).
    U(u64),
    /// An IP address.
    Ip(IpAddr),
    /// A MAC address.
    Mac([u8; 6]),
    /// Text from the packet.
    Text(Untrusted),
}

impl ValueRef<'_> {
    /// Owned copy.
    #[must_use]
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::U(v) => Value::U(v),
            ValueRef::Ip(v) => Value::Ip(v),
            ValueRef::Mac(v) => Value::Mac(v),
            ValueRef::Text(v) => Value::Text(v.clone()),
        }
    }
}

impl Value {
    /// Borrowed view.
    #[must_use]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::U(v) => ValueRef::U(*v),
            Value::Ip(v) => ValueRef::Ip(*v),
            Value::Mac(v) => ValueRef::Mac(*v),
            Value::Text(v) => ValueRef::Text(v),
        }
    }

    /// Human form, safe for a terminal: TCP flags as letters, MACs in colon hex, text escaped.
    #[must_use]
    pub fn display(&self, field: Field) -> String {
        match (field, self) {
            (Field::TcpFlags, Value::U(f)) => tcp_flags_letters(*f),
            (_, Value::U(v)) => v.to_string(),
            (_, Value::Ip(ip)) => ip.to_string(),
            (_, Value::Mac(m)) => format_mac(*m),
            (_, Value::Text(t)) => t.escape_terminal(),
        }
    }
}

/// `SA`, `S`, `FPA`...: tcpdump-like letters for a flag byte (`.` for none).
#[must_use]
pub fn tcp_flags_letters(flags: u64) -> String {
    let s = tcp_flag_letters_or_empty(flags);
    if s.is_empty() { ".".into() } else { s }
}

/// The letters of the TCP flags set in `flags` (`F`, `S`, `R`, `P`, `A`, `U`, `E`, `C`, in
/// bit order), empty for none: each caller says "none" its own way (`.` here, `0` in a
/// Suricata rule).
#[must_use]
pub fn tcp_flag_letters_or_empty(flags: u64) -> String {
    const LETTERS: [(u64, char); 8] = [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, 'A'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'C'),
    ];
    LETTERS
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// `aa:bb:cc:dd:ee:ff`.
#[must_use]
pub fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// DNS fields of a packet (boxed in [`Packet`] to keep the common case small).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Transaction id.
    pub id: u16,
    /// QR bit.
    pub qr: bool,
    /// Opcode.
    pub opcode: u8,
    /// Response code.
    pub rcode: u8,
    /// First question's name (dotted, as in the packet).
    pub qname: Option<Untrusted>,
    /// First question's type.
    pub qtype: Option<u16>,
    /// Answer count from the header.
    pub answers: u16,
    /// Message size in bytes (the transport payload length).
    pub size: u32,
}

/// TLS ClientHello fields (after first-flight reassembly).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    /// Server Name Indication.
    pub sni: Option<Untrusted>,
    /// ALPN protocol names joined by commas.
    pub alpn: Option<Untrusted>,
    /// True when a ClientHello was seen but never complete in the capture (cut by the snaplen,
    /// segments missing, reassembly limits reached) or could not be parsed. `sni`/`alpn` then
    /// hold whatever the bytes that were there allowed. Lets a detector tell "no SNI because
    /// the hello was truncated" from "no TLS at all" (`tls` is `None`).
    #[serde(default)]
    pub incomplete: bool,
}

/// HTTP request fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Http {
    /// Method (GET, POST...).
    pub method: Option<Untrusted>,
    /// Host header.
    pub host: Option<Untrusted>,
    /// Request target.
    pub path: Option<Untrusted>,
    /// User-Agent header.
    pub user_agent: Option<Untrusted>,
}

/// NTP fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ntp {
    /// Mode (low 3 bits of the first byte).
    pub mode: u8,
    /// Message size (UDP payload length).
    pub size: u32,
}

/// Why decoding stopped before the end of the packet (the layer and a short reason).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// Layer at which decoding stopped.
    pub layer: Layer,
    /// Short reason (static so that it costs nothing per packet).
    pub reason: &'static str,
}

/// A decoded packet: every field of the schema, `None` where absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // each field is documented on the matching `Field` variant
pub struct Packet {
    pub ts: Timestamp,
    pub interface: u32,
    pub link_type: u16,
    pub frame_len: u32,
    /// Bytes actually captured (may be less than `frame_len`).
    pub cap_len: u32,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub vlan: Option<u16>,
    pub mpls_label: Option<u32>,
    pub ether_type: Option<u16>,
    pub ip_version: Option<u8>,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub df: Option<bool>,
    pub ip_len: Option<u32>,
    pub frag_offset: Option<u16>,
    pub frag_more: Option<bool>,
    pub proto: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub tcp_flags: Option<u8>,
    pub tcp_window: Option<u16>,
    /// TCP sequence number (not a schema field; used by TLS first-flight reassembly).
    pub tcp_seq: Option<u32>,
    pub payload_len: Option<u32>,
    /// Offset of the transport payload within the captured bytes (not a schema field).
    pub payload_offset: Option<u32>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub dns: Option<Box<Dns>>,
    pub tls: Option<Box<Tls>>,
    pub http: Option<Box<Http>>,
    pub ntp: Option<Ntp>,
    /// Where decoding stopped, if it did not reach the end. Boxed: few packets stop early,
    /// and inline it took 24 of every packet's 208 bytes (the report keeps every decoded
    /// packet for drafting).
    pub stopped: Option<Box<Stopped>>,
}

impl Packet {
    /// Calls `f` for every present field (timestamp included), in schema order, without
    /// allocating. This is the hot path of the timeline and the encoder.
    pub fn visit<'a>(&'a self, mut f: impl FnMut(Field, ValueRef<'a>)) {
        use ValueRef::{Ip, Mac, Text, U};
        #[allow(clippy::cast_sign_loss)]
        f(Field::Timestamp, U(self.ts.0 as u64));
        f(Field::Interface, U(u64::from(self.interface)));
        f(Field::LinkType, U(u64::from(self.link_type)));
        f(Field::FrameLen, U(u64::from(self.frame_len)));
        macro_rules! opt {
            ($field:expr, $v:expr, $wrap:expr) => {
                if let Some(v) = $v {
                    f($field, $wrap(v));
                }
            };
        }
        let u = |v: u64| U(v);
        opt!(Field::SrcMac, self.src_mac, Mac);
        opt!(Field::DstMac, self.dst_mac, Mac);
        opt!(Field::Vlan, self.vlan.map(u64::from), u);
        opt!(Field::MplsLabel, self.mpls_label.map(u64::from), u);
        opt!(Field::EtherType, self.ether_type.map(u64::from), u);
        opt!(Field::IpVersion, self.ip_version.map(u64::from), u);
        opt!(Field::SrcIp, self.src_ip, Ip);
        opt!(Field::DstIp, self.dst_ip, Ip);
        opt!(Field::Ttl, self.ttl.map(u64::from), u);
        opt!(Field::Df, self.df.map(u64::from), u);
        opt!(Field::IpLen, self.ip_len.map(u64::from), u);
        opt!(Field::FragOffset, self.frag_offset.map(u64::from), u);
        opt!(Field::FragMore, self.frag_more.map(u64::from), u);
        opt!(Field::Proto, self.proto.map(u64::from), u);
        opt!(Field::SrcPort, self.src_port.map(u64::from), u);
        opt!(Field::DstPort, self.dst_port.map(u64::from), u);
        opt!(Field::TcpFlags, self.tcp_flags.map(u64::from), u);
        opt!(Field::TcpWindow, self.tcp_window.map(u64::from), u);
        opt!(Field::PayloadLen, self.payload_len.map(u64::from), u);
        opt!(Field::IcmpType, self.icmp_type.map(u64::from), u);
        opt!(Field::IcmpCode, self.icmp_code.map(u64::from), u);
        if let Some(d) = &self.dns {
            f(Field::DnsId, U(u64::from(d.id)));
            f(Field::DnsQr, U(u64::from(d.qr)));
            f(Field::DnsOpcode, U(u64::from(d.opcode)));
            f(Field::DnsRcode, U(u64::from(d.rcode)));
            opt!(Field::DnsQname, d.qname.as_ref(), Text);
            opt!(Field::DnsQtype, d.qtype.map(u64::from), u);
            f(Field::DnsAnswers, U(u64::from(d.answers)));
            f(Field::DnsSize, U(u64::from(d.size)));
        }
        if let Some(t) = &self.tls {
            opt!(Field::TlsSni, t.sni.as_ref(), Text);
            opt!(Field::TlsAlpn, t.alpn.as_ref(), Text);
        }
        if let Some(h) = &self.http {
            opt!(Field::HttpMethod, h.method.as_ref(), Text);
            opt!(Field::HttpHost, h.host.as_ref(), Text);
            opt!(Field::HttpPath, h.path.as_ref(), Text);
            opt!(Field::HttpUserAgent, h.user_agent.as_ref(), Text);
        }
        if let Some(n) = &self.ntp {
            f(Field::NtpMode, U(u64::from(n.mode)));
            f(Field::NtpSize, U(u64::from(n.size)));
        }
    }

    /// The value of one field, owned (convenient, not for hot loops).
    #[must_use]
    pub fn get(&self, field: Field) -> Option<Value> {
        let mut out = None;
        self.visit(|f, v| {
            if f == field {
                out = Some(v.to_owned());
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_packet_stays_small() {
        // The report keeps every decoded packet for drafting (1.5 M of them on the bench
        // capture): each byte here is 1.5 MB of fresh memory there.
        assert!(
            std::mem::size_of::<Packet>() <= 192,
            "{} bytes",
            std::mem::size_of::<Packet>()
        );
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Field::ALL.len());
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(*f));
        }
        assert_eq!(Field::DstPort.path(), "l4.dst_port");
    }

    #[test]
    fn visit_reports_only_present_fields() {
        let p = Packet {
            dst_port: Some(53),
            tcp_flags: Some(0x12),
            ..Packet::default()
        };
        assert_eq!(p.get(Field::DstPort), Some(Value::U(53)));
        assert_eq!(p.get(Field::SrcPort), None);
        assert_eq!(Value::U(0x12).display(Field::TcpFlags), "SA");
    }
}
