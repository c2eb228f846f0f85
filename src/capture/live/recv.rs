//! Reading a packet socket with `recvmsg` (nix: no `unsafe`), for a bound interface and for
//! `any` alike.
//!
//! - Timestamps come from the kernel (`SO_TIMESTAMPNS`): when the packet arrived, not when it
//!   was read. With a large receive buffer, a burst that waited while the reader was off the CPU
//!   would otherwise be stamped all at once, squeezing its rates and intervals.
//! - Drops come from the kernel too (`SO_RXQ_OVFL`: the count of packets the socket lost to a
//!   full buffer, carried with every packet), so a report says when it saw less than the link.
//! - `any` (every interface of the network namespace, like `tcpdump -i any`): interfaces differ
//!   in link type (Ethernet, loopback, tun devices with no link header at all), so that socket
//!   is a cooked one (`SOCK_DGRAM`). The kernel strips each link header and reports the
//!   interface, protocol and link address beside the packet; they are put back in front as a
//!   Linux cooked v2 header (LINKTYPE_LINUX_SLL2, what libpcap writes for `any`), which the
//!   decoder and a `--write` copy already understand.
//!
//! pnet (which binds a socket to one interface and sets promiscuous mode) reads with `recvfrom`,
//! which carries neither the kernel's timestamp nor its drop count nor the sender's address.

use crate::time::Timestamp;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::socket::{ControlMessageOwned, LinkAddr, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

/// Length of the Linux cooked v2 header.
pub(super) const SLL2_LEN: usize = 20;

/// One packet received.
#[derive(Clone, Copy, Debug)]
pub(super) struct Received {
    /// Its length on the wire (plus the cooked header, for `any`).
    pub(super) orig_len: u32,
    /// When the kernel received it (`None` if the kernel gave no timestamp).
    pub(super) ts: Option<Timestamp>,
}

/// A packet socket read with `recvmsg`.
pub(super) struct SocketReceiver {
    fd: OwnedFd,
    /// `any`'s cooked socket: a cooked v2 header goes in front of each packet.
    cooked: bool,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
    /// Packets the kernel dropped so far (its counter, as of the last packet received).
    drops: u32,
}

impl SocketReceiver {
    /// Reads `fd`, a packet socket for every protocol: bound to an interface with its link
    /// headers, or `cooked` (unbound, `SOCK_DGRAM`); packets are cut at `snaplen` bytes.
    /// Kernel timestamps and drop counts are asked for; without them (an old kernel) packets
    /// are stamped on receipt and drops go unseen.
    pub(super) fn new(fd: OwnedFd, cooked: bool, snaplen: usize) -> Self {
        let _ = setsockopt(&fd, sockopt::ReceiveTimestampns, &true);
        let _ = setsockopt(&fd, sockopt::RxqOvfl, &1);
        Self {
            fd,
            cooked,
            buf: vec![0; snaplen],
            cmsg: nix::cmsg_space!(TimeSpec, u32),
            drops: 0,
        }
    }

    /// Whether this is `any`'s cooked socket.
    pub(super) fn is_cooked(&self) -> bool {
        self.cooked
    }

    /// Packets the kernel dropped before they could be read, as of the last packet received.
    pub(super) fn drops(&self) -> u32 {
        self.drops
    }

    /// Waits up to `timeout` for a packet and puts it in `frame` (behind a cooked header for
    /// `any`); `None` when none came.
    pub(super) fn next_into(
        &mut self,
        frame: &mut Vec<u8>,
        timeout: Duration,
    ) -> std::io::Result<Option<Received>> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, ms)? == 0 {
            return Ok(None);
        }
        let mut iov = [IoSliceMut::new(&mut self.buf)];
        // MSG_TRUNC: the length on the wire even when the packet was cut at the snaplen.
        // MSG_DONTWAIT: pnet left the socket non-blocking; poll said a packet is there.
        let msg = recvmsg::<LinkAddr>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut self.cmsg),
            MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT,
        )?;
        let len = msg.bytes;
        let from = msg.address.as_ref().map(Sender::of);
        let mut ts = None;
        for c in msg.cmsgs().into_iter().flatten() {
            match c {
                ControlMessageOwned::ScmTimestampns(t) => {
                    ts = Some(Timestamp::from_secs_nanos(t.tv_sec(), t.tv_nsec()));
                }
                ControlMessageOwned::RxqOvfl(d) => self.drops = self.drops.max(d),
                _ => {}
            }
        }
        frame.clear();
        let mut orig_len = len;
        if self.cooked {
            frame.extend_from_slice(&sll2_header(from.as_ref()));
            orig_len += SLL2_LEN;
        }
        frame.extend_from_slice(&self.buf[..len.min(self.buf.len())]);
        Ok(Some(Received {
            orig_len: u32::try_from(orig_len).unwrap_or(u32::MAX),
            ts,
        }))
    }
}

