//! The `playcast` command: pipeline files with every kind of mistake get one
//! precise `PATH:LINE: field: message` line and a failing exit code, bad
//! configuration names its file, line or variable, and bad arguments get
//! clap's message. Nothing panics or hangs.

mod common;

use common::Run;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_playcast");
const LIMIT: Duration = Duration::from_secs(120);

/// Runs the binary from the repository root with a clean `PLAYCAST*` environment.
async fn playcast<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).current_dir(common::repo()).env("RUST_LOG", "warn").stdin(Stdio::null()).kill_on_drop(true);
    common::without_playcast_env(cmd.as_std_mut());
    // Each run keeps its files (state database, dev key) in a folder of its own.
    let data = tempfile::tempdir().expect("data folder");
    cmd.env("PLAYCAST__SERVER__DATA_DIR", data.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(LIMIT, cmd.output())
        .await
        .expect("playcast did not finish in time")
        .expect("playcast runs");
    Run::of("playcast", out)
}

async fn check(files: &[&Path]) -> Run {
    let mut args: Vec<&std::ffi::OsStr> = vec!["pipeline".as_ref(), "check".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    playcast(&args, &[]).await
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(common::repo().join("pipelines").join(name)).unwrap()
}

/// 1-based line of the first occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in the file"));
    text[..at].matches('\n').count() + 1
}

/// `text` with the first `from` replaced by `to`; `from` must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in the file");
    text.replacen(from, to, 1)
}

/// `text` with the whole line starting with `prefix` replaced by `line`.
fn replace_line(text: &str, prefix: &str, line: &str) -> String {
    let mut found = false;
    let out: Vec<&str> = text
        .lines()
        .map(|l| {
            if !found && l.starts_with(prefix) {
                found = true;
                line
            } else {
                l
            }
        })
        .collect();
    assert!(found, "no line starts with `{prefix}`");
    out.join("\n") + "\n"
}

/// `--config FILE config check`
fn config_check(file: &Path) -> Vec<std::ffi::OsString> {
    vec!["--config".into(), file.into(), "config".into(), "check".into()]
}

