#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hasip_menu::fuzzing::menu_yaml(data, std::time::Instant::now()));
