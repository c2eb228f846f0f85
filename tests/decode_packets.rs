//! End-to-end decoding of frames built with etherparse's PacketBuilder and hand-built app
//! payloads, over every supported link type.

use etherparse::{PacketBuilder, VlanId};
use holoscope::capture::{LinkType, RawPacket};
use holoscope::decode::{FirstFlight, Layer, Packet, decode, transport_payload};
use holoscope::text::Untrusted;
use holoscope::time::Timestamp;
use simple_dns::{
    CLASS, Name, PacketFlag, QCLASS, QTYPE, Question, ResourceRecord, TYPE, rdata::RData,
};
use std::net::IpAddr;

macro_rules! build {
    ($b:expr, $payload:expr) => {{
        let mut v = Vec::new();
        $b.write(&mut v, $payload).expect("build");
        v
    }};
}

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn dec(link: LinkType, data: &[u8]) -> Packet {
    dec_cut(link, data, data.len())
}

/// Decodes `data` as if the capture kept only `caplen` bytes.
fn dec_cut(link: LinkType, data: &[u8], caplen: usize) -> Packet {
    let raw = RawPacket {
        ts: Timestamp(1_700_000_000_000_000_000),
        interface: 0,
        link,
        orig_len: data.len() as u32,
        data: &data[..caplen.min(data.len())],
        offset: 0,
    };
    decode(&raw)
}

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut p = simple_dns::Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    p.questions.push(Question::new(
        Name::new_unchecked(name),
        QTYPE::TYPE(TYPE::AAAA),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.build_bytes_vec().expect("dns")
}

fn dns_response(id: u16, name: &str, answers: u8) -> Vec<u8> {
    let mut p = simple_dns::Packet::new_reply(id);
    let n = Name::new_unchecked(name);
    p.questions.push(Question::new(
        n.clone(),
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    for i in 0..answers {
        let a = RData::A(simple_dns::rdata::A {
            address: u32::from_be_bytes([192, 0, 2, i]),
        });
        p.answers
            .push(ResourceRecord::new(n.clone(), CLASS::IN, 300, a));
    }
    p.build_bytes_vec_compressed().expect("dns")
}

/// A TLS ClientHello record with SNI, ALPN and `pad` bytes of padding extension.
fn client_hello(sni: &str, alpn: &[&str], pad: usize) -> Vec<u8> {
    fn ext(out: &mut Vec<u8>, t: u16, data: &[u8]) {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    let mut exts = Vec::new();
    let mut sni_data = ((sni.len() + 3) as u16).to_be_bytes().to_vec();
    sni_data.push(0);
    sni_data.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sni_data.extend_from_slice(sni.as_bytes());
    ext(&mut exts, 0x0a0a, &[]); // GREASE first, as browsers do
    ext(&mut exts, 0, &sni_data);
    let list: Vec<u8> = alpn
        .iter()
        .flat_map(|p| std::iter::once(p.len() as u8).chain(p.bytes()))
        .collect();
    let mut alpn_data = (list.len() as u16).to_be_bytes().to_vec();
    alpn_data.extend_from_slice(&list);
    ext(&mut exts, 16, &alpn_data);
    ext(&mut exts, 51, &vec![0x11; pad]); // stands in for an ML-KEM key share
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]);
    body.push(32);
    body.extend_from_slice(&[0x24; 32]);
    body.extend_from_slice(&[0, 6, 0x13, 1, 0x13, 2, 0x13, 3, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    rec.extend_from_slice(&[1, 0]);
    rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
    rec.extend_from_slice(&body);
    rec
}

#[test]
fn ethernet_ipv4_tcp_syn() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 443, 77, 64240)
        .syn();
    let f = build!(b, &[]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.src_mac, p.dst_mac, p.ether_type),
        (Some(MAC_A), Some(MAC_B), Some(0x0800))
    );
    assert_eq!(
        (p.ip_version, p.src_ip, p.dst_ip, p.ttl),
        (Some(4), ip("10.0.0.1"), ip("10.0.0.2"), Some(64))
    );
    assert_eq!(
        (p.ip_len, p.proto, p.frag_offset, p.frag_more),
        (Some(40), Some(6), Some(0), Some(false))
    );
    assert_eq!(
        (p.src_port, p.dst_port, p.tcp_flags, p.tcp_seq),
        (Some(40000), Some(443), Some(0x02), Some(77))
    );
    assert_eq!(
        (p.tcp_window, p.payload_len, p.payload_offset),
        (Some(64240), Some(0), None)
    );
    assert_eq!((p.frame_len, p.cap_len, p.link_type), (54, 54, 1));
    assert_eq!(p.stopped, None);
}

#[test]
fn vlan_ipv6_udp_dns_query() {
    let q = dns_query(0xbeef, "ipv6.example.org");
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(VlanId::try_new(42).expect("vlan"))
        .ipv6([0x20; 16], [0x30; 16], 9)
        .udp(33333, 53);
    let f = build!(b, &q);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.vlan, p.ip_version, p.ttl, p.ether_type),
        (Some(42), Some(6), Some(9), Some(0x86dd))
    );
    assert_eq!(p.ip_len, Some(40 + 8 + q.len() as u32));
    assert_eq!(p.payload_len, Some(q.len() as u32));
    let d = p.dns.clone().expect("dns");
    assert_eq!(
        (d.id, d.qr, d.qtype, d.size),
        (0xbeef, false, Some(28), q.len() as u32)
    );
    assert_eq!(d.qname, Some(Untrusted::new(b"ipv6.example.org")));
    assert_eq!(transport_payload(&p, &f), &q[..]);
}

