//! "Network: direct socket" attacks: a sandbox has loopback only; host services are the way out.

use burrow_sandbox::{Network, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ok, python_spec, wait_for_output, Host};

#[test]
fn no_route_to_any_outside_address_and_no_dns() {
    let host = Host::new();
    let out = ok(host.python(
        &[],
        r#"
import socket
for addr in [('1.1.1.1', 53), ('169.254.169.254', 80), ('10.0.0.1', 80), ('192.168.1.1', 80)]:
    try:
        socket.create_connection(addr, 2); print(addr[0], 'CONNECTED')
    except OSError as e:
        print(addr[0], 'refused', e.errno)
try:
    socket.create_connection(('2606:4700:4700::1111', 53), 2); print('v6 CONNECTED')
except OSError as e:
    print('v6 refused', e.errno)
try:
    print('dns', socket.getaddrinfo('example.com', 443))
except OSError as e:
    print('dns refused', type(e).__name__)
print('interfaces', sorted(name for _, name in socket.if_nameindex()))
"#,
    ));
    assert!(
        !out.contains("CONNECTED") && !out.contains("dns ["),
        "{out}"
    );
    assert!(out.contains("1.1.1.1 refused 101"), "ENETUNREACH: {out}");
    assert!(out.contains("dns refused gaierror"), "{out}");
    assert!(out.contains("interfaces ['lo']"), "{out}");
}

#[test]
fn the_cli_reports_a_network_error_and_fails() {
    let host = Host::new();
    let out = host.python(
        &[],
        "import socket; socket.create_connection(('1.1.1.1',53),2)",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Network is unreachable"), "{err}");
}

#[test]
fn vsock_and_other_socket_families_are_refused() {
    let host = Host::new();
    let out = ok(host.python(&[], r#"
import socket
for name, family in [('vsock', 40), ('packet', 17), ('bluetooth', 31), ('can', 29)]:
    try:
        socket.socket(family, socket.SOCK_STREAM if family != 17 else socket.SOCK_RAW); print(name, 'OPENED')
    except OSError as e:
        print(name, 'refused', e.errno)
for name, family in [('unix', socket.AF_UNIX), ('inet', socket.AF_INET), ('inet6', socket.AF_INET6)]:
    socket.socket(family, socket.SOCK_STREAM).close(); print(name, 'ok')
a, b = socket.socketpair(); print('socketpair ok')
"#));
    assert!(!out.contains("OPENED"), "{out}");
    assert!(out.contains("vsock refused 1"), "{out}");
    assert!(
        out.contains("unix ok") && out.contains("inet6 ok") && out.contains("socketpair ok"),
        "{out}"
    );
}

/// A host service listens on the sandbox's own loopback, and an egress-proxy network
/// points the sandbox's HTTP clients at it: urllib's request arrives there, in proxy form.
#[tokio::test]
async fn a_host_service_in_the_sandbox_network_is_its_way_out() {
    let host = Host::new();
    let client = r#"
import os, time, urllib.request
print('proxy', os.environ.get('HTTPS_PROXY'), os.environ.get('no_proxy'), flush=True)
for attempt in range(200):
    try:
        body = urllib.request.urlopen('http://example.invalid/hello', timeout=5).read()
        print('got', body.decode(), flush=True)
        break
    except OSError as e:
        time.sleep(0.05)
"#;
    let mut spec = python_spec(client);
    spec.network = Network::EgressProxy { port: 3128 };
    let id = host.runtime.create(spec).await.unwrap().id;
    let listener = host.runtime.listen(&id, 3128).await.unwrap();
    // Another sandbox has a 3128 of its own: each listener is in its sandbox's network.
    let other = host.start_python("import time; time.sleep(60)").await;
    let _other_listener = host.runtime.listen(&other, 3128).await.unwrap();

    let mut connection =
        tokio::time::timeout(std::time::Duration::from_secs(60), listener.accept())
            .await
            .expect("the sandbox connects to its host service")
            .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        connection.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with("GET http://example.invalid/hello HTTP/1.1\r\n"),
        "a proxy request: {head}"
    );
    connection
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nfrom the host",
        )
        .await
        .unwrap();
    connection.shutdown().await.unwrap();
    let out = wait_for_output(&host.runtime, &id, "got from the host").await;
    assert!(
        out.contains("proxy http://127.0.0.1:3128 localhost,127.0.0.1"),
        "{out}"
    );
}

/// A host service declared in the spec listens before the process starts: a program that
/// connects once, first thing, with no retry, reaches it.
#[tokio::test]
async fn a_declared_host_service_listens_before_the_process_starts() {
    let host = Host::new();
    let mut spec = python_spec(
        r#"
import socket
s = socket.create_connection(('127.0.0.1', 7070), 5)
s.sendall(b'ping\n')
print('got', s.recv(100).decode(), flush=True)
"#,
    );
    spec.host_services = vec![7070];
    let created = host.runtime.create(spec).await.unwrap();
    let [(port, listener)] = <[_; 1]>::try_from(created.listeners).unwrap();
    assert_eq!(port, 7070);
    let mut connection =
        tokio::time::timeout(std::time::Duration::from_secs(60), listener.accept())
            .await
            .expect("the sandbox connects to its host service")
            .unwrap();
    let mut ping = [0u8; 5];
    connection.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"ping\n");
    connection.write_all(b"pong").await.unwrap();
    connection.shutdown().await.unwrap();
    let exit = host.runtime.wait(&created.id).await.unwrap();
    let out = crate::helpers::output_of(&host.runtime, &created.id).await;
    assert_eq!(exit.shell_code(), 0, "{out}");
    assert!(out.contains("got pong"), "{out}");
    host.runtime.remove(&created.id).await.unwrap();
}
