//! A generated corpus of hostile and valid uploads, each checked for the right verdict and message.

use std::io::Write;

use burrow_bundle::{validate, Allowlist, Policy, Rejection, ValidBundle, ZipLimits};
use zip::write::SimpleFileOptions;

fn allowlist() -> Allowlist {
    Allowlist::new([
        ("streamlit", None),
        ("pandas", Some("2.2")),
        ("scikit-learn", None),
        ("pillow", None),
    ])
    .unwrap()
}

const APP: &str = "import streamlit as st\nst.title('CSV Explorer')\n";

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn check(name: &str, bytes: &[u8]) -> Result<ValidBundle, Rejection> {
    validate(name, bytes, &allowlist(), &Policy::app())
}

/// Asserts a rejection whose messages include `needle`, and returns it.
fn rejected(result: Result<ValidBundle, Rejection>, needle: &str) -> Rejection {
    let rejection = result.expect_err("the upload must be rejected");
    let all = rejection
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains(needle), "expected {needle:?} in:\n{all}");
    rejection
}

/// Replaces every occurrence of `from` with `to` (same length) in the raw archive:
/// local headers and central directory alike.
fn patch(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    let mut count = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            count += 1;
        }
        i += 1;
    }
    assert!(count >= 2, "patched {count} places");
    bytes
}

#[test]
fn traversal_absolute_and_backslash_names_reject_the_whole_upload() {
    for (name, why) in [
        ("../evil.py", ".."),
        ("a/../../evil.py", ".."),
        ("/etc/cron.d/x", "absolute"),
        ("pages\\x.py", "backslash"),
    ] {
        let bytes = zip_of(&[("app.py", APP.as_bytes()), (name, b"x")]);
        rejected(check("u.zip", &bytes), why);
    }
}

#[test]
fn links_and_special_files_are_refused() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", SimpleFileOptions::default())
        .unwrap();
    w.write_all(APP.as_bytes()).unwrap();
    w.add_symlink("data.csv", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let bytes = w.finish().unwrap().into_inner();
    rejected(check("u.zip", &bytes), "symbolic link");
}

#[test]
fn zip_bombs_stop_while_streaming() {
    // By ratio: 20 MB of zeros deflate to about 20 KB.
    let zeros = vec![0u8; 20 << 20];
    let bytes = zip_of(&[("app.py", APP.as_bytes()), ("zeros.bin", &zeros)]);
    assert!(bytes.len() < 100 << 10);
    rejected(check("u.zip", &bytes), "zip bomb");

    // By total: many moderately compressible files past the cap.
    let policy = Policy {
        limits: ZipLimits {
            max_total_bytes: 4000,
            ..ZipLimits::default()
        },
        ..Policy::app()
    };
    let bytes = zip_of(&[
        ("app.py", APP.as_bytes()),
        ("a.txt", &[b'a'; 3000]),
        ("b.txt", &[b'b'; 3000]),
    ]);
    let rejection = validate("u.zip", &bytes, &allowlist(), &policy).unwrap_err();
    assert!(
        rejection.errors[0].message.contains("more than 4000 bytes"),
        "{rejection:?}"
    );

    // Headers that lie: the sizes claim 1 byte; the real data is far larger.
    let honest = zip_of(&[
        ("app.py", APP.as_bytes()),
        ("lie.txt", &vec![b'x'; 1 << 20]),
    ]);
    let size = (1u32 << 20).to_le_bytes();
    let lying = patch(honest, &size, &1u32.to_le_bytes());
    let rejection = check("u.zip", &lying).expect_err("a lying archive is rejected");
    assert!(!rejection.errors.is_empty());
}

#[test]
fn too_many_entries_too_deep_or_too_long() {
    let policy = Policy {
        limits: ZipLimits {
            max_entries: 10,
            ..ZipLimits::default()
        },
        ..Policy::app()
    };
    let names: Vec<String> = (0..11).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let rejection = validate("u.zip", &zip_of(&entries), &allowlist(), &policy).unwrap_err();
    assert!(
        rejection.errors[0].message.contains("11 entries"),
        "{rejection:?}"
    );

    let deep = format!("{}app.py", "d/".repeat(16));
    rejected(
        check(
            "u.zip",
            &zip_of(&[("app.py", APP.as_bytes()), (&deep, b"x")]),
        ),
        "nested more than 16",
    );
    let long = format!("{}.py", "n".repeat(300));
    rejected(
        check(
            "u.zip",
            &zip_of(&[("app.py", APP.as_bytes()), (&long, b"x")]),
        ),
        "longer than 255",
    );
}

