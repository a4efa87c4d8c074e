//! Sessions and streams this node runs. This file: opening a stream from a
//! pipeline file and its parameters, the capacity limit, and the list of
//! running streams the API shows; [`manager`] is the session core's facade.

pub mod attach;
pub mod budget;
pub mod cache_mirror;
pub mod contain;
pub mod error;
pub mod events;
pub mod failover;
pub mod fleet;
pub mod forwarding;
pub mod games;
pub mod launch;
pub mod listing;
pub mod manager;
pub mod placement;
mod record;
mod running;
mod start;
mod task;
pub mod view;

/// The lifecycle lives with the other shared domain types; this path stays.
pub use crate::model::lifecycle;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::media::catalog::Catalog;
use crate::media::ice::IceServers;
use crate::media::stream::{Pauser, Stream, StreamEvent, StreamOptions};
pub use crate::signaling::host::{OpenRequest, Opened, StreamControl, StreamHost};
use crate::signaling::protocol::{ErrorCode, ProtocolError, ServerMessage, StreamId, VERSION};
use crate::sync::Locked;

/// A running stream as the API shows it (`GET /api/v1/streams`).
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub stream_id: StreamId,
    pub pipeline: String,
    pub encoder: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub started_at: SystemTime,
}

/// The streams of this node.
pub struct Streams {
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    listed: Arc<Mutex<BTreeMap<StreamId, StreamInfo>>>,
    options: StreamOptions,
}

impl Streams {
    pub fn new(config: Arc<Config>, catalog: Arc<Catalog>) -> Self {
        Self { config, catalog, listed: Arc::default(), options: StreamOptions::default() }
    }

    /// Streams built with extra options (the benchmark's stamp or bare sender).
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// The streams running now.
    pub fn live(&self) -> Vec<StreamInfo> {
        self.listed.locked().values().cloned().collect()
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }
}

impl StreamHost for Streams {
    fn open(&self, req: OpenRequest, events: UnboundedSender<StreamEvent>) -> Result<Opened, ProtocolError> {
        let name = req.pipeline.unwrap_or_else(|| self.config.media.default_pipeline.clone());
        let pipeline_err = |m: String| ProtocolError::new(ErrorCode::Pipeline, m);
        let entry = self.catalog.get(&name).ok_or_else(|| {
            ProtocolError::new(
                ErrorCode::BadRequest,
                format!("no pipeline named `{}`", name.chars().take(64).collect::<String>()),
            )
        })?;
        let loaded = entry.current.clone().ok_or_else(|| {
            pipeline_err(format!("pipeline `{name}` has no valid version: {}", entry.error_for_clients()))
        })?;
        let params =
            loaded.spec.resolve(&req.params).map_err(|e| ProtocolError::new(ErrorCode::BadRequest, e.to_string()))?;

        let id = StreamId::new();
        {
            let mut listed = self.listed.locked();
            if listed.len() >= self.config.media.max_streams {
                return Err(ProtocolError::new(
                    ErrorCode::Busy,
                    format!("this node runs its maximum of {} streams; try again later", self.config.media.max_streams),
                ));
            }
            // Reserve the slot before the slow start so concurrent opens count it.
            listed.insert(
                id.clone(),
                StreamInfo {
                    stream_id: id.clone(),
                    pipeline: name.clone(),
                    encoder: loaded.selection.chosen_element().unwrap_or_default().to_string(),
                    params: params
                        .0
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                        .collect(),
                    started_at: SystemTime::now(),
                },
            );
        }
        let ice = IceServers::for_stream(&self.config.ice, id.as_str(), SystemTime::now());
        let options = StreamOptions { audio_server: req.audio_server.clone(), ..self.options.clone() };
        let stream = match Stream::start(&loaded, &params, &ice, &options, events) {
            Ok(s) => s,
            Err(e) => {
                self.listed.locked().remove(&id);
                let code = match e {
                    crate::media::stream::MediaError::NotRunnable(..) => ErrorCode::Pipeline,
                    _ => ErrorCode::StreamFailed,
                };
                return Err(ProtocolError::new(code, e.to_string()));
            }
        };
        let welcome = ServerMessage::Welcome {
            version: VERSION,
            stream_id: id.clone(),
            pipeline: name,
            encoder: stream.encoder().to_string(),
            width: params.int("width"),
            height: params.int("height"),
            framerate: params.int("framerate"),
            audio: loaded.spec.audio.is_some() && params.bool("audio") != Some(false),
            ice_servers: ice.0,
        };
        Ok(Opened { welcome, control: Box::new(ListedStream { id, stream, listed: self.listed.clone() }) })
    }
}

/// A stream that removes itself from the list when stopped.
struct ListedStream {
    id: StreamId,
    stream: Stream,
    listed: Arc<Mutex<BTreeMap<StreamId, StreamInfo>>>,
}

impl StreamControl for ListedStream {
    fn set_answer(&self, sdp: &str) -> Result<(), String> {
        self.stream.set_answer(sdp).map_err(|e| e.to_string())
    }

    fn add_candidate(&self, mline: u32, candidate: &str) -> Result<(), String> {
        self.stream.add_candidate(mline, candidate).map_err(|e| e.to_string())
    }

    fn stop(self: Box<Self>) {
        self.stream.stop();
    }

    fn pauser(&self) -> Option<Pauser> {
        Some(self.stream.pauser())
    }

    fn quality(&self) -> Option<crate::media::quality::QualityProbe> {
        self.stream.quality_probe()
    }

    fn input(&self) -> Option<crate::media::datachannel::InputPort> {
        self.stream.input_port()
    }
}

impl Drop for ListedStream {
    fn drop(&mut self) {
        self.stream.stop();
        self.listed.locked().remove(&self.id);
    }
}
