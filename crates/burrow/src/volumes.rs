//! Where the named volumes of sandbox specs are under the data directory: the local runtime's resolver.

use std::path::PathBuf;

use burrow_config::Config;
use burrow_envs::Environments;
use burrow_sandbox::{Volume, VolumeResolver};

/// Environments under `envs/`, apps' code under `apps/<app>/v<n>`, their secrets under
/// `secrets/<app>/r<n>`, warm sandboxes' assigned folders under `assigned/<id>`,
/// workspaces under `workspaces/<id>`.
#[derive(Debug)]
pub struct DataDirVolumes {
    envs: Environments,
    apps_dir: PathBuf,
    secrets_dir: PathBuf,
    assigned_dir: PathBuf,
    workspaces_dir: PathBuf,
}

impl DataDirVolumes {
    pub fn new(config: &Config) -> Self {
        Self {
            envs: Environments::from_config(config),
            apps_dir: config.apps_dir(),
            secrets_dir: config.secrets_dir(),
            assigned_dir: config.assigned_dir(),
            workspaces_dir: config.workspaces_dir(),
        }
    }
}

impl VolumeResolver for DataDirVolumes {
    fn folder(&self, volume: &Volume) -> Result<PathBuf, String> {
        match volume {
            Volume::Environment { key } => self.envs.folder(key).ok_or_else(|| {
                format!(
                    "environment {key} is not built on this host (under {}): build it again with \
                     `burrow runtime build`, or upload the app's version again",
                    self.envs.root().display()
                )
            }),
            Volume::Code { owner, version } => {
                burrow_apps::code_dir(&self.apps_dir, owner, *version)
                    .filter(|dir| dir.is_dir())
                    .ok_or_else(|| {
                        format!(
                    "{volume} is not unpacked under {}: start the app again, which unpacks it",
                    self.apps_dir.display()
                )
                    })
            }
            Volume::Secrets { owner, revision } => {
                burrow_apps::secrets::folder(&self.secrets_dir, owner, *revision)
                    .filter(|dir| dir.is_dir())
                    .ok_or_else(|| {
                        format!(
                    "{volume} is not written under {}: start the app again, which writes it",
                    self.secrets_dir.display()
                )
                    })
            }
            Volume::Assigned { id } => {
                if id.is_empty() || id.starts_with('.') || id.contains(['/', '\\', '\0']) {
                    return Err(format!("{id:?} is not an assigned folder's name"));
                }
                let dir = self.assigned_dir.join(id);
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(format!(
                        "{volume} is not under {}: the warm pool makes it before it starts \
                         a sandbox",
                        self.assigned_dir.display()
                    ))
                }
            }
            Volume::Workspace { id } => {
                // The spec's validation refuses such names too; this resolver does not
                // rely on it, since the name becomes a path here.
                if id.is_empty() || id.starts_with('.') || id.contains(['/', '\\', '\0']) {
                    return Err(format!("{id:?} is not a workspace id"));
                }
                let dir = self.workspaces_dir.join(id);
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(format!(
                        "workspace {id} has no folder at {}: create the workspace first",
                        dir.display()
                    ))
                }
            }
            Volume::Scratch { .. } | Volume::Shared { .. } | Volume::HostPath { .. } => {
                Err(format!(
                    "{volume} is the runtime's own to mount, not a folder under the data directory"
                ))
            }
        }
    }
}
