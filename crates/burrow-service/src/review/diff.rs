//! Line diffs of two snapshots: which files were added, removed, renamed or changed,
//! each text file whole with its changed lines marked, and where a range of lines of one
//! version is in another when none of them changed (how comments follow a resubmission).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp};

/// The most lines a file may have to be shown line by line.
pub const MAX_LINES: usize = 20_000;
/// The most bytes a file may have to be shown line by line.
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// How long one file's diff may take before the rest of it is shown as changed.
const DEADLINE: Duration = Duration::from_secs(1);
/// How long a whole diff may take: files after it are shown by size only.
const TOTAL_DEADLINE: Duration = Duration::from_secs(5);
/// The most lines a whole diff shows: files after them are shown by size only.
pub const MAX_TOTAL_LINES: usize = 200_000;
/// The largest texts compared for a rename with changes.
const MAX_RENAME_BYTES: usize = 64 << 10;

/// A file's content, as far as a diff needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub sha256: String,
    pub size: i64,
    /// Its lines, when it is text small enough to show; `None` for binary or large files.
    pub text: Option<String>,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Added,
    Removed,
    Modified,
    Renamed,
    Unchanged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Modified => "modified",
            Status::Renamed => "renamed",
            Status::Unchanged => "unchanged",
        }
    }
}

/// A line of a file's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `context`, `added` or `removed`.
    pub kind: &'static str,
    /// Its number in the old version (context and removed lines), from 1.
    pub old: Option<usize>,
    /// Its number in the new version (context and added lines), from 1.
    pub new: Option<usize>,
    pub text: String,
}

/// One file's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// Its path in the new snapshot; a removed file's old path.
    pub path: String,
    /// Its path in the old snapshot, for a renamed or removed file.
    pub old_path: Option<String>,
    pub status: Status,
    /// Binary or too large: sizes only.
    pub binary: bool,
    pub old_size: Option<i64>,
    pub new_size: Option<i64>,
    pub additions: usize,
    pub deletions: usize,
    /// The whole file, its changes marked; `None` when binary.
    pub lines: Option<Vec<Line>>,
}

/// How many lines a text has, as the diff numbers them.
pub fn line_count(text: &str) -> usize {
    text.lines().count()
}

/// A file's text as lines, when it is text small enough to show.
pub fn text_of(bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_TEXT_BYTES || bytes.contains(&0) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    (text.lines().count() <= MAX_LINES).then(|| text.to_owned())
}

fn ops(old: &[&str], new: &[&str], until: Instant) -> Vec<DiffOp> {
    let deadline = (Instant::now() + DEADLINE).min(until);
    similar::capture_diff_slices_deadline(Algorithm::Myers, old, new, Some(deadline))
}

/// The lines of `old` against `new`, with how many were added and removed.
fn lines_of(old: &str, new: &str, until: Instant) -> (Vec<Line>, usize, usize) {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut lines = Vec::with_capacity(new.len().max(old.len()));
    let (mut added, mut removed) = (0, 0);
    for op in ops(&old, &new, until) {
        for change in op.iter_changes(&old, &new) {
            let kind = match change.tag() {
                similar::ChangeTag::Equal => "context",
                similar::ChangeTag::Insert => {
                    added += 1;
                    "added"
                }
                similar::ChangeTag::Delete => {
                    removed += 1;
                    "removed"
                }
            };
            lines.push(Line {
                kind,
                old: change.old_index().map(|i| i + 1),
                new: change.new_index().map(|i| i + 1),
                text: change.value().to_owned(),
            });
        }
    }
    (lines, added, removed)
}

/// What a whole diff may still spend.
struct Budget {
    until: Instant,
    lines: usize,
}

impl Budget {
    /// Whether a file of about `lines` lines may still be shown; spends them if so.
    fn spend(&mut self, lines: usize) -> bool {
        if Instant::now() >= self.until || lines > self.lines {
            self.lines = 0;
            return false;
        }
        self.lines -= lines;
        true
    }
}

fn file_diff(
    (path, old_path): (&str, Option<&str>),
    status: Status,
    old: Option<&Version>,
    new: Option<&Version>,
    budget: &mut Budget,
) -> FileDiff {
    fn text(v: Option<&Version>) -> &str {
        v.and_then(|v| v.text.as_deref()).unwrap_or_default()
    }
    let size = line_count(text(old)) + line_count(text(new));
    let binary = old.is_some_and(|v| v.text.is_none())
        || new.is_some_and(|v| v.text.is_none())
        || !budget.spend(size);
    let (lines, additions, deletions) = if binary {
        (None, 0, 0)
    } else {
        let (lines, a, d) = lines_of(text(old), text(new), budget.until);
        (Some(lines), a, d)
    };
    FileDiff {
        path: path.to_owned(),
        old_path: old_path.map(str::to_owned),
        status,
        binary,
        old_size: old.map(|v| v.size),
        new_size: new.map(|v| v.size),
        additions,
        deletions,
        lines,
    }
}