#[test]
fn qinq_and_triple_tags_keep_innermost_vlan() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(
            VlanId::try_new(100).expect("vlan"),
            VlanId::try_new(200).expect("vlan"),
        )
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 5)
        .udp(1, 2);
    let f = build!(b, &[0; 4]);
    assert_eq!(dec(LinkType::ETHERNET, &f).vlan, Some(200));
    // Three tags: 802.1ad 100, 802.1Q 300, 802.1Q 4095, then IPv4.
    let mut triple = f[..12].to_vec();
    triple.extend_from_slice(&[0x88, 0xa8, 0, 100, 0x81, 0x00, 0x01, 0x2c, 0x81, 0x00]);
    triple.extend_from_slice(&[0x0f, 0xff, 0x08, 0x00]); // innermost id 4095
    triple.extend_from_slice(&f[22..]);
    let p = dec(LinkType::ETHERNET, &triple);
    assert_eq!((p.vlan, p.src_port, p.stopped), (Some(4095), Some(1), None));
}

#[test]
fn mpls_over_ethernet() {
    let inner = build!(
        PacketBuilder::ipv4([10, 1, 1, 1], [10, 2, 2, 2], 60).udp(5000, 53),
        &dns_query(1, "mpls.test")
    );
    let mut f = [MAC_B, MAC_A].concat();
    f.extend_from_slice(&[0x88, 0x47]);
    f.extend_from_slice(&(16u32 << 12 | 255).to_be_bytes());
    f.extend_from_slice(&(1234u32 << 12 | 0x100 | 255).to_be_bytes());
    f.extend_from_slice(&inner);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.mpls_label, p.ip_version, p.dst_port),
        (Some(1234), Some(4), Some(53))
    );
    assert!(p.dns.is_some());
}

#[test]
fn every_ip_link_type() {
    let v4 = build!(
        PacketBuilder::ipv4([192, 168, 0, 1], [192, 168, 0, 2], 33)
            .tcp(1, 80, 5, 100)
            .ack(9),
        &[]
    );
    let v6 = build!(
        PacketBuilder::ipv6([1; 16], [2; 16], 33)
            .tcp(1, 80, 5, 100)
            .ack(9),
        &[]
    );
    let with = |hdr: &[u8], ip: &[u8]| [hdr, ip].concat();
    let sll_v4 = with(&[0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00], &v4);
    let sll2_v6 = with(
        &[
            0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ],
        &v6,
    );
    let cases: Vec<(LinkType, Vec<u8>, u8)> = vec![
        (LinkType::RAW, v4.clone(), 4),
        (LinkType::RAW, v6.clone(), 6),
        (LinkType::IPV4, v4.clone(), 4),
        (LinkType::IPV6, v6.clone(), 6),
        (LinkType::NULL, with(&[2, 0, 0, 0], &v4), 4),
        (LinkType::NULL, with(&[0, 0, 0, 2], &v4), 4),
        (LinkType::NULL, with(&[30, 0, 0, 0], &v6), 6),
        (LinkType::LOOP, with(&[0, 0, 0, 24], &v6), 6),
        (LinkType::LINUX_SLL, sll_v4, 4),
        (LinkType::LINUX_SLL2, sll2_v6, 6),
    ];
    for (link, f, version) in cases {
        let p = dec(link, &f);
        assert_eq!(p.ip_version, Some(version), "{link:?}");
        assert_eq!(
            (p.dst_port, p.tcp_flags, p.ttl),
            (Some(80), Some(0x10), Some(33)),
            "{link:?}"
        );
        assert_eq!(p.stopped, None, "{link:?}");
    }
    assert_eq!(
        dec(
            LinkType::LINUX_SLL2,
            &with(
                &[
                    0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0
                ],
                &v6
            )
        )
        .src_mac,
        Some([1, 2, 3, 4, 5, 6])
    );
}