/// A bad file checked alone: exit 1 and exactly one error line, returned.
async fn one_error(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> (PathBuf, String) {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    let run = check(&[&path]).await;
    assert_eq!(run.code, 1, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one error line expected: {run}");
    assert!(!lines[0].contains("ok,"), "{run}");
    (path, lines[0].to_string())
}

/// A bad file checked alone: exit 1, and its error lines.
async fn errors(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> (PathBuf, Vec<String>) {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    let run = check(&[&path]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.stdout.contains("ok,"), "{run}");
    (path, run.stdout.lines().map(str::to_string).collect())
}

/// Splits `PATH:LINE: rest` for a known path.
fn located<'a>(line: &'a str, path: &Path) -> (usize, &'a str) {
    let rest = line
        .strip_prefix(&format!("{}:", path.display()))
        .unwrap_or_else(|| panic!("`{line}` does not start with {}:", path.display()));
    let (n, rest) = rest.split_once(": ").unwrap_or_else(|| panic!("no `LINE: ` in `{line}`"));
    (n.parse().unwrap_or_else(|_| panic!("`{n}` is not a line number in `{line}`")), rest)
}

#[tokio::test]
async fn the_shipped_pipelines_check_clean() {
    let run = playcast(&["pipeline", "check"], &[]).await;
    assert_eq!(run.code, 0, "{run}");
    let out = &run.stdout;
    assert!(out.contains("pipelines/test-pattern.toml: ok, runs here"), "{run}");
    assert!(out.contains("on this machine: encoder x264enc"), "{run}");
    assert!(out.contains("pipelines/linux-x11.toml: ok,"), "{run}");
    let (_, win) = out.split_once("pipelines/windows-d3d11.toml:").expect("windows-d3d11 is reported");
    assert!(win.starts_with(" ok, cannot run here"), "{run}");
    for enc in ["nvh264enc", "qsvh264enc", "mfh264enc"] {
        assert!(win.contains(&format!("{enc} (not on this machine: ")), "why {enc} was skipped: {run}");
    }

    // Named explicitly, one file at a time, the same verdicts.
    let tp = common::repo().join("pipelines/test-pattern.toml");
    let run = check(&[&tp]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("encoder x264enc"), "{run}");
}

#[tokio::test]
async fn pipeline_list_says_what_runs_here() {
    let run = playcast(&["pipeline", "list"], &[]).await;
    assert_eq!(run.code, 0, "{run}");
    let row = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed: {run}"))
            .to_string()
    };
    let tp = row("test-pattern");
    assert!(tp.contains(" runs here ") && tp.contains("x264enc"), "{tp}");
    let win = row("windows-d3d11");
    assert!(win.contains(" cannot run here "), "{win}");
    let x11 = row("linux-x11");
    assert!(x11.contains(" runs here ") || x11.contains(" cannot run here "), "{x11}");
    let sink = row("test-pattern-webrtcsink");
    assert!(sink.contains(" runs here "), "{sink}");
    assert_eq!(run.stdout.lines().count(), 4, "{run}");
    // One column for names, whatever their length.
    let status_at: Vec<usize> =
        run.stdout.lines().map(|l| l.find(" runs here ").or(l.find(" cannot run ")).unwrap()).collect();
    assert!(status_at.windows(2).all(|w| w[0] == w[1]), "{run}");

    // A folder with a broken file lists it as invalid and fails.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), shipped("test-pattern.toml")).unwrap();
    std::fs::write(dir.path().join("broken.toml"), "description = \n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a pipeline").unwrap();
    let run =
        playcast(&["pipeline", "list"], &[("PLAYCAST__MEDIA__PIPELINES_DIR", dir.path().to_str().unwrap())]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.lines().any(|l| l.starts_with("broken ") && l.contains(" invalid ")), "{run}");
    assert!(run.stdout.lines().any(|l| l.starts_with("good ") && l.contains(" runs here ")), "{run}");
    assert_eq!(run.stdout.lines().count(), 2, "only .toml files: {run}");
}

#[tokio::test]
async fn toml_mistakes_point_at_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let (path, err) = one_error(d, "syntax.toml", "description = \"x\"\n[video\nsource = 1\n").await;
    let (line, rest) = located(&err, &path);
    assert_eq!(line, 2, "{err}");
    assert!(rest.contains("expected `]`"), "{err}");

    let (path, err) = one_error(d, "no-video.toml", "description = \"x\"\n").await;
    assert_eq!(err, format!("{}:1: video: missing field `video`", path.display()));

    let (path, err) =
        one_error(d, "no-encoders.toml", "description = \"x\"\n\n[video]\nsource = \"videotestsrc\"\n").await;
    let (line, rest) = located(&err, &path);
    assert_eq!(line, 3, "the [video] table: {err}");
    assert!(rest.ends_with("encoders: missing field `encoders`"), "{err}");

    let text = edit(&shipped("test-pattern.toml"), "platform = \"any\"\n", "platform = \"any\"\ncolour = \"red\"\n");
    let (path, err) = one_error(d, "unknown-key.toml", &text).await;
    let at = line_of(&text, "colour");
    assert!(
        err.starts_with(&format!("{}:{at}: colour: unknown field `colour`, expected one of", path.display())),
        "{err}"
    );

    let text = edit(&shipped("test-pattern.toml"), "preset = \"x264enc\"\n", "preset = \"x264enc\"\nbframes = 2\n");
    let (path, err) = one_error(d, "unknown-encoder-key.toml", &text).await;
    let (line, rest) = located(&err, &path);
    assert_eq!(line, line_of(&text, "bframes = 2"), "{err}");
    assert!(rest.contains("unknown field `bframes`"), "{err}");

    let text = replace_line(&shipped("test-pattern.toml"), "description = ", "description = 5");
    let (path, err) = one_error(d, "wrong-type.toml", &text).await;
    let at = line_of(&text, "description = 5");
    assert_eq!(err, format!("{}:{at}: description: invalid type: integer `5`, expected a string", path.display()));

    let text = edit(&shipped("test-pattern.toml"), "max = 3840", "max = \"big\"");
    let (path, err) = one_error(d, "wrong-type-param.toml", &text).await;
    let (line, rest) = located(&err, &path);
    assert_eq!(line, line_of(&text, "max = \"big\""), "{err}");
    assert!(rest.contains("invalid type: string \"big\", expected i64"), "{err}");
}

