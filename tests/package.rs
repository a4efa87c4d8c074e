//! An installable service: the Debian package (cargo-deb) holds the binaries,
//! the shipped pipelines and games, `/etc/playcast` as conffiles and a
//! sandboxed systemd unit, and its binary runs unpacked into a scratch root
//! from any working directory; relative paths in a configuration file are
//! from that file's folder; the embedded defaults find the shipped files
//! from anywhere; a missing games catalog is reported once, precisely.

mod common;

use common::Run;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_playcast");
const PROBE: &str = env!("CARGO_BIN_EXE_playcast-probe");
/// cargo-deb strips and compresses an unoptimised ~80 MB binary; the rest is quick.
const LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` to its end within [`LIMIT`] (killed and failed otherwise).
fn run(mut cmd: Command) -> Run {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let started = Instant::now();
    while child.try_wait().expect("waiting").is_none() {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("{what} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::of(&what, child.wait_with_output().expect("output"))
}

/// `bin args…` from `cwd` with no `PLAYCAST*` variable but `env`.
fn command(bin: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(cwd).env("RUST_LOG", "warn");
    common::without_playcast_env(&mut cmd);
    cmd.envs(env.iter().copied());
    cmd
}

fn playcast(bin: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run(command(bin, cwd, args, env))
}

/// The shipped pipeline names, from the repository's folder.
fn shipped_pipelines() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(common::repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    names
}

/// `pipeline list` succeeded and shows every shipped pipeline, the test
/// pattern runnable on any machine.
fn assert_lists_shipped(run: &Run) {
    assert_eq!(run.code, 0, "{run}");
    for name in shipped_pipelines() {
        let line = run.stdout.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()));
        let line = line.unwrap_or_else(|| panic!("`{name}` not listed: {run}"));
        assert!(!line.contains("invalid"), "{line}");
    }
    let line = run.stdout.lines().find(|l| l.starts_with("test-pattern ")).unwrap();
    assert!(line.contains("runs here"), "{line}");
}

fn config_line(run: &Run) -> &str {
    assert_eq!(run.code, 0, "{run}");
    run.stdout.lines().find(|l| l.starts_with("configuration ok")).unwrap_or_else(|| panic!("{run}"))
}

/// The package, from this test run's debug binaries: cargo-deb packages
/// `target/release/*` by design and refuses the dev profile, and a release
/// build of the workspace takes most of an hour on a CI machine, so a target
/// folder of the test's own is given the binaries the test was built with,
/// as `release/`, and cargo-deb is told not to build.
fn build_package(scratch: &Path) -> PathBuf {
    let target = scratch.join("target");
    let release = target.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for bin in [BIN, PROBE] {
        let to = release.join(Path::new(bin).file_name().unwrap());
        if std::fs::hard_link(bin, &to).is_err() {
            std::fs::copy(bin, &to).unwrap();
        }
    }
    let out = scratch.join("out");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // A missing cargo-deb fails here, loudly: scripts/setup.sh test installs it.
    let version = run({
        let mut c = Command::new(&cargo);
        c.args(["deb", "--version"]);
        c
    });
    assert_eq!(version.code, 0, "cargo-deb is needed (scripts/setup.sh test installs it): {version}");
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "19"])
        .arg(&cargo)
        .args(["deb", "--no-build", "--locked", "--fast", "--output"])
        .arg(&out)
        .current_dir(common::repo())
        .env("CARGO_TARGET_DIR", &target);
    let built = run(cmd);
    assert_eq!(built.code, 0, "{built}");
    let debs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}: {built}");
    debs.into_iter().next().unwrap()
}

/// `dpkg-deb OPTION DEB [MEMBER]`'s output; it must succeed.
fn dpkg_deb(option: &str, deb: &Path, member: Option<&str>) -> String {
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg(option).arg(deb).args(member);
    let r = run(cmd);
    assert_eq!(r.code, 0, "dpkg-deb {option} {member:?}: {r}");
    r.stdout
}

#[test]
fn the_package_installs_into_a_scratch_root_and_runs_from_anywhere() {
    let scratch = tempfile::tempdir().unwrap();
    let deb = build_package(scratch.path());

    // Contents: paths from `dpkg-deb -c` (the last column, `./usr/bin/playcast`).
    let listing = dpkg_deb("-c", &deb, None);
    let files: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    let mut expected: Vec<String> = [
        "./usr/bin/playcast",
        "./usr/bin/playcast-probe",
        "./usr/share/playcast/config/games.toml",
        "./etc/playcast/playcast.toml",
        "./etc/playcast/games.toml",
        "./usr/lib/systemd/system/playcast.service",
        "./usr/share/doc/playcast/DEPLOY.md",
    ]
    .map(String::from)
    .into();
    expected.extend(shipped_pipelines().iter().map(|n| format!("./usr/share/playcast/pipelines/{n}.toml")));
    for path in &expected {
        assert!(files.contains(&path.as_str()), "{path} is not in the package:\n{listing}");
    }
    let line = |path: &str| listing.lines().find(|l| l.ends_with(path)).unwrap().to_string();
    assert!(line("./usr/bin/playcast").starts_with("-rwxr-xr-x 0/0 "), "{}", line("./usr/bin/playcast"));

    // Control data: what it needs from Debian, the conffiles, the user.
    let info = dpkg_deb("-I", &deb, None);
    assert!(info.contains("Package: playcast"), "{info}");
    let depends = info.lines().find(|l| l.trim_start().starts_with("Depends:")).unwrap_or_else(|| panic!("{info}"));
    for dep in ["libgstreamer1.0-0", "gstreamer1.0-plugins-bad", "gstreamer1.0-nice", "xvfb", "adduser"] {
        assert!(depends.contains(dep), "{dep} missing: {depends}");
    }
    let conffiles = dpkg_deb("-I", &deb, Some("conffiles"));
    let mut listed: Vec<&str> = conffiles.lines().collect();
    listed.sort();
    assert_eq!(listed, ["/etc/playcast/games.toml", "/etc/playcast/playcast.toml"], "{conffiles}");
    let postinst = dpkg_deb("-I", &deb, Some("postinst"));
    let user = postinst.find("adduser --system").unwrap_or_else(|| panic!("no system user: {postinst}"));
    let enable = postinst.find("deb-systemd-helper").unwrap_or_else(|| panic!("unit not enabled: {postinst}"));
    assert!(user < enable, "the user exists before the unit is enabled and started: {postinst}");
    for script in ["postinst", "postrm", "prerm"] {
        let text = dpkg_deb("-I", &deb, Some(script));
        let mut cmd = Command::new("sh");
        cmd.args(["-n", "-c", &text]);
        let syntax = run(cmd);
        assert_eq!(syntax.code, 0, "{script} is not valid sh:\n{text}\n{syntax}");
    }

    // Unpacked into a scratch root, as dpkg would (without its scripts).
    let root = scratch.path().join("root");
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg("-x").arg(&deb).arg(&root);
    let unpacked = run(cmd);
    assert_eq!(unpacked.code, 0, "{unpacked}");

    // The unit runs the service as its own user, sandboxed, with no capabilities.
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/playcast.service")).unwrap();
    for setting in [
        "User=playcast",
        "ExecStart=/usr/bin/playcast --config /etc/playcast/playcast.toml serve",
        "StateDirectory=playcast",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "AmbientCapabilities=\n",
    ] {
        assert!(unit.contains(setting), "`{}` is not in the unit:\n{unit}", setting.trim());
    }
    // systemd's own reading of the unit: it parses, and its exposure score
    // (0 best, 10 worst) stays in the band systemd calls OK.
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["security", "--offline=true", "--threshold=20"])
        .arg(root.join("usr/lib/systemd/system/playcast.service"));
    let security = run(cmd);
    assert_eq!(security.code, 0, "systemd-analyze security: {security}");
    let overall =
        security.stdout.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{security}"));
    assert!(overall.contains(" OK"), "{overall}");
    // systemd ignores a key it does not know or a value it cannot parse, with a warning.
    assert!(security.stderr.trim().is_empty(), "the unit has settings systemd ignores: {security}");

    // The installed binary, its installed configuration, from elsewhere.
    let bin = root.join("usr/bin/playcast");
    let config = root.join("etc/playcast/playcast.toml");
    let elsewhere = tempfile::tempdir().unwrap();
    let check = playcast(&bin, elsewhere.path(), &["--config", config.to_str().unwrap(), "config", "check"], &[]);
    let ok = config_line(&check);
    let pipelines = root.join("usr/share/playcast/pipelines");
    assert!(ok.contains(&format!("pipelines {}", pipelines.display())), "{check}");
    // `games.toml` in the file is the one beside it.
    assert!(ok.contains(&format!("games {}", root.join("etc/playcast/games.toml").display())), "{check}");
    let list = playcast(&bin, elsewhere.path(), &["--config", config.to_str().unwrap(), "pipeline", "list"], &[]);
    assert_lists_shipped(&list);

    // It serves: the installed games catalog, the shipped pipelines (its state
    // where the test says, not the host's /var/lib/playcast).
    let state = scratch.path().join("state");
    let port = common::free_port();
    let log = scratch.path().join("serve.log");
    let listen = format!("127.0.0.1:{port}");
    let env =
        [("PLAYCAST__SERVER__DATA_DIR", state.to_str().unwrap()), ("RUST_LOG", "playcast=info"), ("NO_COLOR", "1")];
    let mut serve =
        command(&bin, elsewhere.path(), &["--config", config.to_str().unwrap(), "serve", "--listen", &listen], &env);
    serve.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
    let service = common::Proc(serve.spawn().unwrap(), "installed playcast serve");
    let health = format!("http://{listen}/api/v1/health");
    tokio::runtime::Runtime::new().unwrap().block_on(common::wait_http(&health, Duration::from_secs(60)));
    drop(service);
    let log = std::fs::read_to_string(&log).unwrap();
    let games_loaded = log.lines().find(|l| l.contains("games catalog loaded")).unwrap_or_else(|| panic!("{log}"));
    assert!(games_loaded.contains(&root.join("etc/playcast/games.toml").display().to_string()), "{games_loaded}");
    let test_pattern = log.lines().find(|l| l.contains("pipeline loaded") && l.contains("pipeline=test-pattern "));
    assert!(test_pattern.is_some_and(|l| l.contains("runnable=true")), "{log}");

    // No configuration at all: the embedded defaults find the installed files.
    let check = playcast(&bin, elsewhere.path(), &["config", "check"], &[]);
    let ok = config_line(&check);
    assert!(ok.contains(&format!("pipelines {}", pipelines.display())), "{check}");
    let games = root.join("usr/share/playcast/config/games.toml");
    assert!(ok.contains(&format!("games {}", games.display())), "{check}");
    assert_lists_shipped(&playcast(&bin, elsewhere.path(), &["pipeline", "list"], &[]));
}

#[test]
fn relative_paths_in_a_config_file_are_from_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("pipes")).unwrap();
    std::fs::copy(common::repo().join("pipelines/test-pattern.toml"), etc.join("pipes/mine.toml")).unwrap();
    std::fs::copy(common::repo().join("config/games.toml"), etc.join("catalog.toml")).unwrap();
    let config = etc.join("node.toml");
    std::fs::write(
        &config,
        "[server]\ndata_dir = \"state\"\n[media]\npipelines_dir = \"pipes\"\n[sessions]\ngames_file = \"catalog.toml\"\n",
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let bin = Path::new(BIN);
    let args = |cmd: &'static [&'static str]| {
        let mut a = vec!["--config", config.to_str().unwrap()];
        a.extend(cmd);
        a
    };
    let check = playcast(bin, elsewhere.path(), &args(&["config", "check"]), &[]);
    let ok = config_line(&check);
    assert!(ok.contains(&format!("pipelines {}", etc.join("pipes").display())), "{check}");
    assert!(ok.contains(&format!("games {}", etc.join("catalog.toml").display())), "{check}");
    let list = playcast(bin, elsewhere.path(), &args(&["pipeline", "list"]), &[]);
    assert_eq!(list.code, 0, "{list}");
    assert!(list.stdout.lines().any(|l| l.starts_with("mine ") && l.contains("runs here")), "{list}");

    // The file given by a relative path: still from the file's folder, not the caller's.
    let check = playcast(bin, dir.path(), &["--config", "etc/node.toml", "config", "check"], &[]);
    assert!(config_line(&check).contains(&format!("pipelines {}", etc.join("pipes").display())), "{check}");
}

#[test]
fn a_cargo_build_runs_on_the_embedded_defaults_from_any_folder() {
    let elsewhere = tempfile::tempdir().unwrap();
    let check = playcast(Path::new(BIN), elsewhere.path(), &["config", "check"], &[]);
    let ok = config_line(&check);
    // target/debug/playcast finds the checkout it was built in.
    assert!(ok.contains(&format!("pipelines {}", common::repo().join("pipelines").display())), "{check}");
    assert!(ok.contains(&format!("games {}", common::repo().join("config/games.toml").display())), "{check}");
    assert_lists_shipped(&playcast(Path::new(BIN), elsewhere.path(), &["pipeline", "list"], &[]));
}

#[test]
fn start_up_errors_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let games = dir.path().join("nowhere/games.toml");
    let data = dir.path().join("data");
    let serve = |env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("PLAYCAST__SERVER__DATA_DIR", data.to_str().unwrap()));
        let run = playcast(Path::new(BIN), dir.path(), &["serve", "--listen", "127.0.0.1:0"], &env);
        assert_eq!(run.code, 2, "{run}");
        let errors: Vec<String> = run.stderr.lines().filter(|l| l.starts_with("error:")).map(String::from).collect();
        assert_eq!(errors.len(), 1, "{run}");
        (errors.into_iter().next().unwrap(), run)
    };

    // It said "No such file or directory (os error 2)" three times.
    let (error, run) = serve(&[("PLAYCAST__SESSIONS__GAMES_FILE", games.to_str().unwrap())]);
    let expected = format!(
        "error: starting the service: games catalog: {}: No such file or directory (os error 2)",
        games.display()
    );
    assert_eq!(error, expected, "{run}");

    // sea-orm writes sqlx's message into its own as well.
    let db = format!("sqlite://{}/x.sqlite", dir.path().join("nowhere").display());
    let (error, run) = serve(&[("PLAYCAST__STATE__DATABASE_URL", &db)]);
    assert!(error.starts_with("error: starting the service: state database: "), "{run}");
    assert_eq!(error.matches("unable to open database file").count(), 1, "{run}");
}
