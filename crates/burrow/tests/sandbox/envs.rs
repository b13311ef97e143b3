//! Environments built with uv run inside real sandboxes, read-only, with overlays stacked on the base.

use std::path::Path;
use std::process::Command;

use crate::helpers::{ok, Host, BURROW};

/// The uv cache every test shares, so only the first run downloads.
fn cache_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("uv-cache")
}

/// `burrow ARGS` on this host's data directory, sharing the test suite's uv cache.
fn burrow(host: &Host, args: &[&str]) -> std::process::Output {
    burrow_with(host, args, &[])
}

fn burrow_with(host: &Host, args: &[&str], vars: &[(&str, &Path)]) -> std::process::Output {
    Command::new(BURROW)
        .envs(vars.iter().copied())
        .env("BURROW_DATA_DIR", host.dir.path())
        .env("BURROW_ENVS__CACHE_DIR", cache_dir())
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
    // Under a strict umask too: sandbox users must still be able to read it.
    let built = ok(Command::new("/bin/sh")
        .args(["-c", "umask 077; exec \"$@\"", "sh", BURROW])
        .args(["runtime", "build", "--requirements"])
        .arg(&requirements)
        .env("BURROW_DATA_DIR", host.dir.path())
        .env("BURROW_ENVS__CACHE_DIR", cache_dir())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap());
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

/// SECURITY.md, uploads: installs take wheels only, so no `setup.py` runs on the host.
/// The index offers only a source archive whose `setup.py` would leave a marker file.
#[test]
fn a_package_without_wheels_fails_without_running_its_setup_py() {
    let host = Host::new();
    let links = host.dir.path().join("links");
    let marker = host.dir.path().join("setup-py-ran");
    std::fs::create_dir(&links).unwrap();
    let sdist = format!(
        "import io, tarfile\n\
         files = {{'PKG-INFO': 'Metadata-Version: 2.1\\nName: evil-burrow-probe\\nVersion: 1.0\\n',\n\
                  'setup.py': 'open({marker:?}, \"w\").close()\\nfrom setuptools import setup\\nsetup(name=\"evil-burrow-probe\", version=\"1.0\")\\n'}}\n\
         with tarfile.open({out:?}, 'w:gz') as t:\n\
         \x20   for name, text in files.items():\n\
         \x20       info = tarfile.TarInfo('evil_burrow_probe-1.0/' + name)\n\
         \x20       info.size = len(text)\n\
         \x20       t.addfile(info, io.BytesIO(text.encode()))\n",
        marker = marker.display().to_string(),
        out = links.join("evil_burrow_probe-1.0.tar.gz").display().to_string(),
    );
    ok(Command::new("/usr/bin/python3")
        .args(["-c", &sdist])
        .output()
        .unwrap());

    ok(burrow(&host, &["packages", "add", "evil-burrow-probe"]));
    let requirements = host.dir.path().join("requirements.txt");
    std::fs::write(&requirements, "evil-burrow-probe\n").unwrap();
    let out = burrow_with(
        &host,
        &[
            "runtime",
            "build",
            "--requirements",
            requirements.to_str().unwrap(),
        ],
        &[("UV_FIND_LINKS", &links)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("evil-burrow-probe") && stderr.contains("no usable wheels"),
        "{stderr}"
    );
    assert!(!marker.exists(), "setup.py ran on the host");
}
