//! TLS record bytes: a browser-like ClientHello (SNI, ALPN, supported_versions, key_share,
//! optionally post-quantum sized) and a matching ServerHello.
//!
//! Hand-built because no maintained crate in our tree serialises TLS handshakes (tls-parser
//! only parses, rustls would need real keys); the layout is fixed by RFC 8446 section 4.

use super::rng::SampleRng;

/// `X25519MLKEM768` hybrid group: its client share is 1216 bytes, which is why modern
/// ClientHellos no longer fit one TCP segment.
pub const GROUP_X25519_MLKEM768: u16 = 0x11ec;
const GROUP_X25519: u16 = 0x001d;

fn u16be(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes());
}

fn ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    u16be(out, body.len());
    out.extend_from_slice(body);
}

/// Wraps a handshake message of `kind` in a handshake header and a record header.
fn record(kind: u8, legacy_record_version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 9);
    out.push(0x16);
    out.extend_from_slice(&legacy_record_version.to_be_bytes());
    u16be(&mut out, body.len() + 4);
    out.push(kind);
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(body);
    out
}

/// A ClientHello record for `sni` offering `alpn`; with `pq` it carries an ML-KEM hybrid
/// key share and is about 1.8 kB (two TCP segments).
pub fn client_hello(rng: &mut SampleRng, sni: &[u8], alpn: &[&[u8]], pq: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(if pq { 1900 } else { 600 });
    b.extend_from_slice(&0x0303u16.to_be_bytes());
    let mut random = [0u8; 32];
    rng.fill(&mut random);
    b.extend_from_slice(&random);
    b.push(32);
    let mut sid = [0u8; 32];
    rng.fill(&mut sid);
    b.extend_from_slice(&sid);
    let suites: [u16; 15] = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    u16be(&mut b, suites.len() * 2);
    for s in suites {
        b.extend_from_slice(&s.to_be_bytes());
    }
    b.extend_from_slice(&[1, 0]); // compression: null only

    let mut e = Vec::with_capacity(1700);
    let mut sn = Vec::with_capacity(sni.len() + 5);
    u16be(&mut sn, sni.len() + 3);
    sn.push(0); // host_name
    u16be(&mut sn, sni.len());
    sn.extend_from_slice(sni);
    ext(&mut e, 0, &sn);
    ext(&mut e, 23, &[]); // extended_master_secret
    ext(&mut e, 0xff01, &[0]); // renegotiation_info
    let mut groups = Vec::new();
    let list: &[u16] = if pq {
        &[GROUP_X25519_MLKEM768, GROUP_X25519, 0x0017, 0x0018]
    } else {
        &[GROUP_X25519, 0x0017, 0x0018]
    };
    u16be(&mut groups, list.len() * 2);
    for g in list {
        groups.extend_from_slice(&g.to_be_bytes());
    }
    ext(&mut e, 10, &groups); // supported_groups
    ext(&mut e, 11, &[1, 0]); // ec_point_formats
    ext(&mut e, 35, &[]); // session_ticket
    let mut al = Vec::new();
    let total: usize = alpn.iter().map(|p| p.len() + 1).sum();
    u16be(&mut al, total);
    for p in alpn {
        al.push(u8::try_from(p.len()).unwrap_or(0));
        al.extend_from_slice(p);
    }
    ext(&mut e, 16, &al); // ALPN
    ext(&mut e, 5, &[1, 0, 0, 0, 0]); // status_request
    let sigs: [u16; 8] = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    let mut sa = Vec::new();
    u16be(&mut sa, sigs.len() * 2);
    for s in sigs {
        sa.extend_from_slice(&s.to_be_bytes());
    }
    ext(&mut e, 13, &sa); // signature_algorithms
    let mut ks = Vec::with_capacity(1300);
    let mut shares = Vec::with_capacity(1300);
    if pq {
        shares.extend_from_slice(&GROUP_X25519_MLKEM768.to_be_bytes());
        u16be(&mut shares, 1216);
        let start = shares.len();
        shares.resize(start + 1216, 0);
        rng.fill(&mut shares[start..]);
    }
    shares.extend_from_slice(&GROUP_X25519.to_be_bytes());
    u16be(&mut shares, 32);
    let start = shares.len();
    shares.resize(start + 32, 0);
    rng.fill(&mut shares[start..]);
    u16be(&mut ks, shares.len());
    ks.extend_from_slice(&shares);
    ext(&mut e, 51, &ks); // key_share
    ext(&mut e, 43, &[4, 0x03, 0x04, 0x03, 0x03]); // supported_versions
    ext(&mut e, 45, &[1, 1]); // psk_key_exchange_modes
    u16be(&mut b, e.len());
    b.extend_from_slice(&e);
    record(1, 0x0301, &b)
}

/// A TLS 1.3 ServerHello record answering a ClientHello, then ChangeCipherSpec.
pub fn server_hello(rng: &mut SampleRng, pq: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(if pq { 1200 } else { 128 });
    b.extend_from_slice(&0x0303u16.to_be_bytes());
    let mut random = [0u8; 32];
    rng.fill(&mut random);
    b.extend_from_slice(&random);
    b.push(32);
    let mut sid = [0u8; 32];
    rng.fill(&mut sid);
    b.extend_from_slice(&sid);
    b.extend_from_slice(&0x1301u16.to_be_bytes());
    b.push(0);
    let (group, klen) = if pq {
        (GROUP_X25519_MLKEM768, 1120)
    } else {
        (GROUP_X25519, 32)
    };
    let mut ks = Vec::with_capacity(klen + 4);
    ks.extend_from_slice(&group.to_be_bytes());
    u16be(&mut ks, klen);
    ks.resize(klen + 4, 0);
    rng.fill(&mut ks[4..]);
    let mut e = Vec::with_capacity(klen + 20);
    ext(&mut e, 43, &[0x03, 0x04]);
    ext(&mut e, 51, &ks);
    u16be(&mut b, e.len());
    b.extend_from_slice(&e);
    let mut out = record(2, 0x0303, &b);
    out.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    out
}

/// Encrypted application-data records totalling about `len` bytes (random contents).
pub fn app_data(rng: &mut SampleRng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 10);
    let mut left = len.max(22);
    while left > 0 {
        let n = left.min(16_384 + 256);
        out.extend_from_slice(&[0x17, 0x03, 0x03]);
        u16be(&mut out, n);
        let start = out.len();
        out.resize(start + n, 0);
        rng.fill(&mut out[start..]);
        left -= n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pq_hello_needs_two_segments_and_classic_fits_one() {
        let mut r = SampleRng::new(3, 0);
        let big = client_hello(&mut r, b"www.example.com", &[b"h2", b"http/1.1"], true);
        let small = client_hello(&mut r, b"www.example.com", &[b"h2"], false);
        assert!(big.len() > super::super::tcp::MSS, "{}", big.len());
        assert!(small.len() < super::super::tcp::MSS);
        // Record length field matches the bytes that follow.
        assert_eq!(
            usize::from(u16::from_be_bytes([big[3], big[4]])),
            big.len() - 5
        );
    }
}
