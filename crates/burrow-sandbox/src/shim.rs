//! The shim: one small supervisor process per sandbox, outside the sandbox.
//!
//! `burrow sandbox shim DIR` forks a detached copy of itself and returns, so
//! the control plane never has to reap it and can restart without touching
//! running sandboxes. The detached shim becomes a child subreaper, runs
//! `runc create` and `runc start`, adopts the container's init process, pumps
//! its stdout and stderr into the capped log, enforces the wall-clock limit,
//! and when init exits writes `exit.json` (with the OOM verdict read from the
//! cgroup before runc deletes it) and deletes the container.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::logs::{LogPolicy, LogWriter, Stream};
use crate::spec::SandboxSpec;
use crate::{ExitReason, ExitStatus};

/// Everything about a sandbox that lives on disk, in `DIR/sandbox.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub spec: SandboxSpec,
    pub created_at_ms: i64,
    pub host_id_base: u32,
    pub slot: u32,
    pub cgroups_path: String,
    pub runtime_bin: PathBuf,
    pub runtime_root: PathBuf,
    pub log_policy: LogPolicy,
}

pub const RECORD: &str = "sandbox.json";
pub const SHIM_PID: &str = "shim.pid";
/// Held locked by the shim for as long as it lives; a pid alone could be reused.
pub const SHIM_LOCK: &str = "shim.lock";
pub const INIT_PID: &str = "init.pid";
/// Written by `create` once the host services' listeners are open: the process may start.
pub const SERVICES_OPEN: &str = "services.open";
/// How long the shim waits for [`SERVICES_OPEN`] before it gives the start up.
pub const SERVICES_WAIT: Duration = Duration::from_secs(60);
pub const EXIT: &str = "exit.json";
pub const TIMED_OUT: &str = "timed-out";
pub const LOGS: &str = "logs";

pub use burrow_fs::write_atomic;

/// Runs `BIN --root ROOT ARGS…` of the OCI runtime; on failure, its error output.
pub fn runtime_command(bin: &Path, root: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(bin)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

impl SandboxRecord {
    /// Runs a subcommand of this sandbox's OCI runtime.
    pub fn runtime(&self, args: &[&str]) -> Result<(), String> {
        runtime_command(&self.runtime_bin, &self.runtime_root, args)
    }
}

/// Entry point of `burrow sandbox shim [--detached] DIR`. Returns the process exit code.
pub fn main(dir: &Path, detached: bool, exe: &Path) -> i32 {
    if !detached {
        // First stage: start the real shim in its own process group and return
        // at once. Its parent (us) exits, so it is adopted by init and the
        // caller never holds a zombie.
        return match Command::new(exe)
            .args(["sandbox", "shim", "--detached"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
        {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("burrow: cannot start the sandbox shim: {e}");
                1
            }
        };
    }
    let record: SandboxRecord = match std::fs::read(dir.join(RECORD))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            let _ = write_exit(
                dir,
                &error_status(format!("unreadable sandbox record: {e}")),
            );
            return 1;
        }
    };
    let status = supervise(dir, &record);
    let _ = write_exit(dir, &status);
    let _ = record.runtime(&["delete", "--force", &record.id]);
    0
}

use std::os::unix::process::CommandExt;

fn error_status(message: String) -> ExitStatus {
    ExitStatus {
        reason: ExitReason::Error,
        code: None,
        signal: None,
        message: Some(message),
        peak_memory_bytes: None,
    }
}

fn write_exit(dir: &Path, status: &ExitStatus) -> std::io::Result<()> {
    write_atomic(
        &dir.join(EXIT),
        &serde_json::to_vec(status).expect("an exit status serialises"),
    )
}

