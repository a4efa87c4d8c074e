//! Where the embedded defaults' shipped files are, and what a relative path in
//! a configuration file is relative to.

use std::path::{Path, PathBuf};

/// The settings that name a file or folder (`section`, `key`).
const PATH_SETTINGS: [(&str, &str); 4] =
    [("server", "data_dir"), ("media", "pipelines_dir"), ("sessions", "games_file"), ("sessions", "saves_dir")];

/// Of those, the ones whose embedded default is a file shipped with the service.
const SHIPPED_SETTINGS: [(&str, &str); 2] = [("media", "pipelines_dir"), ("sessions", "games_file")];

/// Where the shipped pipeline files and games catalog are looked for when the
/// embedded defaults name them, first found wins: `<exe>/../share/playcast`
/// (the binary's own installation, e.g. /usr/bin -> /usr/share/playcast),
/// the working directory (a source checkout), the checkout a Cargo build
/// folder is in (`<checkout>/target/<profile>/playcast`), then
/// `/usr/share/playcast` (a binary copied elsewhere). They are installed files rather than text
/// embedded in the binary because pipeline files are the operator's
/// interface: the folder catalog watches, reloads and checks real files, and
/// one code path serves both the defaults and an operator's own folder.
pub fn shipped_bases() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    // /usr for /usr/bin/playcast, <checkout>/target for target/debug/playcast.
    let prefix = exe.as_deref().and_then(Path::parent).and_then(Path::parent);
    let mut bases: Vec<PathBuf> = prefix.map(|p| p.join("share/playcast")).into_iter().collect();
    bases.extend(std::env::current_dir().ok());
    if let Some(build) = prefix.filter(|p| p.file_name().is_some_and(|n| n == "target")) {
        bases.extend(build.parent().map(Path::to_owned));
    }
    bases.push(PathBuf::from("/usr/share/playcast"));
    bases
}

/// Turns the embedded defaults' relative shipped paths into the first of
/// `bases` that holds them; none: the working directory's, so an error names
/// an absolute path.
pub(super) fn locate_shipped(table: &mut toml::Table, bases: &[PathBuf]) {
    for (section, key) in SHIPPED_SETTINGS {
        let Some(toml::Value::String(rel)) = table.get(section).and_then(|s| s.get(key)) else { continue };
        let rel = PathBuf::from(rel);
        if rel.is_absolute() {
            continue;
        }
        let found = bases
            .iter()
            .map(|b| b.join(&rel))
            .find(|p| p.exists())
            .or_else(|| std::path::absolute(&rel).ok())
            .unwrap_or(rel);
        set_string(table, section, key, found);
    }
}

/// Relative paths in a configuration file are relative to that file's folder,
/// wherever the service is started from. Empty means "the default" and stays.
pub(super) fn resolve_against(layer: &mut toml::Table, folder: &Path) {
    for (section, key) in PATH_SETTINGS {
        let Some(toml::Value::String(value)) = layer.get(section).and_then(|s| s.get(key)) else { continue };
        if value.is_empty() || Path::new(value).is_absolute() {
            continue;
        }
        let resolved = folder.join(value);
        set_string(layer, section, key, resolved);
    }
}

fn set_string(table: &mut toml::Table, section: &str, key: &str, path: PathBuf) {
    // TOML holds UTF-8 only; a path that is not stays as written.
    if let (Some(toml::Value::Table(t)), Some(path)) = (table.get_mut(section), path.to_str()) {
        t.insert(key.to_string(), toml::Value::String(path.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_TOML};
    use serde::Deserialize;

    #[test]
    fn shipped_files_are_found_in_the_first_base_that_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, install) = (dir.path().join("empty"), dir.path().join("share/playcast"));
        std::fs::create_dir_all(install.join("pipelines")).unwrap();
        std::fs::create_dir_all(install.join("config")).unwrap();
        std::fs::write(install.join("config/games.toml"), "").unwrap();
        let mut table = DEFAULT_TOML.parse::<toml::Table>().unwrap();
        locate_shipped(&mut table, &[empty.clone(), install.clone()]);
        let c = Config::deserialize(toml::Value::Table(table)).unwrap();
        assert_eq!(c.media.pipelines_dir, install.join("pipelines"));
        assert_eq!(c.sessions.games_file, install.join("config/games.toml"));
        // Nowhere: an absolute path in the working directory, for the error to name.
        let mut table = DEFAULT_TOML.parse::<toml::Table>().unwrap();
        locate_shipped(&mut table, &[empty]);
        let c = Config::deserialize(toml::Value::Table(table)).unwrap();
        assert_eq!(c.media.pipelines_dir, std::env::current_dir().unwrap().join("pipelines"));
    }
}
