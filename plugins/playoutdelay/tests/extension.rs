//! The extension is found by its URI and writes a zero playout delay.
use gst_rtp::prelude::*;
use gstplaycastplayoutdelay::URI;

#[test]
fn found_by_uri_and_writes_zero_delay() {
    gst::init().unwrap();
    gstplaycastplayoutdelay::plugin_register_static().unwrap();
    let ext = gst_rtp::RTPHeaderExtension::create_from_uri(URI).expect("found by URI");
    assert_eq!(RTPHeaderExtensionExt::uri(&ext).as_deref(), Some(URI));
    ext.set_id(2);
    let input = gst::Buffer::new();
    let output = gst::Buffer::new();
    let mut data = [0xffu8; 8];
    let n = ext.write(&input, gst_rtp::RTPHeaderExtensionFlags::ONE_BYTE, &output, &mut data).unwrap();
    assert_eq!(&data[..n], &[0, 0, 0]);
}
