//! The playout-delay header extension: writes min = max = 0 on every packet.
//!
//! Payload layout (3 bytes): 12-bit minimum and 12-bit maximum delay, in
//! 10 ms units, big-endian, as the extension's definition gives it.

use gst::glib;
use gst::subclass::prelude::*;
use gst_rtp::subclass::prelude::*;

/// Minimum and maximum delay both zero: render as soon as decoded.
const PAYLOAD: [u8; 3] = [0, 0, 0];

#[derive(Default)]
pub struct PlayoutDelay;

#[glib::object_subclass]
impl ObjectSubclass for PlayoutDelay {
    const NAME: &'static str = "GstPlaycastPlayoutDelay";
    type Type = super::PlayoutDelay;
    type ParentType = gst_rtp::RTPHeaderExtension;
}

impl ObjectImpl for PlayoutDelay {}
impl GstObjectImpl for PlayoutDelay {}

impl ElementImpl for PlayoutDelay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: std::sync::LazyLock<gst::subclass::ElementMetadata> = std::sync::LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Playout delay",
                "Network/Extension/RTPHeader",
                "Asks the receiver to render frames with no added playout delay",
                "Playcast",
            )
        });
        Some(&META)
    }
}

impl RTPHeaderExtensionImpl for PlayoutDelay {
    const URI: &'static str = super::URI;

    fn supported_flags(&self) -> gst_rtp::RTPHeaderExtensionFlags {
        gst_rtp::RTPHeaderExtensionFlags::ONE_BYTE | gst_rtp::RTPHeaderExtensionFlags::TWO_BYTE
    }

    fn max_size(&self, _input: &gst::BufferRef) -> usize {
        PAYLOAD.len()
    }

    fn write(
        &self,
        _input: &gst::BufferRef,
        _flags: gst_rtp::RTPHeaderExtensionFlags,
        _output: &gst::BufferRef,
        data: &mut [u8],
    ) -> Result<usize, gst::LoggableError> {
        let n = PAYLOAD.len();
        let out = data.get_mut(..n).ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "no room for playout delay"))?;
        out.copy_from_slice(&PAYLOAD);
        Ok(n)
    }

    fn read(
        &self,
        _flags: gst_rtp::RTPHeaderExtensionFlags,
        _data: &[u8],
        _output: &mut gst::BufferRef,
    ) -> Result<(), gst::LoggableError> {
        Ok(())
    }
}