#[test]
fn unsupported_link_type_keeps_frame_fields() {
    let p = dec(LinkType(160), &[0x45; 60]);
    let s = p.stopped.expect("stopped");
    assert_eq!((s.layer, s.reason), (Layer::L2, "unsupported link type"));
    assert_eq!((p.frame_len, p.link_type, p.src_ip), (60, 160, None));
}

#[test]
fn ntp_size_is_the_udp_payload_not_the_frame() {
    let mut ntp = [0u8; 48];
    ntp[0] = 0x23; // LI 0, version 4, mode 3
    let f = build!(
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
            .udp(40123, 123),
        &ntp
    );
    assert_eq!(f.len(), 90);
    let p = dec(LinkType::ETHERNET, &f);
    let n = p.ntp.expect("ntp");
    assert_eq!(
        (n.mode, n.size, p.payload_len, p.ip_len),
        (3, 48, Some(48), Some(76))
    );
}

#[test]
fn http_request() {
    let req = b"POST /login.php HTTP/1.1\r\nHost: dvwa.local\r\nUser-Agent: sqlmap/1.7\r\nContent-Length: 3\r\n\r\na=1";
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(50000, 80, 1, 500)
        .psh()
        .ack(1);
    let f = build!(b, req);
    let h = dec(LinkType::ETHERNET, &f).http.expect("http");
    assert_eq!(h.method, Some(Untrusted::new(b"POST")));
    assert_eq!(h.path, Some(Untrusted::new(b"/login.php")));
    assert_eq!(h.host, Some(Untrusted::new(b"dvwa.local")));
    assert_eq!(h.user_agent, Some(Untrusted::new(b"sqlmap/1.7")));
}

#[test]
fn tls_single_segment_hello() {
    let hello = client_hello("www.google.com", &["h2", "http/1.1"], 32);
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [8, 8, 8, 8], 64)
        .tcp(50000, 443, 1, 500)
        .ack(1);
    let p = dec(LinkType::ETHERNET, &build!(b, &hello));
    let t = p.tls.expect("tls");
    assert_eq!(t.sni, Some(Untrusted::new(b"www.google.com")));
    assert_eq!(t.alpn, Some(Untrusted::new(b"h2,http/1.1")));
    assert!(!t.incomplete);
}

/// Decodes two client segments carrying `hello` split at `at`, fed in `order`.
fn split_hello(hello: &[u8], at: usize, order: &[usize]) -> Vec<Packet> {
    let segs = [(1000u32, &hello[..at]), (1000 + at as u32, &hello[at..])];
    let mut ff = FirstFlight::new();
    let mut out = Vec::new();
    for &i in order {
        let (seq, data) = segs[i];
        let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6([0xfd; 16], [0x26; 16], 64)
            .tcp(51000, 443, seq, 500)
            .ack(1);
        let f = build!(b, data);
        let mut p = dec(LinkType::ETHERNET, &f);
        let payload = transport_payload(&p, &f);
        ff.observe(&mut p, payload);
        out.push(p);
    }
    out
}

#[test]
fn tls_hello_split_over_two_segments() {
    let hello = client_hello("pq.example.net", &["h2"], 1216 + 32 + 200);
    assert!(hello.len() > 1500);
    let pkts = split_hello(&hello, 1400, &[0, 1]);
    assert!(pkts[0].tls.is_none());
    let t = pkts[1].tls.as_ref().expect("tls on completing packet");
    assert_eq!(t.sni, Some(Untrusted::new(b"pq.example.net")));
    assert!(!t.incomplete);
}

#[test]
fn tls_hello_retransmitted_or_out_of_order() {
    let hello = client_hello("retx.example", &[], 1500);
    let pkts = split_hello(&hello, 1000, &[0, 0, 1]);
    assert_eq!(
        pkts[2].tls.as_ref().and_then(|t| t.sni.clone()),
        Some(Untrusted::new(b"retx.example"))
    );
    // Second segment first: it cannot be recognised yet; the first one starts reassembly
    // and nothing else arrives. Nothing is invented, nothing panics.
    let pkts = split_hello(&hello, 1000, &[1, 0]);
    assert!(pkts.iter().all(|p| p.tls.is_none()));
}

#[test]
fn snaplen_cut_tls_hello_is_marked_incomplete() {
    let hello = client_hello("cut.example", &[], 1500);
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(50000, 443, 1, 500)
        .ack(1);
    let f = build!(b, &hello);
    let t = dec_cut(LinkType::ETHERNET, &f, 300).tls.expect("tls");
    assert!(t.incomplete);
    assert_eq!(t.sni, Some(Untrusted::new(b"cut.example")));
}

