//! Python environments for sandboxes: a base built once with uv, and overlays stacked on it.
//!
//! On disk, under the environments folder (`{data_dir}/envs`):
//!
//! ```text
//! base/<base-key>/     a virtual environment from the pinned base lock (Streamlit and the data stack)
//! extra/<env-key>/     an overlay: only the packages a requirement set adds beyond its base
//! requests/<hash>      which overlay a requirement set, as asked for, resolved to
//! logs/<build>.log     the log of a build while it runs
//! tmp/                 environments being built; renamed into place when complete
//! uv-cache/            uv's cache, shared by every build (`envs.cache_dir` moves it)
//! ```
//!
//! Every environment holds a `burrow-env.json` manifest, written before the
//! rename that publishes it, so an environment either exists whole or not at all.
//! Sandboxes see the base at [`BASE_MOUNT`] and an overlay at [`EXTRA_MOUNT`],
//! both read-only, with the overlay first on `PYTHONPATH`.
//!
//! Only wheels are installed (`--only-binary :all:`): no package code runs on
//! the host while building.

// This is the layer that runs uv, so it may start processes.
#![allow(clippy::disallowed_methods)]

mod queue;
pub mod resolve;
mod segments;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

pub use queue::{BuildHandler, Builds, BuildsError, LogChunk, BUILD_ATTEMPTS, ENV_BUILD};
use resolve::{beyond, parse_pins, parse_requirements, render_pins, satisfied_by, Pins};
pub use segments::name as log_name;

/// The base environment's direct requirements.
pub const BASE_IN: &str = include_str!("../base/requirements.in");
/// The base environment's exact pins, for every platform (`make base-lock` writes it).
pub const BASE_LOCK: &str = include_str!("../base/requirements.lock");
/// Where the base environment appears inside a sandbox.
pub const BASE_MOUNT: &str = "/opt/burrow/env";
/// Where an overlay appears inside a sandbox.
pub const EXTRA_MOUNT: &str = "/opt/burrow/extra";
/// Where Burrow's own Python module (`import burrow`) appears inside a sandbox.
pub const LIB_MOUNT: &str = "/opt/burrow/lib";
/// The `burrow` module, which ships with the binary; `{version}` becomes its version.
const BURROW_MODULE: &str = include_str!("../python/burrow/__init__.py");
/// The runner of transform jobs (`python -m burrow._job`), in the same layer.
const JOB_RUNNER: &str = include_str!("../python/burrow/_job.py");
/// The sandbox label naming the environment a sandbox runs on; labelled environments are in use.
pub const SANDBOX_LABEL: &str = "burrow.env";

const MANIFEST: &str = "burrow-env.json";
const LAST_USED: &str = "last-used";

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The host is missing something builds need; the message says how to fix it.
    #[error("{0}")]
    Setup(String),
    /// The build itself failed; the message names the package and uv's reason.
    #[error("{0}")]
    Failed(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> EnvError {
    let context = context.into();
    move |source| EnvError::Io { context, source }
}

/// A built environment, as a sandbox needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvRef {
    /// `base-…` for the base alone, `env-…` for an overlay on it.
    pub key: String,
    /// The key of the base it stands on; its own key for the base.
    pub base_key: String,
    /// The base environment's folder on the host.
    pub base: PathBuf,
    /// The overlay's folder on the host, if any.
    pub extra: Option<PathBuf>,
    /// The exact packages the overlay adds, as `name==version`; empty for the base.
    pub packages: Vec<String>,
    /// The key of the layer with Burrow's own module, when it could be written.
    pub lib_key: Option<String>,
}

impl EnvRef {
    /// The interpreter, as seen inside the sandbox.
    pub fn python(&self) -> String {
        format!("{BASE_MOUNT}/bin/python")
    }

    /// Its layers as a sandbox mounts them, read-only: each layer's key (the name of its
    /// volume, which [`Environments::folder`] finds) and where it goes in the sandbox.
    pub fn layers(&self) -> Vec<(String, &'static str)> {
        let mut layers = vec![(self.base_key.clone(), BASE_MOUNT)];
        if self.extra.is_some() {
            layers.push((self.key.clone(), EXTRA_MOUNT));
        }
        if let Some(lib) = &self.lib_key {
            layers.push((lib.clone(), LIB_MOUNT));
        }
        layers
    }

