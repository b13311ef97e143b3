//! Harness: a private state directory per test, the real `burrow` binary as shim, and Python snippets.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::{
    ExecOutput, ExecSpec, HostPathsOnly, LocalOptions, LocalRuntime, LogPolicy, Runtime,
    SandboxSpec, VolumeResolver,
};

pub const BURROW: &str = env!("CARGO_BIN_EXE_burrow");

/// A test's own data directory and runtime. Dropping it removes every sandbox it made.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub runtime: LocalRuntime,
}

impl Host {
    pub fn new() -> Self {
        Self::with_logs(LogPolicy::default())
    }

    pub fn with_logs(log_policy: LogPolicy) -> Self {
        Self::with(log_policy, |_| Arc::new(HostPathsOnly))
    }

    /// A host whose runtime finds named volumes with the resolver `volumes` makes for
    /// the host's data directory.
    pub fn with_volumes(volumes: impl FnOnce(&Path) -> Arc<dyn VolumeResolver>) -> Self {
        Self::with(LogPolicy::default(), volumes)
    }

    fn with(log_policy: LogPolicy, volumes: impl FnOnce(&Path) -> Arc<dyn VolumeResolver>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("burrow-sandbox-test")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let runtime = runtime_with(dir.path(), log_policy, volumes(dir.path()));
        Self { dir, runtime }
    }

    /// `burrow sandbox …` with this host's data directory.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(BURROW);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BURROW_DATA_DIR", self.dir.path())
            .env("RUST_LOG", "warn")
            .arg("sandbox");
        cmd
    }

    /// Runs Python code with `burrow sandbox run [flags] -- python3 -c CODE`.
    pub fn python(&self, flags: &[&str], code: &str) -> Output {
        let mut cmd = self.cli();
        cmd.arg("run")
            .args(flags)
            .args(["--", "python3", "-c", code]);
        cmd.output().unwrap()
    }

    /// Starts a sandbox running Python `code` via the library.
    pub async fn start_python(&self, code: &str) -> String {
        self.runtime.create(python_spec(code)).await.unwrap().id
    }
}

pub fn runtime_at(dir: &Path, log_policy: LogPolicy) -> LocalRuntime {
    runtime_with(dir, log_policy, Arc::new(HostPathsOnly))
}

fn runtime_with(
    dir: &Path,
    log_policy: LogPolicy,
    volumes: Arc<dyn VolumeResolver>,
) -> LocalRuntime {
    LocalRuntime::new(LocalOptions {
        state_dir: dir.join("sandboxes"),
        runtime_bin: "runc".into(),
        shim_exe: BURROW.into(),
        init: "/usr/bin/tini".into(),
        log_policy,
        volumes,
    })
    .unwrap()
}

pub fn python_spec(code: &str) -> SandboxSpec {
    SandboxSpec::new(vec!["python3".into(), "-c".into(), code.into()])
}

impl Drop for Host {
    fn drop(&mut self) {
        let dir = self.dir.path().to_owned();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let runtime = runtime_at(&dir, LogPolicy::default());
                for s in runtime.list(&BTreeMap::new()).await.unwrap_or_default() {
                    let _ = runtime.remove(&s.id).await;
                }
            });
        })
        .join();
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a clean exit and returns stdout.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Reads a sandbox's output so far as text.
pub async fn output_of(runtime: &LocalRuntime, id: &str) -> String {
    let (chunks, _) = runtime
        .logs(id, burrow_sandbox::Cursor::default())
        .await
        .unwrap();
    String::from_utf8_lossy(&chunks.into_iter().flat_map(|c| c.data).collect::<Vec<u8>>())
        .into_owned()
}

/// Polls until `cond` holds on the sandbox's output, for up to 30 s.
pub async fn wait_for_output(runtime: &LocalRuntime, id: &str, needle: &str) -> String {
    for _ in 0..600 {
        let text = output_of(runtime, id).await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{needle:?} never appeared in the output of {id}:\n{}",
        output_of(runtime, id).await
    );
}

/// An exec of `python3 -c code`.
pub fn py(code: &str) -> ExecSpec {
    ExecSpec {
        command: vec!["python3".into(), "-c".into(), code.into()],
        env: vec![],
        cwd: None,
    }
}

/// Runs `python3 -c code` in a running sandbox and returns its output.
pub async fn exec_py(runtime: &LocalRuntime, id: &str, code: &str) -> ExecOutput {
    runtime.exec(id, py(code)).await.unwrap()
}
