//! Layering the sources with figment: the embedded defaults, then the
//! `--config` file, then each `PLAYCAST__SECTION__KEY` variable as a source of
//! its own. figment remembers which source set every value, so a value that
//! does not fit, or a setting a check refuses, is blamed on the variable or
//! the file that set it. figment keeps no line numbers, so the file is also
//! read with TOML spans and an error in it is put at the line of the key
//! figment names.

use std::collections::BTreeMap;
use std::path::Path;

use figment::value::{Dict, Map, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use toml::Spanned;

use super::{deprecated, line_of, paths, Config, ConfigError, FieldError, DEFAULT_TOML};

const DEFAULTS: &str = "<defaults>";
const PREFIX: &str = "PLAYCAST__";

impl Config {
    /// The configuration from the defaults, `file` and the process's
    /// environment, checked by this module and then by `check`: the settings
    /// other modules own (the element policy is media's) are judged there, and
    /// an error is still blamed on the file line or variable that set the field.
    pub fn load(file: Option<&Path>, check: &dyn Fn(&Config) -> Result<(), FieldError>) -> Result<Self, ConfigError> {
        Self::load_with_env_checked(file, std::env::vars(), check)
    }

    /// [`Config::load`] with the given environment and no outside check.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_with_env_checked(file, env, &|_| Ok(()))
    }

    pub fn load_with_env_checked(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        check: &dyn Fn(&Config) -> Result<(), FieldError>,
    ) -> Result<Self, ConfigError> {
        let mut defaults = parse_table(DEFAULTS, DEFAULT_TOML)?;
        paths::locate_shipped(&mut defaults, &paths::shipped_bases());
        let known = defaults.clone();
        let mut figment = Figment::from(Layer::new(Metadata::named(DEFAULTS), defaults));
        // Every problem is gathered: a setting that is wrong is reported and
        // left out (its default stands in), so the ones after it are judged too.
        let mut errors = Vec::new();
        let file = match file {
            Some(path) => {
                let (source, layer) = read_file(path, &known, &mut errors)?;
                figment = figment.merge(layer);
                Some(source)
            }
            None => None,
        };
        let mut figment = environment(figment, env, &mut errors);
        let config = loop {
            match figment.extract::<Config>() {
                Ok(config) => break Some(config),
                Err(wrong) => {
                    let mut stand_in = Dict::new();
                    let mut stuck = false;
                    for e in wrong {
                        match default_at(&known, &e.path) {
                            Some(value) => insert_at(&mut stand_in, &e.path, value),
                            None => stuck = true,
                        }
                        errors.push(blame(e, file.as_ref()));
                    }
                    // A problem with no default to stand in for it ends the reading.
                    if stuck || stand_in.is_empty() || errors.len() >= MAX_PROBLEMS {
                        break None;
                    }
                    figment = figment.merge(Layer { metadata: Metadata::named(DEFAULTS), dict: stand_in });
                }
            }
        };
        if let Some(config) = &config {
            let refusals = config.validate().into_iter().chain(check(config).err());
            errors.extend(refusals.map(|e| ConfigError::Invalid {
                origin: origin_of(&figment, e.field, file.as_ref()),
                field: e.field,
                message: e.message,
            }));
        }
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigError::gathered(errors)),
        }
    }
}

/// Most problems gathered before the reading stops.
const MAX_PROBLEMS: usize = 64;

/// The default of the setting at `path` (figment's keys), to stand in for a wrong value.
fn default_at(known: &toml::Table, path: &[String]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut table = known;
    for key in parents {
        table = table.get(key)?.as_table()?;
    }
    Value::serialize(table.get(last)?).ok()
}

/// Puts `value` at `keys` in `dict`, making the tables on the way.
fn insert_at(dict: &mut Dict, keys: &[String], value: Value) {
    let Some((first, rest)) = keys.split_first() else { return };
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let entry = dict.entry(first.clone()).or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
    if let Value::Dict(_, inner) = entry {
        insert_at(inner, rest, value);
    }
}

