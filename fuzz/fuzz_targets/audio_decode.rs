#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hasip_audio::fuzzing::decode(data));
