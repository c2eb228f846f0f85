//! Link layer: from a LINKTYPE and the captured bytes to "an IP packet starts at offset N".
//!
//! Ethernet and 802.1Q/802.1ad tags are read with etherparse's header slices. The rest is
//! hand-written because etherparse 0.21 lacks it or rejects real captures:
//! - Linux SLL v1: etherparse refuses ARPHRD types it does not know (loopback 772, tun
//!   `ARPHRD_NONE`, PPP), which are exactly what `tcpdump -i any` records;
//! - Linux SLL v2, BSD NULL/LOOP and MPLS are not in etherparse at all.
//!
//! Each is a fixed-size header read with bounds-checked slicing.

use super::field::Packet;
use crate::capture::LinkType;
use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

/// EtherType of IPv4.
pub(crate) const ETHER_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub(crate) const ETHER_IPV6: u16 = 0x86dd;
const ETHER_VLAN: u16 = 0x8100;
const ETHER_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tags still seen on some switches.
const ETHER_QINQ_OLD_0: u16 = 0x9100;
const ETHER_QINQ_OLD_1: u16 = 0x9200;
const ETHER_MPLS: u16 = 0x8847;
const ETHER_MPLS_MULTICAST: u16 = 0x8848;

/// More tags than this in one frame is hostile or broken; stop instead of looping.
const MAX_TAGS: usize = 8;
/// MPLS label stacks deeper than this are not real traffic.
const MAX_LABELS: usize = 16;

/// Where the network layer starts, or why there is none.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum L2 {
    /// An IP packet (version to be read from its first nibble) at this offset.
    Ip(usize),
    /// A non-IP payload (ARP, LLC, netlink...): decoding ends here normally.
    Other,
    /// Decoding stopped at L2.
    Stop(&'static str),
}

