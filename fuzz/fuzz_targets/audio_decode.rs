#![no_main]
// hasip-audio catches a panic inside symphonia (a bug of its on hostile input: with debug
// assertions, an arithmetic overflow in its RIFF reader) and turns it into an error for
// that file, as the gateway needs it to. libfuzzer-sys's hook would abort at the panic,
// before that catch: this one only reports it. A panic nothing catches still ends the run
// as a crash (libfuzzer-sys aborts when one leaves the target).
libfuzzer_sys::fuzz_target!(
    init: std::panic::set_hook(Box::new(|info| eprintln!("panic (the decoder catches it, or the run aborts): {info}"))),
    |data: &[u8]| hasip_audio::fuzzing::decode(data)
);
