//! The games catalog (`config/games.toml`): what a player may launch, how,
//! with which pipeline and what it reserves on the node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::line_of;
use crate::media::spec::valid_name;
pub use crate::model::game::{Game, DEFAULT_MAX_PROCESSES};

/// A catalog that did not load: `file:line: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum GamesError {
    /// The cause is the `source()`, printed after the path by a chain printer.
    #[error("{path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    games: BTreeMap<String, toml::Spanned<toml::Value>>,
}

#[derive(Deserialize)]
struct Typed {
    #[serde(default, rename = "games")]
    _games: BTreeMap<String, Game>,
}

/// Loads and checks the catalog. Every problem names its line.
pub fn load(path: &Path) -> Result<BTreeMap<String, Game>, GamesError> {
    let text = crate::files::read_text(path, crate::files::MAX_CONFIG_BYTES)
        .map_err(|source| GamesError::Read { path: path.to_owned(), source })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Game>, GamesError> {
    let invalid = |offset: usize, message: String| GamesError::Invalid {
        path: path.to_owned(),
        line: line_of(text, offset),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| invalid(e.span().map_or(0, |s| s.start), e.message().into()))?;
    let mut games = BTreeMap::new();
    for (id, spanned) in file.games {
        let at = spanned.span().start;
        if !valid_name(&id) {
            return Err(invalid(at, format!("games.{id}: ids are 1-64 lowercase letters, digits or `-`")));
        }
        let mut game: Game = Game::deserialize(spanned.into_inner()).map_err(|e| {
            // A typed parse of the whole file points at the offending line, and
            // that line names the field.
            let span = toml::from_str::<Typed>(text).err().and_then(|t| t.span());
            let field =
                span.clone().and_then(|s| text.lines().nth(line_of(text, s.start) - 1)).and_then(|l| l.split_once('='));
            match (span, field) {
                (Some(s), Some((key, _))) => invalid(s.start, format!("games.{id}.{}: {}", key.trim(), e.message())),
                _ => invalid(at, format!("games.{id}: {}", e.message())),
            }
        })?;
        game.id = id.clone();
        game.check().map_err(|m| invalid(at, format!("games.{id}: {m}")))?;
        games.insert(id, game);
    }
    Ok(games)
}

impl Game {
    fn check(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("`title` is empty".into());
        }
        if !valid_name(&self.pipeline) {
            return Err(format!("`pipeline` `{}` is not a pipeline name", self.pipeline));
        }
        if let Some(cmd) = &self.command {
            if cmd.first().is_none_or(|c| c.trim().is_empty()) {
                return Err("`command` needs at least the program".into());
            }
        }
        if self.cpu_cores == 0 || self.memory_mb == 0 {
            return Err("`cpu_cores` and `memory_mb` must be at least 1".into());
        }
        // Xvfb, PulseAudio and their threads come first.
        if self.max_processes < 16 {
            return Err("`max_processes` must be at least 16".into());
        }
        if let Some(art) = &self.art {
            let where_ok = art.starts_with("https://") || art.starts_with("http://") || art.starts_with('/');
            if !where_ok || art.len() > 2048 || art.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!("`art` `{art}` is not an http(s) URL or a path on this service"));
            }
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.starts_with("PLAYCAST_") {
                return Err(format!("`env`: `{key}` is not a variable the game may be given"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("games.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_catalog_loads() {
        let games = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/games.toml")).unwrap();
        assert!(games.contains_key("test-pattern"), "{games:?}");
        assert!(games.values().all(|g| g.id.len() > 1));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = err("[games.a]\ntitle = \"A\"\npipeline = \"test-pattern\"\n\n[games.b]\ntitle = \"B\"\n");
        assert!(e.starts_with("games.toml:5:") && e.contains("games.b") && e.contains("pipeline"), "{e}");
        let e = err("[games.a]\ntitle = \"A\"\npipeline = \"x\"\ncolour = 1\n");
        assert!(e.starts_with("games.toml:4: games.a.colour:"), "{e}");
        let e = err("[games.a]\ntitle = \"A\"\npipeline = \"x\"\ncommand = []\n");
        assert!(e.contains("command"), "{e}");
        let e = err("[games.\"Bad Id\"]\ntitle = \"A\"\npipeline = \"x\"\n");
        assert!(e.contains("ids are"), "{e}");
        let e = err("[games.a]\ntitle = \"A\"\npipeline = \"x\"\nenv = { PLAYCAST_SESSION = \"x\" }\n");
        assert!(e.contains("env"), "{e}");
        let e = err("[games.a\n");
        assert!(e.starts_with("games.toml:1:"), "{e}");
        let e = err("[games.a]\ntitle = \"A\"\npipeline = \"x\"\ncpu_cores = -1\n");
        assert!(e.starts_with("games.toml:4: games.a.cpu_cores:"), "{e}");
        let e = err("[games.a]\ntitle = \"A\"\npipeline = \"x\"\nart = \"javascript:alert(1)\"\n");
        assert!(e.starts_with("games.toml:") && e.contains("`art`"), "{e}");
    }

    #[test]
    fn art_is_a_url_or_a_path_here() {
        let text = "[games.a]\ntitle = \"A\"\npipeline = \"x\"\nart = \"/art/a.png\"\n";
        let games = parse(Path::new("games.toml"), text).unwrap();
        assert_eq!(games["a"].art.as_deref(), Some("/art/a.png"));
    }
}
