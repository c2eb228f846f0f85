//! `--interface any`: every interface of the network namespace at once, like `tcpdump -i any`.
//!
//! Interfaces differ in link type (Ethernet, loopback, tun devices with no link header at
//! all), so this socket is a cooked one (`SOCK_DGRAM`): the kernel strips each link header and
//! reports the interface, the protocol and the link address beside the packet. They are put
//! back in front as a Linux cooked v2 header (LINKTYPE_LINUX_SLL2, what libpcap writes for
//! `any`), which the decoder and a `--write` copy already understand. Written here rather than
//! through pnet: pnet binds its sockets to one interface and drops the sender's address.

use nix::errno::Errno;
use nix::sys::socket::{LinkAddr, recvfrom, setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// Length of the Linux cooked v2 header.
pub(super) const SLL2_LEN: usize = 20;

/// An unbound cooked packet socket: it sees every interface of its network namespace.
pub(super) struct AnyReceiver {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl AnyReceiver {
    /// Wraps `fd` (a `SOCK_DGRAM` packet socket for every protocol, not bound), whose reads
    /// wake up after `poll` without traffic; packets are cut at `snaplen` bytes.
    pub(super) fn new(fd: OwnedFd, poll: Duration, snaplen: usize) -> Result<Self, Errno> {
        let ms = i64::try_from(poll.as_millis()).unwrap_or(i64::MAX).max(1);
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::milliseconds(ms))?;
        Ok(Self {
            fd,
            buf: vec![0; snaplen],
        })
    }

    /// Receives one packet into `frame` behind its cooked header; returns the bytes the
    /// packet had on the wire after its link header, plus the header (its original length).
    /// A quiet socket gives `WouldBlock` after the poll interval.
    pub(super) fn next_into(&mut self, frame: &mut Vec<u8>) -> std::io::Result<u32> {
        let (n, from) = recvfrom::<LinkAddr>(self.fd.as_raw_fd(), &mut self.buf)?;
        frame.clear();
        frame.extend_from_slice(&sll2_header(from.as_ref().map(Sender::of).as_ref()));
        frame.extend_from_slice(self.buf.get(..n).unwrap_or(&self.buf));
        Ok(u32::try_from(n + SLL2_LEN).unwrap_or(u32::MAX))
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
