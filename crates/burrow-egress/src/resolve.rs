//! Names to addresses without the C library: IP literals parsed the way browsers do, and DNS through a resolver Burrow controls.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

/// A host as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An address, however it was spelled: `127.1`, `2130706433`, `0x7f.1` and
    /// `[::ffff:127.0.0.1]` are all addresses here, never names to look up.
    Ip(IpAddr),
    /// A DNS name, lower-case ASCII (punycode), without a trailing dot.
    Name(String),
}

/// Parses a request's host the way browsers and `url` do (WHATWG), so every spelling
/// of an IPv4 address is read as one. `None` for what is no host at all.
pub fn parse_host(host: &str) -> Option<Host> {
    match url::Host::parse(host).ok()? {
        url::Host::Ipv4(v4) => Some(Host::Ip(IpAddr::V4(v4))),
        url::Host::Ipv6(v6) => Some(Host::Ip(IpAddr::V6(v6))),
        url::Host::Domain(name) => {
            let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            valid.then_some(Host::Name(name))
        }
    }
}

/// Looks names up with the configured name servers, over UDP and TCP, and never with
/// `/etc/hosts` or search domains: what it returns is what DNS said.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// The resolver, or why there is none (no name server is known): every lookup then
    /// fails with it, which denies.
    inner: Result<TokioResolver, String>,
    timeout: Duration,
}

impl Resolver {
    /// A resolver asking `name_servers`, or the system's (from `/etc/resolv.conf`) when
    /// none are given.
    pub fn new(name_servers: &[SocketAddr], timeout: Duration) -> Self {
        Self {
            inner: Self::build(name_servers, timeout),
            timeout,
        }
    }

    fn build(name_servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver, String> {
        let servers: Vec<SocketAddr> = if name_servers.is_empty() {
            let (system, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                format!("this host's name servers cannot be read ({e}): set egress.name_servers")
            })?;
            system
                .name_servers()
                .iter()
                .map(|ns| ns.socket_addr)
                .collect()
        } else {
            name_servers.to_vec()
        };
        if servers.is_empty() {
            return Err("no name server is known: set egress.name_servers".into());
        }
        let mut config = ResolverConfig::new();
        for addr in servers {
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
        }
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 1;
        options.ndots = 0;
        options.use_hosts_file = ResolveHosts::Never;
        // IPv6 only when a name has no IPv4 address: one query, not two, for most names.
        options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
        options.edns0 = true;
        Ok(
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(options)
                .build(),
        )
    }

    /// Every address `name` resolves to, looked up once.
    pub async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        // A fully qualified name: no search domain is ever appended.
        let resolver = self.inner.as_ref().map_err(Clone::clone)?;
        let fqdn = format!("{name}.");
        let lookup = tokio::time::timeout(self.timeout * 2, resolver.lookup_ip(fqdn))
            .await
            .map_err(|_| format!("looking up {name} timed out"))?;
        match lookup {
            Ok(found) => Ok(found.iter().collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(format!("looking up {name} failed: {e}")),
        }
    }
}

/// This host's own addresses, on every interface, read again at most once a second.
#[derive(Debug)]
pub struct OwnAddresses {
    cached: parking_lot::Mutex<(Option<Instant>, Vec<IpAddr>)>,
}

impl OwnAddresses {
    pub fn new() -> Self {
        Self {
            cached: parking_lot::Mutex::new((None, Vec::new())),
        }
    }

    /// The addresses, or an error when the interfaces cannot be read (which denies).
    pub fn get(&self) -> Result<Vec<IpAddr>, String> {
        let mut cached = self.cached.lock();
        if cached
            .0
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            return Ok(cached.1.clone());
        }
        let addrs = nix::ifaddrs::getifaddrs()
            .map_err(|e| format!("cannot list this host's addresses: {e}"))?
            .filter_map(|ifa| {
                let addr = ifa.address?;
                if let Some(v4) = addr.as_sockaddr_in() {
                    Some(IpAddr::V4(v4.ip()))
                } else {
                    addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                }
            })
            .collect::<Vec<_>>();
        *cached = (Some(Instant::now()), addrs.clone());
        Ok(addrs)
    }
}

impl Default for OwnAddresses {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_address_is_an_address() {
        for (spelling, addr) in [
            ("127.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("017700000001", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("0", "0.0.0.0"),
            ("[::1]", "::1"),
            ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
            ("169.254.169.254", "169.254.169.254"),
        ] {
            assert_eq!(
                parse_host(spelling),
                Some(Host::Ip(addr.parse().unwrap())),
                "{spelling}"
            );
        }
        assert_eq!(
            parse_host("Example.COM."),
            Some(Host::Name("example.com".into()))
        );
        assert_eq!(
            parse_host("bücher.example"),
            Some(Host::Name("xn--bcher-kva.example".into()))
        );
        for bad in ["", "a b", "exa%mple.com", "[::1", "a..b", "x/y"] {
            assert_eq!(parse_host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn this_hosts_addresses_include_loopback() {
        let own = OwnAddresses::new().get().unwrap();
        assert!(own.contains(&"127.0.0.1".parse().unwrap()), "{own:?}");
    }
}
