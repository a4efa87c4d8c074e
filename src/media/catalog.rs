//! The pipeline files of a folder, reloaded on change. A file that becomes
//! invalid keeps serving its last good version; streams hold an `Arc` of the
//! version they started with, so a reload never touches them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use notify::Watcher;
use serde::Serialize;

use super::check::{check_file, CheckReport};
use super::policy::ElementPolicy;
use super::select::{ElementRegistry, EncoderProbe, Selection};
use super::spec::PipelineSpec;
use crate::sync::RwLocked;

/// A valid version of a file, with the encoder chosen for it on this machine.
#[derive(Debug, Serialize)]
pub struct Loaded {
    pub spec: PipelineSpec,
    pub selection: Selection,
    pub notes: Vec<String>,
    pub runnable: bool,
    pub loaded_at: SystemTime,
    /// The policy the file passed, applied again to each stream's elements.
    #[serde(skip)]
    pub policy: Arc<ElementPolicy>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub path: PathBuf,
    /// The last good version, if there ever was one.
    pub current: Option<Arc<Loaded>>,
    /// Why the file on disk is not what `current` serves.
    pub error: Option<String>,
}

impl Entry {
    /// [`Entry::error`] for any signed-in client: each `path:line:` names the
    /// file only, since where the pipelines folder lies is for admins.
    pub fn error_for_clients(&self) -> String {
        let text = self.error.clone().unwrap_or_default();
        match (self.path.to_str(), self.path.file_name().and_then(|n| n.to_str())) {
            (Some(full), Some(name)) => text.replace(full, name),
            _ => text,
        }
    }
}

pub struct Catalog {
    dir: PathBuf,
    registry: Box<dyn ElementRegistry>,
    probe: Box<dyn EncoderProbe>,
    policy: Arc<ElementPolicy>,
    entries: RwLock<BTreeMap<String, Entry>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("pipelines folder {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("watching {0}: {1}")]
    Watch(PathBuf, notify::Error),
    #[error("element policy")]
    Policy(#[from] super::policy::PolicyError),
}

/// The report for a file in the folder that links to one outside it.
fn outside_the_folder(path: &Path) -> CheckReport {
    CheckReport {
        name: path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string(),
        path: path.to_owned(),
        errors: vec![super::spec::SpecError {
            path: path.to_owned(),
            line: 1,
            field: String::new(),
            message: "links to a file outside the pipelines folder, which is not read".into(),
        }],
        notes: vec![],
        selection: None,
        runnable: false,
        spec: None,
    }
}

impl Catalog {
    pub fn new(dir: impl Into<PathBuf>, registry: Box<dyn ElementRegistry>, probe: Box<dyn EncoderProbe>) -> Self {
        let policy = Arc::new(ElementPolicy::default());
        Self { dir: dir.into(), registry, probe, policy, entries: RwLock::new(BTreeMap::new()) }
    }

    /// Judges files by `policy` instead of the default one (built-in refusals only).
    pub fn with_policy(mut self, policy: ElementPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads every `*.toml` in the folder.
    pub fn reload(&self) -> Result<(), CatalogError> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| CatalogError::Dir(self.dir.clone(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        paths.sort();
        let home = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let reports: Vec<CheckReport> = paths
            .iter()
            .map(|p| match std::fs::canonicalize(p) {
                // A link out of the folder is not read: what it points at is
                // no pipeline file, and errors would quote its text.
                Ok(target) if !target.starts_with(&home) => outside_the_folder(p),
                _ => check_file(p, self.registry.as_ref(), self.probe.as_ref(), &self.policy),
            })
            .collect();
        let mut entries = self.entries.write_locked();
        entries.retain(|name, e| {
            let keep = paths.contains(&e.path);
            if !keep {
                tracing::info!(pipeline = %name, "pipeline file removed");
            }
            keep
        });
        for report in reports {
            let entry = entries.entry(report.name.clone()).or_insert_with(|| Entry {
                path: report.path.clone(),
                current: None,
                error: None,
            });
            match report.spec {
                Some(spec) if report.errors.is_empty() => {
                    let unchanged = entry.error.is_none() && entry.current.as_ref().is_some_and(|c| c.spec == spec);
                    if !unchanged {
                        let selection = report.selection.unwrap_or(Selection { chosen: None, attempts: vec![] });
                        tracing::info!(pipeline = %report.name, runnable = report.runnable, choice = %selection.explain(), "pipeline loaded");
                        entry.current = Some(Arc::new(Loaded {
                            spec,
                            selection,
                            notes: report.notes,
                            runnable: report.runnable,
                            loaded_at: SystemTime::now(),
                            policy: self.policy.clone(),
                        }));
                    }
                    entry.error = None;
                }
                _ => {
                    let text = report.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
                    if entry.error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(pipeline = %report.name, kept_last_good = entry.current.is_some(), error = %text, "invalid pipeline file");
                    }
                    entry.error = Some(text);
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Entry> {
        self.entries.read_locked().get(name).cloned()
    }

    pub fn list(&self) -> Vec<(String, Entry)> {
        self.entries.read_locked().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Reloads on every change in the folder until the returned guard is dropped.
    pub fn watch(self: &Arc<Self>) -> Result<WatchGuard, CatalogError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok() {
                let _ = tx.send(());
            }
        })
        .map_err(|e| CatalogError::Watch(self.dir.clone(), e))?;
        watcher
            .watch(&self.dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| CatalogError::Watch(self.dir.clone(), e))?;
        let catalog = Arc::clone(self);
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Editors write in several steps; settle before reading.
                tokio::time::sleep(Duration::from_millis(100)).await;
                while rx.try_recv().is_ok() {}
                let c = Arc::clone(&catalog);
                match tokio::task::spawn_blocking(move || c.reload()).await {
                    Ok(Err(e)) => tracing::warn!(error = %e, "pipeline reload failed"),
                    Err(e) => tracing::error!(error = %e, "pipeline reload task failed"),
                    Ok(Ok(())) => {}
                }
            }
        });
        Ok(WatchGuard { _watcher: watcher, task })
    }
}

/// Stops watching when dropped.
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}
