//! Which addresses a sandbox may reach: one table of denied ranges, applied to every address after canonicalising IPv4 embedded in IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub reason: &'static str,
    /// Whether an admin's `allow_ranges` may open it (a private service, say). Loopback,
    /// unspecified, link-local, multicast and broadcast addresses never open.
    pub overridable: bool,
}

const fn never(reason: &'static str) -> Denied {
    Denied {
        reason,
        overridable: false,
    }
}

const fn unless_allowed(reason: &'static str) -> Denied {
    Denied {
        reason,
        overridable: true,
    }
}

/// The IPv4 ranges denied, most specific first.
const V4: &[(Ipv4Addr, u8, Denied)] = &[
    (
        Ipv4Addr::new(169, 254, 169, 254),
        32,
        never("cloud metadata endpoint"),
    ),
    (Ipv4Addr::new(255, 255, 255, 255), 32, never("broadcast")),
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        never("unspecified range (this host)"),
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, never("loopback range")),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        never("link-local range (cloud metadata)"),
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, never("multicast range")),
    (
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        unless_allowed("private range"),
    ),
    (
        Ipv4Addr::new(172, 16, 0, 0),
        12,
        unless_allowed("private range"),
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        unless_allowed("private range"),
    ),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        unless_allowed("shared CGNAT range"),
    ),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        unless_allowed("reserved range (IETF)"),
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        unless_allowed("documentation range"),
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        unless_allowed("documentation range"),
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        unless_allowed("documentation range"),
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        unless_allowed("reserved range (6to4 relay)"),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        unless_allowed("benchmarking range"),
    ),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        unless_allowed("reserved range"),
    ),
];

/// The IPv6 ranges denied outright, most specific first. Ranges that embed an IPv4
/// address are handled before this table; everything outside global unicast (2000::/3)
/// is reserved.
const V6: &[(Ipv6Addr, u8, Denied)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, never("unspecified address")),
    (Ipv6Addr::LOCALHOST, 128, never("loopback address")),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        never("link-local range"),
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        never("multicast range"),
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        unless_allowed("site-local range"),
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        unless_allowed("unique-local range"),
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        unless_allowed("local-use NAT64 range"),
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        unless_allowed("discard-only range"),
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        unless_allowed("documentation range"),
    ),
    (
        Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0),
        48,
        unless_allowed("benchmarking range"),
    ),
    (
        Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0),
        28,
        unless_allowed("reserved range (ORCHID)"),
    ),
    (
        Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0),
        28,
        unless_allowed("reserved range (ORCHIDv2)"),
    ),
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    Ipv4Net::new(net, len).is_ok_and(|n| n.contains(&ip))
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    Ipv6Net::new(net, len).is_ok_and(|n| n.contains(&ip))
}

/// An IPv6 address that carries an IPv4 one, as the IPv4 address when it is only another
/// spelling of it: IPv4-mapped `::ffff:a.b.c.d` and the deprecated IPv4-compatible
/// `::a.b.c.d`. `::` and `::1` stay IPv6.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
                return IpAddr::V4(Ipv4Addr::from(u128::from(v6) as u32));
            }
            ip
        }
        v4 => v4,
    }
}

/// The IPv4 addresses an IPv6 address routes to by design: NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16` and Teredo `2001::/32` (its server and its obfuscated client).
fn embedded(v6: Ipv6Addr) -> Vec<(Ipv4Addr, &'static str)> {
    let bits = u128::from(v6);
    if in_v6(v6, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        vec![(Ipv4Addr::from(bits as u32), "NAT64")]
    } else if in_v6(v6, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        vec![(Ipv4Addr::from((bits >> 80) as u32), "6to4")]
    } else if in_v6(v6, Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32) {
        vec![
            (Ipv4Addr::from((bits >> 64) as u32), "Teredo server"),
            (Ipv4Addr::from(!(bits as u32)), "Teredo client"),
        ]
    } else {
        Vec::new()
    }
}

fn classify_v4(ip: Ipv4Addr) -> Result<(), Denied> {
    match V4.iter().find(|(net, len, _)| in_v4(ip, *net, *len)) {
        Some((_, _, denied)) => Err(*denied),
        None => Ok(()),
    }
}

/// Whether the table allows `ip` (already canonical). Embedded IPv4 addresses are judged
/// as themselves, and an embedding is refused with the reason of what it embeds.
fn classify_table(ip: IpAddr) -> Result<(), Denied> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some((_, _, denied)) = V6.iter().find(|(net, len, _)| in_v6(v6, *net, *len)) {
                return Err(*denied);
            }
            let embeds = embedded(v6);
            for (v4, how) in &embeds {
                if let Err(inner) = classify_v4(*v4) {
                    return Err(Denied {
                        reason: embedded_reason(how),
                        overridable: inner.overridable,
                    });
                }
            }
            if !embeds.is_empty() {
                return Ok(());
            }
            if !in_v6(v6, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
                return Err(unless_allowed("reserved range (not global unicast)"));
            }
            Ok(())
        }
    }
}