/// How alike two texts are, from 0 to 1; large texts are not compared.
fn likeness(old: &Version, new: &Version, until: Instant) -> f32 {
    match (&old.text, &new.text) {
        (Some(a), Some(b)) if a.len() <= MAX_RENAME_BYTES && b.len() <= MAX_RENAME_BYTES => {
            let a: Vec<&str> = a.lines().collect();
            let b: Vec<&str> = b.lines().collect();
            let same: usize = ops(&a, &b, until)
                .iter()
                .filter_map(|op| match op {
                    DiffOp::Equal { len, .. } => Some(*len),
                    _ => None,
                })
                .sum();
            let total = a.len() + b.len();
            if total == 0 {
                1.0
            } else {
                (2 * same) as f32 / total as f32
            }
        }
        _ => 0.0,
    }
}

/// The most removed × added pairs compared for renames with changes.
const MAX_RENAME_PAIRS: usize = 100;

/// The diff of snapshot `old` against `new`, by path, each file once. A removed file and
/// an added one are a rename when their contents are the same, or (for text) at least
/// half their lines are. A diff stops showing lines after [`MAX_TOTAL_LINES`] or a few
/// seconds: the files after are shown by size, as binary ones are.
pub fn diff(old: &BTreeMap<String, Version>, new: &BTreeMap<String, Version>) -> Vec<FileDiff> {
    let mut budget = Budget {
        until: Instant::now() + TOTAL_DEADLINE,
        lines: MAX_TOTAL_LINES,
    };
    let mut removed: BTreeSet<&String> = old.keys().filter(|p| !new.contains_key(*p)).collect();
    let mut added: BTreeSet<&String> = new.keys().filter(|p| !old.contains_key(*p)).collect();
    let mut files = Vec::new();
    // Renames: the same content first, then alike text.
    let mut renames: Vec<(&String, &String)> = Vec::new();
    for from in removed.clone() {
        if let Some(to) = added
            .iter()
            .find(|to| new[**to].sha256 == old[from].sha256)
            .copied()
        {
            renames.push((from, to));
            removed.remove(from);
            added.remove(to);
        }
    }
    if removed.len() * added.len() <= MAX_RENAME_PAIRS {
        let mut pairs: Vec<(f32, &String, &String)> = Vec::new();
        for from in &removed {
            for to in &added {
                let likeness = likeness(&old[*from], &new[*to], budget.until);
                if likeness >= 0.5 {
                    pairs.push((likeness, from, to));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(b.2)));
        for (_, from, to) in pairs {
            if removed.contains(from) && added.contains(to) {
                renames.push((from, to));
                removed.remove(from);
                added.remove(to);
            }
        }
    }
    for (from, to) in renames {
        files.push(file_diff(
            (to, Some(from)),
            Status::Renamed,
            Some(&old[from]),
            Some(&new[to]),
            &mut budget,
        ));
    }
    for path in removed {
        files.push(file_diff(
            (path, Some(path)),
            Status::Removed,
            Some(&old[path]),
            None,
            &mut budget,
        ));
    }
    for (path, version) in new {
        if added.contains(path) {
            files.push(file_diff(
                (path, None),
                Status::Added,
                None,
                Some(version),
                &mut budget,
            ));
        } else if let Some(before) = old.get(path) {
            let status = if before.sha256 == version.sha256 {
                Status::Unchanged
            } else {
                Status::Modified
            };
            files.push(file_diff(
                (path, None),
                status,
                Some(before),
                Some(version),
                &mut budget,
            ));
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Where lines `start..=end` (from 1) of `old` are in `new`, when none of them changed.
pub fn follow(old: &str, new: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    if start == 0 || end < start {
        return None;
    }
    if old == new {
        return (end <= old.lines().count()).then_some((start, end));
    }
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    ops(&old, &new, Instant::now() + DEADLINE)
        .iter()
        .find_map(|op| match *op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } if old_index < start && end <= old_index + len => {
                Some((start - old_index + new_index, end - old_index + new_index))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        use sha2::{Digest, Sha256};
        Version {
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            size: text.len() as i64,
            text: text_of(text.as_bytes()),
        }
    }

    fn snapshot(files: &[(&str, &str)]) -> BTreeMap<String, Version> {
        files
            .iter()
            .map(|(p, t)| (p.to_string(), version(t)))
            .collect()
    }

    #[test]
    fn a_changed_line_is_removed_and_added_and_the_rest_is_context() {
        let files = diff(
            &snapshot(&[("a.py", "one\ntwo\nthree\n")]),
            &snapshot(&[("a.py", "one\nTWO\nthree\nfour\n")]),
        );
        let file = &files[0];
        assert_eq!(file.status, Status::Modified);
        assert_eq!((file.additions, file.deletions), (2, 1));
        let lines: Vec<(&str, Option<usize>, Option<usize>, &str)> = file
            .lines
            .as_ref()
            .unwrap()
            .iter()
            .map(|l| (l.kind, l.old, l.new, l.text.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                ("context", Some(1), Some(1), "one"),
                ("removed", Some(2), None, "two"),
                ("added", None, Some(2), "TWO"),
                ("context", Some(3), Some(3), "three"),
                ("added", None, Some(4), "four"),
            ]
        );
    }

    #[test]
    fn files_are_added_removed_renamed_or_unchanged() {
        let old = snapshot(&[
            ("same.py", "x = 1\n"),
            ("gone.py", "print('bye')\n"),
            ("old_name.py", "a\nb\nc\nd\n"),
            ("moved.txt", "exactly this\n"),
        ]);
        let new = snapshot(&[
            ("same.py", "x = 1\n"),
            ("new.py", "print('hi')\n"),
            ("new_name.py", "a\nb\nc\nD\n"),
            ("there/moved.txt", "exactly this\n"),
        ]);
        let got: Vec<(String, Option<String>, Status)> = diff(&old, &new)
            .into_iter()
            .map(|f| (f.path, f.old_path, f.status))
            .collect();
        assert_eq!(
            got,
            [
                ("gone.py".into(), Some("gone.py".into()), Status::Removed),
                ("new.py".into(), None, Status::Added),
                (
                    "new_name.py".into(),
                    Some("old_name.py".into()),
                    Status::Renamed
                ),
                ("same.py".into(), None, Status::Unchanged),
                (
                    "there/moved.txt".into(),
                    Some("moved.txt".into()),
                    Status::Renamed
                ),
            ]
        );
    }

    #[test]
    fn binary_files_have_sizes_and_no_lines() {
        let mut old = BTreeMap::new();
        old.insert(
            "data.bin".to_owned(),
            Version {
                sha256: "a".into(),
                size: 3,
                text: text_of(b"\0\x01\x02"),
            },
        );
        let mut new = old.clone();
        new.get_mut("data.bin").unwrap().sha256 = "b".into();
        new.get_mut("data.bin").unwrap().size = 4;
        let file = &diff(&old, &new)[0];
        assert!(file.binary && file.lines.is_none());
        assert_eq!((file.old_size, file.new_size), (Some(3), Some(4)));
    }

    #[test]
    fn lines_follow_when_unchanged_and_not_when_changed() {
        let old = "a\nb\nc\nd\n";
        let new = "new first\na\nb\nC\nd\n";
        assert_eq!(follow(old, new, 1, 2), Some((2, 3)));
        assert_eq!(follow(old, new, 4, 4), Some((5, 5)));
        assert_eq!(follow(old, new, 3, 3), None);
        assert_eq!(follow(old, new, 2, 3), None);
        assert_eq!(follow(old, old, 4, 4), Some((4, 4)));
        assert_eq!(follow(old, old, 5, 5), None);
        assert_eq!(follow(old, new, 0, 1), None);
    }

    #[test]
    fn a_diff_past_its_line_budget_shows_sizes_only() {
        let big: String = (0..19_000).map(|i| format!("{i}\n")).collect();
        let mut files: Vec<(String, &str)> = (0..11)
            .map(|i| (format!("f{i:02}.txt"), big.as_str()))
            .collect();
        files.push(("z.txt".to_owned(), "small\n"));
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
        let diffs = diff(&snapshot(&[]), &snapshot(&files));
        let shown: Vec<bool> = diffs.iter().map(|f| f.lines.is_some()).collect();
        let mut expected = vec![true; 10];
        expected.extend([false, false]);
        assert_eq!(shown, expected, "once spent, nothing more is shown");
        assert!(diffs[10].binary && diffs[10].new_size == Some(big.len() as i64));
    }
}
