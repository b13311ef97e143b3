//! "Inside the sandbox" attacks from SECURITY.md, each run as hostile Python in a real sandbox.

use burrow_sandbox::{ExitReason, Runtime};

use crate::helpers::{exec_py, ok, stderr, stdout, Host};

#[test]
fn no_privileges_on_any_thread() {
    let host = Host::new();
    let out = ok(host.python(&[], r#"
import os, threading, time
ev = threading.Event()
threads = [threading.Thread(target=ev.wait) for _ in range(3)]
for t in threads: t.start()
for tid in os.listdir('/proc/self/task'):
    status = dict(l.split(':\t', 1) for l in open(f'/proc/self/task/{tid}/status').read().splitlines() if ':\t' in l)
    print(tid, status['NoNewPrivs'].strip(), status['CapEff'].strip(), status['CapPrm'].strip(), status['Seccomp'].strip())
ev.set()
print('uid', os.getuid(), os.geteuid())
"#));
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("uid")).collect();
    assert_eq!(lines.len(), 4, "{out}");
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &fields[1..],
            ["1", "0000000000000000", "0000000000000000", "2"],
            "{line}"
        );
    }
    assert!(out.contains("uid 1000 1000"), "{out}");
}

#[test]
fn dangerous_syscalls_fail() {
    let host = Host::new();
    // x86_64 syscall numbers, called directly so that no libc check stands in the way.
    let out = ok(host.python(&[], r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
calls = {'mount': 165, 'umount2': 166, 'unshare': 272, 'setns': 308, 'keyctl': 250, 'add_key': 248,
         'bpf': 321, 'perf_event_open': 298, 'userfaultfd': 323, 'ptrace': 101, 'process_vm_readv': 310,
         'process_vm_writev': 311, 'kexec_load': 246, 'kexec_file_load': 320, 'init_module': 175,
         'finit_module': 313, 'delete_module': 176, 'io_uring_setup': 425, 'open_by_handle_at': 304}
for name, nr in calls.items():
    ctypes.set_errno(0)
    r = libc.syscall(nr, 0, 0, 0, 0, 0)
    print(name, r, ctypes.get_errno())
# unshare with a real flag, and clone with CLONE_NEWUSER, must fail too.
print('unshare-user', libc.unshare(0x10000000), ctypes.get_errno())
"#));
    for line in out.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], "-1", "{line} succeeded");
        assert_eq!(fields[2], "1", "{line} should fail with EPERM");
    }
    assert_eq!(out.lines().count(), 20, "{out}");
}

#[test]
fn host_processes_are_invisible_and_pid_1_is_init() {
    let host = Host::new();
    let out = ok(host.python(
        &[],
        r#"
import os
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
for p in pids:
    print(p, open(f'/proc/{p}/cmdline').read().split('\0')[0])
"#,
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() <= 3, "only init and python are visible:\n{out}");
    assert!(lines[0].starts_with("1 /usr/bin/tini"), "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("tini") || l.contains("python3")),
        "{out}"
    );
}

#[test]
fn only_standard_fds_are_open_and_the_environment_is_clean() {
    let host = Host::new();
    let mut cmd = host.cli();
    cmd.env("BURROW_SECRET_HOST_VALUE", "leak")
        .env("AWS_SECRET_ACCESS_KEY", "leak");
    let out = cmd
        .args([
            "run",
            "--env",
            "GREETING=hi",
            "--",
            "python3",
            "-c",
            r#"
import os, json
open_fds = []
for fd in range(3, 1024):
    try:
        os.fstat(fd); open_fds.append(fd)
    except OSError:
        pass
print(json.dumps({'fds': open_fds, 'env': dict(os.environ), 'cwd': os.getcwd()}))
"#,
        ])
        .output()
        .unwrap();
    let text = ok(out);
    let report: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(
        report["fds"],
        serde_json::json!([]),
        "only fds 0 to 2 are open"
    );
    let env = report["env"].as_object().unwrap();
    let mut keys: Vec<&str> = env.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "GREETING",
            "HOME",
            "LANG",
            "PATH",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONUNBUFFERED"
        ],
        "{env:?}"
    );
    assert!(!text.contains("leak"));
    assert_eq!(report["cwd"], "/home/sandbox");
}

