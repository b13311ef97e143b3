//! "Network: through the egress proxy" attacks, each from inside a real sandbox through the real proxy to a test internet this suite builds.
//!
//! `burrow sandbox run --egress POLICY` serves the proxy for the sandbox; the test
//! internet (`burrow_testkit::internet`) is a network namespace with HTTP and HTTPS
//! servers on a TEST-NET address, a DNS server Burrow's resolver is pointed at, and
//! canary listeners on this host's own addresses that must never see a connection.

use std::process::Output;

use burrow_testkit::internet::TestInternet;

use crate::helpers::Host;

/// Python run in the sandbox before each test's own code: raw proxy requests, so every
/// answer can be seen, whatever a client library would make of it.
const CLIENT: &str = r#"
import socket, ssl, os, sys, urllib.request
PROXY = ('127.0.0.1', 3128)

def head_of(s):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    return head.decode('latin-1'), rest

def connect(target):
    s = socket.create_connection(PROXY, 10)
    s.sendall(f'CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n'.encode())
    head, _ = head_of(s)
    return s, head.split('\r\n')[0]

def get(url, host=None):
    s = socket.create_connection(PROXY, 10)
    authority = url.split('/')[2]
    s.sendall(f'GET {url} HTTP/1.1\r\nHost: {host or authority}\r\nConnection: close\r\n\r\n'.encode())
    head, rest = head_of(s)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    return head.split('\r\n')[0], head, rest.decode('latin-1')

def status(line):
    return line.split(' ')[1] if ' ' in line else line
"#;

/// Runs `code` (after [`CLIENT`]) in a sandbox whose egress policy is `policy`, with
/// Burrow's resolver pointed at the test DNS and the test host's address opened as an
/// admin's `allow_ranges` would open an internal service.
fn run(policy: &str, code: &str) -> (String, String) {
    let net = TestInternet::get();
    let host = Host::new();
    let mut cmd = host.cli();
    cmd.env("BURROW_EGRESS__NAME_SERVERS", format!("[\"{}\"]", net.dns))
        .env(
            "BURROW_EGRESS__ALLOW_RANGES",
            format!("[\"{}/32\"]", net.host),
        )
        .args(["run", "--egress", policy, "--pids", "600", "--"])
        .args([
            "python3",
            "-c",
            &format!("{CLIENT}\nCA = {:?}\n{code}", net.ca_pem),
        ]);
    let out: Output = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "the sandbox failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        net.canary_hits(),
        0,
        "the proxy connected to this host itself:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// Lines of `out` that start with `prefix`, for clearer failures.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
}

#[test]
fn public_reaches_the_internet_through_the_proxy_and_nothing_else() {
    let net = TestInternet::get();
    let (out, _) = run(
        "public",
        &format!(
            r#"
print('plain', urllib.request.urlopen('http://site.test/hello', timeout=10).read().decode())
ctx = ssl.create_default_context(cadata=CA)
print('tls', urllib.request.urlopen('https://www.site.test/hello', timeout=10, context=ctx).read().decode())
print('address', urllib.request.urlopen('http://{host}/hello', timeout=10).read().decode())
try:
    socket.create_connection(('{host}', 80), 3); print('raw CONNECTED')
except OSError as e:
    print('raw refused', e.errno)
try:
    socket.getaddrinfo('site.test', 80); print('dns RESOLVED')
except OSError as e:
    print('dns refused')
"#,
            host = net.host
        ),
    );
    assert_eq!(
        line(&out, "plain"),
        "plain hello from the test internet via site.test"
    );
    assert_eq!(
        line(&out, "tls"),
        "tls hello from the test internet via www.site.test"
    );
    assert!(
        line(&out, "address").ends_with(&format!("via {}", net.host)),
        "{out}"
    );
    assert_eq!(line(&out, "raw"), "raw refused 101", "no route out");
    assert_eq!(line(&out, "dns"), "dns refused");
}

