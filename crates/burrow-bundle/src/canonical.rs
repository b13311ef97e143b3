//! The canonical form of a bundle: a zip with sorted entries and fixed timestamps, so equal content hashes equally.

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha256};

pub fn zip(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (path, content) in files {
        out.start_file(path.as_str(), options)
            .expect("writing to memory cannot fail");
        out.write_all(content)
            .expect("writing to memory cannot fail");
    }
    out.finish()
        .expect("writing to memory cannot fail")
        .into_inner()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
