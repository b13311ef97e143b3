//! "Network: direct socket" attacks: a sandbox has loopback only.

use crate::helpers::{ok, Host};

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
