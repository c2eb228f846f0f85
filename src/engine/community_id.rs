//! Community ID v1 (corelight/community-id-spec), so holoscope's flows join with Zeek,
//! Suricata EVE and Arkime rows.
//!
//! Hand-written because it is twenty lines over `sha1` + `base64`; the one maintained crate for
//! it pulls an older hash stack. Layout hashed: seed (u16 BE), source address, destination
//! address, protocol, a zero pad byte, source port (BE), destination port (BE), with the
//! endpoints ordered so both directions hash alike; ICMP types stand in for ports.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// Pairs of ICMPv4 request/response types (request, response).
const ICMP4_PAIRS: &[(u8, u8)] = &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
/// Pairs of ICMPv6 request/response types.
const ICMP6_PAIRS: &[(u8, u8)] = &[
    (128, 129),
    (133, 134),
    (135, 136),
    (130, 131),
    (139, 140),
    (144, 145),
];

fn counterpart(pairs: &[(u8, u8)], t: u8) -> Option<u8> {
    pairs.iter().find_map(|&(a, b)| {
        if a == t {
            Some(b)
        } else if b == t {
            Some(a)
        } else {
            None
        }
    })
}

fn addr_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The Community ID string (`1:base64`) of a packet's flow, with seed 0.
///
/// For ICMP (proto 1) and ICMPv6 (58), pass the ICMP type as `sport` and the code as `dport`.
#[must_use]
pub fn community_id(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> String {
    community_id_seeded(0, src, dst, proto, sport, dport)
}

/// Community ID with an explicit seed.
#[must_use]
pub fn community_id_seeded(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
) -> String {
    let (mut sport, mut dport, mut one_way) = (sport, dport, false);
    if proto == 1 || proto == 58 {
        let pairs = if proto == 1 { ICMP4_PAIRS } else { ICMP6_PAIRS };
        let t = u8::try_from(sport).unwrap_or(u8::MAX);
        match counterpart(pairs, t) {
            Some(c) => dport = u16::from(c),
            None => one_way = true,
        }
        sport = u16::from(t);
    }
    let (mut a, mut b) = (addr_bytes(&src), addr_bytes(&dst));
    let ordered = a < b || (a == b && sport < dport);
    if !(one_way || ordered) {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut sport, &mut dport);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&a);
    h.update(&b);
    h.update([proto, 0]);
    // Port-less protocols hash only the addresses and protocol.
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        h.update(sport.to_be_bytes());
        h.update(dport.to_be_bytes());
    }
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Vectors from the community-id-spec baseline (tcp.pcap / udp.pcap / icmp.pcap).
    #[test]
    fn matches_reference_vectors() {
        assert_eq!(
            community_id(ip("128.232.110.120"), ip("66.35.250.204"), 6, 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // Both directions give the same id.
        assert_eq!(
            community_id(ip("66.35.250.204"), ip("128.232.110.120"), 6, 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id(ip("192.168.1.52"), ip("8.8.8.8"), 17, 54585, 53),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
        );
        assert_eq!(
            community_id(ip("192.168.0.89"), ip("192.168.0.1"), 1, 8, 0),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
    }
}
