//! Reading uploads safely: one `.py`, or a zip checked entry by entry while streaming.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use crate::{Finding, ZipLimits};

type Files = BTreeMap<String, Vec<u8>>;

/// Characters that reorder text on screen (Trojan Source) or mark direction invisibly.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Why a path may not be in a bundle, if it may not.
pub fn path_problem(name: &str, limits: &ZipLimits) -> Option<String> {
    if name.is_empty() {
        return Some("an entry has an empty name".into());
    }
    if name.len() > limits.max_name_len {
        return Some(format!(
            "the name is longer than {} bytes",
            limits.max_name_len
        ));
    }
    if name.contains('\0') {
        return Some("the name contains a NUL character".into());
    }
    if name.chars().any(char::is_control) {
        return Some("the name contains control characters".into());
    }
    if name.chars().any(is_bidi) {
        return Some("the name contains bidirectional-text control characters".into());
    }
    if name.contains('\\') {
        return Some("the name contains a backslash: use / between folders".into());
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Some("the name is an absolute path".into());
    }
    let parts: Vec<&str> = name.trim_end_matches('/').split('/').collect();
    if parts.iter().any(|p| *p == ".." || *p == ".") {
        return Some("the name contains a . or .. component".into());
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Some("the name contains an empty component (//)".into());
    }
    if parts.len() > limits.max_depth {
        return Some(format!(
            "the path is nested more than {} levels deep",
            limits.max_depth
        ));
    }
    None
}

/// Reads an upload into files. `Err` lists every problem found.
pub fn read_upload(
    filename: &str,
    bytes: &[u8],
    limits: &ZipLimits,
    entrypoint: &str,
) -> Result<(Files, Vec<Finding>), Vec<Finding>> {
    let lower = filename.to_lowercase();
    if lower.ends_with(".py") {
        if bytes.len() as u64 > limits.max_total_bytes {
            return Err(vec![Finding::error(
                Some(filename),
                None,
                format!("the file is larger than {} bytes", limits.max_total_bytes),
            )]);
        }
        return Ok((
            BTreeMap::from([(entrypoint.to_owned(), bytes.to_vec())]),
            Vec::new(),
        ));
    }
    if !lower.ends_with(".zip") {
        return Err(vec![Finding::error(
            Some(filename),
            None,
            "uploads must be a single .py file or a .zip archive",
        )]);
    }
    read_zip(bytes, limits)
}

