//! Hosts of their own for multi-replica tests: network namespaces on one bridge, each
//! with an address and only its own loopback besides, and relays that bring services
//! listening on this host's loopback (PostgreSQL, SeaweedFS) to the bridge.
//!
//! A process started with [`Hosts::command`] sees only its namespace's network: it
//! reaches the others, and this host, at their bridge addresses alone, as replicas on
//! separate machines of one private network do. The bridge is `bwb<pid>` with
//! `198.18.N.1/24` (the benchmarking range, which no registry resolves to); host `i`
//! is the namespace `burrow-host-<pid>-<i>` at `198.18.N.(10+i)`. The next setup
//! removes what a dead process left.

// The fixture builds its network with `ip`; tests run as root.
#![allow(clippy::disallowed_methods)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

const NAMESPACE_PREFIX: &str = "burrow-host-";
const BRIDGE_PREFIX: &str = "bwb";

/// A namespace of [`Hosts`].
#[derive(Debug, Clone)]
pub struct Host {
    /// The network namespace's name.
    pub namespace: String,
    /// Its address on the bridge.
    pub address: Ipv4Addr,
}

impl Host {
    /// `program`, to be run in this namespace's network and nothing else of it:
    /// `nsenter --net`, which becomes the program (its pid is the program's). Not `ip
    /// netns exec`, which also mounts a sysfs of its own over `/sys`, hiding the cgroup
    /// file system that sandboxes are made in.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", self.namespace))
            .arg("--")
            .arg(program);
        command
    }
}

/// Network namespaces on one bridge, removed on drop.
#[derive(Debug)]
pub struct Hosts {
    bridge: String,
    gateway: Ipv4Addr,
    pub hosts: Vec<Host>,
    /// Its own, so relays serve whatever the test's runtime is doing; stopped on drop.
    relays: Option<tokio::runtime::Runtime>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn alive(pid: &str) -> bool {
    std::path::Path::new("/proc").join(pid).exists()
}

/// Removes namespaces and bridges whose test process is gone.
fn remove_stale() {
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if let Some(rest) = name.strip_prefix(NAMESPACE_PREFIX) {
            let pid = rest.split('-').next().unwrap_or_default();
            if !alive(pid) {
                let _ = Command::new("ip").args(["netns", "del", name]).output();
            }
        }
    }
    let links = Command::new("ip")
        .args(["-o", "link", "show", "type", "bridge"])
        .output();
    for line in String::from_utf8_lossy(&links.map(|o| o.stdout).unwrap_or_default()).lines() {
        let name = line.split(':').nth(1).unwrap_or_default().trim();
        if let Some(pid) = name.strip_prefix(BRIDGE_PREFIX) {
            if pid.bytes().all(|b| b.is_ascii_digit()) && !alive(pid) {
                let _ = Command::new("ip").args(["link", "del", name]).output();
            }
        }
    }
}

impl Hosts {
    /// `count` hosts on a new bridge.
    pub fn new(count: usize) -> Self {
        remove_stale();
        let pid = std::process::id();
        let net = 20 + (pid % 200) as u8;
        let bridge = format!("{BRIDGE_PREFIX}{pid}");
        let gateway = Ipv4Addr::new(198, 18, net, 1);
        ip(&["link", "add", "name", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut hosts = Vec::new();
        for i in 0..count {
            let namespace = format!("{NAMESPACE_PREFIX}{pid}-{i}");
            let address = Ipv4Addr::new(198, 18, net, 10 + i as u8);
            let veth = format!("bwv{pid}x{i}");
            ip(&["netns", "add", &namespace]);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
            ]);
            ip(&["link", "set", &veth, "master", &bridge, "up"]);
            let inside = |args: &[&str]| {
                let mut all = vec!["-n", namespace.as_str()];
                all.extend_from_slice(args);
                ip(&all);
            };
            inside(&["addr", "add", &format!("{address}/24"), "dev", "eth0"]);
            inside(&["link", "set", "eth0", "up"]);
            inside(&["link", "set", "lo", "up"]);
            hosts.push(Host { namespace, address });
        }
        let relays = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the relays");
        Self {
            bridge,
            gateway,
            hosts,
            relays: Some(relays),
        }
    }

    /// This host's address on the bridge, which every namespace reaches.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// `program`, to be run in host `i`'s namespace: see [`Host::command`].
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.hosts[i].command(program)
    }

    /// An address on the bridge that relays every connection to `target`, a service on
    /// this host's loopback, for as long as these hosts live.
    pub fn relay(&self, target: SocketAddr) -> SocketAddr {
        let listener =
            std::net::TcpListener::bind((self.gateway, 0)).expect("a port on the bridge");
        listener.set_nonblocking(true).unwrap();
        let at = listener.local_addr().unwrap();
        let relays = self.relays.as_ref().expect("the relays run");
        relays.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        at
    }

    /// `url` with its `127.0.0.1:port` replaced by a relay on the bridge.
    pub fn relay_url(&self, url: &str) -> String {
        let parsed = url::Url::parse(url).expect("a URL");
        let port = parsed.port_or_known_default().expect("a port");
        let host = parsed.host_str().expect("a host");
        assert!(
            host == "127.0.0.1" || host == "localhost",
            "{url} is not on loopback"
        );
        let relay = self.relay(SocketAddr::from(([127, 0, 0, 1], port)));
        url.replacen(&format!("{host}:{port}"), &relay.to_string(), 1)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Some(relays) = self.relays.take() {
            relays.shutdown_background();
        }
        for host in &self.hosts {
            let _ = Command::new("ip")
                .args(["netns", "del", &host.namespace])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}
