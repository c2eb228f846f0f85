//! The simulated network: who lives where, and which addresses the waves use.
//!
//! Everything is in documentation ranges (RFC 5737 / RFC 3849) or 10.0.0.0/24. Attack
//! addresses are constants here so the background generator can be kept away from them.

use super::frame::{Ep, Ip};

/// MAC of the default gateway; frames from or to the Internet carry it.
pub const GATEWAY_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x9c, 0x01];

/// Internal SYN scanner (wave kind `port_scan_tcp_syn`).
pub const SCANNER: [u8; 4] = [10, 0, 0, 66];
/// Internal host of the HTTP request flood (wave kind `http_request_flood`).
pub const HTTP_FLOODER: [u8; 4] = [10, 0, 0, 88];
/// Internal host running the DNS tunnel.
pub const TUNNEL_HOST: [u8; 4] = [10, 0, 0, 77];
/// The tunnel's authoritative server on the Internet.
pub const TUNNEL_AUTH: [u8; 4] = [198, 51, 100, 53];
/// Domain the tunnel encodes data under.
pub const TUNNEL_DOMAIN: &str = "t.cdn-stats.example";
/// Port of the SYN flood on the app server (unused by the background).
pub const FLOOD_PORT: u16 = 8080;
/// First reflector of the amplification wave; reflectors are `.128 ..= .247`.
pub const REFLECTOR_BASE: [u8; 4] = [198, 51, 100, 128];
/// Number of reflectors.
pub const REFLECTORS: u8 = 120;

fn lan_mac(last: u8, kind: u8) -> [u8; 6] {
    // 3c:22:fb is a real workstation OUI; servers get a server vendor's.
    if kind == 0 {
        [0x3c, 0x22, 0xfb, 0x10, kind, last]
    } else {
        [0x00, 0x25, 0x90, 0x4e, kind, last]
    }
}

/// A LAN host, IPv4 always, IPv6 for some.
pub fn lan(last: u8, server: bool) -> Ep {
    Ep {
        mac: lan_mac(last, u8::from(server)),
        ip: Ip::V4([10, 0, 0, last]),
    }
}

/// The IPv6 address of a LAN host (`2001:db8:10::<last>`).
pub fn lan6(last: u8, server: bool) -> Ep {
    let mut a = [0u8; 16];
    a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10]);
    a[15] = last;
    Ep {
        mac: lan_mac(last, u8::from(server)),
        ip: Ip::V6(a),
    }
}

/// An Internet host as seen on the LAN side of the gateway.
#[must_use]
pub fn remote(ip: [u8; 4]) -> Ep {
    Ep {
        mac: GATEWAY_MAC,
        ip: Ip::V4(ip),
    }
}

/// An IPv6 Internet host (`2001:db8:20::<last>`).
#[must_use]
pub fn remote6(last: u8) -> Ep {
    let mut a = [0u8; 16];
    a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x00, 0x20]);
    a[15] = last;
    Ep {
        mac: GATEWAY_MAC,
        ip: Ip::V6(a),
    }
}

/// A named Internet service: DNS name and addresses.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    /// DNS name (also Host header and SNI).
    pub name: &'static str,
    /// IPv4 address.
    pub v4: [u8; 4],
    /// IPv6 last byte under `2001:db8:20::`, if the site has IPv6.
    pub v6: Option<u8>,
}

/// Sites the clients browse and resolve. None of them is an attack address.
pub const SITES: [Site; 12] = [
    Site {
        name: "www.example.com",
        v4: [192, 0, 2, 10],
        v6: Some(0x10),
    },
    Site {
        name: "static.example.net",
        v4: [192, 0, 2, 21],
        v6: Some(0x21),
    },
    Site {
        name: "login.example.org",
        v4: [192, 0, 2, 34],
        v6: None,
    },
    Site {
        name: "api.example.com",
        v4: [192, 0, 2, 47],
        v6: Some(0x47),
    },
    Site {
        name: "updates.example.net",
        v4: [203, 0, 113, 12],
        v6: None,
    },
    Site {
        name: "news.example.org",
        v4: [203, 0, 113, 25],
        v6: None,
    },
    Site {
        name: "video.example.com",
        v4: [203, 0, 113, 38],
        v6: Some(0x38),
    },
    Site {
        name: "mail.example.com",
        v4: [203, 0, 113, 51],
        v6: None,
    },
    Site {
        name: "telemetry.example.net",
        v4: [198, 51, 100, 14],
        v6: None,
    },
    Site {
        name: "docs.example.org",
        v4: [198, 51, 100, 27],
        v6: None,
    },
    Site {
        name: "intranet.corp.example",
        v4: [10, 0, 0, 10],
        v6: None,
    },
    Site {
        name: "app.corp.example",
        v4: [10, 0, 0, 11],
        v6: None,
    },
];

/// The fixed LAN infrastructure plus the clients.
pub struct Net {
    /// Default gateway 10.0.0.1.
    pub gateway: Ep,
    /// DNS resolver 10.0.0.2.
    pub resolver: Ep,
    /// The resolver's IPv6 address.
    pub resolver6: Ep,
    /// NTP server 10.0.0.3.
    pub ntp: Ep,
    /// Upstream NTP server the local one syncs with.
    pub ntp_upstream: Ep,
    /// Intranet web server 10.0.0.10 (HTTP and HTTPS); the scan target.
    pub web: Ep,
    /// App server 10.0.0.11 (HTTP); the SYN-flood target on [`FLOOD_PORT`].
    pub app: Ep,
    /// Clients 10.0.0.100 and up.
    pub clients: Vec<Ep>,
    /// IPv6 addresses of the dual-stack clients (same index as `clients`).
    pub clients6: Vec<Option<Ep>>,
}

impl Net {
    /// The layout with `hosts` clients (at least 1, at most 140 so they stay in the /24).
    #[must_use]
    #[allow(clippy::cast_possible_truncation)]
    pub fn new(hosts: usize) -> Self {
        let n = hosts.clamp(1, 140);
        let clients = (0..n).map(|i| lan(100 + i as u8, false)).collect();
        // Every fourth client is dual-stack.
        let clients6 = (0..n)
            .map(|i| (i % 4 == 1).then(|| lan6(100 + i as u8, false)))
            .collect();
        Self {
            gateway: Ep {
                mac: GATEWAY_MAC,
                ip: Ip::V4([10, 0, 0, 1]),
            },
            resolver: lan(2, true),
            resolver6: lan6(2, true),
            ntp: lan(3, true),
            ntp_upstream: remote([192, 0, 2, 123]),
            web: lan(10, true),
            app: lan(11, true),
            clients,
            clients6,
        }
    }

    /// The endpoint serving `site` over IPv4 (LAN servers keep their own MAC).
    #[must_use]
    pub fn site_v4(&self, site: &Site) -> Ep {
        match site.v4 {
            [10, 0, 0, 10] => self.web,
            [10, 0, 0, 11] => self.app,
            ip => remote(ip),
        }
    }

    /// The amplification victim: a client (index 5 when there are enough).
    #[must_use]
    pub fn amp_victim(&self) -> Ep {
        let i = 5.min(self.clients.len().saturating_sub(1));
        self.clients.get(i).copied().unwrap_or(self.gateway)
    }
}
