//! Fuzzes the archive reader and the whole validator with arbitrary upload bytes.
#![no_main]

use burrow_bundle::{validate, Allowlist, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let allowlist = Allowlist::new([("streamlit", None), ("pandas", Some("2.2"))]).unwrap();
    let _ = validate("upload.zip", data, &allowlist, &Policy::app());
});