#[tokio::test]
async fn chains_are_checked_against_gstreamer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = shipped("test-pattern.toml");

    // A typo'd encoder element.
    let text = edit(&base, "preset = \"x264enc\"", "element = \"x264ecn\"\nprofile = \"constrained-baseline\"");
    let (path, err) = one_error(d, "typo-encoder.toml", &text).await;
    let element_line = line_of(&text, "x264ecn");
    assert_eq!(err, format!("{}:{element_line}: video.encoders[0].element: no element \"x264ecn\"", path.display()));

    // A typo'd element in a chain.
    let text = edit(&base, "videotestsrc is-live", "videotestsrcc is-live");
    let (path, err) = one_error(d, "typo-source.toml", &text).await;
    let at = line_of(&text, "videotestsrcc");
    assert_eq!(err, format!("{}:{at}: video.source: no element \"videotestsrcc\"", path.display()));

    // An unknown property of a real element.
    let text = edit(&base, "threads=${encoder_threads}", "threads=${encoder_threads} speed-presett=ultrafast");
    let (path, err) = one_error(d, "unknown-property.toml", &text).await;
    let at = line_of(&text, "speed-presett");
    assert_eq!(
        err,
        format!(
            "{}:{at}: video.encoders[0].properties: no property \"speed-presett\" in element \"x264enc\"",
            path.display()
        )
    );

    // A value the property does not take.
    let text = edit(&base, "threads=${encoder_threads}", "threads=${encoder_threads} speed-preset=warp-speed");
    let (path, err) = one_error(d, "bad-value.toml", &text).await;
    let at = line_of(&text, "warp-speed");
    assert_eq!(
        err,
        format!(
            "{}:{at}: video.encoders[0].properties: could not set property \"speed-preset\" in element \"x264enc\" to \"warp-speed\"",
            path.display()
        )
    );

    // A bad property value in the audio chain.
    let text = edit(&base, "wave=sine-table", "wave=banana");
    let (path, err) = one_error(d, "bad-audio-value.toml", &text).await;
    let at = line_of(&text, "wave=banana");
    assert!(err.starts_with(&format!("{}:{at}: audio.source: ", path.display())), "{err}");
    assert!(err.contains("\"wave\"") && err.contains("banana"), "{err}");

    // An element smuggled into the properties.
    let text = edit(&base, "threads=${encoder_threads}\"", "threads=${encoder_threads} ! filesink location=/tmp/x\"");
    let (path, err) = one_error(d, "bang-in-properties.toml", &text).await;
    let (_, rest) = located(&err, &path);
    assert!(rest.contains("properties must not contain `!`"), "{err}");
}

