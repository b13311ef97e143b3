//! `wait`, `stop` and `kill`: signals through the OCI runtime, and the wait for the shim's `exit.json`.

use std::time::{Duration, Instant};

use super::LocalRuntime;
use crate::{ExitStatus, Result, SandboxError, Status};

pub(super) async fn wait(runtime: &LocalRuntime, id: &str) -> Result<ExitStatus> {
    runtime.record(id).await?;
    Ok(wait_exit(runtime, id, None)
        .await?
        .expect("waiting without a limit ends with an exit"))
}

pub(super) async fn stop(runtime: &LocalRuntime, id: &str, grace: Duration) -> Result<ExitStatus> {
    if let Status::Exited(exit) = runtime.read_status(id).await? {
        return Ok(exit);
    }
    let _ = runtime
        .runtime(vec!["kill".into(), id.into(), "TERM".into()])
        .await;
    if let Some(exit) = wait_exit(runtime, id, Some(grace)).await? {
        return Ok(exit);
    }
    kill(runtime, id).await
}

pub(super) async fn kill(runtime: &LocalRuntime, id: &str) -> Result<ExitStatus> {
    if let Status::Exited(exit) = runtime.read_status(id).await? {
        return Ok(exit);
    }
    let _ = runtime
        .runtime(vec!["kill".into(), id.into(), "KILL".into()])
        .await;
    wait_exit(runtime, id, Some(Duration::from_secs(30)))
        .await?
        .ok_or_else(|| {
            SandboxError::Internal(format!(
                "{id} did not exit within 30 s of SIGKILL: see `burrow sandbox ps`, and `burrow sandbox stop {id}`"
            ))
        })
}

/// Polls the status until the sandbox exits; `None` once `limit` passes first.
async fn wait_exit(
    runtime: &LocalRuntime,
    id: &str,
    limit: Option<Duration>,
) -> Result<Option<ExitStatus>> {
    let started = Instant::now();
    loop {
        match runtime.read_status(id).await? {
            Status::Exited(exit) => return Ok(Some(exit)),
            Status::Lost => {
                return Err(SandboxError::Internal(format!(
                    "the supervisor of {id} is gone without recording an exit: `burrow sandbox gc` removes it"
                )));
            }
            Status::Running => {}
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            return Ok(None);
        }
        // Short runs end within milliseconds; long ones need not be polled often.
        let poll = match started.elapsed().as_secs() {
            0 => Duration::from_millis(2),
            1..=9 => Duration::from_millis(10),
            _ => Duration::from_millis(50),
        };
        tokio::time::sleep(poll).await;
    }
}
