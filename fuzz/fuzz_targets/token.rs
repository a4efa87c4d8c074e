#![no_main]
//! `token`: see `playcast_fuzz::token` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = playcast_fuzz::token(data);
});
