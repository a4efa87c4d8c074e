//! Starting a session: checks the request against its pipeline and game,
//! reserves the session's share of the node, records it, launches the game
//! and hands everything to the session's task.

use crate::model::ids::SessionId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::Instrument;

use super::budget::{is_hardware_encoder, Need};
use super::contain::Limits;
use super::error::SessionError;
use super::games::Game;
use super::launch::{LaunchSpec, Launched};
use super::lifecycle::Event;
use super::manager::Manager;
use super::running::Running;
use super::task::SessionTask;
use super::view::Caller;
use crate::auth::Role;
use crate::input::Injector;
use crate::store::NewSession;

impl Manager {
    /// Reserves, records, launches and hands the session to its task.
    pub(super) async fn start(
        self: &Arc<Self>,
        caller: &Caller,
        game: Option<Game>,
        pipeline: &str,
        mut params: BTreeMap<String, serde_json::Value>,
        ephemeral: bool,
    ) -> Result<Arc<Running>, SessionError> {
        if self.is_draining() {
            return Err(SessionError::Unavailable(format!(
                "node `{}` is draining before it stops: it takes no new sessions; retry for another node",
                self.fleet.node()
            )));
        }
        let entry = self.streams.catalog().get(pipeline).ok_or_else(|| {
            SessionError::BadRequest(format!("no pipeline named `{}`", pipeline.chars().take(64).collect::<String>()))
        })?;
        let loaded = entry.current.clone().ok_or_else(|| {
            SessionError::Unavailable(format!(
                "pipeline `{pipeline}` has no valid version: {}",
                entry.error_for_clients()
            ))
        })?;
        if !loaded.runnable {
            return Err(SessionError::Unavailable(format!(
                "pipeline `{pipeline}` cannot run on this node: {}",
                loaded.selection.explain()
            )));
        }
        let spec = &loaded.spec;
        let captures_display = spec.param("display").is_some();
        if let Some(g) = &game {
            if let Some(k) = params.keys().find(|k| g.params.contains_key(*k)) {
                return Err(SessionError::BadRequest(format!("`{k}` is fixed by the game `{}`", g.id)));
            }
            params.extend(g.params.clone());
            for k in ["display", "audio_device"] {
                if params.contains_key(k) && spec.param(k).is_some() {
                    return Err(SessionError::BadRequest(format!("`{k}` is chosen by the service for each session")));
                }
            }
        } else if captures_display && caller.role != Role::Admin {
            return Err(SessionError::Forbidden(format!(
                "pipeline `{pipeline}` captures a display: start a game session through the API"
            )));
        }
        let resolved = spec.resolve(&params).map_err(|e| SessionError::BadRequest(e.to_string()))?;
        let need = Need {
            cpu_cores: game.as_ref().map_or(1, |g| g.cpu_cores),
            memory_mb: game.as_ref().map_or(256, |g| g.memory_mb),
            encoder_slot: loaded.selection.chosen_element().is_some_and(is_hardware_encoder),
        };
        let reservation = self.budget.reserve(need)?;

        let id = SessionId::new();
        let game_id = game.as_ref().map_or("", |g| g.id.as_str());
        let recorded = serde_json::to_string(&params).unwrap_or_default();
        let new = NewSession {
            id: &id,
            owner: &caller.user_id,
            game: game_id,
            pipeline,
            node: self.fleet.node(),
            params: recorded,
        };
        self.recorder.created(new).await?;
        self.recorder.transition(&id, Event::Start).await?;

        let spec_launch = LaunchSpec {
            session_id: id.to_string(),
            command: game.as_ref().and_then(|g| g.command.clone()),
            env: game.as_ref().map(|g| g.env.clone()).unwrap_or_default(),
            display: (game.is_some() && captures_display)
                .then(|| (resolved.int("width").unwrap_or(1280) as u32, resolved.int("height").unwrap_or(720) as u32)),
            audio: game.is_some() && spec.param("audio_device").is_some() && resolved.bool("audio") != Some(false),
            gamepads: game.as_ref().is_some_and(|g| g.command.is_some()),
            save_dir: self.config.saves_dir().join(safe_dir(caller.user_id.as_str())).join(if game_id.is_empty() {
                "_"
            } else {
                game_id
            }),
            runtime_dir: self.config.server.data_dir.join("run").join(id.as_str()),
            containment: Some((
                self.containment.clone(),
                Limits {
                    cpu_cores: need.cpu_cores,
                    memory_mb: need.memory_mb,
                    max_processes: game.as_ref().map_or(super::games::DEFAULT_MAX_PROCESSES, |g| g.max_processes),
                },
            )),
        };
        let mut launched = match Launched::start(spec_launch).await {
            Ok(l) => l,
            Err(e) => {
                let reason = format!("the game could not start: {e}");
                self.recorder.fail_and_clean(&id, &reason).await;
                return Err(SessionError::Unavailable(reason));
            }
        };
        let injector = Injector::start(id.as_str(), launched.display.clone(), launched.gamepads.take());
        let mut stream_params = params;
        if let Some(d) = &launched.display {
            stream_params.insert("display".into(), d.clone().into());
        }
        if let Some(dev) = &launched.audio_device {
            stream_params.insert("audio_device".into(), dev.clone().into());
        }
        if let Err(e) = self.recorder.transition(&id, Event::Launched).await {
            launched.stop().await;
            self.recorder.fail_and_clean(&id, "recording the launch failed").await;
            return Err(e);
        }
        let (commands, rx) = mpsc::unbounded_channel();
        let running = Arc::new(Running {
            id: id.clone(),
            owner: caller.user_id.clone(),
            pipeline: pipeline.to_string(),
            stream_params,
            audio_server: launched.pulse_server.clone(),
            ephemeral,
            viewers: Mutex::default(),
            paused: Mutex::new(false),
            last_activity: Mutex::new(Instant::now()),
            quality: Mutex::default(),
            injector,
            streams: Mutex::default(),
            detached: Notify::new(),
            commands,
        });
        self.register.insert(running.clone());
        tracing::info!(session = %id, owner = %caller.user_id, game = game_id, pipeline, "session started");
        let task = SessionTask {
            running: running.clone(),
            launched,
            reservation,
            commands: rx,
            recorder: self.recorder.clone(),
            register: self.register.clone(),
            store: self.store.clone(),
            config: self.config.clone(),
        };
        self.tasks.spawn(task.run().instrument(tracing::info_span!("session", id = %id)));
        Ok(running)
    }
}

/// A user id as a folder name: nothing that climbs out or hides, and two ids
/// never share a folder (a changed or shortened id gets a hash of the original).
fn safe_dir(user: &str) -> String {
    let clean = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !user.is_empty() && user.len() <= 96 && user.chars().all(clean) {
        return user.to_string();
    }
    use sha1::Digest;
    let hash = sha1::Sha1::digest(user.as_bytes());
    let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let s: String = user.chars().map(|c| if clean(c) { c } else { '_' }).take(64).collect();
    format!("{s}-{short}")
}

#[cfg(test)]
mod tests {
    use super::safe_dir;

    #[test]
    fn user_ids_become_safe_folder_names() {
        assert_eq!(safe_dir("user_2abc"), "user_2abc");
        assert!(safe_dir("../../etc").starts_with("______etc-"));
        assert_ne!(safe_dir("a.b"), safe_dir("a_b"));
        assert_ne!(safe_dir("a/b"), safe_dir("a.b"));
        assert!(safe_dir("").starts_with('-'));
        assert!(safe_dir(&"x".repeat(500)).len() < 80);
    }
}
