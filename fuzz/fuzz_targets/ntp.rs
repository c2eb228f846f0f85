//! Fuzz target `ntp`: see `holoscope::fuzz` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    holoscope::fuzz::app(holoscope::fuzz::App::Ntp, data);
});