    /// Its layers as read-only mounts of a sandbox spec.
    pub fn mounts(&self) -> Vec<burrow_sandbox::Mount> {
        self.layers()
            .into_iter()
            .map(|(key, destination)| burrow_sandbox::Mount {
                volume: burrow_sandbox::Volume::Environment { key },
                destination: destination.to_owned(),
                writable: false,
            })
            .collect()
    }

    /// Environment variables that put the overlay in front of the base, and Burrow's
    /// module on the path.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut path = Vec::new();
        if self.extra.is_some() {
            path.push(EXTRA_MOUNT);
        }
        if self.lib_key.is_some() {
            path.push(LIB_MOUNT);
        }
        if path.is_empty() {
            Vec::new()
        } else {
            vec![("PYTHONPATH".into(), path.join(":"))]
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    key: String,
    /// The base this stands on; its own key for a base.
    base: String,
    python: String,
    /// Every pin of a base, or the pins an overlay adds.
    packages: Vec<String>,
    created_at_ms: u128,
}

/// One environment on disk, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct EnvInfo {
    pub key: String,
    pub base: String,
    pub python: String,
    pub packages: usize,
    pub last_used: SystemTime,
}

/// A build's log file. uv writes into it directly; so do we, between its commands.
#[derive(Debug)]
pub struct BuildLog {
    file: File,
    path: PathBuf,
}

impl BuildLog {
    /// Opens (creating or appending to) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, EnvError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(format!("opening the build log {}", path.display())))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// Appends one line. A log that cannot be written must not fail the build.
    pub fn line(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.file, "{}", text.as_ref());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn stdio(&self) -> Result<Stdio, EnvError> {
        Ok(self
            .file
            .try_clone()
            .map_err(io_err("sharing the build log"))?
            .into())
    }

    /// What was written from `offset` on (at most 64 KiB from the end).
    fn since(&self, offset: u64) -> String {
        let text = std::fs::read(&self.path).unwrap_or_default();
        let start = (offset as usize)
            .min(text.len())
            .max(text.len().saturating_sub(64 << 10));
        String::from_utf8_lossy(&text[start..]).into_owned()
    }
}

/// The environments of one host; cheap to clone.
#[derive(Debug, Clone)]
pub struct Environments {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    cache: PathBuf,
    uv: PathBuf,
    python: PathBuf,
    /// One base build at a time; others wait for it and then find it built.
    base_building: tokio::sync::Mutex<()>,
    python_tag: tokio::sync::OnceCell<String>,
}

