//! A seeded synthetic packet mix for tests, benchmarks and the determinism helper binary:
//! about 60 % TCP web traffic, 30 % DNS, 10 % NTP, between a few hundred hosts, with a few
//! thousand distinct field values and about 15-20 encoded fields per packet.

use crate::decode::field::{Dns, Ntp, Packet};
use crate::text::Untrusted;
use crate::time::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::net::{IpAddr, Ipv4Addr};

fn below(rng: &mut ChaCha8Rng, n: u32) -> u32 {
    ((u64::from(rng.next_u32()) * u64::from(n.max(1))) >> 32) as u32
}

/// `n` packets of the mix, deterministic in `seed`.
#[must_use]
pub fn packets(seed: u64, n: usize) -> Vec<Packet> {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(s);
    (0..n).map(|i| packet(&mut rng, i as i64)).collect()
}

fn packet(rng: &mut ChaCha8Rng, i: i64) -> Packet {
    let client = Ipv4Addr::new(10, 0, (below(rng, 2)) as u8, 1 + below(rng, 200) as u8);
    let server = Ipv4Addr::new(192, 0, 2, 1 + below(rng, 50) as u8);
    let out = below(rng, 2) == 0;
    let (src_ip, dst_ip) = if out {
        (client, server)
    } else {
        (server, client)
    };
    let eph = 32768 + below(rng, 28231) as u16;
    let kind = below(rng, 10);
    let mut p = Packet {
        ts: Timestamp(1_700_000_000_000_000_000 + i * 1_000_000),
        link_type: 1,
        src_mac: Some([2, 0, 0, 0, 0, below(rng, 4) as u8]),
        dst_mac: Some([2, 0, 0, 0, 1, below(rng, 4) as u8]),
        ether_type: Some(0x0800),
        ip_version: Some(4),
        src_ip: Some(IpAddr::V4(src_ip)),
        dst_ip: Some(IpAddr::V4(dst_ip)),
        ttl: Some(if out { 64 } else { 52 + below(rng, 12) as u8 }),
        df: Some(true),
        ..Packet::default()
    };
    let svc: u16 = match kind {
        0..=5 => [80, 443, 443, 8080][below(rng, 4) as usize],
        6..=8 => 53,
        _ => 123,
    };
    let (sport, dport) = if out { (eph, svc) } else { (svc, eph) };
    p.src_port = Some(sport);
    p.dst_port = Some(dport);
    let payload: u32 = match kind {
        0..=5 => {
            p.proto = Some(6);
            p.tcp_flags = Some([0x10, 0x18, 0x18, 0x10, 0x02, 0x12, 0x11][below(rng, 7) as usize]);
            p.tcp_window = Some([64240, 65535, 29200, 502, 1024][below(rng, 5) as usize]);
            [0, 0, 517, 1448, 1448, 120 + below(rng, 400)][below(rng, 6) as usize]
        }
        6..=8 => {
            p.proto = Some(17);
            let size = 30 + below(rng, 120);
            let q = below(rng, 500);
            p.dns = Some(Box::new(Dns {
                id: below(rng, 65536) as u16,
                qr: !out,
                opcode: 0,
                rcode: if below(rng, 20) == 0 { 3 } else { 0 },
                qname: Some(Untrusted::new(
                    format!("host{q}.example{}.com", q % 7).as_bytes(),
                )),
                qtype: Some([1, 28, 1, 65][below(rng, 4) as usize]),
                answers: if out { 0 } else { below(rng, 4) as u16 },
                size,
            }));
            size
        }
        _ => {
            p.proto = Some(17);
            p.ntp = Some(Ntp {
                mode: if out { 3 } else { 4 },
                size: 48,
            });
            48
        }
    };
    let l4 = if p.proto == Some(6) { 20 } else { 8 };
    p.payload_len = Some(payload);
    p.ip_len = Some(20 + l4 + payload);
    p.frame_len = 14 + 20 + l4 + payload;
    p.cap_len = p.frame_len;
    p
}

#[cfg(test)]
mod tests {
    #[test]
    fn deterministic_and_varied() {
        let a = super::packets(1, 200);
        assert_eq!(a, super::packets(1, 200));
        assert!(a.iter().any(|p| p.dns.is_some()) && a.iter().any(|p| p.ntp.is_some()));
        let mut n = 0;
        a[0].visit(|_, _| n += 1);
        assert!(n >= 15, "{n}");
    }
}
