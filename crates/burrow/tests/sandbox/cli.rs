//! `burrow sandbox run | ps | gc | doctor` end to end.

use std::process::Stdio;

use crate::helpers::{ok, stderr, stdout, Host};

#[test]
fn run_streams_output_and_passes_the_exit_code_through() {
    let host = Host::new();
    let out = host.python(
        &[],
        "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(7)",
    );
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "to stdout\n");
    assert_eq!(stderr(&out), "to stderr\n");
}

#[test]
fn a_timeout_prints_one_line_and_exits_124() {
    let host = Host::new();
    let out = host.python(&["--timeout", "1s"], "import time; time.sleep(30)");
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(stderr(&out), "burrow: killed: timeout after 1s\n");
}

#[test]
fn bad_flags_are_named() {
    let host = Host::new();
    let out = host
        .cli()
        .args(["run", "--memory", "lots", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--memory"), "{}", stderr(&out));
    let out = host
        .cli()
        .args(["run", "--mount", "/nonexistent:/code", "--", "true"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("/nonexistent"), "{}", stderr(&out));
    let out = host
        .cli()
        .args(["run", "--", "no-such-program"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn doctor_finds_this_host_ready() {
    let host = Host::new();
    let text = ok(host.cli().arg("doctor").output().unwrap());
    assert!(text.contains("OCI runtime: runc"), "{text}");
    assert!(text.contains("cgroups: v"), "{text}");
    assert!(text.contains("This host can run sandboxes."), "{text}");
}

#[test]
fn gc_reaps_the_sandbox_of_a_killed_cli() {
    let host = Host::new();
    let mut child = host
        .cli()
        .args([
            "run",
            "--label",
            "purpose=orphan",
            "--",
            "python3",
            "-c",
            "print('up', flush=True); import time; time.sleep(120)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 3];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"up\n");
    // Its CLI holds the sandbox's lease: gc leaves it alone.
    let gc = ok(host.cli().arg("gc").output().unwrap());
    assert!(gc.contains("reaped 0"), "{gc}");
    child.kill().unwrap(); // SIGKILL: the CLI gets no chance to clean up.
    child.wait().unwrap();

    let ps = ok(host.cli().arg("ps").output().unwrap());
    assert!(
        ps.contains("running") && ps.contains("purpose=orphan"),
        "the sandbox outlives its CLI:\n{ps}"
    );
    let gc = ok(host.cli().arg("gc").output().unwrap());
    assert!(gc.contains("reaped 1"), "{gc}");
    let ps = ok(host.cli().arg("ps").output().unwrap());
    assert_eq!(ps.lines().count(), 1, "only the header is left:\n{ps}");
    let leases = host.dir.path().join("sandboxes/leases");
    assert_eq!(
        std::fs::read_dir(&leases).unwrap().count(),
        0,
        "the dead CLI's lease file is swept"
    );
}
