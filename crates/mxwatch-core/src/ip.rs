//! Is an address one that mail from the internet can reach? (RFC 6890 and its successors.)
//!
//! Written by hand because the standard library's `is_global`/`is_documentation`
//! are still unstable, and because a finding must name *which* special range an
//! address is in, not only that it is special.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address cannot receive mail from the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialRange {
    pub prefix: &'static str,
    pub name: &'static str,
    pub reference: &'static str,
    pub loopback: bool,
}

const fn range(prefix: &'static str, name: &'static str, reference: &'static str) -> SpecialRange {
    SpecialRange {
        prefix,
        name,
        reference,
        loopback: false,
    }
}

/// The special-purpose range holding `ip`, or `None` for a globally routable address.
pub fn special_range(ip: IpAddr) -> Option<SpecialRange> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// Whether mail from the internet could reach `ip`. In lab mode the loopback
/// ranges count as routable, so the loopback lab looks like the internet.
pub fn is_routable(ip: IpAddr, lab: bool) -> bool {
    match special_range(ip) {
        None => true,
        Some(r) => lab && r.loopback,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn special_v4(ip: Ipv4Addr) -> Option<SpecialRange> {
    const TABLE: &[([u8; 4], u32, SpecialRange)] = &[
        (
            [0, 0, 0, 0],
            8,
            range("0.0.0.0/8", "\"this network\"", "RFC 791, RFC 6890"),
        ),
        (
            [10, 0, 0, 0],
            8,
            range("10.0.0.0/8", "private-use", "RFC 1918"),
        ),
        (
            [100, 64, 0, 0],
            10,
            range("100.64.0.0/10", "shared address space (CGN)", "RFC 6598"),
        ),
        (
            [169, 254, 0, 0],
            16,
            range("169.254.0.0/16", "link-local", "RFC 3927"),
        ),
        (
            [172, 16, 0, 0],
            12,
            range("172.16.0.0/12", "private-use", "RFC 1918"),
        ),
        (
            [192, 0, 0, 0],
            24,
            range("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
        ),
        (
            [192, 0, 2, 0],
            24,
            range("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
        ),
        (
            [192, 88, 99, 0],
            24,
            range(
                "192.88.99.0/24",
                "deprecated 6to4 relay anycast",
                "RFC 7526",
            ),
        ),
        (
            [192, 168, 0, 0],
            16,
            range("192.168.0.0/16", "private-use", "RFC 1918"),
        ),
        (
            [198, 18, 0, 0],
            15,
            range("198.18.0.0/15", "benchmarking", "RFC 2544"),
        ),
        (
            [198, 51, 100, 0],
            24,
            range("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
        ),
        (
            [203, 0, 113, 0],
            24,
            range("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
        ),
        (
            [224, 0, 0, 0],
            4,
            range("224.0.0.0/4", "multicast", "RFC 5771"),
        ),
        (
            [240, 0, 0, 0],
            4,
            range("240.0.0.0/4", "reserved", "RFC 1112, RFC 6890"),
        ),
    ];
    if in_v4(ip, [127, 0, 0, 0], 8) {
        return Some(SpecialRange {
            loopback: true,
            ..range("127.0.0.0/8", "loopback", "RFC 1122")
        });
    }
    TABLE
        .iter()
        .find(|(net, len, _)| in_v4(ip, *net, *len))
        .map(|(_, _, r)| *r)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn special_v6(ip: Ipv6Addr) -> Option<SpecialRange> {
    if ip == Ipv6Addr::LOCALHOST {
        return Some(SpecialRange {
            loopback: true,
            ..range("::1/128", "loopback", "RFC 4291")
        });
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        // An IPv4-mapped address in an AAAA record is not reachable over IPv6 at all.
        return Some(special_v4(v4).unwrap_or(range("::ffff:0:0/96", "IPv4-mapped", "RFC 4291")));
    }
    const TABLE: &[([u16; 8], u32, SpecialRange)] = &[
        (
            [0, 0, 0, 0, 0, 0, 0, 0],
            128,
            range("::/128", "unspecified", "RFC 4291"),
        ),
        (
            [0, 0, 0, 0, 0, 0, 0, 0],
            96,
            range("::/96", "IPv4-compatible (deprecated)", "RFC 4291"),
        ),
        (
            [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
            48,
            range("64:ff9b:1::/48", "local-use NAT64", "RFC 8215"),
        ),
        (
            [0x100, 0, 0, 0, 0, 0, 0, 0],
            64,
            range("100::/64", "discard-only", "RFC 6666"),
        ),
        (
            [0x2001, 0, 0, 0, 0, 0, 0, 0],
            23,
            range("2001::/23", "IETF protocol assignments", "RFC 2928"),
        ),
        (
            [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
            32,
            range("2001:db8::/32", "documentation", "RFC 3849"),
        ),
        (
            [0x3fff, 0, 0, 0, 0, 0, 0, 0],
            20,
            range("3fff::/20", "documentation", "RFC 9637"),
        ),
        (
            [0xfc00, 0, 0, 0, 0, 0, 0, 0],
            7,
            range("fc00::/7", "unique local", "RFC 4193"),
        ),
        (
            [0xfe80, 0, 0, 0, 0, 0, 0, 0],
            10,
            range("fe80::/10", "link-local", "RFC 4291"),
        ),
        (
            [0xfec0, 0, 0, 0, 0, 0, 0, 0],
            10,
            range("fec0::/10", "site-local (deprecated)", "RFC 3879"),
        ),
        (
            [0xff00, 0, 0, 0, 0, 0, 0, 0],
            8,
            range("ff00::/8", "multicast", "RFC 4291"),
        ),
    ];
    TABLE
        .iter()
        .find(|(net, len, _)| in_v6(ip, *net, *len))
        .map(|(_, _, r)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_routable() {
        for s in [
            "8.8.8.8",
            "193.0.6.139",
            "2001:4860:4860::8888",
            "2a00:1450::1",
        ] {
            assert_eq!(special_range(ip(s)), None, "{s}");
            assert!(is_routable(ip(s), false));
        }
    }

    #[test]
    fn special_ranges_are_named() {
        let cases = [
            ("10.20.30.40", "private-use"),
            ("172.31.255.255", "private-use"),
            ("192.168.1.1", "private-use"),
            ("192.0.2.25", "documentation (TEST-NET-1)"),
            ("203.0.113.9", "documentation (TEST-NET-3)"),
            ("100.100.1.1", "shared address space (CGN)"),
            ("169.254.0.5", "link-local"),
            ("0.1.2.3", "\"this network\""),
            ("255.255.255.255", "reserved"),
            ("fe80::1", "link-local"),
            ("fd00::25", "unique local"),
            ("2001:db8::25", "documentation"),
            ("::ffff:10.0.0.1", "private-use"),
            ("::", "unspecified"),
        ];
        for (addr, name) in cases {
            assert_eq!(
                special_range(ip(addr)).map(|r| r.name),
                Some(name),
                "{addr}"
            );
        }
    }

    #[test]
    fn loopback_is_routable_only_in_the_lab() {
        for s in ["127.0.1.1", "::1"] {
            assert!(!is_routable(ip(s), false), "{s}");
            assert!(is_routable(ip(s), true), "{s}");
        }
        assert!(!is_routable(ip("10.0.0.1"), true));
    }

    #[test]
    fn just_outside_a_range_is_routable() {
        assert!(is_routable(ip("172.32.0.1"), false));
        assert!(is_routable(ip("100.128.0.1"), false));
        assert!(is_routable(ip("11.0.0.1"), false));
    }
}