#[test]
fn tampered_end_records_and_zip64_are_refused() {
    let honest = zip_of(&[("app.py", APP.as_bytes()), ("x1.py", b"1"), ("x2.py", b"2")]);
    // Junk after the end record.
    let mut trailing = honest.clone();
    trailing.extend_from_slice(b"PK\x05\x06\0\0\0\0\x02\0\x02\0");
    rejected(check("u.zip", &trailing), "end-of-directory record");
    // Entry counts that disagree, as a duplicate hidden by one count would need.
    let eocd = honest.len() - 22;
    let mut counts = honest.clone();
    counts[eocd + 8] = 4;
    assert!(
        check("u.zip", &counts).is_err(),
        "disagreeing entry counts are refused"
    );
    let mut zip64 = honest.clone();
    zip64[eocd + 16..eocd + 20].copy_from_slice(&[0xff; 4]);
    assert!(check("u.zip", &zip64).is_err());
}

#[test]
fn requirements_in_the_wrong_case_and_file_folder_clashes() {
    let bytes = zip_of(&[
        ("app.py", APP.as_bytes()),
        ("Requirements.txt", b"--extra-index-url https://evil\n"),
    ]);
    rejected(check("u.zip", &bytes), "in lower case");
    let bytes = zip_of(&[
        ("app.py", APP.as_bytes()),
        ("data", b"1"),
        ("data/x.csv", b"2"),
    ]);
    rejected(check("u.zip", &bytes), "both a file and a folder");
}

#[test]
fn huge_python_files_are_refused() {
    let big = format!("{}x = 1\n", "# padding\n".repeat(120_000));
    rejected(check("app.py", big.as_bytes()), "larger than 1000000 bytes");
}

#[test]
fn duplicate_and_case_colliding_names() {
    let dup = patch(
        zip_of(&[("app.py", APP.as_bytes()), ("x1.py", b"1"), ("x2.py", b"2")]),
        b"x2.py",
        b"x1.py",
    );
    rejected(check("u.zip", &dup), "appears twice");
    rejected(
        check(
            "u.zip",
            &zip_of(&[
                ("app.py", APP.as_bytes()),
                ("Data.csv", b"1"),
                ("data.csv", b"2"),
            ]),
        ),
        "different case",
    );
}

#[test]
fn names_that_are_not_utf8_or_hide_characters() {
    let bytes = patch(
        zip_of(&[("app.py", APP.as_bytes()), ("x1.py", b"1")]),
        b"x1.py",
        b"x\xff.py",
    );
    rejected(check("u.zip", &bytes), "not UTF-8");
    rejected(
        check(
            "u.zip",
            &zip_of(&[("app.py", APP.as_bytes()), ("a\u{202E}yp.txt", b"1")]),
        ),
        "bidirectional",
    );
    rejected(
        check(
            "u.zip",
            &zip_of(&[("app.py", APP.as_bytes()), ("a\u{1b}b.py", b"1")]),
        ),
        "control characters",
    );
    let nul = patch(
        zip_of(&[("app.py", APP.as_bytes()), ("xab.py", b"1")]),
        b"xab.py",
        b"x\0b.py",
    );
    rejected(check("u.zip", &nul), "NUL");
}

#[test]
fn hostile_requirements_list_every_line() {
    let requirements = "streamlit\n-e git+https://x/y\n--extra-index-url https://evil\n-f ./wheels\n--trusted-host evil\n\
                        pkg @ https://evil/p.whl\nfile:///tmp/x.whl\n${EVIL}\nnot-allowed\npandas==3.1\n";
    let bytes = zip_of(&[
        ("app.py", APP.as_bytes()),
        ("requirements.txt", requirements.as_bytes()),
    ]);
    let rejection = check("u.zip", &bytes).unwrap_err();
    let lines: Vec<usize> = rejection.errors.iter().filter_map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10], "{rejection:#?}");
    assert!(rejection
        .errors
        .iter()
        .all(|e| e.file.as_deref() == Some("requirements.txt")));
}

#[test]
fn syntax_errors_and_banned_code_are_reported_with_file_and_line() {
    let bytes = zip_of(&[
        ("app.py", b"import streamlit as st\nimport subprocess\n"),
        ("pages/2_Broken.py", b"def f(:\n    pass\n"),
    ]);
    let rejection = check("u.zip", &bytes).unwrap_err();
    let found: Vec<String> = rejection.errors.iter().map(ToString::to_string).collect();
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("app.py:2: import of subprocess")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("pages/2_Broken.py:1: syntax error")),
        "{found:?}"
    );
}

