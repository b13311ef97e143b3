//! Upload validation for Burrow: bytes in, verdict out. Pure, so it can be fuzzed.
//!
//! [`validate`] takes an uploaded `.py` or `.zip`, the package allowlist and a
//! [`Policy`], and returns either a [`ValidBundle`] (canonical files, their
//! sha256, the packages, the warnings) or a [`Rejection`] listing every
//! problem found. Nothing here touches the disk, the network or the clock.
//!
//! The static scan of Python code is a guardrail that tells authors early what
//! will not work. It is not the wall: sandboxed code is contained by the
//! sandbox whether or not it gets past these checks.

mod archive;
mod canonical;
mod infer;
pub mod requirements;
mod scan;
pub mod script;

use std::collections::BTreeMap;

use serde::Serialize;

pub use archive::{path_problem, read_zip};
pub use requirements::{Allowlist, Requirement};

/// Limits on archives, applied while reading (header sizes are not trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipLimits {
    /// Total uncompressed bytes.
    pub max_total_bytes: u64,
    pub max_entries: usize,
    /// Path components, files included.
    pub max_depth: usize,
    /// Bytes in one path.
    pub max_name_len: usize,
    /// Uncompressed bytes per compressed byte, per entry.
    pub max_ratio: u64,
    /// Bytes in one Python file.
    pub max_python_bytes: usize,
    /// Whether entries all under one top folder (a zip of a folder) lose that folder.
    pub unwrap_top_folder: bool,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 100 * 1000 * 1000,
            max_entries: 2000,
            max_depth: 16,
            max_name_len: 255,
            max_ratio: 200,
            max_python_bytes: 1000 * 1000,
            unwrap_top_folder: true,
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What an upload must contain and how strict the scan is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub limits: ZipLimits,
    /// The file that must exist, such as `app.py` for apps.
    pub entrypoint: String,
    /// Modules whose import is flagged (a module and its submodules).
    pub banned_imports: Vec<String>,
    /// Calls that are flagged, as `module.function`; `*` at the end matches a prefix.
    pub banned_calls: Vec<String>,
    /// Whether banned imports and calls are errors or warnings.
    pub banned_severity: Severity,
}

impl Policy {
    /// The policy for Streamlit apps: `app.py` required, banned code is an error.
    pub fn app() -> Self {
        Self {
            limits: ZipLimits::default(),
            entrypoint: "app.py".into(),
            banned_imports: ["subprocess", "socket", "ctypes", "pty", "multiprocessing"]
                .map(String::from)
                .to_vec(),
            banned_calls: ["os.system", "os.exec*", "os.spawn*", "os.popen", "os.fork*"]
                .map(String::from)
                .to_vec(),
            banned_severity: Severity::Error,
        }
    }
}

/// One problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The file in the bundle, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

impl Finding {
    pub fn error(file: Option<&str>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: file.map(str::to_owned),
            line,
            message: message.into(),
        }
    }

    pub fn warning(file: Option<&str>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            file: file.map(str::to_owned),
            line,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Why an upload was refused: every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("the upload was rejected: {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Rejection {
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// An accepted upload in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidBundle {
    /// Every file, by path. `requirements.txt` is the normalised one.
    #[serde(skip)]
    pub files: BTreeMap<String, Vec<u8>>,
    /// File paths and sizes, for manifests.
    pub manifest: Vec<(String, u64)>,
    /// The canonical zip: sorted entries, fixed timestamps.
    #[serde(skip)]
    pub archive: Vec<u8>,
    /// sha256 of `archive`, hex.
    pub sha256: String,
    pub packages: Vec<Requirement>,
    /// Whether `packages` came from imports because there was no requirements.txt.
    pub inferred: bool,
    pub warnings: Vec<Finding>,
}

/// Streamlit's secrets file, at any depth: `.streamlit/secrets.toml`.
fn is_secrets_file(path: &str) -> bool {
    path == ".streamlit/secrets.toml" || path.ends_with("/.streamlit/secrets.toml")
}

/// Validates an upload named `filename` (`.py` or `.zip`).
pub fn validate(
    filename: &str,
    bytes: &[u8],
    allowlist: &Allowlist,
    policy: &Policy,
) -> Result<ValidBundle, Rejection> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let files = match archive::read_upload(filename, bytes, &policy.limits, &policy.entrypoint) {
        Ok((files, notes)) => {
            warnings.extend(notes);
            files
        }
        Err(found) => {
            return Err(Rejection {
                errors: found,
                warnings,
            })
        }
    };
    if !files.contains_key(&policy.entrypoint) {
        errors.push(Finding::error(
            None,
            None,
            format!(
                "there is no {} at the top of the upload: it is the file Burrow runs",
                policy.entrypoint
            ),
        ));
    }
    for path in files.keys().filter(|p| is_secrets_file(p)) {
        errors.push(Finding::error(
            Some(path),
            None,
            "secrets do not belong in the upload: everyone who may download the bundle would \
             read them; remove the file and set each value under the app's Secrets",
        ));
    }
    let mut imports = Vec::new();
    for (path, content) in files.iter().filter(|(p, _)| p.ends_with(".py")) {
        let Ok(source) = std::str::from_utf8(content) else {
            errors.push(Finding::error(
                Some(path),
                None,
                "the file is not UTF-8 text: save it as UTF-8",
            ));
            continue;
        };
        if source.len() > policy.limits.max_python_bytes {
            errors.push(Finding::error(
                Some(path),
                None,
                format!(
                    "the file is larger than {} bytes: split it into modules",
                    policy.limits.max_python_bytes
                ),
            ));
            continue;
        }
        match scan::scan(path, source, policy) {
            Ok(result) => {
                for f in result.findings {
                    match f.severity {
                        Severity::Error => errors.push(f),
                        Severity::Warning => warnings.push(f),
                    }
                }
                imports.extend(result.imports);
            }
            Err(syntax) => errors.push(syntax),
        }
    }
    let (packages, inferred) = match files.get("requirements.txt") {
        Some(content) => match std::str::from_utf8(content) {
            Ok(text) => match requirements::parse(text, allowlist) {
                Ok(packages) => (packages, false),
                Err(found) => {
                    errors.extend(found);
                    (Vec::new(), false)
                }
            },
            Err(_) => {
                errors.push(Finding::error(
                    Some("requirements.txt"),
                    None,
                    "the file is not UTF-8 text",
                ));
                (Vec::new(), false)
            }
        },
        None => match infer::requirements(&imports, &files, allowlist) {
            Ok(packages) => (packages, true),
            Err(found) => {
                errors.extend(found);
                (Vec::new(), true)
            }
        },
    };
    if !errors.is_empty() {
        return Err(Rejection { errors, warnings });
    }
    let mut files = files;
    files.insert(
        "requirements.txt".into(),
        requirements::render(&packages).into_bytes(),
    );
    let archive = canonical::zip(&files);
    let sha256 = canonical::sha256_hex(&archive);
    Ok(ValidBundle {
        manifest: files
            .iter()
            .map(|(p, c)| (p.clone(), c.len() as u64))
            .collect(),
        files,
        archive,
        sha256,
        packages,
        inferred,
        warnings,
    })
}