#[test]
fn truncated_dns_response_keeps_id_and_qname() {
    let r = dns_response(0x4242, "big.example.com", 20);
    let f = build!(
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([8, 8, 8, 8], [10, 0, 0, 9], 60)
            .udp(53, 40000),
        &r
    );
    let p = dec_cut(LinkType::ETHERNET, &f, 96);
    let d = p.dns.expect("dns");
    assert_eq!(
        (d.id, d.qr, d.answers, d.size),
        (0x4242, true, 20, r.len() as u32)
    );
    assert_eq!(d.qname, Some(Untrusted::new(b"big.example.com")));
    assert_eq!((p.payload_len, p.cap_len), (Some(r.len() as u32), 96));
}

#[test]
fn garbage_on_port_53_is_not_dns() {
    let junk: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let f = build!(
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([1, 2, 3, 4], [5, 6, 7, 8], 60)
            .udp(4444, 53),
        &junk
    );
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.dst_port, p.dns.is_none()), (Some(53), true));
    // A real query on an unusual port is still DNS.
    let q = dns_query(5, "odd.port.example");
    let f = build!(
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([1, 2, 3, 4], [5, 6, 7, 8], 60)
            .udp(4444, 8053),
        &q
    );
    assert!(dec(LinkType::ETHERNET, &f).dns.is_some());
}

#[test]
fn ipv4_fragments() {
    let f = build!(
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 60)
            .udp(53, 9999),
        &[0u8; 64]
    );
    let mut first = f.clone();
    first[14 + 6] = 0x20; // MF, offset 0
    let p = dec(LinkType::ETHERNET, &first);
    assert_eq!(
        (p.frag_more, p.frag_offset, p.src_port),
        (Some(true), Some(0), Some(53))
    );
    let mut later = f.clone();
    later[14 + 6] = 0x00;
    later[14 + 7] = 185; // offset 185 * 8 = 1480, last fragment
    let p = dec(LinkType::ETHERNET, &later);
    assert_eq!(
        (p.frag_more, p.frag_offset, p.src_port, p.dst_port),
        (Some(false), Some(1480), None, None)
    );
    assert_eq!(
        (p.proto, p.payload_len, p.stopped),
        (Some(17), Some(72), None)
    );
}

#[test]
fn ipv6_fragment_header() {
    let udp = build!(
        PacketBuilder::ipv6([1; 16], [2; 16], 64).udp(53, 1234),
        &[0u8; 32]
    );
    let mut f = udp[..40].to_vec();
    f[6] = 44; // next header: fragment
    f[4..6].copy_from_slice(&(8u16 + 40).to_be_bytes());
    // Fragment header: next 17, offset 1232 bytes (154 units), M=1, id 7.
    f.extend_from_slice(&[17, 0]);
    f.extend_from_slice(&((154u16 << 3) | 1).to_be_bytes());
    f.extend_from_slice(&7u32.to_be_bytes());
    f.extend_from_slice(&udp[40..]);
    let p = dec(LinkType::IPV6, &f);
    assert_eq!(
        (p.proto, p.frag_offset, p.frag_more, p.src_port),
        (Some(17), Some(1232), Some(true), None)
    );
    assert_eq!((p.ip_len, p.payload_len), (Some(88), Some(40)));
}

#[test]
fn icmp_and_icmpv6() {
    let f = build!(
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 60).icmpv4_echo_request(1, 2),
        &[0u8; 56]
    );
    let p = dec(LinkType::RAW, &f);
    assert_eq!(
        (p.proto, p.icmp_type, p.icmp_code, p.payload_len),
        (Some(1), Some(8), Some(0), Some(56))
    );
    let f = build!(
        PacketBuilder::ipv6([1; 16], [2; 16], 60).icmpv6_echo_request(1, 2),
        &[0u8; 8]
    );
    let p = dec(LinkType::RAW, &f);
    assert_eq!(
        (p.proto, p.icmp_type, p.src_port),
        (Some(58), Some(128), None)
    );
}

#[test]
fn snaplen_96_tcp_knows_its_payload_length() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(22, 50000, 1, 500)
        .ack(1);
    let f = build!(b, &[0x55; 1000]);
    let p = dec_cut(LinkType::ETHERNET, &f, 96);
    assert_eq!(
        (p.payload_len, p.payload_offset, p.ip_len),
        (Some(1000), Some(54), Some(1040))
    );
    assert_eq!(transport_payload(&p, &f[..96]).len(), 42);
    assert_eq!(p.stopped, None);
}

#[test]
fn truncated_ip_header_stops_at_l3() {
    let f = build!(
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 60)
            .udp(1, 2),
        &[]
    );
    let p = dec_cut(LinkType::ETHERNET, &f, 24);
    assert_eq!(p.stopped.map(|s| s.layer), Some(Layer::L3));
    assert_eq!(p.src_mac, Some(MAC_A));
}
