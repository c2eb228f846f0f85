//! A TCP connection that emits realistic segments: handshake with options, MSS-sized data
//! segments with PSH on the last, delayed ACKs, and an orderly FIN close.

use std::io;

use etherparse::TcpOptionElement;

use super::frame::{Ep, Flags, Seg, Sink};
use super::rng::SampleRng;

/// Largest TCP payload per segment (1500-byte MTU, no TCP options on data segments).
pub const MSS: usize = 1460;

/// Client/server state of one connection. Times are relative microseconds.
pub struct Conn {
    /// Client endpoint.
    pub client: Ep,
    /// Server endpoint.
    pub server: Ep,
    /// Client port (ephemeral).
    pub cport: u16,
    /// Server port.
    pub sport: u16,
    /// Next client sequence number.
    pub cseq: u32,
    /// Next server sequence number.
    pub sseq: u32,
    /// One-way latency in microseconds.
    pub half_rtt: i64,
    cwin: u16,
    swin: u16,
}

const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
    psh: false,
};

fn syn_opts(ts: u32) -> [TcpOptionElement; 5] {
    [
        TcpOptionElement::MaximumSegmentSize(MSS as u16),
        TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOptionElement::Timestamp(ts, 0),
        TcpOptionElement::Noop,
        TcpOptionElement::WindowScale(7),
    ]
}

impl Conn {
    /// A new connection with random ISNs, ephemeral port and a latency fitting the server.
    pub fn new(rng: &mut SampleRng, client: Ep, server: Ep, sport: u16) -> Self {
        let remote = server.mac == super::hosts::GATEWAY_MAC;
        let half_rtt = if remote {
            rng.range(6_000, 45_000)
        } else {
            rng.range(80, 600)
        } as i64;
        Self {
            client,
            server,
            cport: rng.range(32_768, 61_000) as u16,
            sport,
            cseq: rng.u32(),
            sseq: rng.u32(),
            half_rtt,
            cwin: 502,
            swin: 509,
        }
    }

    fn seg(&self, from_client: bool, flags: Flags) -> Seg {
        if from_client {
            Seg {
                sport: self.cport,
                dport: self.sport,
                seq: self.cseq,
                ack: self.sseq,
                flags,
                window: self.cwin,
            }
        } else {
            Seg {
                sport: self.sport,
                dport: self.cport,
                seq: self.sseq,
                ack: self.cseq,
                flags,
                window: self.swin,
            }
        }
    }

    fn dirs(&self, from_client: bool) -> (&Ep, &Ep) {
        if from_client {
            (&self.client, &self.server)
        } else {
            (&self.server, &self.client)
        }
    }

    /// SYN, SYN-ACK, ACK starting at `t`; returns the time the client may send.
    ///
    /// # Errors
    /// Propagates frame build errors.
    pub fn handshake(&mut self, sink: &mut Sink, rng: &mut SampleRng, t: i64) -> io::Result<i64> {
        let (c, s) = (self.client, self.server);
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        let mut seg = self.seg(true, syn);
        seg.window = 64_240;
        sink.tcp(t, (&c, &s), seg, &syn_opts(rng.u32()), &[])?;
        self.cseq = self.cseq.wrapping_add(1);
        let t = t + 2 * self.half_rtt;
        let mut seg = self.seg(
            false,
            Flags {
                syn: true,
                ack: true,
                ..Flags::default()
            },
        );
        seg.window = 65_160;
        sink.tcp(t, (&s, &c), seg, &syn_opts(rng.u32()), &[])?;
        self.sseq = self.sseq.wrapping_add(1);
        let t = t + 40;
        sink.tcp(t, (&c, &s), self.seg(true, ACK), &[], &[])?;
        Ok(t + 30)
    }

    /// Sends `data` from one side in MSS segments, acknowledged by the other side every
    /// second segment and at the end. Returns the time of the last packet.
    ///
    /// # Errors
    /// Propagates frame build errors.
    pub fn send(
        &mut self,
        sink: &mut Sink,
        rng: &mut SampleRng,
        t: i64,
        from_client: bool,
        data: &[u8],
    ) -> io::Result<i64> {
        self.send_chunks(sink, rng, t, from_client, &mut data.chunks(MSS))
    }

    /// Like [`Conn::send`] but with caller-chosen segment boundaries.
    ///
    /// # Errors
    /// Propagates frame build errors.
    pub fn send_chunks(
        &mut self,
        sink: &mut Sink,
        rng: &mut SampleRng,
        mut t: i64,
        from_client: bool,
        chunks: &mut dyn Iterator<Item = &[u8]>,
    ) -> io::Result<i64> {
        let mut chunks = chunks.peekable();
        let mut unacked = 0;
        let (src, dst) = {
            let (a, b) = self.dirs(from_client);
            (*a, *b)
        };
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let flags = Flags {
                ack: true,
                psh: last,
                ..Flags::default()
            };
            sink.tcp(t, (&src, &dst), self.seg(from_client, flags), &[], chunk)?;
            let len = u32::try_from(chunk.len()).unwrap_or(0);
            if from_client {
                self.cseq = self.cseq.wrapping_add(len);
            } else {
                self.sseq = self.sseq.wrapping_add(len);
            }
            unacked += 1;
            if unacked == 2 || last {
                // The receiver's ACK arrives one latency later (captured near the client, so
                // a server ACK is seen a full RTT after the client's data left).
                let at = t + if from_client { 2 * self.half_rtt } else { 60 };
                sink.tcp(at, (&dst, &src), self.seg(!from_client, ACK), &[], &[])?;
                unacked = 0;
            }
            t += rng.range(12, 140) as i64;
        }
        Ok(t + 2 * self.half_rtt)
    }

    /// Client-initiated FIN exchange at `t`; returns the time of the final ACK.
    ///
    /// # Errors
    /// Propagates frame build errors.
    pub fn close(&mut self, sink: &mut Sink, t: i64) -> io::Result<i64> {
        let (c, s) = (self.client, self.server);
        let fin = Flags {
            fin: true,
            ack: true,
            ..Flags::default()
        };
        sink.tcp(t, (&c, &s), self.seg(true, fin), &[], &[])?;
        self.cseq = self.cseq.wrapping_add(1);
        let t = t + 2 * self.half_rtt;
        sink.tcp(t, (&s, &c), self.seg(false, fin), &[], &[])?;
        self.sseq = self.sseq.wrapping_add(1);
        let t = t + 50;
        sink.tcp(t, (&c, &s), self.seg(true, ACK), &[], &[])?;
        Ok(t)
    }
}
