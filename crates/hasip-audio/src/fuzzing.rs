//! Entry points for `fuzz/fuzz_targets/audio_decode.rs` and the corpus replay test
//! (`tests/tests/fuzz_corpus.rs`). Not API.

use crate::{Converter, Decoder, Options, probe};

/// Probes, decodes, downmixes and resamples `data` to 8 kHz in 20 ms frames, and checks
/// the invariants that must hold for any input: no panic, and when decoding succeeds every
/// frame is at most 20 ms long. A 30 s limit keeps one input's work bounded.
pub fn decode(data: &[u8]) {
    let options = Options { max_secs: 30 };
    let probed = probe(data);
    let Ok(decoder) = Decoder::with_options(data, options) else {
        assert!(probed.is_err(), "probe succeeded where opening failed");
        return;
    };
    assert!(probed.is_ok(), "opening succeeded where probe failed");
    let Ok(mut converter) = Converter::new(decoder, 8000) else {
        return;
    };
    let mut frames = 0u32;
    while let Ok(Some(frame)) = converter.next_frame() {
        assert!(
            !frame.is_empty() && frame.len() <= 160,
            "frame of {}",
            frame.len()
        );
        frames += 1;
        // 30 s of source audio is at most 1500 frames plus the filter's tail.
        assert!(frames <= 1600, "more frames than the limit allows");
    }
}
