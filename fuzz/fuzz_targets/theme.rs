//! Fuzz target `theme`: see `holoscope::fuzz` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    holoscope::fuzz::theme(data);
});