#[tokio::test]
async fn params_and_profiles_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = shipped("test-pattern.toml");

    let text = edit(&base, "pattern=${pattern}", "pattern=${patern}");
    let (path, err) = one_error(d, "placeholder.toml", &text).await;
    let at = line_of(&text, "${patern}");
    assert_eq!(
        err,
        format!("{}:{at}: video.source: `${{patern}}` names no parameter declared in [params]", path.display())
    );

    let text = edit(&base, "width = { default = 1280, min = 160", "width = { default = 100, min = 160");
    let (path, err) = one_error(d, "bounds.toml", &text).await;
    let at = line_of(&text, "default = 100");
    assert_eq!(err, format!("{}:{at}: params.width: default 100 is outside 160..=3840", path.display()));

    let text = edit(&base, "min = 160, max = 3840", "min = 3840, max = 160");
    let (path, err) = one_error(d, "min-max.toml", &text).await;
    let (_, rest) = located(&err, &path);
    assert_eq!(rest, "params.width: min 3840 is greater than max 160", "{err}");

    let text = edit(&base, "preset = \"x264enc\"", "preset = \"x264enc\"\nprofile = \"high\"");
    let (path, err) = one_error(d, "profile.toml", &text).await;
    let at = line_of(&text, "\"high\"");
    assert_eq!(
        err,
        format!("{}:{at}: video.encoders[0].profile: `high` is not one of constrained-baseline, main", path.display())
    );

    let text = replace_line(&base, "pattern = {", "pattern = { default = \"smpte ! filesink\" }");
    let (path, err) = one_error(d, "unsafe-default.toml", &text).await;
    let (_, rest) = located(&err, &path);
    assert!(rest.starts_with("params.pattern: "), "{err}");

    // Several mistakes in one file are all reported, each on its own line.
    let text = edit(
        &edit(&base, "pattern=${pattern}", "pattern=${patern}"),
        "default = 1280, min = 160",
        "default = 100, min = 160",
    );
    let path = d.join("two.toml");
    std::fs::write(&path, &text).unwrap();
    let good = common::repo().join("pipelines/test-pattern.toml");
    let run = check(&[&path, &good]).await;
    assert_eq!(run.code, 1, "{run}");
    let errors: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with(&path.display().to_string())).collect();
    assert_eq!(errors.len(), 2, "{run}");
    assert!(run.stdout.contains("test-pattern.toml: ok, runs here"), "the good file is still checked: {run}");
}

#[tokio::test]
async fn every_mistake_in_a_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = "description = \"several mistakes\"\n\
                colour = \"red\"\n\
                [params]\n\
                width = { default = 640, min = 16, max = \"big\" }\n\
                height = { default = 5, min = 16, max = 4096 }\n\
                [video]\n\
                source = \"videotestsrc ! video/x-raw,width=${width},height=${heigth}\"\n\
                [[video.encoders]]\n\
                element = \"x264enc\"\n\
                profile = \"high\"\n\
                [audio]\n\
                encoder = \"opusenc\"\n";
    let (path, errs) = errors(dir.path(), "several.toml", text).await;
    let mut got: Vec<(usize, &str)> = errs.iter().map(|e| located(e, &path)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                2,
                "colour: unknown field `colour`, expected one of `description`, `platform`, `params`, `video`, `audio`, `abr`, `output`"
            ),
            (4, "params.width: invalid type: string \"big\", expected i64"),
            (5, "params.height: default 5 is outside 16..=4096"),
            (7, "video.source: `${heigth}` names no parameter declared in [params]"),
            (10, "video.encoders[0].profile: `high` is not one of constrained-baseline, main"),
            (11, "audio.source: missing field `source`"),
        ],
        "{errs:#?}"
    );
}

