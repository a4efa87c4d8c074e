//! The two input data channels every (non-bare) stream offers: an unordered
//! one without retransmission for motion and axes, and a reliable ordered one
//! for keys, buttons and control. What arrives goes to a handler the session
//! installs; until then it is dropped (nothing can arrive before DTLS anyway).

use std::sync::{Arc, Mutex};

use gst::glib;
use gst::prelude::*;
use gst_webrtc::WebRTCDataChannel;

use super::events::MediaError;
use crate::sync::Locked;

/// The unordered channel without retransmission: motion and gamepad axes.
pub const FAST_LABEL: &str = "input-fast";
/// The reliable, ordered channel: keys, buttons, wheel, control.
pub const RELIABLE_LABEL: &str = "input";

/// Called with each message from the browser: its bytes (`None` for a text
/// message, which the protocol does not use) and the port to answer on.
pub type InputHandler = Arc<dyn Fn(Option<&[u8]>, &InputPort) + Send + Sync>;

/// A stream's input channels, as the session sees them.
#[derive(Clone)]
pub struct InputPort {
    reliable: WebRTCDataChannel,
    handler: Arc<Mutex<Option<InputHandler>>>,
}

impl InputPort {
    /// Creates both channels on `webrtc` (before the offer, so it carries them).
    pub fn create(webrtc: &gst::Element) -> Result<Self, MediaError> {
        let make = |label: &str, config: gst::Structure| {
            webrtc
                .emit_by_name::<Option<WebRTCDataChannel>>("create-data-channel", &[&label, &config])
                .ok_or_else(|| MediaError::Gst(format!("webrtcbin could not create data channel `{label}`")))
        };
        let fast = make(
            FAST_LABEL,
            gst::Structure::builder("config").field("ordered", false).field("max-retransmits", 0i32).build(),
        )?;
        let reliable = make(RELIABLE_LABEL, gst::Structure::builder("config").field("ordered", true).build())?;
        let port = InputPort { reliable: reliable.clone(), handler: Arc::default() };
        for channel in [&fast, &reliable] {
            port.listen(channel);
        }
        Ok(port)
    }

    fn listen(&self, channel: &WebRTCDataChannel) {
        let port = self.downgrade();
        channel.connect_closure(
            "on-message-data",
            false,
            glib::closure!(move |_c: &WebRTCDataChannel, data: Option<&glib::Bytes>| {
                if let Some(port) = port.upgrade() {
                    port.deliver(Some(data.map(|d| d.as_ref()).unwrap_or_default()));
                }
            }),
        );
        let port = self.downgrade();
        channel.connect_closure(
            "on-message-string",
            false,
            glib::closure!(move |_c: &WebRTCDataChannel, s: Option<&str>| {
                if let Some(port) = port.upgrade() {
                    // webrtcbin hands an empty binary message over as an
                    // empty string: empty either way, not text.
                    port.deliver(if s.is_none_or(str::is_empty) { Some(&[]) } else { None });
                }
            }),
        );
    }

    fn deliver(&self, data: Option<&[u8]>) {
        let handler = self.handler.locked().clone();
        if let Some(h) = handler {
            h(data, self);
        }
    }

    /// Routes every later message to `handler`.
    pub fn set_handler(&self, handler: InputHandler) {
        *self.handler.locked() = Some(handler);
    }

    /// Sends bytes to the browser on the reliable channel, if it is open.
    pub fn reply(&self, bytes: &[u8]) {
        if self.reliable.ready_state() == gst_webrtc::WebRTCDataChannelState::Open {
            if let Err(e) = self.reliable.send_data_full(Some(&glib::Bytes::from(bytes))) {
                tracing::debug!(error = %e, "input reply not sent");
            }
        }
    }

    /// The handler slot held weakly: the channels' closures must not keep the
    /// port (and its handler, which may hold the session) alive.
    fn downgrade(&self) -> WeakPort {
        WeakPort { reliable: self.reliable.downgrade(), handler: Arc::downgrade(&self.handler) }
    }
}

struct WeakPort {
    reliable: glib::WeakRef<WebRTCDataChannel>,
    handler: std::sync::Weak<Mutex<Option<InputHandler>>>,
}

impl WeakPort {
    fn upgrade(&self) -> Option<InputPort> {
        Some(InputPort { reliable: self.reliable.upgrade()?, handler: self.handler.upgrade()? })
    }
}