/// One source of settings, with the name an error gives it.
struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Layer {
    fn new(metadata: Metadata, table: toml::Table) -> Self {
        // A TOML table always serialises to a dictionary.
        let dict = Value::serialize(&table).ok().and_then(Value::into_dict).unwrap_or_default();
        Layer { metadata, dict }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// A configuration file: its name and the line of each section and setting.
struct FileSource {
    origin: String,
    /// `section` and `section.key` to their 1-based line.
    lines: BTreeMap<String, usize>,
}

impl FileSource {
    /// The line of `key` (dotted), or of the nearest section holding it.
    fn line(&self, key: &str) -> usize {
        let mut key = key;
        loop {
            if let Some(line) = self.lines.get(key) {
                return *line;
            }
            match key.rsplit_once('.') {
                Some((parent, _)) => key = parent,
                None => return 1,
            }
        }
    }

    fn error(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Syntax { origin: self.origin.clone(), line: self.line(key), message }
    }
}

/// A file's sections and settings as written, with where each one starts.
type Located = BTreeMap<String, Spanned<BTreeMap<String, Spanned<toml::Value>>>>;

/// The file's settings; a wrong key is reported in `errors` and left out.
/// Only a file that cannot be read, or is not TOML, stops the loading.
fn read_file(
    path: &Path,
    known: &toml::Table,
    errors: &mut Vec<ConfigError>,
) -> Result<(FileSource, Layer), ConfigError> {
    let read_error = |source| ConfigError::Read { path: path.to_owned(), source };
    let text = crate::files::read_text(path, crate::files::MAX_CONFIG_BYTES).map_err(read_error)?;
    let origin = path.display().to_string();
    let located: Located = toml::from_str(&text).map_err(|e| syntax(&origin, &text, &e))?;
    let mut lines = BTreeMap::new();
    let mut table = toml::Table::new();
    for (section, settings) in located {
        lines.insert(section.clone(), line_of(&text, settings.span().start));
        let mut values = toml::Table::new();
        for (key, value) in settings.into_inner() {
            let line = line_of(&text, value.span().start);
            // An old key's value lands under its new name: errors point at the old line.
            if let Some(r) = deprecated::find(&section, &key) {
                lines.entry(format!("{section}.{}", r.new)).or_insert(line);
            }
            lines.insert(format!("{section}.{key}"), line);
            values.insert(key, value.into_inner());
        }
        table.insert(section, toml::Value::Table(values));
    }
    let source = FileSource { origin, lines };
    if let Err(refused) = deprecated::upgrade_table(&mut table, &source.origin) {
        errors.extend(refused.into_iter().map(|(at, message)| source.error(&at, message)));
    }
    let mut unknown = Vec::new();
    let sections: Vec<String> = table.keys().cloned().collect();
    for section in sections {
        let Some(toml::Value::Table(known_settings)) = known.get(&section) else {
            unknown.push((source.line(&section), source.error(&section, format!("unknown section `[{section}]`"))));
            table.remove(&section);
            continue;
        };
        if let Some(toml::Value::Table(settings)) = table.get_mut(&section) {
            let keys: Vec<String> = settings.keys().filter(|k| !known_settings.contains_key(*k)).cloned().collect();
            for key in keys {
                settings.remove(&key);
                let at = format!("{section}.{key}");
                unknown.push((source.line(&at), source.error(&at, format!("unknown setting `{key}` in [{section}]"))));
            }
        }
    }
    // In the file's order, as a reader goes through it.
    unknown.sort_by_key(|(line, _)| *line);
    errors.extend(unknown.into_iter().map(|(_, e)| e));
    let folder = std::path::absolute(path).map_err(read_error)?.parent().map(Path::to_owned).unwrap_or_default();
    paths::resolve_against(&mut table, &folder);
    let metadata = Metadata::from(source.origin.clone(), Source::File(path.to_owned()));
    Ok((source, Layer::new(metadata, table)))
}

/// One layer per `PLAYCAST__` variable, each typed like the value it replaces
/// (lists are comma-separated) and named after its variable.
/// A variable that does not fit is reported in `errors` and left out.
fn environment(
    mut figment: Figment,
    env: impl IntoIterator<Item = (String, String)>,
    errors: &mut Vec<ConfigError>,
) -> Figment {
    let vars: Vec<(String, String)> = env.into_iter().filter(|(name, _)| name.starts_with(PREFIX)).collect();
    for (name, raw) in &vars {
        let env_error = |message: String| ConfigError::Env { name: name.clone(), message };
        let mut keys: Vec<String> = name[PREFIX.len()..].split("__").map(str::to_ascii_lowercase).collect();
        let renamed = match keys.as_slice() {
            [section, key] => deprecated::find(section, key),
            _ => None,
        };
        let value = match renamed {
            Some(r) => {
                let new_name = format!("{PREFIX}{}__{}", r.section, r.new).to_ascii_uppercase();
                if vars.iter().any(|(n, _)| n.to_ascii_uppercase() == new_name) {
                    errors.push(env_error(r.both_given(name, &new_name)));
                    continue;
                }
                match r.duration_of_text(raw) {
                    Ok(duration) => {
                        r.warn(name, duration);
                        keys[1] = r.new.to_string();
                        Value::from(deprecated::humane(duration))
                    }
                    Err(message) => {
                        errors.push(env_error(message));
                        continue;
                    }
                }
            }
            None => match typed(&figment, &keys, raw) {
                Ok(value) => value,
                Err(message) => {
                    errors.push(env_error(message));
                    continue;
                }
            },
        };
        let nested = keys.iter().rev().fold(value, |v, k| Value::Dict(Tag::Default, Dict::from([(k.clone(), v)])));
        let metadata = Metadata::from(name.clone(), Source::Custom(name.clone()));
        figment = figment.merge(Layer { metadata, dict: nested.into_dict().unwrap_or_default() });
    }
    figment
}

/// `raw` as the type of the value at `keys` so far.
fn typed(figment: &Figment, keys: &[String], raw: &str) -> Result<Value, String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    for depth in 1..=parents.len() {
        if !matches!(figment.find_value(&keys[..depth].join(".")), Ok(Value::Dict(..))) {
            return Err(format!("unknown section `{}`", keys[depth - 1]));
        }
    }
    let current = figment.find_value(&keys.join(".")).map_err(|_| format!("unknown setting `{last}`"))?;
    Ok(match current {
        Value::String(..) => Value::from(raw.to_string()),
        Value::Num(..) => Value::from(raw.parse::<i64>().map_err(|_| format!("`{raw}` is not an integer"))?),
        Value::Bool(..) => Value::from(raw.parse::<bool>().map_err(|_| format!("`{raw}` is not true or false"))?),
        // Lists of numbers (GPU slots) and of strings (URLs) share this path.
        Value::Array(..) => Value::Array(
            Tag::Default,
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(s.to_string())))
                .collect(),
        ),
        _ => return Err("this setting cannot be set from the environment".into()),
    })
}