#[tokio::test]
async fn a_file_that_does_not_parse_still_has_its_chains_checked() {
    // No description, an unknown key and a wrong profile stop the parse; the
    // chains that were read are judged by GStreamer all the same, so one run
    // names every mistake, each at its line.
    let dir = tempfile::tempdir().unwrap();
    let text = "colour = \"red\"\n\
                [video]\n\
                source = \"videotestsrcc is-live=true\"\n\
                [[video.encoders]]\n\
                element = \"x264enc\"\n\
                profile = \"high\"\n\
                properties = \"speed-presett=ultrafast\"\n\
                [audio]\n\
                source = \"audiotestsrc wave=sine ! nosuchfilter\"\n";
    let (path, errs) = errors(dir.path(), "mixed.toml", text).await;
    let got: Vec<(usize, &str)> = errs.iter().map(|e| located(e, &path)).collect();
    assert_eq!(
        got,
        [
            (
                1,
                "colour: unknown field `colour`, expected one of `description`, `platform`, `params`, `video`, `audio`, `abr`, `output`"
            ),
            (1, "description: missing field `description`"),
            (6, "video.encoders[0].profile: `high` is not one of constrained-baseline, main"),
            (3, "video.source: no element \"videotestsrcc\""),
            (9, "audio.source: no element \"nosuchfilter\""),
            (7, "video.encoders[0].properties: no property \"speed-presett\" in element \"x264enc\""),
        ],
        "{errs:#?}"
    );

    // A chain that has a problem of its own, or names a parameter that has
    // one, is not judged again: its one error is the parse's.
    let base = shipped("test-pattern.toml");
    let text = edit(
        &edit(&base, "width = { default = 1280, min = 160", "width = { default = 100, min = 160"),
        "preset = \"x264enc\"",
        "element = \"x264ecn\"",
    );
    let (path, errs) = errors(dir.path(), "both-stages.toml", &text).await;
    let got: Vec<(usize, &str)> = errs.iter().map(|e| located(e, &path)).collect();
    let (width, table, element) =
        (line_of(&text, "default = 100"), line_of(&text, "[[video.encoders]]"), line_of(&text, "x264ecn"));
    assert_eq!(
        got,
        [
            (width, "params.width: default 100 is outside 160..=3840"),
            (table, "video.encoders[0].profile: missing field `profile`"),
            (element, "video.encoders[0].element: no element \"x264ecn\""),
        ],
        "{errs:#?}"
    );
}

#[tokio::test]
async fn an_unknown_preset_names_file_line_and_the_presets() {
    let dir = tempfile::tempdir().unwrap();
    let text = edit(&shipped("test-pattern.toml"), "preset = \"openh264enc\"", "preset = \"openh246enc\"");
    let (path, err) = one_error(dir.path(), "preset.toml", &text).await;
    let at = line_of(&text, "openh246enc");
    assert!(
        err.starts_with(&format!(
            "{}:{at}: video.encoders[1].preset: no preset `openh246enc` (presets: ",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("x264enc") && err.contains("openh264enc"), "{err}");

    let text = edit(
        &shipped("test-pattern.toml"),
        "preset = \"openh264enc\"",
        "preset = \"openh264enc\"\nelement = \"x264enc\"",
    );
    let (path, err) = one_error(dir.path(), "both.toml", &text).await;
    let at = line_of(&text, "element = \"x264enc\"");
    assert!(
        err.starts_with(&format!("{}:{at}: video.encoders[1].element: a preset names the element", path.display())),
        "{err}"
    );
}

#[tokio::test]
async fn files_that_are_not_pipeline_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let (path, err) = one_error(d, "latin1.toml", b"description = \"caf\xe9\"\n".as_slice()).await;
    let (_, rest) = located(&err, &path);
    assert_eq!(rest, "not UTF-8 text (invalid byte at offset 18)", "{err}");

    let mut big = shipped("test-pattern.toml");
    while big.len() <= 256 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let (path, err) = one_error(d, "big.toml", &big).await;
    let (_, rest) = located(&err, &path);
    assert_eq!(rest, format!("file is {} bytes, more than the 262144 a pipeline file may have", big.len()), "{err}");

    // Both missing sections are named, each on its own line.
    let (path, errs) = errors(d, "empty.toml", "").await;
    let at = |rest: &str| format!("{}:1: {rest}", path.display());
    assert_eq!(errs, [at("description: missing field `description`"), at("video: missing field `video`")]);

    let (path, err) = one_error(d, "nul.toml", b"\0\0\0\0".as_slice()).await;
    let (line, _) = located(&err, &path);
    assert_eq!(line, 1, "{err}");

    std::fs::write(d.join("Bad_Name.toml"), shipped("test-pattern.toml")).unwrap();
    let path = d.join("Bad_Name.toml");
    let run = check(&[&path]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        run.stdout.trim_end(),
        format!("{}:1: file name `Bad_Name` must be lowercase letters, digits and dashes", path.display())
    );

    let missing = d.join("missing.toml");
    let run = check(&[&missing]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.starts_with(&format!("{}:", missing.display())), "{run}");
    assert!(run.stdout.contains("No such file"), "{run}");

    let run = check(&[d]).await;
    assert_eq!(run.code, 1, "a folder is not a file: {run}");
    assert!(run.stdout.starts_with(&format!("{}:", d.display())), "{run}");

    // What is not a regular file is refused at once, never read to its end.
    let fifo = d.join("fifo.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let zero = d.join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (path, why) in [(&fifo, "a FIFO, not a regular file"), (&zero, "a character device, not a regular file")] {
        let started = std::time::Instant::now();
        let run = check(&[path]).await;
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(run.stdout.trim_end(), format!("{}:1: {why}", path.display()), "{run}");
        assert!(started.elapsed() < Duration::from_secs(20), "{} took {:?}", path.display(), started.elapsed());
    }

    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = d.join(std::ffi::OsStr::from_bytes(b"\xff\xfe.toml"));
        std::fs::write(&odd, shipped("test-pattern.toml")).unwrap();
        let run = check(&[&odd]).await;
        assert_eq!(run.code, 1, "a non-UTF-8 file name is not a pipeline name: {run}");
    }
}

