//! An address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`), as
//! written in config lists such as the trusted proxies of a WebSocket listener.

use std::fmt;
use std::net::IpAddr;

/// An IPv4 or IPv6 network: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `ADDR` (one address) or `ADDR/BITS`.
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("not an IP address or CIDR range: {text:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match bits {
            None => max,
            Some(b) => match b.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("bad prefix length in {text:?} (0 to {max})")),
            },
        };
        Ok(IpRange { addr, prefix })
    }

    /// Whether `ip` is in the range. An IPv4 address written as IPv6
    /// (`::ffff:10.0.0.1`, as a dual-stack socket reports it) matches IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for IpRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        IpRange::parse(&text)
    }
}

impl<'de> serde::Deserialize<'de> for IpRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        IpRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::IpRange;

    fn has(range: &str, ip: &str) -> bool {
        IpRange::parse(range).unwrap().contains(ip.parse().unwrap())
    }

    #[test]
    fn single_addresses_and_ranges() {
        assert!(has("127.0.0.1", "127.0.0.1"));
        assert!(!has("127.0.0.1", "127.0.0.2"));
        assert!(has("10.0.0.0/8", "10.200.3.4"));
        assert!(!has("10.0.0.0/8", "11.0.0.1"));
        assert!(has("192.168.1.128/25", "192.168.1.200"));
        assert!(!has("192.168.1.128/25", "192.168.1.127"));
        assert!(has("0.0.0.0/0", "8.8.8.8"));
        assert!(has("fd00::/8", "fd12:3456::1"));
        assert!(!has("fd00::/8", "fe80::1"));
        assert!(has("::1", "::1"));
        // IPv4-mapped IPv6 (a dual-stack listener) is the IPv4 address
        assert!(has("127.0.0.0/8", "::ffff:127.0.0.1"));
        assert!(!has("::1", "127.0.0.1"));
    }

    #[test]
    fn bad_ranges_are_refused() {
        for bad in ["", "10.0.0.0/33", "::/129", "example.org", "10.0.0.0/x", "1.2.3/8"] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
    }
}
