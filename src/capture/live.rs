//! Live capture from a network interface with a pure-Rust AF_PACKET socket (pnet_datalink), so
//! the default build needs no libpcap.
//!
//! Packets carry the kernel's timestamps and its count of dropped packets (`live/recv.rs`).
//! Capture stops when the optional duration elapses or when the stop flag is raised (Ctrl-C,
//! the TUI quitting). Opening the socket without the privilege gives an error that says
//! exactly what to do, never a bare "Operation not permitted".
//!
//! The socket is made here (with nix, since the crate forbids `unsafe`), handed to pnet to bind
//! it and set promiscuous mode, and read through a descriptor of our own. Its kernel receive
//! buffer is raised first: a burst (a scan's thousand SYNs and their RSTs arrive within
//! milliseconds) must wait in the kernel while the reader is off the CPU, and the default
//! buffer (about 200 KiB, some 250 small frames) drops the rest of it unseen.
//!
//! `any` captures every interface of the network namespace through an unbound cooked socket,
//! as libpcap does.

use super::{
    CaptureError, CaptureFormat, CaptureInfo, Compression, LinkType, PacketSource, RawPacket,
    Warning, WarningKind,
};
use crate::time::Timestamp;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, socket, sockopt,
};
use pnet_datalink::{Channel, Config};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod recv;

/// How often a blocked read wakes up to check the deadline and the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Largest frame kept (loopback and GRO frames reach 64 KiB; longer ones are cut, like a
/// snaplen, and keep their original length).
const SNAPLEN: usize = 262_144;

/// Kernel receive buffer asked for: 32 MiB (the kernel books about twice that against
/// frames' memory), some 40 000 small frames, so a burst survives the reader being descheduled
/// for a while on a busy machine. libpcap's default is 2 MiB; this is a limit, not memory
/// taken up front.
const RCVBUF: usize = 32 << 20;

/// Below this effective buffer a warning says bursts may be lost and how to raise it.
const RCVBUF_WARN: usize = 4 << 20;

/// The pseudo-interface that captures every interface at once.
pub const ANY: &str = "any";

/// A live interface as a packet source.
pub struct LiveSource {
    rx: recv::SocketReceiver,
    info: CaptureInfo,
    frame: Vec<u8>,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    bytes: u64,
    packets: u64,
    idle: Option<super::IdleHook>,
    warnings: Vec<Warning>,
    /// The kernel's drop count when it was last reported.
    drops_reported: u32,
}

// Debug by hand: the receiver and the idle hook have no Debug.
impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("info", &self.info)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs_nanos(
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        i64::from(d.subsec_nanos()),
    )
}

/// Names of the interfaces that exist, for error messages and completion.
#[must_use]
pub fn interface_names() -> Vec<String> {
    pnet_datalink::interfaces()
        .into_iter()
        .map(|i| i.name)
        .chain(std::iter::once(ANY.to_string()))
        .collect()
}

/// An `AF_PACKET` socket (`Raw`: link headers kept; `Datagram`: cooked) for every protocol,
/// its receive buffer raised to [`RCVBUF`]: forced past `net.core.rmem_max` when the process
/// may (root, CAP_NET_ADMIN), else as far as that limit allows. Returns the socket and the
/// buffer the kernel granted, in bytes.
fn packet_socket(kind: SockType) -> Result<(OwnedFd, usize), nix::errno::Errno> {
    let fd = socket(
        AddressFamily::Packet,
        kind,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )?;
    if setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF).is_err() {
        // Not allowed to force: the plain option is capped at rmem_max, which is still more
        // than the default on hosts tuned for capture. Failing both leaves the default.
        let _ = setsockopt(&fd, sockopt::RcvBuf, &RCVBUF);
    }
    // The kernel doubles what was set (room for its bookkeeping) and reports the double.
    let granted = nix::sys::socket::getsockopt(&fd, sockopt::RcvBuf).unwrap_or(0) / 2;
    Ok((fd, granted))
}

/// The message for a missing privilege, with the two ways to fix it.
fn privilege_message() -> String {
    let exe =
        std::env::current_exe().map_or_else(|_| "holoscope".into(), |p| p.display().to_string());
    format!(
        "live capture needs the CAP_NET_RAW privilege: run holoscope as root (sudo), \
         or grant it once with `sudo setcap cap_net_raw=eip {exe}`"
    )
}