fn stop(reason: &'static str) -> L2 {
    L2::Stop(reason)
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Decodes the link layer of `data`, filling the L2 fields of `pkt`.
pub(crate) fn decode_link(pkt: &mut Packet, link: LinkType, data: &[u8]) -> L2 {
    match link {
        LinkType::ETHERNET => ethernet(pkt, data, 0, 0),
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => raw_ip(pkt, data, 0),
        LinkType::NULL | LinkType::LOOP => bsd_loopback(pkt, data),
        LinkType::LINUX_SLL => sll(pkt, data, 16, 14, 2, 4, 6),
        LinkType::LINUX_SLL2 => sll(pkt, data, 20, 0, 8, 11, 12),
        _ => stop(crate::decode::UNSUPPORTED_LINK),
    }
}

/// Ethernet II at `off`; `depth` counts Ethernet-over-MPLS nesting.
fn ethernet(pkt: &mut Packet, data: &[u8], off: usize, depth: u8) -> L2 {
    let Some(eth) = data
        .get(off..)
        .and_then(|d| Ethernet2HeaderSlice::from_slice(d).ok())
    else {
        return stop("truncated ethernet header");
    };
    // The outermost MACs are the ones a rule on this link can match.
    if depth == 0 {
        pkt.src_mac = Some(eth.source());
        pkt.dst_mac = Some(eth.destination());
    }
    let ether_type = eth.ether_type().0;
    if ether_type < 0x0600 {
        // 802.3 length field (LLC/SNAP: STP, CDP...): a normal non-IP frame.
        return L2::Other;
    }
    ether_payload(pkt, data, off + 14, ether_type, depth)
}

/// Walks VLAN tags and MPLS labels starting with `ether_type` at `off`.
fn ether_payload(
    pkt: &mut Packet,
    data: &[u8],
    mut off: usize,
    mut ether_type: u16,
    depth: u8,
) -> L2 {
    for _ in 0..MAX_TAGS {
        match ether_type {
            ETHER_VLAN | ETHER_QINQ | ETHER_QINQ_OLD_0 | ETHER_QINQ_OLD_1 => {
                let Some(tag) = data
                    .get(off..)
                    .and_then(|d| SingleVlanHeaderSlice::from_slice(d).ok())
                else {
                    return stop("truncated vlan tag");
                };
                // Each inner tag overwrites the outer one: the innermost id is kept.
                pkt.vlan = Some(tag.vlan_identifier().value());
                ether_type = tag.ether_type().0;
                off += 4;
            }
            ETHER_MPLS | ETHER_MPLS_MULTICAST => return mpls(pkt, data, off, depth),
            ETHER_IPV4 | ETHER_IPV6 => {
                pkt.ether_type = Some(ether_type);
                return L2::Ip(off);
            }
            other => {
                pkt.ether_type = Some(other);
                return L2::Other;
            }
        }
    }
    stop("too many vlan tags")
}

/// MPLS label stack entries are 4 bytes: label (20 bits), TC (3), bottom-of-stack (1), TTL (8).
fn mpls(pkt: &mut Packet, data: &[u8], mut off: usize, depth: u8) -> L2 {
    for _ in 0..MAX_LABELS {
        let Some(b) = data.get(off..off + 4) else {
            return stop("truncated mpls label");
        };
        let entry = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        pkt.mpls_label = Some(entry >> 12);
        off += 4;
        if entry & 0x100 != 0 {
            // No protocol field after MPLS: guess from the first nibble, as every tool does.
            return match data.get(off).map(|b| b >> 4) {
                Some(4) => {
                    pkt.ether_type = Some(ETHER_IPV4);
                    L2::Ip(off)
                }
                Some(6) => {
                    pkt.ether_type = Some(ETHER_IPV6);
                    L2::Ip(off)
                }
                // Pseudowire control word (first nibble 0) then an Ethernet frame.
                Some(0) if depth == 0 => ethernet(pkt, data, off + 4, depth + 1),
                Some(_) => L2::Other,
                None => stop("truncated after mpls"),
            };
        }
    }
    stop("mpls label stack too deep")
}

/// Raw IP: the version is the first nibble.
fn raw_ip(pkt: &mut Packet, data: &[u8], off: usize) -> L2 {
    match data.get(off).map(|b| b >> 4) {
        Some(4) => {
            pkt.ether_type = Some(ETHER_IPV4);
            L2::Ip(off)
        }
        Some(6) => {
            pkt.ether_type = Some(ETHER_IPV6);
            L2::Ip(off)
        }
        Some(_) => stop("not an ip packet"),
        None => stop("empty packet"),
    }
}

/// BSD NULL (host byte order) and OpenBSD LOOP (network order): a 4-byte address family.
/// The writer's byte order is unknown, so both readings are tried.
fn bsd_loopback(pkt: &mut Packet, data: &[u8]) -> L2 {
    let Some(b) = data.get(..4) else {
        return stop("truncated loopback header");
    };
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let family = |f: u32| match f {
        2 => Some(ETHER_IPV4),
        // AF_INET6 differs per BSD: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
        24 | 28 | 30 => Some(ETHER_IPV6),
        _ => None,
    };
    match family(le).or_else(|| family(be)) {
        Some(et) => {
            pkt.ether_type = Some(et);
            L2::Ip(4)
        }
        None => L2::Other,
    }
}

/// Linux cooked capture v1 and v2 share their fields at different offsets: `len` header bytes,
/// protocol at `proto`, ARPHRD type at `hatype`, address length at `alen`, address at `addr`.
fn sll(
    pkt: &mut Packet,
    data: &[u8],
    len: usize,
    proto: usize,
    hatype: usize,
    alen: usize,
    addr: usize,
) -> L2 {
    if data.len() < len {
        return stop("truncated linux sll header");
    }
    let (Some(protocol), Some(hatype)) = (be16(data, proto), be16(data, hatype)) else {
        return stop("truncated linux sll header");
    };
    // SLL v1 stores the address length in 2 bytes, v2 in 1: the low byte is what counts.
    let alen_low = data
        .get(alen + usize::from(len == 16))
        .copied()
        .unwrap_or(0);
    if hatype == 1 && alen_low == 6 {
        pkt.src_mac = data.get(addr..addr + 6).and_then(|m| m.try_into().ok());
    }
    match hatype {
        // Netlink carries netlink families, not EtherTypes.
        824 => L2::Other,
        // GRE tunnels carry the GRE protocol type, which is an EtherType for IP.
        _ if protocol >= 0x0600 => ether_payload(pkt, data, len, protocol, 0),
        // Below 0x0600: Linux pseudo-protocols (802.2 LLC, CAN...): not IP.
        _ => L2::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(link: LinkType, data: &[u8]) -> (L2, Packet) {
        let mut p = Packet::default();
        let r = decode_link(&mut p, link, data);
        (r, p)
    }

    #[test]
    fn null_accepts_both_byte_orders() {
        assert_eq!(run(LinkType::NULL, &[2, 0, 0, 0, 0x45]).0, L2::Ip(4));
        assert_eq!(
            run(LinkType::NULL, &[0, 0, 0, 30, 0x60]).1.ether_type,
            Some(ETHER_IPV6)
        );
        assert_eq!(run(LinkType::LOOP, &[0, 0, 0, 24]).0, L2::Ip(4));
        assert_eq!(run(LinkType::NULL, &[7, 0, 0, 0]).0, L2::Other);
        assert_eq!(
            run(LinkType::NULL, &[2, 0]).0,
            L2::Stop("truncated loopback header")
        );
    }

    #[test]
    fn mpls_stack_records_innermost_label() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x47]);
        f.extend_from_slice(&(100u32 << 12 | 64).to_be_bytes()); // not bottom
        f.extend_from_slice(&(200u32 << 12 | 0x100 | 64).to_be_bytes()); // bottom
        f.push(0x45);
        let (r, p) = run(LinkType::ETHERNET, &f);
        assert_eq!(r, L2::Ip(22));
        assert_eq!(p.mpls_label, Some(200));
        assert_eq!(p.ether_type, Some(ETHER_IPV4));
    }

    #[test]
    fn sll2_reads_protocol_and_mac() {
        let mut f = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        f.push(0x60);
        let (r, p) = run(LinkType::LINUX_SLL2, &f);
        assert_eq!(r, L2::Ip(20));
        assert_eq!(p.src_mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(p.ether_type, Some(ETHER_IPV6));
    }

    #[test]
    fn sll_v1_accepts_loopback_arphrd() {
        // ARPHRD_LOOPBACK (772), which etherparse refuses.
        let mut f = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        f.push(0x45);
        assert_eq!(run(LinkType::LINUX_SLL, &f).0, L2::Ip(16));
    }

    #[test]
    fn unsupported_link_type_stops() {
        assert_eq!(
            run(LinkType(160), &[0; 40]).0,
            L2::Stop("unsupported link type")
        );
    }
}
