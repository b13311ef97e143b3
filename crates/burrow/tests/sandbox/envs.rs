//! Environments built with uv run inside real sandboxes, read-only, with overlays stacked on the base.

use std::process::Command;

use crate::helpers::{ok, Host, BURROW};

/// `burrow ARGS` on this host's data directory, sharing the test suite's uv cache.
fn burrow(host: &Host, args: &[&str]) -> std::process::Output {
    Command::new(BURROW)
        .env("BURROW_DATA_DIR", host.dir.path())
        .env(
            "BURROW_ENVS__CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("uv-cache"),
        )
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn an_environment_runs_read_only_in_a_sandbox_with_its_overlay() {
    let host = Host::new();
    ok(burrow(&host, &["packages", "add", "tabulate"]));
    let requirements = host.dir.path().join("requirements.txt");
    std::fs::write(&requirements, "tabulate\n").unwrap();
    let built = ok(burrow(
        &host,
        &[
            "runtime",
            "build",
            "--requirements",
            requirements.to_str().unwrap(),
        ],
    ));
    let env = built
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("environment "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the build names its environment: {built}"))
        .to_owned();
    let list = ok(burrow(&host, &["runtime", "list"]));
    let base = list
        .lines()
        .find_map(|l| l.strip_prefix("base-"))
        .and_then(|l| l.split_whitespace().next())
        .map(|k| format!("base-{k}"))
        .unwrap_or_else(|| panic!("the list shows the base: {list}"));
    assert!(list.contains(&env), "{list}");

    let envs = host.dir.path().join("envs");
    let base_mount = format!(
        "{}:/opt/burrow/env",
        envs.join("base").join(&base).display()
    );
    let extra_mount = format!(
        "{}:/opt/burrow/extra",
        envs.join("extra").join(&env).display()
    );
    let code = "import errno, streamlit, tabulate\n\
                print(streamlit.__version__, tabulate.__file__)\n\
                try:\n    open('/opt/burrow/env/planted.py', 'w')\n\
                except OSError as e:\n    print('read-only' if e.errno == errno.EROFS else e)\n";
    let out = host
        .cli()
        .args(["run", "--mount", &base_mount, "--mount", &extra_mount])
        .args(["--env", "PYTHONPATH=/opt/burrow/extra"])
        .args(["--", "/opt/burrow/env/bin/python", "-c", code])
        .output()
        .unwrap();
    let printed = ok(out);
    assert!(
        printed.contains("1.67.0 /opt/burrow/extra/tabulate/__init__.py"),
        "{printed}"
    );
    assert!(printed.contains("read-only"), "{printed}");
}