#[tokio::test]
async fn configuration_errors_name_their_origin() {
    let run = playcast(&["config", "check"], &[]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("configuration ok"), "{run}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let cases = [
        ("[media]\nmax_streams = 2\npipelines_dir = 7\n", 3, "invalid type"),
        ("[media\n", 1, "expected `]`"),
        ("[media]\n\nmax_stream = 2\n", 3, "max_stream"),
        ("[server]\nlisten = \"not an address\"\n", 2, "invalid socket address"),
        ("[signaling]\nmax_message_bytes = -1\n", 2, "invalid value"),
    ];
    for (text, line, what) in cases {
        std::fs::write(&cfg, text).unwrap();
        let run = playcast(&config_check(&cfg), &[]).await;
        assert_eq!(run.code, 2, "{text:?}: {run}");
        let expected = format!("{}:{line}: ", cfg.display());
        assert!(run.stderr.contains(&expected), "{text:?}: expected `{expected}`: {run}");
        assert!(run.stderr.contains(what), "{text:?}: expected `{what}`: {run}");
        assert!(run.stdout.is_empty(), "{run}");
    }

    // The same file through PLAYCAST_CONFIG.
    std::fs::write(&cfg, "[media]\nmax_streams = \"x\"\n").unwrap();
    let run = playcast(&["config", "check"], &[("PLAYCAST_CONFIG", cfg.to_str().unwrap())]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&format!("{}:2: ", cfg.display())), "{run}");

    // Values valid as TOML but not as settings.
    std::fs::write(&cfg, "[media]\nmax_streams = 0\n").unwrap();
    let run = playcast(&config_check(&cfg), &[]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("media.max_streams: must be at least 1"), "{run}");

    // Every problem at once, each with its line.
    std::fs::write(&cfg, "[media]\nmax_streams = 0\n[cache]\nurl = \"memcached://cache:11211\"\n").unwrap();
    let run = playcast(&config_check(&cfg), &[]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&format!("{}:2: media.max_streams: must be at least 1", cfg.display())), "{run}");
    assert!(run.stderr.contains(&format!("{}:4: cache.url: unknown cache backend", cfg.display())), "{run}");

    let missing = dir.path().join("missing.toml");
    let run = playcast(&config_check(&missing), &[]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&missing.display().to_string()) && run.stderr.contains("No such file"), "{run}");
}