/// The entry count of the end-of-central-directory record, checked to be the
/// real, final record of a plain (non-zip64) archive.
fn declared_entries(bytes: &[u8]) -> Result<usize, String> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let start = bytes.len().saturating_sub(22 + 65535);
    let at = bytes[start..]
        .windows(4)
        .rposition(|w| w == EOCD)
        .map(|p| p + start)
        .ok_or("the archive has no end-of-directory record")?;
    let u16_at = |o: usize| {
        bytes
            .get(at + o..at + o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(at + o..at + o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(on_disk), Some(total), Some(offset), Some(comment)) =
        (u16_at(8), u16_at(10), u32_at(16), u16_at(20))
    else {
        return Err("the end-of-directory record is truncated".into());
    };
    if at + 22 + usize::from(comment) != bytes.len() {
        return Err("the archive has data after its end-of-directory record".into());
    }
    // Uploads never need zip64 (2,000 entries, 100 MB), and its records could disagree with these.
    if total == 0xffff || offset == 0xffff_ffff {
        return Err("zip64 archives are not accepted: re-create the archive without zip64".into());
    }
    if on_disk != total {
        return Err("the archive's entry counts disagree".into());
    }
    Ok(usize::from(total))
}

/// Reads a `.zip` into files, checking every entry (see [`read_upload`]).
pub fn read_zip(bytes: &[u8], limits: &ZipLimits) -> Result<(Files, Vec<Finding>), Vec<Finding>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        vec![Finding::error(
            None,
            None,
            format!("the upload is not a readable zip archive: {e}"),
        )]
    })?;
    // The zip crate keys entries by name, so a repeated name silently hides an
    // entry. The end-of-directory record still counts every entry: compare.
    let declared = declared_entries(bytes).map_err(|why| vec![Finding::error(None, None, why)])?;
    if declared != archive.len() {
        return Err(vec![Finding::error(
            None,
            None,
            format!("the archive lists {declared} entries but only {} distinct names: a name appears twice", archive.len()),
        )]);
    }
    if archive.len() > limits.max_entries {
        return Err(vec![Finding::error(
            None,
            None,
            format!(
                "the archive has {} entries; the limit is {}",
                archive.len(),
                limits.max_entries
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut files = Files::new();
    let mut seen_exact = HashSet::new();
    let mut seen_folded = HashSet::new();
    let mut total: u64 = 0;
    // Entries may share compressed data; the whole archive may not expand past the ratio either.
    let archive_cap = (bytes.len() as u64)
        .saturating_mul(limits.max_ratio)
        .max(1 << 20);
    for index in 0..archive.len() {
        let mut entry = match archive.by_index(index) {
            Ok(e) => e,
            Err(e) => {
                errors.push(Finding::error(
                    None,
                    None,
                    format!("entry {index} cannot be read: {e}"),
                ));
                continue;
            }
        };
        let Ok(name) = std::str::from_utf8(entry.name_raw()).map(str::to_owned) else {
            errors.push(Finding::error(
                None,
                None,
                format!("entry {index} has a name that is not UTF-8"),
            ));
            continue;
        };
        if let Some(problem) = path_problem(&name, limits) {
            errors.push(Finding::error(Some(&name), None, problem));
            continue;
        }
        if name.starts_with("__MACOSX/") || name.rsplit('/').next() == Some(".DS_Store") {
            continue;
        }
        if !seen_exact.insert(name.trim_end_matches('/').to_owned()) {
            errors.push(Finding::error(
                Some(&name),
                None,
                "the name appears twice in the archive",
            ));
            continue;
        }
        if !seen_folded.insert(name.trim_end_matches('/').to_lowercase()) {
            errors.push(Finding::error(
                Some(&name),
                None,
                "another entry has the same name in a different case",
            ));
            continue;
        }
        if entry.encrypted() {
            errors.push(Finding::error(Some(&name), None, "the entry is encrypted"));
            continue;
        }
        let kind = entry.unix_mode().map(|m| m & 0o170000);
        if entry.is_dir() || name.ends_with('/') {
            continue;
        }
        match kind {
            None | Some(0) | Some(0o100000) => {}
            Some(0o120000) => {
                errors.push(Finding::error(
                    Some(&name),
                    None,
                    "the entry is a symbolic link; links are not allowed",
                ));
                continue;
            }
            Some(_) => {
                errors.push(Finding::error(
                    Some(&name),
                    None,
                    "the entry is a link or special file; only regular files are allowed",
                ));
                continue;
            }
        }
        // Count what is really decompressed; the sizes in the headers may lie.
        // The compressed size comes from the (untrusted) directory: never more than the upload.
        let compressed = entry.compressed_size().clamp(1, bytes.len() as u64);
        let entry_cap = compressed.saturating_mul(limits.max_ratio).max(64 * 1024);
        let budget = limits
            .max_total_bytes
            .min(archive_cap)
            .saturating_sub(total);
        let mut content = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let mut failure = None;
        loop {
            match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    content.extend_from_slice(&buf[..n]);
                    let len = content.len() as u64;
                    if len > budget {
                        failure = Some(if archive_cap < limits.max_total_bytes {
                            format!(
                                "the archive expands more than {}-fold: it looks like a zip bomb",
                                limits.max_ratio
                            )
                        } else {
                            format!(
                                "the archive unpacks to more than {} bytes",
                                limits.max_total_bytes
                            )
                        });
                        break;
                    }
                    if len > entry_cap {
                        failure = Some(format!(
                            "the entry expands more than {}-fold: it looks like a zip bomb",
                            limits.max_ratio
                        ));
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(format!("the entry cannot be decompressed: {e}"));
                    break;
                }
            }
        }
        if let Some(message) = failure {
            errors.push(Finding::error(Some(&name), None, message));
            // A bomb or a budget overrun makes the rest of the archive moot.
            return Err(errors);
        }
        total += content.len() as u64;
        files.insert(name, content);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // A zip whose entries all sit under one top-level folder is unwrapped.
    let tops: HashSet<&str> = files
        .keys()
        .map(|k| k.split('/').next().unwrap_or_default())
        .collect();
    if limits.unwrap_top_folder && tops.len() == 1 && files.keys().all(|k| k.contains('/')) {
        let top = format!("{}/", tops.into_iter().next().unwrap_or_default());
        files = files
            .into_iter()
            .map(|(k, v)| (k[top.len()..].to_owned(), v))
            .collect();
        warnings.push(Finding::warning(
            None,
            None,
            format!("unwrapped the single top-level folder {top}"),
        ));
    }
    if files.is_empty() {
        return Err(vec![Finding::error(
            None,
            None,
            "the archive contains no files",
        )]);
    }
    for name in files.keys() {
        if name.eq_ignore_ascii_case("requirements.txt") && name != "requirements.txt" {
            errors.push(Finding::error(
                Some(name),
                None,
                "name the requirements file requirements.txt, in lower case",
            ));
        }
        // A file that is also a folder of another entry cannot be unpacked.
        let mut prefix = name.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if files.contains_key(parent) {
                errors.push(Finding::error(
                    Some(name),
                    None,
                    format!("{parent} is both a file and a folder"),
                ));
            }
            prefix = parent;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((files, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_escape_or_hide_are_refused() {
        let l = ZipLimits::default();
        for (name, why) in [
            ("../etc/passwd", ".."),
            ("/etc/passwd", "absolute"),
            ("C:/x.py", "absolute"),
            ("a\\b.py", "backslash"),
            ("a\0b", "NUL"),
            ("a\u{7}b", "control"),
            ("evil\u{202E}yp.txt", "bidirectional"),
            ("a//b", "empty component"),
        ] {
            let problem = path_problem(name, &l).unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(problem.contains(why), "{name:?}: {problem}");
        }
        assert!(path_problem(&"a/".repeat(17), &l)
            .unwrap()
            .contains("nested"));
        assert!(path_problem(&"a".repeat(300), &l)
            .unwrap()
            .contains("longer"));
        assert_eq!(path_problem("pages/1_Home.py", &l), None);
    }
}