/// SECURITY.md's network list: the metadata endpoint, every spelling of loopback,
/// private, CGNAT and link-local ranges in IPv4 and IPv6, names that resolve to them,
/// and this host's own addresses; by CONNECT and by plain HTTP alike.
#[test]
fn every_internal_destination_is_refused_by_connect_and_plain_http() {
    let net = TestInternet::get();
    let targets = [
        ("169.254.169.254", "cloud metadata endpoint"),
        ("127.1", "loopback range"),
        ("2130706433", "loopback range"),
        ("0x7f000001", "loopback range"),
        ("0x7f.1", "loopback range"),
        ("0177.0.0.1", "loopback range"),
        ("[::1]", "loopback address"),
        ("[::ffff:127.0.0.1]", "loopback range"),
        ("[::ffff:a9fe:a9fe]", "cloud metadata endpoint"),
        ("[::127.0.0.1]", "loopback range"),
        ("0.0.0.0", "unspecified range (this host)"),
        ("0", "unspecified range (this host)"),
        ("[::]", "unspecified address"),
        ("10.0.0.1", "private range"),
        ("172.16.5.4", "private range"),
        ("192.168.1.1", "private range"),
        ("100.64.0.1", "shared CGNAT range"),
        ("169.254.1.1", "link-local range (cloud metadata)"),
        ("[fe80::1]", "link-local range"),
        ("[fc00::1]", "unique-local range"),
        ("[fd00::a9fe:a9fe]", "unique-local range"),
        ("[::ffff:10.0.0.1]", "private range"),
        ("[64:ff9b::7f00:1]", "NAT64 of a denied IPv4 address"),
        ("[2002:7f00:1::]", "6to4 of a denied IPv4 address"),
        ("loopback.test", "loopback range"),
        ("private.test", "private range"),
        ("cgnat.test", "shared CGNAT range"),
        ("metadata.test", "cloud metadata endpoint"),
        ("mapped.test", "loopback range"),
        ("v6only.test", "NAT64 of a denied IPv4 address"),
        ("mixed.test", "loopback range"),
        ("gateway.test", "an address of Burrow's own host"),
        ("metadata.google.internal", "a cloud metadata name"),
        ("metadata", "a cloud metadata name"),
        ("localhost", "a name of this host"),
        ("app.localhost", "a name of this host"),
    ];
    let gateway = net.gateway.to_string();
    let mut all: Vec<(&str, &str)> = targets.to_vec();
    all.push((&gateway, "an address of Burrow's own host"));
    let list: Vec<String> = all.iter().map(|(t, _)| format!("{t:?}")).collect();
    let (out, err) = run(
        "public",
        &format!(
            r#"
for t in [{}]:
    s, line = connect(t + ':443'); s.close()
    print('connect', t, status(line))
    line, head, body = get('http://' + t + '/')
    print('get', t, status(line), body.strip())
"#,
            list.join(", ")
        ),
    );
    for (target, reason) in &all {
        assert_eq!(
            line(&out, &format!("connect {target} ")),
            format!("connect {target} 403"),
            "{out}"
        );
        let get = line(&out, &format!("get {target} "));
        assert!(
            get.starts_with(&format!("get {target} 403 burrow egress: blocked: "))
                && get.ends_with(reason),
            "{target}: {get}"
        );
    }
    // Each refusal is printed by `sandbox run`, with its reason.
    assert!(
        err.contains(
            "burrow: egress blocked: CONNECT 169.254.169.254:443, cloud metadata endpoint"
        ),
        "{err}"
    );
    // Names refused before any lookup are never looked up.
    let looked_up = net.dns_names();
    assert!(
        !looked_up
            .iter()
            .any(|n| n.contains("metadata.google") || n == "localhost"),
        "{looked_up:?}"
    );
}

#[test]
fn only_the_open_ports_are_reachable() {
    let (out, _) = run(
        "public",
        r#"
for port in [22, 5432, 8080, 80]:
    s, line = connect(f'site.test:{port}'); s.close()
    print('connect', port, line)
line, _, body = get('http://site.test:8080/hello')
print('get 8080', line, body.strip())
line, _, body = get('http://site.test:443/hello')
print('get 443', line)
"#,
    );
    for port in [22, 5432, 8080, 80] {
        assert_eq!(
            line(&out, &format!("connect {port} ")),
            format!("connect {port} HTTP/1.1 403 blocked: site.test, port {port} is not open for HTTPS (open: 443)"),
            "{out}"
        );
    }
    assert!(
        line(&out, "get 8080").contains("403")
            && line(&out, "get 8080").contains("port 8080 is not open for plain HTTP (open: 80)"),
        "{out}"
    );
    assert!(line(&out, "get 443").contains("403"), "{out}");
}

/// The server answers a public address first and loopback next, with TTL 0. The proxy
/// resolves each request once and dials the address it checked, so a request either
/// reaches the test host or is refused: never loopback.
#[test]
fn dns_rebinding_between_check_and_connect_never_reaches_loopback() {
    let net = TestInternet::get();
    let before = net.rebind_queries();
    let (out, _) = run(
        "public",
        r#"
for i in range(6):
    line, _, body = get('http://rebind.test/hello')
    print('rebind', i, status(line), body.strip())
"#,
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("rebind")).collect();
    assert_eq!(lines.len(), 6, "{out}");
    let reached = lines
        .iter()
        .filter(|l| l.contains(" 200 hello from the test internet via rebind.test"))
        .count();
    let refused = lines
        .iter()
        .filter(|l| {
            l.contains(" 403 burrow egress: blocked: rebind.test (127.0.0.1), loopback range")
        })
        .count();
    assert_eq!(reached + refused, 6, "{out}");
    assert!(
        reached >= 1 && refused >= 1,
        "both answers were seen: {out}"
    );
    // One lookup per request: nothing is resolved twice.
    assert_eq!(net.rebind_queries() - before, 6, "{out}");
}

