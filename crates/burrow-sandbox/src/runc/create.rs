//! `create`: a uid-range slot, the bundle on disk, the shim started, the host services' listeners, and the wait for the main process.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{now_ms, random_id, Local, LocalListener, LocalRuntime};
use crate::logs::{self, Cursor};
use crate::oci::{self, Placement, ID_RANGE};
use crate::shim::{self, SandboxRecord};
use crate::spec::SandboxSpec;
use crate::{Created, ExitReason, HostListener, Result, SandboxError, Status};

/// First host uid of slot 0. Above the ranges distributions hand out in
/// /etc/subuid, so sandboxes never share ids with host users.
const ID_BASE: u32 = 1_000_000;
const SLOTS: u32 = 4096;

/// How far a start has got, as the files in its directory say.
enum Progress {
    Starting,
    /// The shim recorded init's pid: the main process runs, or is about to.
    Running,
    /// It ended before `create` saw it run; with its output when it never started.
    Ended {
        failed: Option<String>,
    },
}

pub(super) async fn create(runtime: &LocalRuntime, spec: SandboxSpec) -> Result<Created> {
    spec.validate()?;
    let ports = spec.host_services.clone();
    let id = random_id("sb-");
    let dir = runtime.local.dir(&id);
    let prepared = {
        let id = id.clone();
        runtime
            .blocking(move |local| local.prepare(&id, spec))
            .await?
    };
    let launched = tokio::process::Command::new(&runtime.local.options.shim_exe)
        .args(["sandbox", "shim"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await;
    let failed = match launched {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Some(format!(
            "cannot run the shim {}: {e}",
            runtime.local.options.shim_exe.display()
        )),
    };
    if let Some(why) = failed {
        runtime
            .blocking(move |local| {
                let _ = std::fs::remove_dir_all(local.dir(&prepared.id));
                local.free_slot(prepared.slot);
                Ok(())
            })
            .await?;
        return Err(SandboxError::StartFailed(why));
    }
    let started = Instant::now();
    loop {
        let progress = {
            let id = id.clone();
            runtime.blocking(move |local| local.progress(&id)).await?
        };
        match progress {
            Progress::Running => {
                let listeners = match open_services(runtime, &id, &ports).await {
                    Ok(listeners) => listeners,
                    Err(e) => {
                        let _ = super::gc::remove(runtime, &id).await;
                        return Err(e);
                    }
                };
                tracing::debug!(sandbox.id = %id, elapsed_ms = started.elapsed().as_millis() as u64, "Started sandbox");
                return Ok(Created { id, listeners });
            }
            Progress::Ended { failed: None } if ports.is_empty() => {
                return Ok(Created {
                    id,
                    listeners: Vec::new(),
                })
            }
            Progress::Ended { failed: None } => {
                let _ = super::gc::remove(runtime, &id).await;
                return Err(SandboxError::StartFailed(
                    "it ended before its host services opened: was it removed meanwhile?".into(),
                ));
            }
            Progress::Ended { failed: Some(why) } => {
                let _ = super::gc::remove(runtime, &id).await;
                return Err(SandboxError::StartFailed(why));
            }
            Progress::Starting => {}
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = super::gc::remove(runtime, &id).await;
            return Err(SandboxError::StartFailed(
                "the sandbox did not start within 60 seconds: see `burrow sandbox doctor`".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Opens the host services' listeners in the network namespace of the created (not yet
/// started) sandbox, then tells the shim to start it.
async fn open_services(
    runtime: &LocalRuntime,
    id: &str,
    ports: &[u16],
) -> Result<Vec<(u16, Box<dyn HostListener>)>> {
    if ports.is_empty() {
        return Ok(Vec::new());
    }
    let id = id.to_owned();
    let ports = ports.to_vec();
    let opened = runtime
        .blocking(move |local| {
            let pid = local.init_pid(&id)?;
            let listeners = ports
                .iter()
                .map(|&port| Ok((port, crate::netns::listen(pid, port)?)))
                .collect::<Result<Vec<_>>>()?;
            shim::write_atomic(&local.dir(&id).join(shim::SERVICES_OPEN), b"")?;
            Ok(listeners)
        })
        .await?;
    Ok(opened
        .into_iter()
        .map(|(port, listener)| {
            (
                port,
                Box::new(LocalListener(listener)) as Box<dyn HostListener>,
            )
        })
        .collect())
}

impl Local {
    /// Takes a slot and writes the bundle and the record; on failure leaves neither.
    fn prepare(&self, id: &str, spec: SandboxSpec) -> Result<SandboxRecord> {
        let mounts = self.resolve_mounts(&spec)?;
        let slot = self.allocate_slot(id)?;
        let dir = self.dir(id);
        let record = SandboxRecord {
            id: id.to_owned(),
            created_at_ms: now_ms(),
            host_id_base: ID_BASE + slot * ID_RANGE,
            slot,
            cgroups_path: format!("/burrow/{id}"),
            runtime_bin: self.options.runtime_bin.clone(),
            runtime_root: self.options.state_dir.join("runtime"),
            log_policy: self.options.log_policy,
            spec,
        };
        let placement = Placement {
            id: id.to_owned(),
            host_id_base: record.host_id_base,
            cgroups_path: record.cgroups_path.clone(),
            init: self.options.init.display().to_string(),
            mounts,
        };
        let prepared = std::fs::create_dir(&dir)
            .map_err(SandboxError::from)
            .and_then(|()| write_bundle(&dir, &record.spec, &placement))
            .and_then(|()| {
                shim::write_atomic(
                    &dir.join(shim::RECORD),
                    &serde_json::to_vec_pretty(&record).expect("a record serialises"),
                )
                .map_err(Into::into)
            });
        if let Err(e) = prepared {
            let _ = std::fs::remove_dir_all(&dir);
            self.free_slot(slot);
            return Err(e);
        }
        Ok(record)
    }

    /// The first free uid-range slot, taken by creating its file exclusively, which is
    /// atomic between threads and processes alike.
    fn allocate_slot(&self, id: &str) -> Result<u32> {
        for slot in 0..SLOTS {
            let path = self.options.state_dir.join("slots").join(slot.to_string());
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, id.as_bytes())?;
                    return Ok(slot);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SandboxError::Host(format!(
            "all {SLOTS} sandbox uid ranges are in use: run `burrow sandbox gc`"
        )))
    }

    fn progress(&self, id: &str) -> Result<Progress> {
        let dir = self.dir(id);
        if dir.join(shim::INIT_PID).exists() && dir.join(shim::SHIM_PID).exists() {
            return Ok(Progress::Running);
        }
        let Ok(Status::Exited(exit)) = self.read_status(id) else {
            return Ok(Progress::Starting);
        };
        if exit.reason != ExitReason::Error {
            return Ok(Progress::Ended { failed: None });
        }
        let (chunks, _) =
            logs::read_after(&dir.join(shim::LOGS), Cursor::default()).unwrap_or_default();
        let output: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        Ok(Progress::Ended {
            failed: Some(format!(
                "{}: {}",
                exit.message.unwrap_or_default(),
                String::from_utf8_lossy(&output).trim()
            )),
        })
    }
}

/// Writes the bundle: an empty root owned by the sandbox's root user, with
/// mount points, symlinks and a minimal `/etc` that Burrow writes itself.
fn write_bundle(dir: &Path, spec: &SandboxSpec, placement: &Placement) -> Result<()> {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    let config = oci::config(spec, placement)?;
    let config_json =
        serde_json::to_vec_pretty(&config).map_err(|e| SandboxError::Internal(e.to_string()))?;
    std::fs::write(dir.join("config.json"), config_json)?;
    for m in config.mounts().as_deref().unwrap_or_default() {
        let dest = rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
        let is_file = m.typ().as_deref() == Some("bind")
            && m.source().as_deref().is_some_and(|s| s.is_file());
        if is_file {
            std::fs::create_dir_all(dest.parent().expect("a mount destination has a parent"))?;
            std::fs::write(&dest, b"")?;
        } else {
            std::fs::create_dir_all(&dest)?;
        }
    }
    // runc gives a tmpfs the mode of the directory it is mounted on.
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    for link in ["bin", "lib", "lib64", "sbin"] {
        let host = Path::new("/").join(link);
        if let Ok(target) = std::fs::read_link(&host) {
            std::os::unix::fs::symlink(target, rootfs.join(link))?;
        }
    }
    let etc = rootfs.join("etc");
    std::fs::create_dir_all(&etc)?;
    let uid = oci::SANDBOX_UID;
    std::fs::write(etc.join("passwd"), format!("root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:{}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", crate::spec::HOME))?;
    std::fs::write(
        etc.join("group"),
        format!("root:x:0:\ntty:x:5:\nsandbox:x:{uid}:\nnogroup:x:65534:\n"),
    )?;
    std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n::1 localhost\n")?;
    std::fs::write(
        etc.join("nsswitch.conf"),
        "passwd: files\ngroup: files\nhosts: files dns\n",
    )?;
    std::fs::write(etc.join("resolv.conf"), "")?;
    chown_tree(&rootfs, placement.host_id_base)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
    Ok(())
}

fn chown_tree(path: &Path, id: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(id), Some(id))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), id)?;
        }
    }
    Ok(())
}
