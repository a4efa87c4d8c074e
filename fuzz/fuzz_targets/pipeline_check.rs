#![no_main]
//! `pipeline_check`: see `playcast_fuzz::pipeline_check` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = playcast_fuzz::pipeline_check(data);
});
