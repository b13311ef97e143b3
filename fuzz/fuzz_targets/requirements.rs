//! Fuzzes the requirements.txt parser with arbitrary text.
#![no_main]

use burrow_bundle::{requirements, Allowlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let allowlist = Allowlist::new([("streamlit", None), ("pandas", Some("2.2"))]).unwrap();
        let _ = requirements::parse(text, &allowlist);
    }
});