impl Environments {
    /// Environments under `root`, built by `uv` on `python`, with uv's cache at `cache`.
    pub fn new(root: PathBuf, cache: PathBuf, uv: PathBuf, python: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner {
                root,
                cache,
                uv,
                python,
                base_building: tokio::sync::Mutex::new(()),
                python_tag: tokio::sync::OnceCell::new(),
            }),
        }
    }

    pub fn from_config(config: &burrow_config::Config) -> Self {
        Self::new(
            config.envs_dir(),
            config
                .envs
                .cache_dir
                .clone()
                .unwrap_or_else(|| config.envs_dir().join("uv-cache")),
            config.envs.uv.clone(),
            config.envs.python.clone(),
        )
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn dir(&self, key: &str) -> PathBuf {
        let kind = if key.starts_with("base-") {
            "base"
        } else if key.starts_with("lib-") {
            "lib"
        } else {
            "extra"
        };
        self.inner.root.join(kind).join(key)
    }

    /// `cpython-3.11.2`: the interpreter, as part of every key.
    pub async fn python_tag(&self) -> Result<String, EnvError> {
        self.inner
            .python_tag
            .get_or_try_init(|| async {
                let python = &self.inner.python;
                let out = tokio::process::Command::new(python)
                    .args([
                        "-I",
                        "-c",
                        "import platform; print(platform.python_implementation().lower() + '-' + platform.python_version())",
                    ])
                    .output()
                    .await
                    .map_err(|e| {
                        EnvError::Setup(format!(
                            "cannot run the Python interpreter {} ({e}): install python3 (`make deps`) or set envs.python (BURROW_ENVS__PYTHON)",
                            python.display()
                        ))
                    })?;
                if !out.status.success() {
                    return Err(EnvError::Setup(format!(
                        "the Python interpreter {} failed: {}",
                        python.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            })
            .await
            .cloned()
    }

    /// The key the base environment has on this host.
    pub async fn base_key(&self) -> Result<String, EnvError> {
        Ok(resolve::base_key(BASE_LOCK, &self.python_tag().await?))
    }

    /// The folder of the environment (a base or an overlay) `key`, if it is built; this is
    /// how a sandbox's named volume `Environment { key }` is found on this host.
    pub fn folder(&self, key: &str) -> Option<PathBuf> {
        if !is_key(key) {
            return None;
        }
        let dir = self.dir(key);
        dir.join(MANIFEST).is_file().then_some(dir)
    }

    /// A built environment by key, marked as just used; `None` if it is not on disk.
    pub fn get(&self, key: &str) -> Option<EnvRef> {
        if !is_key(key) {
            return None;
        }
        let dir = self.dir(key);
        let manifest = read_manifest(&dir)?;
        let base = self.dir(&manifest.base);
        if !base.join(MANIFEST).is_file() {
            return None;
        }
        touch(&dir);
        touch(&base);
        let extra = (manifest.base != manifest.key).then_some(dir);
        let lib_key = match self.ensure_lib() {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!(error = %e, "could not write Burrow's Python module; sandboxes go without it");
                None
            }
        };
        Some(EnvRef {
            lib_key,
            key: manifest.key,
            base_key: manifest.base,
            base,
            packages: if extra.is_some() {
                manifest.packages
            } else {
                Vec::new()
            },
            extra,
        })
    }

    /// Builds the base environment unless it is already there.
    pub async fn ensure_base(&self, log: &mut BuildLog) -> Result<EnvRef, EnvError> {
        let key = self.base_key().await?;
        if let Some(env) = self.get(&key) {
            return Ok(env);
        }
        let _one_at_a_time = self.inner.base_building.lock().await;
        if let Some(env) = self.get(&key) {
            return Ok(env);
        }
        let started = Instant::now();
        log.line(format!(
            "Building the base environment {key} (Streamlit and the data stack); this happens once."
        ));
        let tmp = self.tmp_dir(&key)?;
        let venv = tmp.path().to_owned();
        self.uv(log, "creating the base environment", |c| {
            c.args(["venv", "--no-project", "--relocatable", "--python"])
                .arg(&self.inner.python)
                .arg(&venv);
        })
        .await?;
        let lock = venv.join("burrow-base.lock");
        std::fs::write(&lock, BASE_LOCK).map_err(io_err(format!("writing {}", lock.display())))?;
        // The lock carries every wheel's sha256; uv refuses anything else. So uv's cache
        // serves exactly what the index would, and is tried first: a rebuild needs no
        // network once the wheels were fetched. Bytecode is compiled now: sandboxes
        // cannot write it to a read-only mount.
        let sync = |offline: bool| {
            let python = venv.join("bin/python");
            let lock = &lock;
            move |c: &mut tokio::process::Command| {
                c.args(["pip", "sync", "--only-binary", ":all:", "--require-hashes"])
                    .args(offline.then_some("--offline"))
                    .args(["--compile-bytecode", "--python"])
                    .arg(python)
                    .arg(lock);
            }
        };
        if self
            .uv(
                log,
                "installing the base environment from uv's cache",
                sync(true),
            )
            .await
            .is_err()
        {
            log.line("Not every wheel is in uv's cache; fetching them from the package index.");
            self.uv(log, "installing the base environment", sync(false))
                .await?;
        }
        let frozen = self
            .uv_output(log, "listing the base environment", |c| {
                c.args(["pip", "freeze", "--python"])
                    .arg(venv.join("bin/python"));
            })
            .await?;
        let pins = parse_pins(&frozen);
        let python = self.python_tag().await?;
        self.publish(tmp, &key, &key, &python, &pins)?;
        log.line(format!(
            "Built the base environment {key}: {} packages in {:.1} s.",
            pins.len(),
            started.elapsed().as_secs_f64()
        ));
        self.get(&key)
            .ok_or_else(|| EnvError::Failed(format!("the base environment {key} vanished")))
    }

    /// Builds (or finds) the environment for a normalised requirements file.
    ///
    /// Requirements the base already meets need no build at all. A set asked
    /// for before reuses its environment without resolving again. Otherwise uv
    /// resolves the base's requirements plus these, preferring the base's pins;
    /// the packages that differ from the base are installed into an overlay
    /// keyed by exactly those packages, so identical sets share one.
    pub async fn build(&self, requirements: &str, log: &mut BuildLog) -> Result<EnvRef, EnvError> {
        let wanted = parse_requirements(requirements)
            .map_err(|e| EnvError::Failed(format!("invalid requirement {e}")))?;
        let base = self.ensure_base(log).await?;
        if let Some((env, why)) = self.known(&base, &wanted, requirements).await {
            log.line(why);
            return Ok(env);
        }
        let python = self.python_tag().await?;
        let base_pins = self.pins(&base)?;
        let request_file = self.request_file(&base, requirements).await?;

        let started = Instant::now();
        let tmp = self.tmp_dir("resolve")?;
        let input = tmp.path().join("requirements.in");
        let output = tmp.path().join("requirements.txt");
        std::fs::write(&input, format!("{BASE_IN}\n{requirements}"))
            .and_then(|()| std::fs::write(&output, render_pins(&base_pins)))
            .map_err(io_err("writing the requirements to resolve"))?;
        log.line(format!(
            "Resolving {} over the base environment {}:",
            wanted
                .iter()
                .map(|w| format!("{}{}", w.name, w.specifiers))
                .collect::<Vec<_>>()
                .join(", "),
            base.key
        ));
        // The output file starts as the base's pins, which uv keeps where it can.
        // uv also prints the resolution; the log shows what matters, below.
        self.uv_output(log, "resolving the requirements", |c| {
            c.args([
                "pip",
                "compile",
                "--only-binary",
                ":all:",
                "--no-header",
                "--no-annotate",
                "--python",
            ])
            .arg(base.base.join("bin/python"))
            .arg(&input)
            .arg("-o")
            .arg(&output);
        })
        .await?;
        let resolved = std::fs::read_to_string(&output)
            .map(|t| parse_pins(&t))
            .map_err(io_err("reading the resolution"))?;
        let extra = beyond(&resolved, &base_pins);
        if extra.is_empty() {
            log.line("The base environment already has every resolved package.");
            return Ok(base);
        }
        let key = resolve::env_key(&base.key, &python, &extra);
        let env = match self.get(&key) {
            Some(env) => {
                log.line(format!(
                    "Environment {key} already has exactly these packages; reusing it."
                ));
                env
            }
            None => {
                log.line(format!(
                    "Installing {} package(s) beyond the base into {key}: {}",
                    extra.len(),
                    extra
                        .iter()
                        .map(|(n, v)| format!("{n}=={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let target = self.tmp_dir(&key)?;
                let pinned = tmp.path().join("extra.txt");
                std::fs::write(&pinned, render_pins(&extra))
                    .map_err(io_err("writing the pins to install"))?;
                self.uv(log, "installing the packages", |c| {
                    c.args([
                        "pip",
                        "install",
                        "--only-binary",
                        ":all:",
                        "--no-deps",
                        "--compile-bytecode",
                        "--target",
                    ])
                    .arg(target.path())
                    .arg("--python")
                    .arg(base.base.join("bin/python"))
                    .arg("-r")
                    .arg(&pinned);
                })
                .await?;
                self.publish(target, &key, &base.key, &python, &extra)?;
                log.line(format!(
                    "Built environment {key} in {:.1} s.",
                    started.elapsed().as_secs_f64()
                ));
                self.get(&key)
                    .ok_or_else(|| EnvError::Failed(format!("environment {key} vanished")))?
            }
        };
        write_atomically(&request_file, env.key.as_bytes())?;
        Ok(env)
    }

    /// The environment for a requirement set when no uv is needed: the built base
    /// meets it, or the same set was built before. `None` means [`build`](Self::build) has work to do.
    pub async fn find(&self, requirements: &str) -> Option<EnvRef> {
        self.find_explained(requirements).await.map(|(env, _)| env)
    }

    /// [`find`](Self::find), with a sentence for the build log saying why no build is needed.
    pub async fn find_explained(&self, requirements: &str) -> Option<(EnvRef, String)> {
        let wanted = parse_requirements(requirements).ok()?;
        let base = self.get(&self.base_key().await.ok()?)?;
        self.known(&base, &wanted, requirements).await
    }

    async fn known(
        &self,
        base: &EnvRef,
        wanted: &[resolve::Wanted],
        requirements: &str,
    ) -> Option<(EnvRef, String)> {
        if satisfied_by(wanted, &self.pins(base).ok()?) {
            let why = match wanted.len() {
                0 => format!("The base environment {} is ready.", base.key),
                n => format!(
                    "All {n} requirements are met by the base environment {}; nothing to install.",
                    base.key
                ),
            };
            return Some((base.clone(), why));
        }
        let request = self.request_file(base, requirements).await.ok()?;
        let env = self.get(std::fs::read_to_string(request).ok()?.trim())?;
        let why = format!(
            "Reusing environment {} built for the same requirements.",
            env.key
        );
        Some((env, why))
    }

    /// Every pin of a base environment.
    fn pins(&self, base: &EnvRef) -> Result<Pins, EnvError> {
        let manifest = read_manifest(&base.base)
            .ok_or_else(|| EnvError::Failed(format!("the base {} has no manifest", base.key)))?;
        Ok(parse_pins(&manifest.packages.join("\n")))
    }

    async fn request_file(&self, base: &EnvRef, requirements: &str) -> Result<PathBuf, EnvError> {
        let python = self.python_tag().await?;
        let request = resolve::request_key(&base.key, &python, requirements);
        Ok(self.inner.root.join("requests").join(request))
    }

    /// Every environment on disk.
    pub fn list(&self) -> Vec<EnvInfo> {
        let mut all = Vec::new();
        for kind in ["base", "extra"] {
            let Ok(entries) = std::fs::read_dir(self.inner.root.join(kind)) else {
                continue;
            };
            for dir in entries.flatten().map(|e| e.path()) {
                if let Some(m) = read_manifest(&dir) {
                    all.push(EnvInfo {
                        last_used: last_used(&dir),
                        packages: m.packages.len(),
                        key: m.key,
                        base: m.base,
                        python: m.python,
                    });
                }
            }
        }
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    /// Deletes environments unused for `unused_for`, except those in `in_use`, the
    /// current base, and bases that a kept overlay stands on. Returns the deleted keys.
    pub async fn gc(
        &self,
        unused_for: Duration,
        in_use: &HashSet<String>,
    ) -> Result<Vec<String>, EnvError> {
        let current_base = self.base_key().await?;
        let now = SystemTime::now();
        let old = |info: &EnvInfo| {
            now.duration_since(info.last_used)
                .is_ok_and(|age| age >= unused_for)
        };
        let all = self.list();
        let mut deleted = Vec::new();
        let mut bases_needed: HashSet<String> = in_use.clone();
        bases_needed.insert(current_base);
        for env in all.iter().filter(|e| e.key != e.base) {
            if in_use.contains(&env.key) || !old(env) {
                bases_needed.insert(env.base.clone());
            } else if self.delete(&env.key) {
                deleted.push(env.key.clone());
            }
        }
        for base in all.iter().filter(|e| e.key == e.base) {
            if !bases_needed.contains(&base.key) && old(base) && self.delete(&base.key) {
                deleted.push(base.key.clone());
            }
        }
        // Requests that point at deleted environments, and builds abandoned by a crash.
        if let Ok(entries) = std::fs::read_dir(self.inner.root.join("requests")) {
            for path in entries.flatten().map(|e| e.path()) {
                let target = std::fs::read_to_string(&path).unwrap_or_default();
                if !self.dir(target.trim()).join(MANIFEST).is_file() {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        // Build folders and live logs a crash left behind; no build runs for a day.
        for leftovers in ["tmp", "logs"] {
            let Ok(entries) = std::fs::read_dir(self.inner.root.join(leftovers)) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                let stale = path
                    .symlink_metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age > Duration::from_secs(24 * 3600));
                if stale {
                    let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
                }
            }
        }
        Ok(deleted)
    }

    /// Removes an environment: first out of sight with a rename, then from disk.
    /// A failure is logged and the rest of a collection goes on.
    fn delete(&self, key: &str) -> bool {
        let result = self.tmp_dir(&format!("deleted-{key}")).and_then(|grave| {
            let grave = grave.keep();
            std::fs::remove_dir(&grave)
                .and_then(|()| std::fs::rename(self.dir(key), &grave))
                .and_then(|()| std::fs::remove_dir_all(&grave))
                .map_err(io_err(format!("deleting {}", self.dir(key).display())))
        });
        match result {
            Ok(()) => {
                tracing::info!(environment = key, "deleted an unused environment");
                true
            }
            Err(e) => {
                tracing::warn!(environment = key, error = %e, "could not delete an unused environment");
                false
            }
        }
    }

    /// A fresh folder under `tmp/`, readable by sandboxes once it is published.
    fn tmp_dir(&self, name: &str) -> Result<tempfile::TempDir, EnvError> {
        let parent = self.inner.root.join("tmp");
        create_public_dir(&parent)?;
        tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .tempdir_in(&parent)
            .map_err(io_err("creating a build folder"))
    }

    /// The layer holding Burrow's own module at this binary's version, written once per
    /// version (it is named by its content), returning its key.
    pub fn ensure_lib(&self) -> Result<String, EnvError> {
        let module = BURROW_MODULE.replace("{version}", env!("CARGO_PKG_VERSION"));
        let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
            sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), module.as_bytes()),
            JOB_RUNNER.as_bytes(),
        ));
        let key = format!("lib-{}", &hex::encode(digest)[..16]);
        if self.dir(&key).join(MANIFEST).is_file() {
            return Ok(key);
        }
        let tmp = self.tmp_dir(&key)?;
        let package = tmp.path().join("burrow");
        std::fs::create_dir(&package)
            .and_then(|()| std::fs::write(package.join("__init__.py"), &module))
            .and_then(|()| std::fs::write(package.join("_job.py"), JOB_RUNNER))
            .map_err(io_err(format!(
                "writing Burrow's module under {}",
                tmp.path().display()
            )))?;
        self.publish(tmp, &key, &key, "", &Pins::default())?;
        Ok(key)
    }

    /// Writes the manifest and renames the finished folder into place. If another
    /// build published the same key first, that one stays and this one is dropped.
    fn publish(
        &self,
        tmp: tempfile::TempDir,
        key: &str,
        base: &str,
        python: &str,
        pins: &Pins,
    ) -> Result<(), EnvError> {
        let manifest = Manifest {
            key: key.to_owned(),
            base: base.to_owned(),
            python: python.to_owned(),
            packages: render_pins(pins).lines().map(str::to_owned).collect(),
            created_at_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default(),
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        let manifest_path = tmp.path().join(MANIFEST);
        std::fs::write(tmp.path().join(LAST_USED), b"")
            .and_then(|()| write_synced(&manifest_path, &json))
            .map_err(io_err(format!("writing {}", manifest_path.display())))?;
        make_tree_readable(tmp.path())
            .map_err(io_err(format!("opening up {}", tmp.path().display())))?;
        let dest = self.dir(key);
        create_public_dir(dest.parent().expect("environment folders have a parent"))?;
        // A folder without a valid manifest at the key is debris from a crash.
        if dest.exists() && read_manifest(&dest).is_none() {
            let _ = std::fs::remove_dir_all(&dest);
        }
        burrow_fs::publish_dir(&tmp.keep(), &dest, |d| read_manifest(d).is_some())
            .map_err(io_err(format!("publishing {}", dest.display())))
    }

    /// Runs uv with its output going to the log; a failure carries uv's reason.
    async fn uv(
        &self,
        log: &mut BuildLog,
        what: &str,
        args: impl FnOnce(&mut tokio::process::Command),
    ) -> Result<(), EnvError> {
        self.run_uv(log, what, args, false).await.map(drop)
    }

    /// Runs uv and returns its standard output; its errors go to the log.
    async fn uv_output(
        &self,
        log: &mut BuildLog,
        what: &str,
        args: impl FnOnce(&mut tokio::process::Command),
    ) -> Result<String, EnvError> {
        self.run_uv(log, what, args, true).await
    }

    async fn run_uv(
        &self,
        log: &mut BuildLog,
        what: &str,
        args: impl FnOnce(&mut tokio::process::Command),
        capture: bool,
    ) -> Result<String, EnvError> {
        let mut cmd = tokio::process::Command::new(&self.inner.uv);
        args(&mut cmd);
        let shown: Vec<String> = std::iter::once(cmd.as_std().get_program())
            .chain(cmd.as_std().get_args())
            .map(OsStr::to_string_lossy)
            .map(|a| a.into_owned())
            .collect();
        log.line(format!("$ {}", shown.join(" ")));
        let offset = log.len();
        create_public_dir(&self.inner.root)?;
        cmd.current_dir(&self.inner.root)
            .env("UV_CACHE_DIR", &self.inner.cache)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_PROGRESS", "1")
            .stdin(Stdio::null())
            .stdout(if capture {
                Stdio::piped()
            } else {
                log.stdio()?
            })
            .stderr(log.stdio()?)
            .kill_on_drop(true);
        // Not `output()`: tokio's pipes both streams there, and stderr belongs in the log.
        let child = cmd.spawn().map_err(|e| {
            EnvError::Setup(if e.kind() == io::ErrorKind::NotFound {
                format!(
                    "uv was not found ({}): `make deps` installs it into .tools/bin; or set envs.uv (BURROW_ENVS__UV) to its path",
                    self.inner.uv.display()
                )
            } else {
                format!("cannot run uv ({}): {e}", self.inner.uv.display())
            })
        })?;
        let out = child
            .wait_with_output()
            .await
            .map_err(io_err("waiting for uv"))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let why = resolve::uv_failure(&log.since(offset))
            .unwrap_or_else(|| format!("uv exited with {}", out.status));
        log.line(format!("Failed {what}."));
        Err(EnvError::Failed(format!("{what} failed: {why}")))
    }
}

/// `base-…` or `env-…` with letters, digits and dashes: never a path.
fn is_key(key: &str) -> bool {
    (key.starts_with("base-") || key.starts_with("env-") || key.starts_with("lib-"))
        && key[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).ok()?).ok()
}

fn touch(dir: &Path) {
    if let Ok(f) = File::options().write(true).open(dir.join(LAST_USED)) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn last_used(dir: &Path) -> SystemTime {
    std::fs::metadata(dir.join(LAST_USED))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Replaces `path` with `bytes` in one rename, creating its folder first.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EnvError> {
    let dir = path.parent().expect("request files have a parent");
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    burrow_fs::write_atomic(path, bytes).map_err(io_err(format!("writing {}", path.display())))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Sandboxes read environments (and app code) as another user: whatever the umask, every
/// folder becomes 0755 and every file readable by all (executable if its owner may run it).
pub fn make_tree_readable(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = dir.symlink_metadata()?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    if !meta.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        if meta.is_dir() {
            make_tree_readable(&entry.path())?;
        } else if meta.is_file() {
            let mode = meta.permissions().mode();
            let wanted = mode | 0o444 | if mode & 0o100 != 0 { 0o111 } else { 0 };
            if wanted != mode {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(wanted))?;
            }
        }
    }
    Ok(())
}

/// Environments are read by sandbox users, which are not the owner: folders must be
/// traversable by all (0755), though nothing in them is writable but by the owner.
fn create_public_dir(dir: &Path) -> Result<(), EnvError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
        .map_err(io_err(format!("creating {}", dir.display())))
}
