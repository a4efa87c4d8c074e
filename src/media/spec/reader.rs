//! Reads a pipeline file's TOML one field at a time. Each field is
//! deserialized on its own, so a wrong field does not hide the ones after it:
//! every problem is kept, with the line it is on.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::SpecError;
use crate::config::line_of;

/// The problems found so far in one file.
pub(super) struct Problems<'t> {
    path: &'t Path,
    text: &'t str,
    pub errors: Vec<SpecError>,
}

impl<'t> Problems<'t> {
    pub fn new(path: &'t Path, text: &'t str) -> Self {
        Problems { path, text, errors: Vec::new() }
    }

    /// 1-based line of a byte offset in the file.
    pub fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    pub fn push(&mut self, line: usize, field: &str, message: impl Into<String>) {
        self.errors.push(SpecError {
            path: self.path.to_owned(),
            line,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// A TOML error, at the line of its span (or `fallback` when it has none).
    pub fn toml(&mut self, e: &toml::de::Error, field: &str, fallback: usize) {
        let line = e.span().map_or(fallback, |s| self.line(s.start));
        self.push(line, field, e.message().trim().to_string());
    }
}

/// One table of the file.
pub(super) struct Table<'a, 'i> {
    entries: &'a DeTable<'i>,
    /// Dotted name for messages (`video`, `video.encoders[0]`); empty at the top.
    name: String,
    /// Where the table starts: what is missing from it is reported there.
    pub line: usize,
}

impl<'a, 'i> Table<'a, 'i> {
    pub fn new(entries: &'a DeTable<'i>, name: String, line: usize) -> Self {
        Table { entries, name, line }
    }

    /// The table's dotted name; empty at the top.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dotted name of `key` in this table.
    pub fn field(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    fn raw(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    /// `key` as a `T`, when the table has it; a value of the wrong shape is
    /// reported and read as absent.
    pub fn get<T: DeserializeOwned>(&self, p: &mut Problems, key: &str) -> Option<Spanned<T>> {
        let v = self.raw(key)?;
        match Spanned::<T>::deserialize(ValueDeserializer::from(v.clone())) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = p.line(v.span().start);
                p.toml(&e, &self.field(key), at);
                None
            }
        }
    }

    /// Like [`Table::get`], and a missing key is reported too.
    pub fn require<T: DeserializeOwned>(&self, p: &mut Problems, key: &str) -> Option<Spanned<T>> {
        if !self.has(key) {
            p.push(self.line, &self.field(key), format!("missing field `{key}`"));
            return None;
        }
        self.get(p, key)
    }

    /// The table under `key`, when there is one.
    pub fn table(&self, p: &mut Problems, key: &str) -> Option<Table<'a, 'i>> {
        let v = self.raw(key)?;
        let line = p.line(v.span().start);
        match v.get_ref() {
            DeValue::Table(t) => Some(Table::new(t, self.field(key), line)),
            other => {
                p.push(line, &self.field(key), format!("invalid type: {}, expected a table", other.type_str()));
                None
            }
        }
    }

    /// The tables of the array under `key` (`[[key]]`), when there is one.
    pub fn tables(&self, p: &mut Problems, key: &str) -> Option<Vec<Table<'a, 'i>>> {
        let v = self.raw(key)?;
        let line = p.line(v.span().start);
        let DeValue::Array(items) = v.get_ref() else {
            let found = v.get_ref().type_str();
            p.push(line, &self.field(key), format!("invalid type: {found}, expected an array of tables"));
            return None;
        };
        let mut tables = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("{}[{i}]", self.field(key));
            let at = p.line(item.span().start);
            match item.get_ref() {
                DeValue::Table(t) => tables.push(Table::new(t, field, at)),
                other => p.push(at, &field, format!("invalid type: {}, expected a table", other.type_str())),
            }
        }
        Some(tables)
    }

    /// Every entry as `(key, line of the key, value as a T)`; entries of the
    /// wrong shape are reported and left out.
    pub fn entries<T: DeserializeOwned>(&self, p: &mut Problems) -> Vec<(String, usize, Spanned<T>)> {
        let mut out = Vec::new();
        for (k, _) in self.entries.iter() {
            let key = k.get_ref().to_string();
            let line = p.line(k.span().start);
            if let Some(v) = self.get::<T>(p, &key) {
                out.push((key, line, v));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Keys with the line each is on.
    pub fn keys(&self, p: &Problems) -> Vec<(String, usize)> {
        self.entries.iter().map(|(k, _)| (k.get_ref().to_string(), p.line(k.span().start))).collect()
    }

    /// Reports every key this table may not have.
    pub fn finish(&self, p: &mut Problems, known: &[&str]) {
        for (key, line) in self.keys(p) {
            if !known.contains(&key.as_str()) {
                p.push(line, &self.field(&key), format!("unknown field `{key}`, {}", expected(known)));
            }
        }
    }
}

/// Serde's wording for the keys a table may have.
fn expected(known: &[&str]) -> String {
    let quoted: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    match quoted.as_slice() {
        [] => "there are no fields".to_string(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        many => format!("expected one of {}", many.join(", ")),
    }
}
