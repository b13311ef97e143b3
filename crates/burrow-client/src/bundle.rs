//! Packing a folder into the `.zip` a deploy uploads, leaving out what `.gitignore` files ignore.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A packed folder: the zip, what went in, and what was left out on purpose and why.
#[derive(Debug)]
pub struct Packed {
    pub zip: Vec<u8>,
    pub files: Vec<String>,
    pub left_out: Vec<(String, &'static str)>,
}

/// Secrets are set per app on the server; a local file of them is never uploaded.
const SECRETS_FILE: &str = ".streamlit/secrets.toml";

/// Packs the files under `dir` with paths relative to it, honouring `.gitignore` files
/// (the folder's, its subfolders' and its parents', the checkout's `info/exclude` and the
/// user's global excludes, as git reads them, even outside a git checkout) and
/// `.burrowignore`, and leaving out `.git`, `.env` files and `.streamlit/secrets.toml`.
/// Symbolic links are left out: a bundle holds only regular files.
pub fn pack(dir: &Path) -> anyhow::Result<Packed> {
    if !dir.is_dir() {
        bail!(
            "{} is not a folder: give the folder that holds app.py",
            dir.display()
        );
    }
    let walk = ignore::WalkBuilder::new(dir)
        .hidden(false)
        // The folder may be part of a larger checkout: its parents' .gitignore files, the
        // checkout's info/exclude and the user's global excludes count, as for git.
        .parents(true)
        .git_global(true)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .add_custom_ignore_filename(".burrowignore")
        .filter_entry(|e| e.file_name() != ".git")
        .sort_by_file_path(Ord::cmp)
        .build();
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let mut left_out = Vec::new();
    for entry in walk {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        if entry.depth() == 0 {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(dir)
            .context("the walk stays under the folder")?;
        let Some(name) = relative.to_str().map(str::to_owned) else {
            bail!(
                "{} has a name that is not UTF-8: rename it or list it in .gitignore",
                entry.path().display()
            );
        };
        let kind = entry.file_type();
        if kind.is_some_and(|k| k.is_symlink()) {
            left_out.push((name, "a symbolic link"));
            continue;
        }
        if !kind.is_some_and(|k| k.is_file()) {
            continue;
        }
        if name == SECRETS_FILE {
            left_out.push((
                name,
                "secrets are set per app on the server, in the app's Secrets section",
            ));
            continue;
        }
        if entry.file_name() == ".env" {
            left_out.push((
                name,
                "environment files hold secrets: set each value with `burrow apps secrets set`",
            ));
            continue;
        }
        found.push((name, entry.path().to_path_buf()));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut files = Vec::with_capacity(found.len());
    for (name, path) in found {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        zip.start_file(name.as_str(), options)
            .and_then(|()| zip.write_all(&bytes).map_err(Into::into))
            .with_context(|| format!("cannot pack {name}"))?;
        files.push(name);
    }
    let zip = zip.finish().context("cannot finish the zip")?.into_inner();
    Ok(Packed {
        zip,
        files,
        left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn gitignored_files_git_and_local_secrets_stay_home() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "app.py", "import streamlit as st\n");
        write(d, "pages/1_Other.py", "");
        write(d, ".gitignore", "data/\n*.log\n!keep.log\n");
        write(d, "data/big.csv", "a,b\n");
        write(d, "debug.log", "noise");
        write(d, "keep.log", "kept");
        write(d, "pages/.gitignore", "scratch.py\n");
        write(d, "pages/scratch.py", "");
        write(d, ".burrowignore", "notes.md\n");
        write(d, "notes.md", "");
        write(d, ".git/HEAD", "ref: refs/heads/main\n");
        write(d, ".streamlit/config.toml", "[theme]\n");
        write(d, ".streamlit/secrets.toml", "KEY = \"x\"\n");
        write(d, ".env", "KEY=x\n");
        std::os::unix::fs::symlink("/etc/passwd", d.join("passwd")).unwrap();

        let packed = pack(d).unwrap();
        assert_eq!(
            packed.files,
            [
                ".burrowignore",
                ".gitignore",
                ".streamlit/config.toml",
                "app.py",
                "keep.log",
                "pages/.gitignore",
                "pages/1_Other.py",
            ]
        );
        let left: Vec<&str> = packed.left_out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(left, [".env", ".streamlit/secrets.toml", "passwd"]);

        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(packed.zip)).unwrap();
        let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
        names.sort();
        assert_eq!(names, packed.files);
        let mut app = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("app.py").unwrap(), &mut app).unwrap();
        assert_eq!(app, "import streamlit as st\n");
    }

    #[test]
    fn a_parent_folders_gitignore_counts() {
        let repo = tempfile::tempdir().unwrap();
        write(repo.path(), ".gitignore", "*.pem\n");
        write(repo.path(), "report/app.py", "");
        write(repo.path(), "report/key.pem", "-----BEGIN PRIVATE KEY-----");
        let packed = pack(&repo.path().join("report")).unwrap();
        assert_eq!(packed.files, ["app.py"]);
    }

    #[test]
    fn a_file_is_not_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "app.py", "");
        let err = pack(&dir.path().join("app.py")).unwrap_err().to_string();
        assert!(err.contains("is not a folder"), "{err}");
    }
}