fn pump(mut from: std::io::PipeReader, stream: Stream, to: mpsc::SyncSender<(Stream, Vec<u8>)>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.send((stream, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}

fn supervise(dir: &Path, record: &SandboxRecord) -> ExitStatus {
    // Taken before anything else and released only by the kernel when this process ends.
    let lock = std::fs::File::create(dir.join(SHIM_LOCK));
    match &lock {
        Ok(file) => {
            if let Err(e) = rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive) {
                return error_status(format!("cannot lock {SHIM_LOCK}: {e}"));
            }
        }
        Err(e) => return error_status(format!("cannot create {SHIM_LOCK}: {e}")),
    }
    std::mem::forget(lock);
    let _ = write_atomic(
        &dir.join(SHIM_PID),
        std::process::id().to_string().as_bytes(),
    );
    // Orphans of our children, the container's init among them, become ours to wait for.
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        return error_status(format!("cannot become a subreaper: {e}"));
    }
    let mut log = match LogWriter::create(&dir.join(LOGS), record.log_policy) {
        Ok(l) => l,
        Err(e) => return error_status(format!("cannot open the log: {e}")),
    };
    let (Ok((out_r, out_w)), Ok((err_r, err_w))) = (std::io::pipe(), std::io::pipe()) else {
        return error_status("cannot create output pipes".into());
    };
    let create = Command::new(&record.runtime_bin)
        .arg("--root")
        .arg(&record.runtime_root)
        .args(["create", "--bundle"])
        .arg(dir)
        .arg("--pid-file")
        .arg(dir.join(INIT_PID))
        .arg(&record.id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .status();
    let (tx, rx) = mpsc::sync_channel::<(Stream, Vec<u8>)>(64);
    let pumps = [
        std::thread::spawn({
            let tx = tx.clone();
            move || pump(out_r, Stream::Stdout, tx)
        }),
        std::thread::spawn(move || pump(err_r, Stream::Stderr, tx)),
    ];
    let writer = std::thread::spawn(move || {
        for (stream, data) in rx {
            let _ = log.write(stream, &data);
        }
        let _ = log.finish();
    });
    let finish_output = |pumps: [std::thread::JoinHandle<()>; 2],
                         writer: std::thread::JoinHandle<()>| {
        for p in pumps {
            let _ = p.join();
        }
        let _ = writer.join();
    };
    match create {
        Ok(s) if s.success() => {}
        other => {
            let why = match other {
                Ok(s) => format!("{} create exited with {s}", record.runtime_bin.display()),
                Err(e) => format!("cannot run {}: {e}", record.runtime_bin.display()),
            };
            let _ = std::fs::remove_file(dir.join(INIT_PID));
            let _ = record.runtime(&["delete", "--force", &record.id]);
            finish_output(pumps, writer);
            return error_status(format!("{why}; see the sandbox logs"));
        }
    }
    let init_pid = match std::fs::read_to_string(dir.join(INIT_PID))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        Some(pid) => pid,
        None => return error_status("the runtime wrote no init pid".into()),
    };
    // The network namespace exists now, before the process starts: `create` opens the host
    // services' listeners in it, so that a connection the process makes at once finds them.
    if !record.spec.host_services.is_empty() {
        match await_services(dir, init_pid) {
            Ok(()) => {}
            Err(ended) => {
                let _ = record.runtime(&["delete", "--force", &record.id]);
                finish_output(pumps, writer);
                return match ended {
                    // Killed before it started, by a `remove` of the sandbox.
                    Some(status) => exit_status(Some(status), false, false),
                    None => error_status(format!(
                        "its host services did not open within {} s of the sandbox's creation",
                        SERVICES_WAIT.as_secs()
                    )),
                };
            }
        }
    }
    if let Err(e) = record.runtime(&["start", &record.id]) {
        let _ = record.runtime(&["delete", "--force", &record.id]);
        finish_output(pumps, writer);
        return error_status(format!(
            "{} start failed: {e}",
            record.runtime_bin.display()
        ));
    }

    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    if let Some(limit) = record.spec.limits.timeout {
        let (done, timed_out, record, dir) = (
            done.clone(),
            timed_out.clone(),
            record.clone(),
            dir.to_owned(),
        );
        std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(
                    Duration::from_millis(20)
                        .min(deadline.saturating_duration_since(Instant::now())),
                );
            }
            if !done.load(Ordering::SeqCst) {
                timed_out.store(true, Ordering::SeqCst);
                let _ = std::fs::write(dir.join(TIMED_OUT), b"");
                let _ = record.runtime(&["kill", &record.id, "KILL"]);
            }
        });
    }

    let wait_status = wait_for(init_pid);
    done.store(true, Ordering::SeqCst);
    // Read before the container (and its cgroup) is deleted.
    let oom = crate::cgroup::oom_kills(&record.cgroups_path) > 0;
    let peak = crate::cgroup::peak_memory(&record.cgroups_path);
    finish_output(pumps, writer);

    ExitStatus {
        peak_memory_bytes: peak,
        ..exit_status(wait_status, timed_out.load(Ordering::SeqCst), oom)
    }
}

/// How init's end reads: a timeout or an OOM kill first, then a signal, then an exit.
fn exit_status(
    wait_status: Option<rustix::process::WaitStatus>,
    timed_out: bool,
    oom: bool,
) -> ExitStatus {
    let (code, signal) = match wait_status {
        Some(ws) => (ws.exit_status(), ws.terminating_signal()),
        None => (None, None),
    };
    // The init process (tini) reports a child killed by signal N as exit code 128+N.
    let signal = signal.or(code.filter(|c| *c > 128 && *c <= 128 + 64).map(|c| c - 128));
    let reason = if timed_out {
        ExitReason::Timeout
    } else if oom {
        ExitReason::Oom
    } else if signal.is_some() {
        ExitReason::Signal
    } else {
        ExitReason::Exited
    };
    ExitStatus {
        reason,
        code: if signal.is_some() { None } else { code },
        signal,
        message: None,
        peak_memory_bytes: None,
    }
}

/// Waits for `create` to say the host services are open; `Err` with init's status if it
/// ended first, or `Err(None)` after [`SERVICES_WAIT`].
fn await_services(dir: &Path, init_pid: i32) -> Result<(), Option<rustix::process::WaitStatus>> {
    let Some(pid) = rustix::process::Pid::from_raw(init_pid) else {
        return Err(None);
    };
    let deadline = Instant::now() + SERVICES_WAIT;
    // Quick at first, since `create` opens the listeners at once, then backing off.
    let mut pause = Duration::from_millis(1);
    loop {
        if dir.join(SERVICES_OPEN).exists() {
            return Ok(());
        }
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
            Ok(Some((_, status))) if !status.stopped() && !status.continued() => {
                return Err(Some(status))
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return Err(None),
        }
        if Instant::now() >= deadline {
            return Err(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Waits for `pid`, which became our child when `runc create` exited.
fn wait_for(pid: i32) -> Option<rustix::process::WaitStatus> {
    let pid = rustix::process::Pid::from_raw(pid)?;
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) if !status.stopped() && !status.continued() => {
                return Some(status)
            }
            Ok(_) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
}
