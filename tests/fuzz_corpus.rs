//! The fuzz corpus on the stable toolchain: every file of `fuzz/corpus/<target>/`
//! goes through the fuzz targets' own entry points (`fuzz/src/lib.rs`, included
//! here, so nothing is copied) with their properties checked. Seeds named
//! `ok-*` must be accepted and `bad-*` refused, so a change that makes a seed
//! meaningless shows here and not weeks later in a fuzzing run.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod entries;

use entries::Verdict;

/// The corpus stays seeds, not a fuzzing run's output (that goes to `fuzz/runs/`).
const MAX_SEEDS: usize = 64;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn run_target(name: &str) {
    let (_, entry) = entries::TARGETS.iter().find(|(n, _)| *n == name).expect("a fuzz target of that name");
    let dir = corpus().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() <= MAX_SEEDS, "{}: {} files; keep a few dozen seeds", dir.display(), files.len());
    let (mut accepted, mut refused) = (0, 0);
    for path in &files {
        let file = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 file name");
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let verdict = entry(&data);
        if file.starts_with("ok-") {
            assert_eq!(verdict, Verdict::Accepted, "{name}/{file}");
            accepted += 1;
        } else if file.starts_with("bad-") {
            assert!(matches!(verdict, Verdict::Refused(_)), "{name}/{file} was accepted");
            refused += 1;
        }
    }
    assert!(accepted > 0 && refused > 0, "{name}: seeds of both kinds ({accepted} ok, {refused} bad)");
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let mut folders: Vec<String> = std::fs::read_dir(corpus())
        .expect("fuzz/corpus")
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut names: Vec<String> = entries::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(folders, names);
    for name in &names {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/fuzz_targets/{name}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
    }
}

#[test]
fn input_protocol_corpus() {
    run_target("input_protocol");
}

#[test]
fn signaling_corpus() {
    run_target("signaling");
}

#[test]
fn pipeline_file_corpus() {
    run_target("pipeline_file");
}

#[test]
fn pipeline_check_corpus() {
    run_target("pipeline_check");
}

#[test]
fn token_corpus() {
    run_target("token");
}