/// The reason for an embedding of a denied IPv4 address.
fn embedded_reason(how: &str) -> &'static str {
    match how {
        "NAT64" => "NAT64 of a denied IPv4 address",
        "6to4" => "6to4 of a denied IPv4 address",
        _ => "Teredo of a denied IPv4 address",
    }
}

/// The whole decision for one address: what the table always denies (loopback,
/// link-local, …) first, then this host's own addresses, then what the table denies
/// unless an admin's `allow_ranges` opens it.
pub fn classify(ip: IpAddr, own: &[IpAddr], allow_ranges: &[IpNet]) -> Result<IpAddr, Denied> {
    let ip = canonical(ip);
    let table = classify_table(ip);
    if let Err(denied) = table {
        if !denied.overridable {
            return Err(denied);
        }
    }
    if own.iter().any(|o| canonical(*o) == ip) {
        return Err(never("an address of Burrow's own host"));
    }
    match table {
        Ok(()) => Ok(ip),
        Err(_) if allow_ranges.iter().any(|n| n.contains(&ip)) => Ok(ip),
        Err(denied) => Err(denied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(addr: &str) -> Result<IpAddr, &'static str> {
        classify(addr.parse().unwrap(), &[], &[]).map_err(|d| d.reason)
    }

    /// In the spirit of Smokescreen's `TestClassifyAddr`, with the ranges it missed.
    #[test]
    fn the_table() {
        for allowed in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.254",
            "100.128.0.1",
            "172.32.0.1",
            "11.0.0.1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(
                check(allowed).is_ok(),
                "{allowed} should be allowed: {:?}",
                check(allowed)
            );
        }
        for (denied, reason) in [
            ("169.254.169.254", "cloud metadata endpoint"),
            ("169.254.1.1", "link-local range (cloud metadata)"),
            ("127.0.0.1", "loopback range"),
            ("127.255.255.255", "loopback range"),
            ("0.0.0.0", "unspecified range (this host)"),
            ("0.1.2.3", "unspecified range (this host)"),
            ("10.1.2.3", "private range"),
            ("172.16.0.1", "private range"),
            ("172.31.255.255", "private range"),
            ("192.168.1.1", "private range"),
            ("100.64.0.1", "shared CGNAT range"),
            ("100.127.255.254", "shared CGNAT range"),
            ("192.0.0.8", "reserved range (IETF)"),
            ("192.0.2.1", "documentation range"),
            ("198.51.100.1", "documentation range"),
            ("203.0.113.9", "documentation range"),
            ("198.18.0.1", "benchmarking range"),
            ("198.19.255.255", "benchmarking range"),
            ("224.0.0.1", "multicast range"),
            ("240.0.0.1", "reserved range"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified address"),
            ("::1", "loopback address"),
            ("::ffff:127.0.0.1", "loopback range"),
            ("::ffff:a9fe:a9fe", "cloud metadata endpoint"),
            ("::127.0.0.1", "loopback range"),
            ("::10.0.0.1", "private range"),
            ("fe80::1", "link-local range"),
            ("ff02::2", "multicast range"),
            ("fc00::1", "unique-local range"),
            ("fd12:3456::1", "unique-local range"),
            ("fec0::1", "site-local range"),
            ("64:ff9b::7f00:1", "NAT64 of a denied IPv4 address"),
            ("64:ff9b::a9fe:a9fe", "NAT64 of a denied IPv4 address"),
            ("64:ff9b:1::1", "local-use NAT64 range"),
            ("2002:7f00:0001::1", "6to4 of a denied IPv4 address"),
            ("2002:0a00:0001::1", "6to4 of a denied IPv4 address"),
            ("2001:0:0a00:0001::1", "Teredo of a denied IPv4 address"),
            (
                "2001:0:0808:0808:0:0:80ff:fffe",
                "Teredo of a denied IPv4 address",
            ),
            ("2001:db8::1", "documentation range"),
            ("100::1", "discard-only range"),
            ("::2:1", "unspecified range (this host)"),
            ("4000::1", "reserved range (not global unicast)"),
        ] {
            assert_eq!(check(denied), Err(reason), "{denied}");
        }
    }

    #[test]
    fn this_hosts_addresses_are_denied_in_every_spelling() {
        let own: Vec<IpAddr> = vec!["8.8.4.4".parse().unwrap(), "2001:4860::1".parse().unwrap()];
        for addr in ["8.8.4.4", "::ffff:8.8.4.4", "2001:4860::1"] {
            assert_eq!(
                classify(addr.parse().unwrap(), &own, &[]).map_err(|d| d.reason),
                Err("an address of Burrow's own host"),
                "{addr}"
            );
        }
    }

    #[test]
    fn allow_ranges_open_only_what_may_be_opened() {
        let ranges: Vec<IpNet> = [
            "10.0.0.0/8",
            "203.0.113.0/24",
            "127.0.0.0/8",
            "169.254.0.0/16",
        ]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
        let allowed = |a: &str| classify(a.parse().unwrap(), &[], &ranges).is_ok();
        assert!(allowed("10.1.2.3") && allowed("203.0.113.2") && allowed("::ffff:10.1.2.3"));
        assert!(!allowed("127.0.0.1") && !allowed("169.254.169.254") && !allowed("192.168.0.1"));
    }
}
