//! Repository hygiene checked inside `cargo test`: every Rust module says what it is for.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "snapshots")
            {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(crates, &mut files);
    assert!(
        files.len() > 20,
        "found only {} files under {}",
        files.len(),
        crates.display()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//! "))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not start with a `//! ` line saying what they are for:\n{}",
        missing.join("\n")
    );
}

/// The `burrow-*` crates a crate's `[dependencies]` names (not its dev-dependencies).
fn burrow_dependencies(krate: &str) -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line;
        } else if section == "[dependencies]" && line.starts_with("burrow-") {
            out.push(line.split(['.', ' ', '=']).next().unwrap().to_owned());
        }
    }
    out
}

/// The layering ARCHITECTURE.md promises, checked on the manifests: the sandbox knows
/// nothing of what runs in it, the supervisor and the queue nothing of apps, and the
/// gateway nothing of the API; the use cases sit below both HTTP edges.
#[test]
fn crates_depend_only_downwards() {
    let refuse = |krate: &str, forbidden: &[&str]| {
        let deps = burrow_dependencies(krate);
        for f in forbidden {
            assert!(
                !deps.iter().any(|d| d == f),
                "{krate} must not depend on {f}: see ARCHITECTURE.md (its dependencies: {deps:?})"
            );
        }
    };
    let above_runtime = [
        "burrow-apps",
        "burrow-api",
        "burrow-gateway",
        "burrow-service",
        "burrow-envs",
        "burrow-store",
        "burrow-sessions",
        "burrow-queue",
    ];
    refuse("burrow-sandbox", &above_runtime);
    // The Kubernetes runtime is a runtime like the local one: only the binary picks it.
    refuse("burrow-kube", &above_runtime);
    let picks_kube: Vec<String> = [
        "burrow-apps",
        "burrow-api",
        "burrow-gateway",
        "burrow-service",
        "burrow-sessions",
        "burrow-jobs",
    ]
    .iter()
    .filter(|k| burrow_dependencies(k).iter().any(|d| d == "burrow-kube"))
    .map(|k| k.to_string())
    .collect();
    assert!(
        picks_kube.is_empty(),
        "{picks_kube:?} must reach sandboxes through the Runtime trait"
    );
    refuse(
        "burrow-sessions",
        &[
            "burrow-apps",
            "burrow-api",
            "burrow-gateway",
            "burrow-service",
        ],
    );
    refuse(
        "burrow-queue",
        &[
            "burrow-apps",
            "burrow-api",
            "burrow-gateway",
            "burrow-service",
        ],
    );
    refuse("burrow-gateway", &["burrow-api"]);
    refuse("burrow-service", &["burrow-api", "burrow-gateway"]);
    // The egress proxy decides on requests and addresses alone: it knows no sandbox,
    // app or store, so every workload serves it the same way.
    assert_eq!(
        burrow_dependencies("burrow-egress"),
        Vec::<String>::new(),
        "burrow-egress depends on no other Burrow crate: see ARCHITECTURE.md"
    );
    // Tables and queries know files, Arrow and an object store: no store, sandbox or app;
    // callers hand the engine the tables a query may see.
    assert_eq!(
        burrow_dependencies("burrow-data"),
        Vec::<String>::new(),
        "burrow-data depends on no other Burrow crate: see ARCHITECTURE.md"
    );
    // A job's sandbox knows the runtime and the environments, not jobs' rows or tables.
    assert_eq!(
        burrow_dependencies("burrow-jobs"),
        ["burrow-envs", "burrow-sandbox"]
    );
    // The client speaks the public HTTP API only, as any other client of a server would.
    assert_eq!(
        burrow_dependencies("burrow-client"),
        Vec::<String>::new(),
        "burrow-client depends on no other Burrow crate: see ARCHITECTURE.md"
    );
    // The package index knows the allowlist's rules (`burrow-bundle`), nothing else.
    assert_eq!(burrow_dependencies("burrow-index"), ["burrow-bundle"]);
    assert!(burrow_dependencies("burrow-gateway").contains(&"burrow-service".to_owned()));
    assert!(burrow_dependencies("burrow-api").contains(&"burrow-service".to_owned()));
}

/// The API crate serves HTTP and starts no tasks: background work belongs to `serve`.
#[test]
fn the_api_crate_starts_no_tasks() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("burrow-api/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let spawning: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("tokio::spawn(") || text.contains("task::spawn(")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        spawning.is_empty(),
        "these API files start tasks: {spawning:?}"
    );
}
