//! Named volumes to host folders for the local runtime: the resolver it is given, and the checks on what comes back.

use std::path::{Path, PathBuf};

use super::Local;
use crate::oci::{HostMount, HostSource};
use crate::spec::{SandboxSpec, Volume};
use crate::{Result, SandboxError};

/// Finds the host folder of a named volume (an environment, code, a workspace) for the
/// local runtime. The sandbox crate knows no data directory's layout: the binary does, and
/// implements this over it.
pub trait VolumeResolver: Send + Sync + std::fmt::Debug {
    /// The folder holding `volume`; the error says what is missing and how to get it.
    /// Called on a blocking thread, never with `Scratch`, `Shared` or `HostPath`, which the
    /// runtime handles itself.
    fn folder(&self, volume: &Volume) -> std::result::Result<PathBuf, String>;
}

/// A resolver that knows no named volumes, for runtimes that mount only host paths and
/// scratch spaces: tests and tools.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostPathsOnly;

impl VolumeResolver for HostPathsOnly {
    fn folder(&self, volume: &Volume) -> std::result::Result<PathBuf, String> {
        Err(format!(
            "{volume} cannot be mounted: this runtime was set up without a volume resolver, so it \
             mounts only host paths and scratch spaces; run it from `burrow serve` or give \
             LocalOptions a resolver"
        ))
    }
}

impl Local {
    /// Where each of the spec's mounts comes from on this host.
    pub(super) fn resolve_mounts(&self, spec: &SandboxSpec) -> Result<Vec<HostMount>> {
        spec.mounts
            .iter()
            .map(|m| {
                let invalid = |why: String| {
                    SandboxError::InvalidSpec(format!("the mount at {}: {why}", m.destination))
                };
                let source = match &m.volume {
                    Volume::Scratch { size_bytes } | Volume::Shared { size_bytes } => {
                        HostSource::Tmpfs {
                        size_bytes: *size_bytes,
                        }
                    }
                    Volume::HostPath { path } => {
                        HostSource::Folder(exact_folder(path).map_err(invalid)?)
                    }
                    named => {
                        let folder = self.options.volumes.folder(named).map_err(invalid)?;
                        // runc follows symlinks in a source: bind what the path resolves to now.
                        let real = std::fs::canonicalize(&folder)
                            .ok()
                            .filter(|real| real.is_dir())
                            .ok_or_else(|| {
                                invalid(format!(
                                    "{named} should be at {}, which is not a folder: it was removed; \
                                     build or unpack it again",
                                    folder.display()
                                ))
                            })?;
                        HostSource::Folder(real)
                    }
                };
                Ok(HostMount {
                    destination: m.destination.clone(),
                    source,
                    writable: m.writable,
                })
            })
            .collect()
    }
}

/// A host path given by a person must name a folder as it is: runc follows symlinks in the
/// source, so one that goes through a link could be redirected after this check.
fn exact_folder(path: &Path) -> std::result::Result<PathBuf, String> {
    match std::fs::canonicalize(path) {
        Ok(real) if real == path && real.is_dir() => Ok(real),
        Ok(real) if real != path => Err(format!(
            "mount source {} goes through a symlink: use {}",
            path.display(),
            real.display()
        )),
        _ => Err(format!(
            "mount source {} is not a directory",
            path.display()
        )),
    }
}