impl LiveSource {
    /// Opens `iface` for capture, for `duration` if given. `stop` ends the capture early.
    ///
    /// # Errors
    /// Unknown interface, missing privilege (with instructions), or another socket error.
    pub fn open(
        iface: &str,
        duration: Option<Duration>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, CaptureError> {
        let path = PathBuf::from(iface);
        // `any` is looked for first, as libpcap does: no real interface is called that.
        let ni = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == iface);
        if ni.is_none() && iface != ANY {
            return Err(CaptureError::NoInterface {
                name: iface.to_string(),
                available: interface_names().join(", "),
            });
        }
        let denied = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(1) {
                CaptureError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(privilege_message()),
                }
            } else {
                CaptureError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        };
        let kind = if ni.is_some() {
            SockType::Raw
        } else {
            SockType::Datagram
        };
        let (fd, granted) = packet_socket(kind).map_err(|e| denied(e.into()))?;
        let mut warnings = Vec::new();
        if granted < RCVBUF_WARN {
            warnings.push(Warning {
                kind: WarningKind::SmallCaptureBuffer,
                message: format!(
                    "the kernel granted a {} KiB capture buffer ({} MiB asked): bursts larger \
                     than that are dropped before holoscope reads them; run as root, or raise \
                     net.core.rmem_max",
                    granted >> 10,
                    RCVBUF >> 20
                ),
                offset: None,
            });
        }
        let rx = match ni {
            None => recv::SocketReceiver::new(fd, true, SNAPLEN),
            Some(ni) => {
                // Ours to read: pnet's descriptor closes with its channel, the socket stays.
                let ours = fd.try_clone().map_err(denied)?;
                let config = Config {
                    read_timeout: Some(POLL),
                    // pnet binds the socket to the interface, sets promiscuous mode and owns
                    // (closes) this descriptor.
                    socket_fd: Some(fd.into_raw_fd()),
                    ..Config::default()
                };
                match pnet_datalink::channel(&ni, config) {
                    Ok(Channel::Ethernet(..)) => {}
                    Ok(_) => {
                        return Err(CaptureError::NotACapture {
                            path,
                            reason: "unsupported channel type".into(),
                        });
                    }
                    Err(e) => return Err(denied(e)),
                }
                recv::SocketReceiver::new(ours, false, SNAPLEN)
            }
        };
        Ok(Self {
            rx,
            info: CaptureInfo {
                source: iface.to_string(),
                format: CaptureFormat::Live,
                compression: Compression::None,
            },
            frame: Vec::new(),
            deadline: duration.map(|d| Instant::now() + d),
            stop,
            bytes: 0,
            packets: 0,
            idle: None,
            warnings,
            drops_reported: 0,
        })
    }

    /// Packets captured so far.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }
}

impl PacketSource for LiveSource {
    fn set_idle_hook(&mut self, hook: super::IdleHook) -> bool {
        self.idle = Some(hook);
        true
    }

    fn info(&self) -> &CaptureInfo {
        &self.info
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        loop {
            if self.stop.load(Ordering::Relaxed)
                || self.deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Ok(None);
            }
            let link = if self.rx.is_cooked() {
                LinkType::LINUX_SLL2
            } else {
                LinkType::ETHERNET
            };
            match self.rx.next_into(&mut self.frame, POLL) {
                Ok(Some(r)) => {
                    let offset = self.bytes;
                    self.bytes += u64::from(r.orig_len);
                    self.packets += 1;
                    return Ok(Some(RawPacket {
                        ts: r.ts.unwrap_or_else(now),
                        interface: 0,
                        link,
                        orig_len: r.orig_len,
                        data: &self.frame,
                        offset,
                    }));
                }
                Ok(None) => {
                    // A quiet interface: let the reader hand over what it holds.
                    if let Some(hook) = &mut self.idle {
                        hook();
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    // A quiet interface: let the reader hand over what it holds.
                    if let Some(hook) = &mut self.idle {
                        hook();
                    }
                }
                Err(e) => {
                    return Err(CaptureError::Io {
                        path: PathBuf::from(&self.info.source),
                        source: e,
                    });
                }
            }
        }
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        let drops = self.rx.drops();
        if drops > self.drops_reported {
            self.warnings.push(Warning {
                kind: WarningKind::KernelDrops,
                message: format!(
                    "the kernel dropped {} packets before holoscope read them (its receive \
                     buffer was full): the analysis saw less than the link carried",
                    drops - self.drops_reported
                ),
                offset: None,
            });
            self.drops_reported = drops;
        }
        std::mem::take(&mut self.warnings)
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}
