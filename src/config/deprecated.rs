//! The numeric keys that durations replaced (`connect_timeout_secs = 30` is now
//! `connect_timeout = "30s"`). For one release an old key is still read, in a
//! file or as a variable, with a warning that says what to write instead;
//! giving an old key and its new one in the same place is an error, since
//! which of the two was meant cannot be told.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum Unit {
    Secs,
    Millis,
}

/// An old numeric key and the duration that replaced it.
#[derive(Debug)]
pub(super) struct Renamed {
    pub section: &'static str,
    pub old: &'static str,
    pub new: &'static str,
    unit: Unit,
}

const fn renamed(section: &'static str, old: &'static str, new: &'static str, unit: Unit) -> Renamed {
    Renamed { section, old, new, unit }
}

const RENAMED: [Renamed; 13] = [
    renamed("server", "drain_secs", "drain", Unit::Secs),
    renamed("sessions", "connect_timeout_secs", "connect_timeout", Unit::Secs),
    renamed("sessions", "idle_timeout_secs", "idle_timeout", Unit::Secs),
    renamed("sessions", "max_duration_secs", "max_duration", Unit::Secs),
    renamed("sessions", "quality_rtt_ms", "quality_rtt", Unit::Millis),
    renamed("node", "heartbeat_ms", "heartbeat", Unit::Millis),
    renamed("node", "heartbeat_ttl_ms", "heartbeat_ttl", Unit::Millis),
    renamed("auth", "leeway_secs", "leeway", Unit::Secs),
    renamed("auth", "jwks_cache_secs", "jwks_cache", Unit::Secs),
    renamed("auth", "jwks_refetch_min_secs", "jwks_refetch_min", Unit::Secs),
    renamed("ice", "turn_ttl_secs", "turn_ttl", Unit::Secs),
    renamed("signaling", "idle_timeout_secs", "idle_timeout", Unit::Secs),
    renamed("signaling", "answer_timeout_secs", "answer_timeout", Unit::Secs),
];

/// The old key `section.key`, if it is one.
pub(super) fn find(section: &str, key: &str) -> Option<&'static Renamed> {
    RENAMED.iter().find(|r| r.section == section && r.old == key)
}

impl Renamed {
    /// The duration an old key's number stands for.
    pub fn duration(&self, number: i64) -> Result<Duration, String> {
        let n = u64::try_from(number).map_err(|_| format!("`{number}` is negative; {}", self.advice_for(None)))?;
        Ok(match self.unit {
            Unit::Secs => Duration::from_secs(n),
            Unit::Millis => Duration::from_millis(n),
        })
    }

    /// [`Renamed::duration`] of an environment variable's text.
    pub fn duration_of_text(&self, raw: &str) -> Result<Duration, String> {
        let n = raw.trim().parse::<i64>().map_err(|_| format!("`{raw}` is not an integer"))?;
        self.duration(n)
    }

    fn unit_name(&self) -> &'static str {
        match self.unit {
            Unit::Secs => "seconds",
            Unit::Millis => "milliseconds",
        }
    }

    /// What to write instead, e.g. `sessions.connect_timeout = "30s"`.
    fn advice_for(&self, value: Option<Duration>) -> String {
        let value = value.map_or_else(|| "\"30s\"".to_string(), |d| format!("\"{}\"", humane(d)));
        format!("write {}.{} = {value} (a duration: \"250ms\", \"30s\", \"2m\")", self.section, self.new)
    }

    /// Says where the old key was read, what it became and what to write.
    pub fn warn(&self, origin: &str, value: Duration) {
        tracing::warn!(
            origin,
            old = %format_args!("{}.{}", self.section, self.old),
            new = %format_args!("{}.{}", self.section, self.new),
            value = %humane(value),
            "{}.{} ({}) is deprecated and will be removed in the next release: {}",
            self.section,
            self.old,
            self.unit_name(),
            self.advice_for(Some(value)),
        );
    }

    /// The error for an old key given together with its new one.
    pub fn both_given(&self, old: &str, new: &str) -> String {
        format!("{old} (deprecated) and {new} are both set: keep only {new}")
    }
}

/// A duration as a person writes it: `30s`, `15m`, `4h`, `250ms`.
pub(super) fn humane(d: Duration) -> String {
    humantime_serde::re::humantime::format_duration(d).to_string()
}

/// Replaces the old keys of a file's table by their new ones. An error names
/// the old key (`section.old`), for the caller to find its line, and says
/// what is wrong.
pub(super) fn upgrade_table(table: &mut toml::Table, origin: &str) -> Result<(), Vec<(String, String)>> {
    let mut errors = Vec::new();
    for r in &RENAMED {
        let Some(toml::Value::Table(section)) = table.get_mut(r.section) else { continue };
        // Taken out either way: a refused old key is reported here, not again as unknown.
        let Some(old) = section.remove(r.old) else { continue };
        let at = format!("{}.{}", r.section, r.old);
        if section.contains_key(r.new) {
            let message = r.both_given(&at, &format!("{}.{}", r.section, r.new));
            errors.push((at, message));
            continue;
        }
        let toml::Value::Integer(n) = old else {
            let message = format!("a whole number of {}; better, {}", r.unit_name(), r.advice_for(None));
            errors.push((at, message));
            continue;
        };
        match r.duration(n) {
            Ok(value) => {
                section.insert(r.new.to_string(), toml::Value::String(humane(value)));
                r.warn(origin, value);
            }
            Err(message) => errors.push((at, message)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_numbers_become_the_durations_they_meant() {
        let mut table: toml::Table =
            "[sessions]\nconnect_timeout_secs = 30\n[node]\nheartbeat_ttl_ms = 3000\n".parse().unwrap();
        upgrade_table(&mut table, "test.toml").unwrap();
        assert_eq!(table["sessions"]["connect_timeout"].as_str(), Some("30s"));
        assert_eq!(table["node"]["heartbeat_ttl"].as_str(), Some("3s"));
        assert!(table["sessions"].get("connect_timeout_secs").is_none());
    }

    #[test]
    fn an_old_key_beside_its_new_one_is_refused_naming_both() {
        let mut table: toml::Table = "[server]\ndrain_secs = 30\ndrain = \"1m\"\n".parse().unwrap();
        let [(at, message)] = <[_; 1]>::try_from(upgrade_table(&mut table, "test.toml").unwrap_err()).unwrap();
        assert_eq!(at, "server.drain_secs");
        assert!(message.contains("server.drain_secs") && message.contains("server.drain "), "{message}");
    }

    #[test]
    fn an_old_key_takes_a_whole_number() {
        for text in ["[auth]\nleeway_secs = \"5\"\n", "[auth]\nleeway_secs = -5\n"] {
            let mut table: toml::Table = text.parse().unwrap();
            let [(at, message)] = <[_; 1]>::try_from(upgrade_table(&mut table, "test.toml").unwrap_err()).unwrap();
            assert_eq!(at, "auth.leeway_secs");
            assert!(message.contains("auth.leeway = "), "{message}");
        }
    }
}
