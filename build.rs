//! Embeds the web app's built files (`web/dist`, built by `scripts/web`) in
//! the binary: one table of (path, bytes) generated into OUT_DIR.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = root.join("web/dist");
    println!("cargo::rerun-if-changed=web/dist");
    if !dist.join("index.html").is_file() {
        panic!(
            "{} has no built web app: run scripts/web (scripts/run and scripts/test do) before building",
            dist.display()
        );
    }
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut out = String::from("pub static WEB_ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_assets.rs");
    std::fs::write(dest, out).expect("write the asset table");
}

/// Every file under `dir`, named by its path from `base` with `/` separators.
fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("read web/dist") {
        let path = entry.expect("read web/dist").path();
        if path.is_dir() {
            collect(base, &path, files);
        } else {
            let name = path.strip_prefix(base).expect("under web/dist").to_string_lossy().replace('\\', "/");
            files.push((name, path));
        }
    }
}