#[test]
fn other_inputs_get_clear_errors() {
    rejected(check("u.zip", b"this is not a zip"), "not a readable zip");
    rejected(check("app.tar.gz", b"..."), "single .py file or a .zip");
    rejected(
        check("u.zip", &zip_of(&[("main.py", APP.as_bytes())])),
        "no app.py",
    );
    rejected(check("app.py", b"\xff\xfe not utf8"), "not UTF-8");
}

#[test]
fn a_single_py_becomes_app_py_with_inferred_requirements() {
    let ok = check(
        "my_app.py",
        b"import streamlit as st\nimport pandas as pd\nfrom sklearn import tree\nimport json\nimport burrow\n",
    )
    .unwrap();
    assert!(ok.inferred);
    let names: Vec<&str> = ok.packages.iter().map(|p| p.name.as_str()).collect();
    // `burrow` is Burrow's own module, in every sandbox: no requirement.
    assert_eq!(names, ["pandas", "scikit-learn", "streamlit"]);
    assert_eq!(
        String::from_utf8_lossy(&ok.files["requirements.txt"]),
        "pandas<=2.2\nscikit-learn\nstreamlit\n"
    );
    assert!(ok.files.contains_key("app.py"));
    assert_eq!(ok.sha256.len(), 64);

    let unknown = check("app.py", b"import streamlit\nimport tensorflow\n").unwrap_err();
    assert_eq!(unknown.errors[0].line, Some(2));
    assert!(
        unknown.errors[0]
            .message
            .contains("tensorflow is not on this instance's package allowlist"),
        "{unknown:?}"
    );
}

#[test]
fn zips_with_assets_nested_folders_and_own_modules() {
    let bytes = zip_of(&[
        (
            "project/app.py",
            b"import streamlit as st\nimport helpers\nfrom PIL import Image\n",
        ),
        ("project/helpers.py", b"def f():\n    return 1\n"),
        ("project/data/sales.csv", b"a,b\n1,2\n"),
        ("project/pages/1_Details.py", b"import streamlit as st\n"),
        ("__MACOSX/project/._app.py", b"junk"),
    ]);
    let ok = check("project.zip", &bytes).unwrap();
    let paths: Vec<&str> = ok.manifest.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "app.py",
            "data/sales.csv",
            "helpers.py",
            "pages/1_Details.py",
            "requirements.txt"
        ]
    );
    let names: Vec<&str> = ok.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["pillow", "streamlit"],
        "own modules and the standard library are not packages"
    );
    assert!(ok.warnings.iter().any(|w| w.message.contains("unwrapped")));

    // Canonical: the same content in another order hashes the same.
    let reordered = zip_of(&[
        ("project/pages/1_Details.py", b"import streamlit as st\n"),
        ("project/data/sales.csv", b"a,b\n1,2\n"),
        ("project/helpers.py", b"def f():\n    return 1\n"),
        (
            "project/app.py",
            b"import streamlit as st\nimport helpers\nfrom PIL import Image\n",
        ),
    ]);
    assert_eq!(check("project.zip", &reordered).unwrap().sha256, ok.sha256);
}

#[test]
fn explicit_requirements_are_normalised_and_capped() {
    let bytes = zip_of(&[
        ("app.py", APP.as_bytes()),
        ("requirements.txt", b"Streamlit\nPANDAS>=2.0  # data\n"),
    ]);
    let ok = check("u.zip", &bytes).unwrap();
    assert!(!ok.inferred);
    assert_eq!(
        String::from_utf8_lossy(&ok.files["requirements.txt"]),
        "pandas>=2.0,<=2.2\nstreamlit\n"
    );
}

#[test]
fn a_secrets_file_is_refused_at_any_depth_and_the_config_file_is_not() {
    for path in [".streamlit/secrets.toml", "pages/.streamlit/secrets.toml"] {
        let upload = zip_of(&[("app.py", APP.as_bytes()), (path, b"KEY = \"v\"\n")]);
        let rejection = rejected(
            check("a.zip", &upload),
            "set each value under the app's Secrets",
        );
        assert_eq!(rejection.errors[0].file.as_deref(), Some(path));
    }
    let config = zip_of(&[
        ("app.py", APP.as_bytes()),
        (".streamlit/config.toml", b"[theme]\nbase = \"dark\"\n"),
    ]);
    check("a.zip", &config).expect("a config file is fine");
}
