//! The unit that per-address limits count in. One IPv6 host usually owns a
//! whole /64 (SLAAC, privacy addresses), so counting each IPv6 address on its
//! own would hand an attacker 2^64 fresh addresses; IPv6 addresses are cut to
//! a prefix (`limits.ipv6_prefix`, default 64) and IPv4 addresses (also
//! IPv4-mapped IPv6 ones) count one by one.

use std::net::{IpAddr, Ipv6Addr};

/// An address as the connection limits, rates and throttles count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpKey {
    addr: IpAddr,
    prefix: u8,
}

impl IpKey {
    /// The key of `ip` with IPv6 addresses cut to their first `v6_prefix` bits.
    pub fn new(ip: IpAddr, v6_prefix: u8) -> IpKey {
        match ip {
            IpAddr::V4(v4) => IpKey { addr: IpAddr::V4(v4), prefix: 32 },
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey { addr: IpAddr::V4(v4), prefix: 32 },
                None => {
                    let prefix = v6_prefix.min(128);
                    let mask = u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0);
                    IpKey { addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)), prefix }
                }
            },
        }
    }
}

/// Takes one off `key`'s count in `counts`, forgetting the key at zero.
pub fn count_down(counts: &dashmap::DashMap<IpKey, usize>, key: IpKey) {
    if let Some(mut n) = counts.get_mut(&key) {
        *n = n.saturating_sub(1);
    }
    counts.remove_if(&key, |_, n| *n == 0);
}

impl std::fmt::Display for IpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V6(_) if self.prefix < 128 => write!(f, "{}/{}", self.addr, self.prefix),
            _ => write!(f, "{}", self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IpKey;

    fn key(ip: &str, prefix: u8) -> IpKey {
        IpKey::new(ip.parse().unwrap(), prefix)
    }

    #[test]
    fn ipv6_addresses_of_one_prefix_share_a_key() {
        assert_eq!(key("2001:db8:1:2::1", 64), key("2001:db8:1:2:ffff:1234:5678:9abc", 64));
        assert_ne!(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
        assert_eq!(key("2001:db8:1:2::1", 48), key("2001:db8:1:3::1", 48));
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
        assert_eq!(key("2001:db8::1", 0), key("fe80::1", 0));
        assert_eq!(key("2001:db8:1:2::1", 64).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn ipv4_counts_each_address_also_when_mapped() {
        assert_ne!(key("192.0.2.1", 0), key("192.0.2.2", 0));
        assert_eq!(key("::ffff:192.0.2.1", 64), key("192.0.2.1", 64));
        assert_ne!(key("::ffff:192.0.2.1", 64), key("::ffff:192.0.2.2", 64));
        assert_eq!(key("192.0.2.1", 64).to_string(), "192.0.2.1");
    }
}