/// A value that does not fit its setting, blamed on the source that set it.
fn blame(e: figment::Error, file: Option<&FileSource>) -> ConfigError {
    let key = e.path.join(".");
    let message = if key.is_empty() { e.kind.to_string() } else { format!("{key}: {}", e.kind) };
    match (e.metadata.as_ref().and_then(|m| m.source.as_ref()), file) {
        (Some(Source::Custom(name)), _) => ConfigError::Env { name: name.clone(), message: e.kind.to_string() },
        (Some(Source::File(_)), Some(file)) => file.error(&key, message),
        _ => ConfigError::Syntax { origin: DEFAULTS.into(), line: 1, message },
    }
}

/// Who set `field`, for a refusal: its variable, its file and line, or (set
/// by the defaults and refused because of another setting) the file if any.
fn origin_of(figment: &Figment, field: &str, file: Option<&FileSource>) -> String {
    match (figment.find_metadata(field).and_then(|m| m.source.as_ref()), file) {
        (Some(Source::Custom(name)), _) => name.clone(),
        (Some(Source::File(_)), Some(file)) => format!("{}:{}", file.origin, file.line(field)),
        (_, Some(file)) => file.origin.clone(),
        (_, None) => DEFAULTS.to_string(),
    }
}

pub(super) fn parse_table(origin: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| syntax(origin, text, &e))
}

fn syntax(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError::Syntax {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        message: e.message().to_string(),
    }
}
