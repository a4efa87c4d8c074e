#![no_main]
//! `input_protocol`: see `playcast_fuzz::input_protocol` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = playcast_fuzz::input_protocol(data);
});
