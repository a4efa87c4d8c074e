//! The playout-delay RTP header extension
//! (`http://www.webrtc.org/experiments/rtp-hdrext/playout-delay`), written
//! with min = max = 0 on every video packet. It tells the browser to render
//! each frame as soon as it is decoded instead of smoothing playout, the
//! browser-side half of low latency. GStreamer 1.22 has no implementation, so
//! we register our own; payloaders find it by URI when the caps ask for it.

use gst::glib;
use gst::prelude::*;

pub const URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
pub const FACTORY: &str = "playcastplayoutdelay";

/// Payload: 12-bit minimum and 12-bit maximum delay in 10 ms units.
const PAYLOAD: [u8; 3] = [0, 0, 0];

mod imp {
    use gst::glib;
    use gst::subclass::prelude::*;
    use gst_rtp::subclass::prelude::*;

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
            super::PAYLOAD.len()
        }

        fn write(
            &self,
            _input: &gst::BufferRef,
            _flags: gst_rtp::RTPHeaderExtensionFlags,
            _output: &gst::BufferRef,
            data: &mut [u8],
        ) -> Result<usize, gst::LoggableError> {
            let n = super::PAYLOAD.len();
            let out =
                data.get_mut(..n).ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "no room for playout delay"))?;
            out.copy_from_slice(&super::PAYLOAD);
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
}

glib::wrapper! {
    pub struct PlayoutDelay(ObjectSubclass<imp::PlayoutDelay>)
        @extends gst_rtp::RTPHeaderExtension, gst::Element, gst::Object;
}

/// Makes the extension available to payloaders in this process.
pub fn register() -> Result<(), glib::BoolError> {
    gst::Element::register(None, FACTORY, gst::Rank::MARGINAL, PlayoutDelay::static_type())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst_rtp::prelude::*;

    #[test]
    fn found_by_uri_and_writes_zero_delay() {
        gst::init().unwrap();
        register().unwrap();
        let ext = gst_rtp::RTPHeaderExtension::create_from_uri(URI).expect("found by URI");
        assert_eq!(RTPHeaderExtensionExt::uri(&ext).as_deref(), Some(URI));
        ext.set_id(2);
        let input = gst::Buffer::new();
        let output = gst::Buffer::new();
        let mut data = [0xffu8; 8];
        let n = ext.write(&input, gst_rtp::RTPHeaderExtensionFlags::ONE_BYTE, &output, &mut data).unwrap();
        assert_eq!(&data[..n], &[0, 0, 0]);
    }
}