#[tokio::test]
async fn environment_errors_name_the_variable() {
    for (name, value, what) in [
        ("PLAYCAST__MEDIA__MAX_STREAMS", "abc", "`abc` is not an integer"),
        ("PLAYCAST__MEDIA__NOPE", "1", "unknown setting `nope`"),
        ("PLAYCAST__NOPE__X", "1", "unknown section `nope`"),
        ("PLAYCAST__SERVER__LISTEN__DEEPER", "1", "unknown section `listen`"),
    ] {
        let run = playcast(&["config", "check"], &[(name, value)]).await;
        assert_eq!(run.code, 2, "{name}={value}: {run}");
        assert!(run.stderr.contains(&format!("environment variable {name}: ")), "{name}: {run}");
        assert!(run.stderr.contains(what), "{name}: {run}");
    }
    // Values that parse but make no sense name the variable and the setting.
    for (name, value, what) in [
        ("PLAYCAST__NODE__ADVERTISE", "ftp://x", "node.advertise: an http:// or https:// URL, or empty"),
        ("PLAYCAST__SERVER__DRAIN", "2days", "server.drain: at most 1day"),
        // A deprecated numeric variable is read as the duration it meant.
        ("PLAYCAST__SERVER__DRAIN_SECS", "999999", "server.drain: at most 1day"),
    ] {
        let run = playcast(&["config", "check"], &[(name, value)]).await;
        assert_eq!(run.code, 2, "{name}={value}: {run}");
        assert!(run.stderr.contains(&format!("{name}: {what}")), "{name}: {run}");
    }
    // A deprecated numeric variable still works, and says what to write instead.
    let run = playcast(&["config", "check"], &[("PLAYCAST__SESSIONS__CONNECT_TIMEOUT_SECS", "30")]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("sessions.connect_timeout_secs (seconds) is deprecated"), "{run}");
    assert!(run.stderr.contains("write sessions.connect_timeout = \"30s\""), "{run}");
    // Given with its new name, it is refused naming both.
    let both = [("PLAYCAST__SESSIONS__CONNECT_TIMEOUT_SECS", "30"), ("PLAYCAST__SESSIONS__CONNECT_TIMEOUT", "1m")];
    let run = playcast(&["config", "check"], &both).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains(
            "PLAYCAST__SESSIONS__CONNECT_TIMEOUT_SECS (deprecated) and PLAYCAST__SESSIONS__CONNECT_TIMEOUT are both set"
        ),
        "{run}"
    );
    // The same check guards every command, not just `config check`.
    let run = playcast(&["pipeline", "list"], &[("PLAYCAST__MEDIA__MAX_STREAMS", "abc")]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("PLAYCAST__MEDIA__MAX_STREAMS"), "{run}");
    // A valid override is applied.
    let run = playcast(&["config", "check"], &[("PLAYCAST__SERVER__LISTEN", "127.0.0.1:9999")]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("listen 127.0.0.1:9999"), "{run}");
}

#[tokio::test]
async fn bad_arguments_get_clap_messages() {
    let cases: &[(&[&str], &str)] = &[
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["--frob", "config", "check"], "unexpected argument '--frob'"),
        (&["config", "check", "--frob"], "unexpected argument '--frob'"),
        (&["config", "explode"], "unrecognized subcommand 'explode'"),
        (&["pipeline", "list", "extra"], "unexpected argument 'extra'"),
        (&["serve", "--listen", "notanaddr"], "invalid value 'notanaddr' for '--listen <LISTEN>'"),
        (&["serve", "--listen"], "a value is required for '--listen <LISTEN>'"),
        (&["--config"], "a value is required for '--config <CONFIG>'"),
        (&["pipeline"], "Usage: playcast pipeline"),
        (&[], "Usage: playcast"),
    ];
    for (args, message) in cases {
        let run = playcast(args, &[]).await;
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert!(run.stderr.contains(message), "{args:?}: expected `{message}`: {run}");
        assert!(run.stdout.is_empty(), "{args:?}: {run}");
    }
    let run = playcast(&["--version"], &[]).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout.trim(), format!("playcast {}", env!("CARGO_PKG_VERSION")));
    let run = playcast(&["pipeline", "check", "--help"], &[]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("Usage: playcast pipeline check"), "{run}");
}