/// A plain-HTTP request is decided on its target; a Host header that names another host
/// is refused, and a redirect is handed back, never followed.
#[test]
fn plain_http_is_decided_on_the_target_and_redirects_are_not_followed() {
    let (out, _) = run(
        "public",
        r#"
line, _, body = get('http://site.test/hello', host='169.254.169.254')
print('host header', status(line), body.strip())
line, _, body = get('http://169.254.169.254/latest/meta-data/')
print('metadata target', status(line), body.strip())
line, head, body = get('http://site.test/redirect')
print('redirect', status(line), [h for h in head.split('\r\n') if h.lower().startswith('location')])
line, _, body = get('https://site.test/hello')
print('https absolute', status(line), body.strip())
s = socket.create_connection(PROXY, 10)
s.sendall(b'GET /hello HTTP/1.1\r\nHost: site.test\r\n\r\n')
head, _ = head_of(s)
print('origin form', head.split('\r\n')[0])
"#,
    );
    assert_eq!(
        line(&out, "host header"),
        "host header 400 burrow egress: blocked: site.test, the Host header names another host than the request target"
    );
    assert_eq!(
        line(&out, "metadata target"),
        "metadata target 403 burrow egress: blocked: 169.254.169.254, cloud metadata endpoint"
    );
    assert_eq!(
        line(&out, "redirect"),
        "redirect 302 ['Location: http://169.254.169.254/latest/meta-data/']"
            .replace("Location", "location")
    );
    assert!(
        line(&out, "https absolute").starts_with("https absolute 400"),
        "{out}"
    );
    assert!(line(&out, "origin form").contains(" 400 "), "{out}");
}

/// Under an allowlist the name is checked before any lookup, an allowed name must still
/// resolve to a public address, and TLS must ask for the name that was allowed.
#[test]
fn an_allowlist_checks_the_name_first_then_the_address_then_the_sni() {
    let net = TestInternet::get();
    let secret = format!("secret-{}.other.test", std::process::id());
    let (out, err) = run(
        "allow:site.test,*.site.test,private.test",
        &format!(
            r#"
ctx = ssl.create_default_context(cadata=CA)
print('allowed', urllib.request.urlopen('https://api.site.test/hello', timeout=10, context=ctx).read().decode())
s, line = connect('{secret}:443'); s.close()
print('unlisted', line)
s, line = connect('private.test:443'); s.close()
print('private', line)
s, line = connect('{host}:443'); s.close()
print('address', line)
s, line = connect('site.test:443')
print('fronting', line)
try:
    tls = ssl.create_default_context(cadata=CA).wrap_socket(s, server_hostname='other.test')
    tls.sendall(b'GET /hello HTTP/1.1\r\nHost: other.test\r\n\r\n')
    print('fronted', tls.recv(100))
except (OSError, ssl.SSLError) as e:
    print('fronted refused', type(e).__name__)
"#,
            host = net.host
        ),
    );
    assert_eq!(
        line(&out, "allowed"),
        "allowed hello from the test internet via api.site.test"
    );
    assert_eq!(
        line(&out, "unlisted"),
        format!("unlisted HTTP/1.1 403 blocked: {secret}, {secret} is not on the allowlist")
    );
    assert!(
        line(&out, "private").ends_with("private range") && line(&out, "private").contains(" 403 "),
        "{out}"
    );
    assert!(
        line(&out, "address").contains("an address is never on an allowlist"),
        "{out}"
    );
    assert_eq!(line(&out, "fronting"), "fronting HTTP/1.1 200 OK");
    assert!(
        line(&out, "fronted").starts_with("fronted refused"),
        "{out}"
    );
    assert!(
        err.contains("TLS asked for other.test, not the CONNECT host"),
        "{err}"
    );
    assert!(
        !net.dns_names().contains(&secret),
        "an unlisted name leaks nothing to DNS"
    );
}

#[test]
fn none_refuses_everything_with_its_reason() {
    let (out, _) = run(
        "none",
        r#"
try:
    urllib.request.urlopen('http://site.test/hello', timeout=10)
except urllib.error.HTTPError as e:
    print('refused', e.code, e.read().decode().strip())
s, line = connect('site.test:443')
print('connect', line)
"#,
    );
    assert_eq!(
        line(&out, "refused"),
        "refused 403 burrow egress: blocked: site.test, the egress policy is none: an editor can open the network in the app's settings"
    );
    assert!(
        line(&out, "connect").starts_with("connect HTTP/1.1 403 blocked"),
        "{out}"
    );
}

/// 500 tunnels at once: the first 100 (the default cap) open, the rest get 429 at once,
/// and the proxy still serves once they close.
#[test]
fn five_hundred_parallel_tunnels_hit_the_cap_and_the_proxy_stays_responsive() {
    let (out, _) = run(
        "public",
        r#"
import collections, time
held, seen = [], collections.Counter()
for i in range(500):
    s, line = connect('site.test:443')
    seen[status(line)] += 1
    if status(line) == '200':
        held.append(s)
    else:
        s.close()
print('statuses', sorted(seen.items()))
for s in held:
    s.close()
time.sleep(0.5)
print('after', urllib.request.urlopen('http://site.test/hello', timeout=10).read().decode())
"#,
    );
    assert_eq!(
        line(&out, "statuses"),
        "statuses [('200', 100), ('429', 400)]"
    );
    assert_eq!(
        line(&out, "after"),
        "after hello from the test internet via site.test"
    );
}