#[test]
fn the_root_is_read_only_and_scratch_is_writable() {
    let host = Host::new();
    let code_dir = tempfile::tempdir().unwrap();
    std::fs::write(code_dir.path().join("app.py"), "print('hi')").unwrap();
    let mount = format!("{}:/code", code_dir.path().display());
    let out = ok(host.python(&["--mount", &mount], r#"
import os
for path in ['/x', '/usr/x', '/etc/passwd', '/code/app.py', '/code/new.py', '/proc/sys/kernel/hostname']:
    try:
        open(path, 'w').write('x'); print(path, 'WRITABLE')
    except OSError as e:
        print(path, 'refused', e.errno)
for path in ['/tmp/x', '/home/sandbox/x', '/dev/shm/x']:
    open(path, 'w').write('x'); print(path, 'ok')
print('code', open('/code/app.py').read())
"#));
    assert!(!out.contains("WRITABLE"), "{out}");
    assert!(
        out.contains("/tmp/x ok")
            && out.contains("/home/sandbox/x ok")
            && out.contains("/dev/shm/x ok"),
        "{out}"
    );
    assert!(
        out.contains("code print('hi')"),
        "tenant code is readable: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(code_dir.path().join("app.py")).unwrap(),
        "print('hi')"
    );
}

#[test]
fn kernel_secrets_are_masked() {
    let host = Host::new();
    let out = ok(host.python(
        &[],
        r#"
import os
for path in ['/proc/kcore', '/proc/keys', '/proc/timer_list']:
    try:
        data = open(path, 'rb').read(64); print(path, 'read', len(data))
    except OSError as e:
        print(path, 'refused', e.errno)
try:
    print('/sys/firmware', 'entries', len(os.listdir('/sys/firmware')))
except OSError as e:
    print('/sys/firmware', 'refused', e.errno)
"#,
    ));
    for line in out.lines() {
        assert!(
            line.ends_with("read 0") || line.contains("refused") || line.ends_with("entries 0"),
            "{line}"
        );
    }
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn setuid_binaries_grant_nothing() {
    let host = Host::new();
    let out = ok(host.python(&[], r#"
import os, subprocess
st = os.stat('/usr/bin/mount')
print('setuid bit', bool(st.st_mode & 0o4000))
r = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/tmp'], capture_output=True, text=True)
print('mount exit', r.returncode)
r = subprocess.run(['/usr/bin/su', '-c', 'id -u'], capture_output=True, text=True, input='')
print('su exit', r.returncode, r.stdout.strip())
"#));
    assert!(out.contains("setuid bit True"), "{out}");
    assert!(!out.contains("mount exit 0"), "{out}");
    assert!(!out.contains("su exit 0"), "{out}");
}

#[test]
fn a_memory_bomb_is_killed_and_reported_as_oom() {
    let host = Host::new();
    let out = host.python(&["--memory", "64M"], "x = bytearray(512 * 1024 * 1024)");
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("burrow: killed: out of memory (limit 64M)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn filling_shared_memory_beyond_the_memory_limit_is_an_oom() {
    let host = Host::new();
    let out = host.python(
        &["--memory", "64M", "--disk", "256M"],
        "f = open('/dev/shm/fill', 'wb')\nwhile True:\n    f.write(b'x' * (1 << 20)); f.flush()",
    );
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(stderr(&out).contains("out of memory"), "{}", stderr(&out));
}

#[test]
fn filling_the_disk_or_its_inodes_hits_the_cap() {
    let host = Host::new();
    let out = ok(host.python(
        &["--disk", "8M", "--memory", "256M"],
        r#"
import errno
written = 0
try:
    with open('/tmp/fill', 'wb') as f:
        while True:
            f.write(b'x' * 65536); f.flush(); written += 65536
except OSError as e:
    print('bytes', written, errno.errorcode[e.errno])
n = 0
try:
    while True:
        open(f'/home/sandbox/f{n}', 'w').close(); n += 1
except OSError as e:
    print('files', n, errno.errorcode[e.errno])
"#,
    ));
    let bytes_line = out.lines().find(|l| l.starts_with("bytes")).unwrap();
    let written: u64 = bytes_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        bytes_line.ends_with("ENOSPC") && written <= 8 << 20,
        "{out}"
    );
    let files_line = out.lines().find(|l| l.starts_with("files")).unwrap();
    let files: u64 = files_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(files_line.ends_with("ENOSPC") && files < 5000, "{out}");
}

#[test]
fn a_fork_bomb_hits_the_pids_limit_while_another_sandbox_works() {
    let host = Host::new();
    let bomb = host
        .cli()
        .args([
            "run",
            "--pids",
            "32",
            "--timeout",
            "8s",
            "--",
            "python3",
            "-c",
            r#"
import os, time
failures = 0
children = 0
deadline = time.time() + 4
while time.time() < deadline:
    try:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        children += 1
    except OSError:
        failures += 1
        time.sleep(0.001)
print('children', children, 'failures', failures, flush=True)
time.sleep(30)
"#,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let neighbour = ok(host.python(&[], "print(sum(range(1000)))"));
    assert_eq!(
        neighbour.trim(),
        "499500",
        "the neighbour sandbox keeps working"
    );
    let out = bomb.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let text = stdout(&out);
    let children: u64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let failures: u64 = text.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(children < 32 && failures > 0, "{text}");
}

#[test]
fn zombies_are_reaped_by_init() {
    let host = Host::new();
    let out = ok(host.python(&[], r#"
import os, time
# Orphan grandchildren: their parent exits, so init inherits them and must reap them.
for _ in range(5):
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(0.2); os._exit(0)
        os._exit(0)
    os.wait()
time.sleep(1)
states = [open(f'/proc/{p}/stat').read().split(')')[1].split()[0] for p in os.listdir('/proc') if p.isdigit()]
print('zombies', states.count('Z'), 'processes', len(states))
"#));
    assert!(out.contains("zombies 0"), "{out}");
}

#[tokio::test]
async fn sandboxes_cannot_see_each_others_files_or_ipc() {
    let host = Host::new();
    let a = host.start_python("import time; time.sleep(60)").await;
    let b = host.start_python("import time; time.sleep(60)").await;
    exec_py(&host.runtime, &a, "open('/tmp/secret','w').write('a')").await;
    let make_ipc = exec_py(
        &host.runtime,
        &a,
        "import ctypes; libc = ctypes.CDLL(None); print(libc.shmget(0x1234, 4096, 0o1666))",
    )
    .await;
    assert_eq!(
        make_ipc.code,
        0,
        "{}",
        String::from_utf8_lossy(&make_ipc.stderr)
    );
    let shm_lines = "print(open('/proc/sysvipc/shm').read().count('\\n'))";
    let look = exec_py(
        &host.runtime,
        &b,
        &format!("import os; print(os.path.exists('/tmp/secret')); {shm_lines}"),
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&look.stdout),
        "False\n1\n",
        "only the header line of the shm table"
    );
    let own = exec_py(&host.runtime, &a, shm_lines).await;
    assert_eq!(
        String::from_utf8_lossy(&own.stdout),
        "2\n",
        "a sees its own segment"
    );
    for id in [a, b] {
        let exit = host.runtime.kill(&id).await.unwrap();
        assert_eq!(exit.reason, ExitReason::Signal);
        host.runtime.remove(&id).await.unwrap();
    }
}