/// What the kernel says about a received packet, as the cooked header carries it.
#[derive(Clone, Copy, Debug, Default)]
struct Sender {
    /// EtherType, in host order.
    protocol: u16,
    ifindex: u32,
    /// ARPHRD_ type of the interface.
    hatype: u16,
    /// Host, broadcast, multicast, other host, outgoing.
    pkttype: u8,
    /// Link address of the sender (of the interface for outgoing packets), up to 8 bytes.
    addr: [u8; 8],
    addr_len: u8,
}

impl Sender {
    fn of(a: &LinkAddr) -> Self {
        // nix exposes the first six address bytes (every Ethernet-like link's).
        let mac = a.addr().unwrap_or_default();
        let mut addr = [0u8; 8];
        let len = a.halen().min(mac.len());
        addr[..len].copy_from_slice(&mac[..len]);
        Sender {
            // `sll_protocol` is kept in network byte order.
            protocol: u16::from_be(a.protocol()),
            ifindex: u32::try_from(a.ifindex()).unwrap_or(0),
            hatype: a.hatype(),
            pkttype: a.pkttype(),
            addr,
            addr_len: u8::try_from(len).unwrap_or(0),
        }
    }
}

/// The cooked v2 header (zeros when the kernel gave no address): protocol, reserved,
/// interface index, ARPHRD type, packet type, address length, address (8 bytes, zero-padded),
/// every field big-endian.
fn sll2_header(from: Option<&Sender>) -> [u8; SLL2_LEN] {
    let mut h = [0u8; SLL2_LEN];
    let Some(f) = from else { return h };
    h[0..2].copy_from_slice(&f.protocol.to_be_bytes());
    h[4..8].copy_from_slice(&f.ifindex.to_be_bytes());
    h[8..10].copy_from_slice(&f.hatype.to_be_bytes());
    h[10] = f.pkttype;
    h[11] = f.addr_len;
    h[12..20].copy_from_slice(&f.addr);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;

    #[test]
    fn the_cooked_header_decodes_to_the_senders_address_and_the_ip_packet() {
        let from = Sender {
            protocol: 0x0800,
            ifindex: 7,
            hatype: 1,
            pkttype: 0,
            addr: [2, 0, 0, 0, 0, 9, 0, 0],
            addr_len: 6,
        };
        // IPv4 (20 bytes, UDP) + UDP (8 bytes) from 10.231.0.2:5353 to 10.231.0.1:9999.
        let mut frame = sll2_header(Some(&from)).to_vec();
        frame.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 231, 0, 2, 10, 231, 0, 1,
        ]);
        frame.extend_from_slice(&[0x14, 0xe9, 0x27, 0x0f, 0, 8, 0, 0]);
        let p = crate::decode::decode(&crate::capture::RawPacket {
            ts: crate::time::Timestamp::default(),
            interface: 0,
            link: LinkType::LINUX_SLL2,
            orig_len: u32::try_from(frame.len()).unwrap(),
            data: &frame,
            offset: 0,
        });
        assert_eq!(p.src_mac, Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(p.src_ip, Some("10.231.0.2".parse().unwrap()));
        assert_eq!((p.src_port, p.dst_port), (Some(5353), Some(9999)));
        assert_eq!(sll2_header(None), [0u8; SLL2_LEN], "no address: zeros");
    }
}