#[tokio::test]
async fn serve_fails_fast_and_clearly() {
    let run = playcast(&["serve", "--listen", "127.0.0.1:0", "--pipelines", "/nonexistent/pipelines"], &[]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("pipelines folder /nonexistent/pipelines"), "{run}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = playcast(&["serve", "--listen", &addr], &[]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&format!("binding {addr}")), "{run}");
}

/// The fixture's refusals under the default element policy, in file order.
const HOST_ACCESS_REFUSALS: [&str; 4] = [
    "tests/fixtures/host-access.toml:11: video.source: element `filesink` is not allowed by the element policy (it writes any host file; media.insecure_host_elements lifts this)",
    "tests/fixtures/host-access.toml:13: video.filters: element `multifilesink` is not allowed by the element policy (it writes host files named by a pattern, in the working folder when no location is set; media.insecure_host_elements lifts this)",
    "tests/fixtures/host-access.toml:18: video.encoders[0].before: element `shmsink` in the value of `video-sink` is not allowed by the element policy (it writes shared memory and makes a control socket at any path; media.insecure_host_elements lifts this)",
    "tests/fixtures/host-access.toml:23: audio.source: `file:///etc/hostname` stands where an element goes, which is not allowed by the element policy (GStreamer would open it with whatever element handles it; name the element)",
];

#[tokio::test]
async fn the_element_policy_names_file_line_and_element() {
    let fixture = "tests/fixtures/host-access.toml";
    let run = playcast(&["pipeline", "check", fixture], &[]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), HOST_ACCESS_REFUSALS, "{run}");
    assert!(!std::path::Path::new("/tmp/playcast-copy.raw").exists(), "a refused file never runs: {run}");

    // Lifting built-in refusals one by one; a URI stays refused: its element is GStreamer's choice.
    let lift = [("PLAYCAST__MEDIA__INSECURE_HOST_ELEMENTS", "filesink,multifilesink,shmsink")];
    let run = playcast(&["pipeline", "check", fixture], &lift).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), HOST_ACCESS_REFUSALS[3..], "{run}");

    // The operator's own lists, on a shipped file.
    let tp = "pipelines/test-pattern.toml";
    let run = playcast(&["pipeline", "check", tp], &[("PLAYCAST__MEDIA__DENY_ELEMENTS", "opusenc")]).await;
    assert_eq!(run.code, 1, "{run}");
    let at = line_of(&shipped("test-pattern.toml"), "encoder = \"opusenc");
    assert_eq!(
        run.stdout,
        format!(
            "{tp}:{at}: audio.encoder: element `opusenc` is not allowed by the element policy (media.deny_elements)\n"
        ),
        "{run}"
    );
    let every = "videotestsrc,x264enc,openh264enc,audiotestsrc,opusenc";
    let run = playcast(&["pipeline", "check", tp], &[("PLAYCAST__MEDIA__ALLOW_ELEMENTS", every)]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with(&format!("{tp}: ok, runs here")), "{run}");
    let run =
        playcast(&["pipeline", "check", tp], &[("PLAYCAST__MEDIA__ALLOW_ELEMENTS", &every[..every.len() - 8])]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        run.stdout,
        format!(
            "{tp}:{at}: audio.encoder: element `opusenc` is not allowed by the element policy (not in media.allow_elements)\n"
        ),
        "{run}"
    );

    // A policy setting that makes no sense stops the command, naming the variable.
    let run = playcast(&["pipeline", "check", tp], &[("PLAYCAST__MEDIA__INSECURE_HOST_ELEMENTS", "queue")]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("PLAYCAST__MEDIA__INSECURE_HOST_ELEMENTS: media.insecure_host_elements: `queue` is not one of the built-in host-access elements"),
        "{run}"
    );
}
