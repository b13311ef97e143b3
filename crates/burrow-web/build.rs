//! Embeds `web/dist`, the Vite build of the web UI, as a table of static assets,
//! with a gzipped copy of each text file.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = manifest.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let index = dist.join("index.html");
    if !index.is_file() {
        panic!(
            "the web UI is not built: {} is missing. Build it with `make web` \
             (npm ci and npm run build in web/), then build Burrow again",
            index.display()
        );
    }
    let mut files = Vec::new();
    walk(&dist, &mut files);
    files.sort();

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let mut out = String::from(
        "/// Every file of `web/dist`, by URL path.\npub static ASSETS: &[Asset] = &[\n",
    );
    for file in &files {
        let rel = file.strip_prefix(&dist).expect("walked under dist");
        let url = format!(
            "/{}",
            rel.components()
                .map(|c| c.as_os_str().to_str().expect("asset names are UTF-8"))
                .collect::<Vec<_>>()
                .join("/")
        );
        let bytes = std::fs::read(file).expect("read asset");
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        let abs = file.canonicalize().expect("canonical asset path");
        let content_type = content_type(file);
        let gzip = if compressible(content_type) {
            let gz = out_dir.join(format!("asset-{:016x}.gz", hasher.finish()));
            let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
            encoder.write_all(&bytes).expect("gzip in memory");
            std::fs::write(&gz, encoder.finish().expect("gzip in memory")).expect("write gzip");
            format!("Some(include_bytes!({:?}))", gz.display().to_string())
        } else {
            "None".to_owned()
        };
        writeln!(
            out,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, etag: \"\\\"{:016x}\\\"\", bytes: include_bytes!({:?}), gzip: {gzip} }},",
            hasher.finish(),
            abs.display().to_string(),
        )
        .expect("write to string");
    }
    out.push_str("];\n");
    let dest = out_dir.join("assets.rs");
    std::fs::write(dest, out).expect("write assets.rs");
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read web/dist") {
        let path = entry.expect("read web/dist entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_none_or(|e| e != "map") {
            files.push(path);
        }
    }
}

/// Text compresses well; images and fonts are compressed already.
fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type == "image/svg+xml"
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
