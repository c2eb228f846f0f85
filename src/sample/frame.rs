//! Frame construction with etherparse's `PacketBuilder`, and the sink frames are collected in.
//!
//! Every generator speaks in [`Ep`] endpoints (MAC + IP) and pushes finished Ethernet frames
//! with a microsecond timestamp into a [`Sink`]; the sink remembers which wave (if any) each
//! frame belongs to, so the truth counts are exactly what was written.

use std::io;

use etherparse::{IpHeaders, Ipv4Header, Ipv6Header, PacketBuilder, TcpHeader, TcpOptionElement};

/// An IP address of either family, as raw bytes (what etherparse takes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    /// IPv4.
    V4([u8; 4]),
    /// IPv6.
    V6([u8; 16]),
}

impl std::fmt::Display for Ip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Ip::V4(a) => std::net::Ipv4Addr::from(a).fmt(f),
            Ip::V6(a) => std::net::Ipv6Addr::from(a).fmt(f),
        }
    }
}

/// One side of a conversation as seen on the capture link: the MAC the frame carries (the
/// gateway's for off-link hosts) and the IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ep {
    /// MAC address on this link.
    pub mac: [u8; 6],
    /// IP address.
    pub ip: Ip,
}

/// TCP flags of one segment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK (the acknowledgment number is only meaningful with it).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
}

/// The TCP fields of one segment besides addresses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seg {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: Flags,
    /// Receive window.
    pub window: u16,
}

/// One generated frame with its timestamp and wave tag.
pub struct Rec {
    /// Epoch microseconds.
    pub ts_us: i64,
    /// Insertion order: ties in time keep generation order.
    pub order: u64,
    /// 0 for background, otherwise the 1-based wave index.
    pub wave: u8,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
}

/// Collects frames; time is relative microseconds from the capture start.
pub struct Sink {
    /// Capture start in epoch microseconds.
    pub base_us: i64,
    /// Wave tag applied to frames pushed from now on.
    pub wave: u8,
    /// Per-host IPv4 identification counters are approximated by one running counter.
    pub ip_id: u16,
    /// Frames pushed so far.
    pub recs: Vec<Rec>,
}

fn build_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("sample packet build: {e}"))
}

impl Sink {
    /// An empty sink for a capture starting at `base_us`.
    #[must_use]
    pub fn new(base_us: i64) -> Self {
        Self {
            base_us,
            wave: 0,
            ip_id: 0x1c46,
            recs: Vec::new(),
        }
    }

    fn push(&mut self, t_us: i64, frame: Vec<u8>) {
        let order = self.recs.len() as u64;
        self.recs.push(Rec {
            ts_us: self.base_us + t_us,
            order,
            wave: self.wave,
            frame,
        });
    }

    fn ip(&mut self, src: &Ep, dst: &Ep, ttl: u8, df: bool) -> Option<IpHeaders> {
        match (src.ip, dst.ip) {
            (Ip::V4(s), Ip::V4(d)) => {
                self.ip_id = self.ip_id.wrapping_add(1);
                let h = Ipv4Header {
                    source: s,
                    destination: d,
                    time_to_live: ttl,
                    identification: if df { 0 } else { self.ip_id },
                    dont_fragment: df,
                    ..Default::default()
                };
                Some(IpHeaders::Ipv4(h, Default::default()))
            }
            (Ip::V6(s), Ip::V6(d)) => {
                let h = Ipv6Header {
                    source: s,
                    destination: d,
                    hop_limit: ttl,
                    ..Default::default()
                };
                Some(IpHeaders::Ipv6(h, Default::default()))
            }
            _ => None,
        }
    }

