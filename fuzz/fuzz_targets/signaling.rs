#![no_main]
//! `signaling`: see `playcast_fuzz::signaling_frame` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = playcast_fuzz::signaling_frame(data);
});
