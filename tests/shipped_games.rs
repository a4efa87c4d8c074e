//! Every game in the shipped catalog (`config/games.toml`) starts from what the
//! run command (`scripts/run`) leaves: each is started once through the API, on
//! the real launch path (Xvfb, PulseAudio, the game), runs, and stops cleanly.
//!
//! A game's program is either a system tool (`scripts/setup.sh` installs it) or
//! a binary of this package, which `scripts/run` must build beside the service,
//! where the launcher looks first. Under `cargo test` the binaries are in the
//! build folder above the test executable, as they are beside the service.
//! Nothing is skipped: a missing program fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use playcast::auth::Role;
use playcast::session::games::{self, Game};
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
/// How long a started game must keep running to count as started.
const SETTLE: Duration = Duration::from_millis(1500);

fn catalog() -> Vec<Game> {
    let path = common::repo().join("config/games.toml");
    let games = games::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!games.is_empty(), "the shipped catalog lists no game");
    games.into_values().collect()
}

/// The binaries of this package: `src/bin/<name>.rs`.
fn package_bins() -> Vec<String> {
    let dir = common::repo().join("src/bin");
    let mut bins: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    bins.sort();
    bins
}

/// Where the build put a binary of this package.
fn built_bin(name: &str) -> PathBuf {
    match name {
        "playcast-probe" => {
            let path = PathBuf::from(env!("CARGO_BIN_EXE_playcast-probe"));
            std::fs::canonicalize(&path).unwrap_or(path)
        }
        other => panic!("binary `{other}` of a shipped game is not known to this test: add it here"),
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// The command lines of `script` that run `cargo build` (continued lines joined).
fn cargo_builds(script: &str) -> Vec<String> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("cargo build"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_run_command_builds_every_program_of_the_catalog_that_the_package_ships() {
    let run = std::fs::read_to_string(common::repo().join("scripts/run")).expect("scripts/run");
    let builds = cargo_builds(&run);
    assert!(!builds.is_empty(), "scripts/run builds nothing with cargo build");
    let bins = package_bins();
    for game in catalog() {
        let Some(program) = game.command.as_ref().and_then(|argv| argv.first()) else { continue };
        if bins.contains(program) {
            // Built in release, into the folder of the service it then runs.
            let built = builds.iter().any(|b| {
                let words: Vec<&str> = b.split_whitespace().collect();
                let this_package = !words.contains(&"-p") || b.contains("-p playcast ") || b.ends_with("-p playcast");
                words.contains(&"--release")
                    && this_package
                    && (words.contains(&"--bins") || words.windows(2).any(|w| w == ["--bin", program.as_str()]))
            });
            assert!(built, "game `{}` runs `{program}`, which scripts/run does not build: {builds:?}", game.id);
        } else {
            assert!(
                Path::new(program).is_absolute() || on_path(program).is_some(),
                "game `{}` runs `{program}`, which is neither on PATH nor a binary of this package",
                game.id
            );
        }
    }
}

/// The executable of a live, not zombie, process.
fn exe_of(pid: u32) -> Option<PathBuf> {
    if common::is_zombie(pid) {
        return None;
    }
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_game_starts_runs_and_stops() {
    common::require_root();
    // The launcher puts the service's folders first on the game's PATH; here the
    // service is this test executable, and the package's binaries are there.
    let dirs = playcast::session::launch::shipped_dirs();
    for bin in package_bins() {
        let built = built_bin(&bin);
        let folder = built.parent().expect("a folder").to_path_buf();
        assert!(dirs.contains(&folder), "`{bin}` is built in {}, not in {dirs:?}", folder.display());
    }

    let service = common::serve_in_process(|c| c.sessions.games_file = common::repo().join("config/games.toml")).await;
    let token = service.sign_in("alice", Role::Player).await;
    let bins = package_bins();
    for game in catalog() {
        let (status, created) =
            service.call(&token, Method::POST, "/api/v1/sessions", Some(json!({"game": game.id}))).await;
        assert_eq!(status, 201, "game `{}` did not start: {created}", game.id);
        let id = created["id"].as_str().expect("an id").to_owned();
        let session = format!("/api/v1/sessions/{id}");

        if let Some(program) = game.command.as_ref().and_then(|argv| argv.first()) {
            let expected = if bins.contains(program) {
                built_bin(program)
            } else {
                let found = on_path(program).unwrap_or_else(|| PathBuf::from(program));
                std::fs::canonicalize(&found).unwrap_or(found)
            };
            let running = || common::processes_of(&id).into_iter().any(|pid| exe_of(pid).as_ref() == Some(&expected));
            common::eventually(&format!("`{}` ({}) to run", game.id, expected.display()), WAIT, || async {
                running().then_some(())
            })
            .await;
            // Still running a moment later: it did not give up on its display or sound.
            tokio::time::sleep(SETTLE).await;
            assert!(running(), "game `{}` ({}) exited: {:?}", game.id, expected.display(), game_log(&service, &id));
        }
        let (_, view) = service.call(&token, Method::GET, &session, None).await;
        assert_eq!(view["state"], "connecting", "game `{}` runs and waits for its player: {view}", game.id);

        let (status, ended) = service.call(&token, Method::POST, &format!("{session}/end"), None).await;
        assert!((200..300).contains(&status), "ending `{}`: {status} {ended}", game.id);
        let done = common::eventually(&format!("`{}` to be cleaned up", game.id), WAIT, || async {
            let (_, v) = service.call(&token, Method::GET, &session, None).await;
            (v["state"] == "cleanup").then_some(v)
        })
        .await;
        let history = service.call(&token, Method::GET, &format!("{session}/events"), None).await.1;
        let states: Vec<&str> = history.as_array().expect("events").iter().filter_map(|e| e["to"].as_str()).collect();
        assert!(!states.contains(&"error"), "game `{}` went through error: {done} {history}", game.id);
        common::eventually(&format!("the processes of `{}` to go", game.id), WAIT, || async {
            common::processes_of(&id).into_iter().all(common::is_zombie).then_some(())
        })
        .await;
    }
}

/// What a game wrote, for a failure message (its runtime dir may be gone).
fn game_log(service: &common::InProcess, id: &str) -> String {
    let path = service.state.config.server.data_dir.join("run").join(id).join("game.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| format!("{}: {e}", path.display()))
}
