//! `exec` and `exec_pty`: further processes in a running sandbox, through `runc exec --process`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{random_id, Local, LocalRuntime};
use crate::oci;
use crate::shim::SandboxRecord;
use crate::{ExecOutput, ExecSpec, PtySession, Result, SandboxError, Status};

const EXEC_OUTPUT_CAP: u64 = 16 << 20;

pub(super) async fn exec(runtime: &LocalRuntime, id: &str, exec: ExecSpec) -> Result<ExecOutput> {
    let (record, file) = {
        let id = id.to_owned();
        runtime
            .blocking(move |local| local.process_file(&id, &exec, None))
            .await?
    };
    let mut child = runtime_exec_command(&record, &file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = tokio::spawn(read_capped(child.stdout.take()));
    let stderr = tokio::spawn(read_capped(child.stderr.take()));
    let status = child.wait().await?;
    let _ = tokio::fs::remove_file(file).await;
    // A background process started by the command may hold the pipes open
    // after the command exits; take what arrived and stop waiting.
    let collect = |task: tokio::task::JoinHandle<Vec<u8>>| async move {
        let abort = task.abort_handle();
        match tokio::time::timeout(Duration::from_secs(2), task).await {
            Ok(Ok(bytes)) => bytes,
            _ => {
                abort.abort();
                b"[burrow: output cut off: a background process kept it open]\n".to_vec()
            }
        }
    };
    let (stdout, stderr) = tokio::join!(collect(stdout), collect(stderr));
    Ok(ExecOutput {
        code: status.code().unwrap_or(128 + 9),
        stdout,
        stderr,
    })
}

pub(super) async fn exec_pty(
    runtime: &LocalRuntime,
    id: &str,
    exec: ExecSpec,
    cols: u16,
    rows: u16,
) -> Result<PtySession> {
    // runc clears `onlcr` on the sandbox's terminal, for the terminal it copies into to
    // do; that is a pipe here, so the process sets it again first. Programs that change
    // the terminal's modes (full-screen ones) then see it as a terminal behaves.
    let mut exec = exec;
    exec.command.splice(
        0..0,
        [
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            "stty onlcr 2>/dev/null; exec \"$@\"".to_owned(),
            "sh".to_owned(),
        ],
    );
    let (record, file) = {
        let id = id.to_owned();
        runtime
            .blocking(move |local| local.process_file(&id, &exec, Some((cols, rows))))
            .await?
    };
    let (master, slave) = crate::pty::open_pair()?;
    crate::pty::set_size(&master, cols, rows)?;
    let (output, output_in) = std::io::pipe()?;
    let mut cmd = tokio::process::Command::new(&record.runtime_bin);
    cmd.arg("--root")
        .arg(&record.runtime_root)
        .args(["exec", "--tty", "--process"])
        .arg(&file)
        .arg(&record.id)
        .stdin(slave)
        .stdout(output_in.try_clone()?)
        .stderr(output_in)
        .kill_on_drop(true);
    hang_up_with_burrow(&mut cmd);
    let child = cmd.spawn()?;
    // runc has read the process file once it is running; keep the directory tidy.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let _ = tokio::fs::remove_file(file).await;
    });
    // Our copies of the other ends go, so the output ends when runc's do.
    drop(cmd);
    crate::pty::local_session(master, output, child)
}

/// The relay gets its terminal as its controlling terminal, in a session of its own: when
/// Burrow dies, however it dies, the terminal's master closes and the kernel hangs the
/// relay up, which hands the hangup to the shell; after a `kill -9` of `serve`, no relay
/// is left holding a shell in a sandbox that is adopted again.
#[allow(unsafe_code)]
fn hang_up_with_burrow(cmd: &mut tokio::process::Command) {
    // SAFETY: the hook makes two async-signal-safe system calls in the child, on its
    // standard input, which is already the terminal.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            rustix::process::ioctl_tiocsctty(std::io::stdin()).map_err(std::io::Error::from)
        });
    }
}

impl Local {
    /// Checks that the sandbox runs and writes the OCI `process` file for `runc exec`.
    fn process_file(
        &self,
        id: &str,
        exec: &ExecSpec,
        terminal: Option<(u16, u16)>,
    ) -> Result<(SandboxRecord, PathBuf)> {
        let record = self.record(id)?;
        if self.read_status(id)? != Status::Running {
            return Err(SandboxError::NotRunning(id.to_owned()));
        }
        if exec.command.is_empty() {
            return Err(SandboxError::InvalidSpec(
                "the exec command is empty: give a program to run".into(),
            ));
        }
        let mut env = record.spec.env.clone();
        env.extend(exec.env.iter().cloned());
        if terminal.is_some() && !env.iter().any(|(k, _)| k == "TERM") {
            env.push(("TERM".into(), "xterm-256color".into()));
        }
        let cwd = exec.cwd.clone().unwrap_or_else(|| record.spec.cwd.clone());
        let mut process = oci::process(
            &exec.command,
            &env,
            &cwd,
            terminal.is_some(),
            record.spec.limits.open_files,
        );
        // The runtime sizes the terminal before the process starts; a size set
        // afterwards (from our PTY) could be read as 0 by a quick process.
        if let Some((cols, rows)) = terminal {
            process["consoleSize"] = serde_json::json!({"width": cols, "height": rows});
        }
        let path = self
            .dir(&record.id)
            .join(format!("exec-{}.json", random_id("")));
        std::fs::write(
            &path,
            serde_json::to_vec(&process).expect("a process serialises"),
        )?;
        Ok((record, path))
    }
}

fn runtime_exec_command(record: &SandboxRecord, process_file: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&record.runtime_bin);
    cmd.arg("--root").arg(&record.runtime_root).arg("exec");
    cmd.arg("--process")
        .arg(process_file)
        .arg(&record.id)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(reader: Option<R>) -> Vec<u8> {
    let Some(reader) = reader else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut limited = reader.take(EXEC_OUTPUT_CAP);
    let _ = limited.read_to_end(&mut out).await;
    // Keep draining so the process is never blocked on a full pipe.
    let _ = tokio::io::copy(&mut limited.into_inner(), &mut tokio::io::sink()).await;
    out
}
