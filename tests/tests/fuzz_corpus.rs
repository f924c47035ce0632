//! Replays the committed fuzz corpora (fuzz/corpus/*) through the same entry points the
//! fuzz targets use, so that every input a fuzzer ever found interesting keeps being checked
//! by `cargo test`, deterministically, on every run.

use std::path::Path;

use hasip_tests::workspace_root;

fn replay(dir: &Path, run: impl Fn(&[u8])) -> usize {
    let mut n = 0;
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.filter_map(Result::ok) {
        let data = std::fs::read(entry.path())
            .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        run(&data);
        n += 1;
    }
    n
}

#[test]
fn sip_message_corpus_replays_without_panic() {
    let n = replay(
        &workspace_root().join("fuzz/corpus/sip_message"),
        hasip_sip::fuzzing::message,
    );
    assert!(n >= 2700, "the corpus shrank to {n} inputs");
}

#[test]
fn sip_framing_corpus_replays_without_panic() {
    let n = replay(
        &workspace_root().join("fuzz/corpus/sip_framing"),
        hasip_sip::fuzzing::framing,
    );
    assert!(n >= 1900, "the corpus shrank to {n} inputs");
}

#[test]
fn rtp_packet_corpus_replays_without_panic() {
    let n = replay(
        &workspace_root().join("fuzz/corpus/rtp_packet"),
        hasip_media::fuzzing::rtp_packet,
    );
    assert!(n >= 140, "the corpus shrank to {n} inputs");
}

#[test]
fn audio_decode_corpus_replays_without_panic() {
    let n = replay(
        &workspace_root().join("fuzz/corpus/audio_decode"),
        hasip_audio::fuzzing::decode,
    );
    assert!(n >= 40, "the corpus shrank to {n} inputs");
}

#[test]
fn menu_yaml_corpus_replays_without_panic() {
    let t0 = std::time::Instant::now();
    let n = replay(&workspace_root().join("fuzz/corpus/menu_yaml"), |d| {
        hasip_menu::fuzzing::menu_yaml(d, t0)
    });
    assert!(n >= 1000, "the corpus shrank to {n} inputs");
}