    /// Pushes a TCP segment. `opts` are only sent on SYNs in practice.
    ///
    /// # Errors
    /// When the addresses mix families or etherparse rejects the header.
    pub fn tcp(
        &mut self,
        t_us: i64,
        (src, dst): (&Ep, &Ep),
        seg: Seg,
        opts: &[TcpOptionElement],
        payload: &[u8],
    ) -> io::Result<()> {
        let ttl = ttl_for(src);
        let ip = self
            .ip(src, dst, ttl, true)
            .ok_or_else(|| build_err("mixed address families"))?;
        let mut h = TcpHeader::new(seg.sport, seg.dport, seg.seq, seg.window);
        h.syn = seg.flags.syn;
        h.fin = seg.flags.fin;
        h.rst = seg.flags.rst;
        h.psh = seg.flags.psh;
        h.ack = seg.flags.ack;
        if seg.flags.ack {
            h.acknowledgment_number = seg.ack;
        }
        h.set_options(opts).map_err(build_err)?;
        let b = PacketBuilder::ethernet2(src.mac, dst.mac)
            .ip(ip)
            .tcp_header(h);
        let mut frame = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut frame, payload).map_err(build_err)?;
        self.push(t_us, frame);
        Ok(())
    }

    /// Pushes a UDP datagram.
    ///
    /// # Errors
    /// When the addresses mix families or the datagram is too large.
    pub fn udp(
        &mut self,
        t_us: i64,
        (src, dst): (&Ep, &Ep),
        (sport, dport): (u16, u16),
        payload: &[u8],
    ) -> io::Result<()> {
        let ttl = ttl_for(src);
        let ip = self
            .ip(src, dst, ttl, false)
            .ok_or_else(|| build_err("mixed address families"))?;
        let b = PacketBuilder::ethernet2(src.mac, dst.mac)
            .ip(ip)
            .udp(sport, dport);
        let mut frame = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut frame, payload).map_err(build_err)?;
        self.push(t_us, frame);
        Ok(())
    }

    /// Pushes an ICMP (v4) or ICMPv6 echo request or reply.
    ///
    /// # Errors
    /// When the addresses mix families.
    pub fn echo(
        &mut self,
        t_us: i64,
        (src, dst): (&Ep, &Ep),
        reply: bool,
        (id, seq): (u16, u16),
        payload: &[u8],
    ) -> io::Result<()> {
        let ttl = ttl_for(src);
        let ip = self
            .ip(src, dst, ttl, true)
            .ok_or_else(|| build_err("mixed address families"))?;
        let step = PacketBuilder::ethernet2(src.mac, dst.mac).ip(ip);
        let mut frame = Vec::with_capacity(payload.len() + 80);
        match (src.ip, reply) {
            (Ip::V4(_), false) => step.icmpv4_echo_request(id, seq).write(&mut frame, payload),
            (Ip::V4(_), true) => step.icmpv4_echo_reply(id, seq).write(&mut frame, payload),
            (Ip::V6(_), false) => step.icmpv6_echo_request(id, seq).write(&mut frame, payload),
            (Ip::V6(_), true) => step.icmpv6_echo_reply(id, seq).write(&mut frame, payload),
        }
        .map_err(build_err)?;
        self.push(t_us, frame);
        Ok(())
    }

    /// Frames sorted by time (stable: generation order breaks ties).
    #[must_use]
    pub fn into_sorted(mut self) -> Vec<Rec> {
        self.recs.sort_by_key(|r| (r.ts_us, r.order));
        self.recs
    }
}

/// Initial TTL as the sender's OS would set it, minus one hop for off-link senders.
fn ttl_for(src: &Ep) -> u8 {
    // Locally administered MACs with 0x02 mark our LAN hosts (Linux, TTL 64); the gateway MAC
    // carries everything from the Internet, which arrives with a decremented TTL.
    if src.mac == crate::sample::hosts::GATEWAY_MAC {
        let b = match src.ip {
            Ip::V4(a) => a[3],
            Ip::V6(a) => a[15],
        };
        if b % 3 == 0 { 116 } else { 52 }
    } else {
        64
    }
}
