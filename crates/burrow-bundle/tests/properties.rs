//! Property tests: no input, however malformed, makes validation panic.

use burrow_bundle::{requirements, validate, Allowlist, Policy};
use proptest::prelude::*;

fn allowlist() -> Allowlist {
    Allowlist::new([("streamlit", None), ("pandas", Some("2.2"))]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = validate("u.zip", &bytes, &allowlist(), &Policy::app());
        let _ = validate("app.py", &bytes, &allowlist(), &Policy::app());
    }

    #[test]
    fn mutated_zips_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in [("app.py", &b"import streamlit\n"[..]), ("data/x.csv", b"a,b\n1,2\n"), ("requirements.txt", b"streamlit\n")] {
            w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, content).unwrap();
        }
        let mut bytes = w.finish().unwrap().into_inner();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let _ = validate("u.zip", &bytes, &allowlist(), &Policy::app());
    }

    #[test]
    fn arbitrary_requirement_lines_never_panic(text in "\\PC{0,200}(\n\\PC{0,80}){0,5}") {
        let _ = requirements::parse(&text, &allowlist());
    }

    #[test]
    fn arbitrary_python_never_panics(source in "\\PC{0,300}") {
        let _ = validate("app.py", source.as_bytes(), &allowlist(), &Policy::app());
    }
}
