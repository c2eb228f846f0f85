//! NTP: mode and size from the first byte of a UDP payload on port 123.

use super::field::Ntp;

/// Reads the NTP mode. `wire_len` is the UDP payload length from the IP header: the size an
/// "oversized NTP" check must use (48 for a client request, never the 90-byte frame).
/// The version bits must be 1..=4 so that other traffic on port 123 is not counted as NTP.
pub(crate) fn parse(payload: &[u8], wire_len: u32) -> Option<Ntp> {
    let first = *payload.first()?;
    let version = (first >> 3) & 7;
    (1..=4).contains(&version).then_some(Ntp {
        mode: first & 7,
        size: wire_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_and_monlist() {
        let mut req = [0u8; 48];
        req[0] = 0x23; // v4, mode 3
        assert_eq!(parse(&req, 48), Some(Ntp { mode: 3, size: 48 }));
        assert_eq!(parse(&[0x17, 0, 3, 0x2a], 8).map(|n| n.mode), Some(7)); // v2 private
        assert_eq!(parse(&[0x03], 1), None); // version 0
        assert_eq!(parse(&[], 0), None);
    }
}
