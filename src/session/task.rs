//! The per-session task: it owns the running game and the session's
//! reservation, takes the session from `Connecting` to `Cleanup` one
//! transition at a time, and every way out (the player, a timeout, the game
//! exiting, a failed stream, shutdown) frees the same things.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::budget::Reservation;
use super::error::SessionError;
use super::launch::Launched;
use super::lifecycle::{EndReason, Event, QualityAlert, SessionState};
use super::record::Recorder;
use super::running::{Command, Register, Reply, Running};
use crate::config::Config;
use crate::media::quality::{fps_ratio, Level, Monitor, Thresholds, FPS_RATIO};
use crate::media::stream::StreamEvent;
use crate::store::Store;
use crate::sync::Locked;

/// The player's connection is looked at this often while the session is active.
const QUALITY_EVERY: Duration = Duration::from_secs(2);

/// How long ending streams get to stop their pipelines before the display goes.
const STREAMS_STOP_WAIT: Duration = Duration::from_secs(5);

/// Everything one session's task owns.
pub(super) struct SessionTask {
    pub running: Arc<Running>,
    pub launched: Launched,
    pub reservation: Reservation,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub recorder: Arc<Recorder>,
    pub register: Arc<Register>,
    pub store: Store,
    pub config: Arc<Config>,
}

impl SessionTask {
    /// One session's life from `Connecting` to `Cleanup`.
    pub async fn run(self) {
        let SessionTask {
            running: live,
            mut launched,
            reservation,
            commands: mut rx,
            recorder,
            register,
            store,
            config,
        } = self;
        let cfg = &config.sessions;
        let started = Instant::now();
        let connect_deadline = started + cfg.connect_timeout;
        let max_deadline = started + cfg.max_duration;
        let idle = cfg.idle_timeout;
        let mut state = SessionState::Connecting;
        let mut quality = Monitor::new(Thresholds {
            rtt_ms: cfg.quality_rtt.as_secs_f64() * 1000.0,
            loss: f64::from(cfg.quality_loss_percent) / 100.0,
            samples: cfg.quality_samples,
        });
        let mut quality_tick = tokio::time::interval(QUALITY_EVERY);
        let ending: Result<(EndReason, Option<Reply>), String> = loop {
            let idle_deadline = *live.last_activity.locked() + idle;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break Err("the session's control channel closed".into()),
                    Some(Command::PeerConnected) => {
                        if state == SessionState::Connecting {
                            match recorder.transition(&live.id, Event::Connected).await {
                                Ok(v) => state = v.state,
                                Err(e) => tracing::warn!(session = %live.id, error = %e, "recording the connection"),
                            }
                        }
                    }
                    Some(Command::StreamFailed(reason)) => break Err(format!("the stream failed: {reason}")),
                    Some(Command::PlayerLeft) => {
                        if live.ephemeral {
                            break Ok((EndReason::PlayerLeft, None));
                        }
                    }
                    Some(Command::Pause(reply)) => {
                        let r = recorder.transition(&live.id, Event::Pause).await;
                        if let Ok(v) = &r {
                            state = v.state.clone();
                            live.set_paused(true);
                        }
                        let _ = reply.send(r);
                    }
                    Some(Command::Resume(reply)) => {
                        let r = recorder.transition(&live.id, Event::Resume).await;
                        if let Ok(v) = &r {
                            state = v.state.clone();
                            live.set_paused(false);
                        }
                        let _ = reply.send(r);
                    }
                    Some(Command::End(reason, reply)) => break Ok((reason, reply)),
                },
                _ = quality_tick.tick(), if state == SessionState::Active => {
                    let sample = match live.player_quality() {
                        Some(probe) => probe.sample().await,
                        None => None,
                    };
                    if let Some(q) = &sample {
                        *live.quality.locked() = Some((q.clone(), chrono::Utc::now()));
                        live.tell_player(StreamEvent::Quality(serde_json::to_value(q).unwrap_or_default()));
                    }
                    if let Some((level, q)) = sample.and_then(|q| quality.observe(&q).map(|l| (l, q))) {
                        let alert = if level == Level::Degraded { QualityAlert::Degraded } else { QualityAlert::Recovered };
                        tracing::info!(session = %live.id, ?alert, rtt_ms = ?q.rtt_ms, loss = ?q.loss, "quality alert");
                        let event = Event::Quality {
                            alert,
                            rtt_ms: q.rtt_ms.map(|r| r.round() as u32),
                            loss_percent: q.loss.map(|l| (l * 100.0).round() as u32),
                            fps_percent: Some(fps_ratio(&q)).filter(|r| *r < FPS_RATIO).map(|r| (r * 100.0).round() as u32),
                        };
                        if let Err(e) = recorder.transition(&live.id, event).await {
                            tracing::warn!(session = %live.id, error = %e, "recording a quality alert");
                        }
                    }
                }
                exit = launched.game_exited() => {
                    tracing::info!(session = %live.id, %exit, "game exited");
                    break Ok((EndReason::GameExited, None));
                }
                _ = tokio::time::sleep_until(connect_deadline), if state == SessionState::Connecting => {
                    break Ok((EndReason::ConnectTimeout, None));
                }
                // Input moves the deadline without waking this loop: look again.
                _ = tokio::time::sleep_until(idle_deadline) => {
                    if live.last_activity.locked().elapsed() >= idle {
                        break Ok((EndReason::IdleTimeout, None));
                    }
                }
                _ = tokio::time::sleep_until(max_deadline) => break Ok((EndReason::MaxDuration, None)),
            }
        };
        let (event, why, reply) = match ending {
            Ok((reason, reply)) => (Event::End { reason }, reason.to_string(), reply),
            Err(reason) => (Event::Fail { reason: reason.clone() }, reason, None),
        };
        let ended = recorder.transition_retrying(&live.id, event).await;
        if let Some(reply) = reply {
            let _ = reply.send(ended.clone().map_err(|e| SessionError::Unavailable(e.to_string())));
        }
        live.end_streams(&why);
        // Pipelines first: an X client whose display vanishes under it takes
        // the whole process down (Xlib exits on a lost connection).
        if tokio::time::timeout(STREAMS_STOP_WAIT, live.all_detached()).await.is_err() {
            tracing::warn!(session = %live.id, "streams still attached after {STREAMS_STOP_WAIT:?}; stopping the game anyway");
        }
        launched.stop().await;
        drop(reservation);
        register.remove(&live.id);
        let stats = serde_json::json!({
            "duration_secs": started.elapsed().as_secs_f64(),
            "ended": why,
            "quality": quality.summary(),
        });
        if let Err(e) = store.set_stats(&live.id, &stats).await {
            tracing::warn!(session = %live.id, error = %e, "final statistics not stored");
        }
        if let Err(e) = recorder.transition_retrying(&live.id, Event::CleanedUp).await {
            // The record stays unfinished; the next start reconciles it.
            tracing::error!(session = %live.id, error = %e, "cleanup not recorded");
        }
        tracing::info!(session = %live.id, reason = %why, "session over");
    }
}
