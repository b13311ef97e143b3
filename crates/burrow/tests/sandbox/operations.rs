//! Runtime operations against real runc: connect, PTY exec, stop, logs and re-adoption.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use burrow_sandbox::{ExecSpec, ExitReason, LogPolicy, Runtime, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{py, python_spec, runtime_at, wait_for_output, Host};

const SERVER: &str = r#"
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'hello from inside'
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = socketserver.TCPServer(('127.0.0.1', 8000), H)
print('listening', flush=True)
s.serve_forever()
"#;

async fn http_get(runtime: &dyn Runtime, id: &str) -> String {
    let mut stream = runtime.connect(id, 8000).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: app\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn connect_reaches_a_server_inside_the_sandbox() {
    let host = Host::new();
    let id = host.start_python(SERVER).await;
    wait_for_output(&host.runtime, &id, "listening").await;
    let response = http_get(&host.runtime, &id).await;
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(response.ends_with("hello from inside"), "{response}");
    // The port is not published on the host.
    assert!(std::net::TcpStream::connect_timeout(
        &"127.0.0.1:8000".parse().unwrap(),
        Duration::from_millis(200)
    )
    .map(|mut s| {
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        !r.contains("hello from inside")
    })
    .unwrap_or(true));
    host.runtime.remove(&id).await.unwrap();
}

/// Reads a terminal until `needle` appears, it ends, or 20 s pass.
async fn read_until(terminal: &mut burrow_sandbox::Connection, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match terminal.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&seen).contains(needle) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_pty_exec_echoes_typed_input_and_resizes() {
    let host = Host::new();
    let id = host.start_python("import time; time.sleep(60)").await;
    let code = "import os, sys, termios\nprint('size', os.get_terminal_size().columns, flush=True)\nline = input('> ')\nprint('got', line.upper(), flush=True)\nmodes = termios.tcgetattr(1)\nmodes[1] &= ~termios.ONLCR\ntermios.tcsetattr(1, termios.TCSANOW, modes)\nprint('raw1')\nprint('raw2', flush=True)";
    let mut pty = host.runtime.exec_pty(&id, py(code), 120, 40).await.unwrap();
    let before = read_until(&mut pty.io, "> ").await;
    pty.io.write_all(b"hello burrow\r").await.unwrap();
    let after = read_until(&mut pty.io, "got HELLO BURROW").await;
    let seen = (before, after);
    assert!(seen.0.contains("size 120"), "{seen:?}");
    assert!(
        seen.1.contains("hello burrow"),
        "typed input is echoed: {seen:?}"
    );
    assert!(seen.1.contains("got HELLO BURROW"), "{seen:?}");
    assert!(
        seen.0.contains("size 120\r\n"),
        "newlines are CR-NL: {seen:?}"
    );
    // Read on unless it came with the line before.
    let raw = if seen.1.contains("raw2") {
        seen.1.clone()
    } else {
        seen.1.clone() + &read_until(&mut pty.io, "raw2").await
    };
    assert!(
        raw.contains("raw1\nraw2"),
        "a program that turns onlcr off gets bare newlines: {raw:?}"
    );
    assert_eq!(pty.wait().await.unwrap(), 0);
    pty.resize(100, 30).unwrap();
    host.runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn tiocsti_cannot_inject_input_into_the_terminal() {
    let host = Host::new();
    let id = host.start_python("import time; time.sleep(60)").await;
    let code = r#"
import ctypes, fcntl
libc = ctypes.CDLL(None, use_errno=True)
for request in (0x5412, 0x100005412):
    ctypes.set_errno(0)
    c = ctypes.c_char(b'x')
    r = libc.ioctl(0, ctypes.c_ulong(request), ctypes.byref(c))
    print('tiocsti', hex(request), r, ctypes.get_errno(), flush=True)
"#;
    let mut pty = host.runtime.exec_pty(&id, py(code), 80, 24).await.unwrap();
    let seen = read_until(&mut pty.io, "tiocsti 0x100005412").await;
    let seen = seen.clone() + &read_until(&mut pty.io, "\n").await;
    assert!(seen.contains("tiocsti 0x5412 -1 1"), "{seen}");
    assert!(
        seen.contains("tiocsti 0x100005412 -1 1"),
        "the upper bits do not get around the filter: {seen}"
    );
    pty.wait().await.unwrap();
    host.runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn exec_captures_output_and_exit_code() {
    let host = Host::new();
    let id = host.start_python("import time; time.sleep(60)").await;
    let out = host
        .runtime
        .exec(&id, ExecSpec {
            command: vec!["python3".into(), "-c".into(), "import os,sys; print(os.environ['X']); print('e', file=sys.stderr); sys.exit(3)".into()],
            env: vec![("X".into(), "42".into())],
            cwd: Some("/tmp".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        (out.code, out.stdout.as_slice(), out.stderr.as_slice()),
        (3, &b"42\n"[..], &b"e\n"[..])
    );
    host.runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn stop_sends_sigterm_then_sigkill() {
    let host = Host::new();
    let polite = host
        .start_python("import time; print('up', flush=True); time.sleep(60)")
        .await;
    wait_for_output(&host.runtime, &polite, "up").await;
    let exit = host
        .runtime
        .stop(&polite, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (exit.reason, exit.signal),
        (ExitReason::Signal, Some(15)),
        "{exit:?}"
    );

    let stubborn = host
        .start_python("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)")
        .await;
    wait_for_output(&host.runtime, &stubborn, "up").await;
    let exit = host
        .runtime
        .stop(&stubborn, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(
        (exit.reason, exit.signal),
        (ExitReason::Signal, Some(9)),
        "{exit:?}"
    );
    assert_eq!(host.runtime.wait(&stubborn).await.unwrap(), exit);
    for id in [polite, stubborn] {
        host.runtime.remove(&id).await.unwrap();
    }
}

#[tokio::test]
async fn the_wall_clock_limit_ends_the_sandbox() {
    let host = Host::new();
    let mut spec = python_spec("import time; time.sleep(60)");
    spec.limits.timeout = Some(Duration::from_millis(500));
    let id = host.runtime.create(spec).await.unwrap().id;
    let exit = host.runtime.wait(&id).await.unwrap();
    assert_eq!(exit.reason, ExitReason::Timeout, "{exit:?}");
    assert_eq!(exit.shell_code(), 124);
    host.runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn a_stdout_flood_is_capped_and_rate_limited() {
    let policy = LogPolicy {
        max_bytes: 256 << 10,
        rate_bytes_per_sec: 64 << 10,
        burst_bytes: 128 << 10,
    };
    let host = Host::with_logs(policy);
    let mut spec = python_spec("import sys\nwhile True:\n    sys.stdout.write('x' * 4096 + '\\n')");
    spec.limits.timeout = Some(Duration::from_secs(3));
    let id = host.runtime.create(spec).await.unwrap().id;
    let exit = host.runtime.wait(&id).await.unwrap();
    assert_eq!(exit.reason, ExitReason::Timeout);
    let logs = host
        .dir
        .path()
        .join("sandboxes/sandboxes")
        .join(&id)
        .join("logs");
    let usage = burrow_sandbox::logs::disk_usage(&logs);
    assert!(usage <= 256 << 10, "logs use {usage} bytes");
    let text = crate::helpers::output_of(&host.runtime, &id).await;
    assert!(
        text.contains("bytes of output dropped"),
        "the drop is noted"
    );
    host.runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn a_restarted_control_plane_re_adopts_running_sandboxes() {
    let host = Host::new();
    let mut spec = python_spec(SERVER);
    let marker = format!("readopt-{}", std::process::id());
    spec.labels.insert("test".into(), marker.clone());
    let id = host.runtime.create(spec).await.unwrap().id;
    wait_for_output(&host.runtime, &id, "listening").await;

    // A new runtime over the same state, as after `kill -9` of the control plane.
    let restarted = runtime_at(host.dir.path(), LogPolicy::default());
    let found = restarted
        .list(&BTreeMap::from([("test".to_owned(), marker)]))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].id.as_str(), &found[0].status),
        (id.as_str(), &Status::Running)
    );
    assert!(http_get(&restarted, &id)
        .await
        .ends_with("hello from inside"));
    restarted.stop(&id, Duration::from_secs(5)).await.unwrap();
    let report = restarted.gc().await.unwrap();
    assert_eq!(report.removed, vec![id.clone()]);
    assert!(restarted.list(&BTreeMap::new()).await.unwrap().is_empty());
    assert!(matches!(
        restarted.status(&id).await,
        Err(burrow_sandbox::SandboxError::NotFound(_))
    ));
}

/// A record this version cannot read (cut short, or from an incompatible version) does not
/// leave its directory behind for good: once nothing runs there, `gc` removes it.
#[tokio::test]
async fn gc_removes_a_sandbox_whose_record_it_cannot_read() {
    let host = Host::new();
    let dir = host.dir.path().join("sandboxes/sandboxes/sb-unreadable");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sandbox.json"), b"{\"id\": 7}").unwrap();
    // Past the grace a starting sandbox gets.
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&dir)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let report = host.runtime.gc().await.unwrap();
    assert_eq!(report.reaped, vec!["sb-unreadable".to_owned()]);
    assert!(!dir.exists());
}

/// A sandbox under a lease lives while the lease is held, whoever runs `gc`; once the
/// lease ends, `gc` reaps it. Sandboxes without a lease (as `serve` starts them) stay.
#[tokio::test]
async fn gc_reaps_a_sandbox_once_its_lease_ends() {
    let host = Host::new();
    let lease = host.runtime.lease().await.unwrap();
    let mut leased = python_spec("import time; time.sleep(60)");
    leased
        .labels
        .insert(burrow_sandbox::LEASE_LABEL.into(), lease.id().into());
    let leased = host.runtime.create(leased).await.unwrap().id;
    let unleased = host.start_python("import time; time.sleep(60)").await;

    // Another runtime over the same state, as a separate `burrow sandbox gc` would be.
    let other = runtime_at(host.dir.path(), LogPolicy::default());
    assert_eq!(
        other.gc().await.unwrap(),
        burrow_sandbox::GcReport::default()
    );
    assert_eq!(
        host.runtime.gc().await.unwrap().reaped,
        Vec::<String>::new()
    );

    drop(lease);
    let report = other.gc().await.unwrap();
    assert_eq!(report.reaped, vec![leased.clone()]);
    assert!(matches!(
        host.runtime.status(&leased).await,
        Err(burrow_sandbox::SandboxError::NotFound(_))
    ));
    assert_eq!(
        host.runtime.status(&unleased).await.unwrap(),
        Status::Running
    );
    host.runtime.remove(&unleased).await.unwrap();
}

/// A sandbox an older version started for `sandbox run` carries its owner's pid instead
/// of a lease: it lives while that process runs and is reaped once it is gone.
#[tokio::test]
async fn gc_still_reaps_sandboxes_of_older_versions_whose_owner_died() {
    let host = Host::new();
    // A process that has certainly ended: spawned, waited for and reaped.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let mut orphan = python_spec("import time; time.sleep(60)");
    orphan.labels.insert(
        burrow_sandbox::LEGACY_OWNER_PID_LABEL.into(),
        gone.id().to_string(),
    );
    let orphan = host.runtime.create(orphan).await.unwrap().id;
    let mut owned = python_spec("import time; time.sleep(60)");
    owned.labels.insert(
        burrow_sandbox::LEGACY_OWNER_PID_LABEL.into(),
        std::process::id().to_string(),
    );
    let owned = host.runtime.create(owned).await.unwrap().id;
    let report = host.runtime.gc().await.unwrap();
    assert_eq!(report.reaped, vec![orphan]);
    assert_eq!(host.runtime.status(&owned).await.unwrap(), Status::Running);
    host.runtime.remove(&owned).await.unwrap();
}
