#![no_main]
//! `pipeline_file`: see `playcast_fuzz::pipeline_file` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = playcast_fuzz::pipeline_file(data);
});
