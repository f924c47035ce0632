//! The recording writer: read back with hound (an independent reader) and with our own
//! decoder; the header is right after `finish`, after a `flush` followed by a crash, after a
//! periodic update, and after a drop.

use std::io::{Cursor, Seek, SeekFrom, Write};

use hasip_audio::{Error, Layout, Options, WavWriter, decode_mono};

fn ramp(n: usize, step: i16) -> Vec<i16> {
    (0..n).map(|i| (i as i16).wrapping_mul(step)).collect()
}

fn read_back(bytes: &[u8]) -> (hound::WavSpec, Vec<i16>) {
    let reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
    let spec = reader.spec();
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (spec, samples)
}

fn riff_sizes(bytes: &[u8]) -> (u32, u32) {
    let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
    (riff, data)
}

#[test]
fn mono_recording_reads_back_exactly() {
    let samples = ramp(16000 * 3 + 7, 13);
    let mut w = WavWriter::new(Cursor::new(Vec::new()), 16000, Layout::Mono).unwrap();
    for chunk in samples.chunks(320) {
        w.write_frames(chunk).unwrap();
    }
    assert_eq!(w.frames(), samples.len() as u64);
    assert_eq!(w.duration().as_millis(), 3000);
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(bytes.len(), 44 + 2 * samples.len());
    assert_eq!(
        riff_sizes(&bytes),
        (36 + 2 * samples.len() as u32, 2 * samples.len() as u32)
    );
    let (spec, back) = read_back(&bytes);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 16000, 16)
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    assert_eq!(back, samples);
    // Our decoder reads it too.
    let d = decode_mono(&bytes, Options::default()).unwrap();
    assert_eq!(d.info.sample_rate, 16000);
    assert_eq!(d.samples.len(), samples.len());
    assert_eq!(hasip_audio::to_i16(&d.samples), samples);
}

#[test]
fn stereo_puts_remote_left_and_local_right() {
    let remote = ramp(8000, 7);
    let local = ramp(8000, -11);
    let mut w = WavWriter::new(Cursor::new(Vec::new()), 8000, Layout::Stereo).unwrap();
    for (r, l) in remote.chunks(160).zip(local.chunks(160)) {
        w.write_sides(r, l).unwrap();
    }
    assert_eq!(w.frames(), 8000);
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(riff_sizes(&bytes).1, 8000 * 4);
    let (spec, back) = read_back(&bytes);
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let left: Vec<i16> = back.iter().step_by(2).copied().collect();
    let right: Vec<i16> = back.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(left, remote);
    assert_eq!(right, local);
    let info = hasip_audio::probe(&bytes).unwrap();
    assert_eq!((info.channels, info.frames), (2, Some(8000)));
}

#[test]
fn mono_sides_are_mixed_with_clipping() {
    let mut w = WavWriter::new(Cursor::new(Vec::new()), 8000, Layout::Mono).unwrap();
    w.write_sides(&[1000, 30000, -30000, 5], &[-400, 10000, -10000, 0])
        .unwrap();
    let (_, back) = read_back(&w.finish().unwrap().into_inner());
    assert_eq!(back, [600, i16::MAX, i16::MIN, 5]);
}

#[test]
fn a_crash_after_flush_leaves_a_valid_file_up_to_the_flush() {
    let mut file = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut file, 8000, Layout::Mono).unwrap();
    w.set_header_interval(0); // only explicit flushes
    let first = ramp(4000, 3);
    w.write_frames(&first).unwrap();
    w.flush().unwrap();
    w.write_frames(&ramp(1234, 5)).unwrap();
    // The process dies: no finish, no drop.
    std::mem::forget(w);
    let bytes = file.into_inner();
    assert_eq!(
        bytes.len(),
        44 + 2 * (4000 + 1234),
        "the audio after the flush is on disk"
    );
    assert_eq!(riff_sizes(&bytes), (36 + 8000, 8000));
    let (_, back) = read_back(&bytes);
    assert_eq!(back, first, "a reader stops at the stated size");
    // Our decoder stops there too.
    assert_eq!(
        decode_mono(&bytes, Options::default())
            .unwrap()
            .samples
            .len(),
        4000
    );
}

#[test]
fn the_header_is_updated_every_interval() {
    let mut file = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut file, 8000, Layout::Stereo).unwrap();
    // Default interval: one second of audio. 2.5 s in 20 ms frames → updated at 1 s, 2 s.
    for _ in 0..125 {
        w.write_sides(&[1; 160], &[2; 160]).unwrap();
    }
    std::mem::forget(w);
    let bytes = file.into_inner();
    assert_eq!(riff_sizes(&bytes).1, 2 * 8000 * 4);
    assert_eq!(read_back(&bytes).1.len(), 2 * 8000 * 2);

    let mut file = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut file, 8000, Layout::Mono).unwrap();
    w.set_header_interval(100);
    w.write_frames(&[7; 250]).unwrap(); // one write: header covers all 250
    w.write_frames(&[7; 50]).unwrap(); // 50 since: not yet
    std::mem::forget(w);
    assert_eq!(riff_sizes(file.get_ref()).1, 500);
}

#[test]
fn dropping_an_unfinished_writer_finalises_the_header() {
    let mut file = Cursor::new(Vec::new());
    {
        let mut w = WavWriter::new(&mut file, 16000, Layout::Mono).unwrap();
        w.set_header_interval(0);
        w.write_frames(&ramp(999, 9)).unwrap();
    }
    let (_, back) = read_back(file.get_ref());
    assert_eq!(back, ramp(999, 9));
}

#[test]
fn a_recording_can_start_at_an_offset() {
    let mut file = Cursor::new(b"prefix".to_vec());
    file.seek(SeekFrom::End(0)).unwrap();
    let mut w = WavWriter::new(file, 8000, Layout::Mono).unwrap();
    w.write_frames(&[1, 2, 3]).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(&bytes[..6], b"prefix");
    assert_eq!(read_back(&bytes[6..]).1, [1, 2, 3]);
}

#[test]
fn an_empty_recording_is_a_valid_file() {
    let w = WavWriter::new(Cursor::new(Vec::new()), 8000, Layout::Stereo).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(bytes.len(), 44);
    let (spec, back) = read_back(&bytes);
    assert_eq!(spec.channels, 2);
    assert!(back.is_empty());
}

#[test]
fn bad_writes_are_errors() {
    let mut w = WavWriter::new(Cursor::new(Vec::new()), 8000, Layout::Stereo).unwrap();
    let e = w.write_frames(&[1, 2, 3]).unwrap_err();
    assert!(
        matches!(e, Error::UnevenChannels { left: 2, right: 1 }),
        "{e:?}"
    );
    let e = w.write_sides(&[1, 2], &[1]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "stereo write with 2 left and 1 right samples"
    );
    assert_eq!(w.frames(), 0);

    /// A disk that fills up after 100 bytes.
    struct Full(Cursor<Vec<u8>>);
    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0.position() + buf.len() as u64 > 100 {
                return Err(std::io::Error::other("no space left on device"));
            }
            self.0.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Seek for Full {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.0.seek(pos)
        }
    }
    let mut w = WavWriter::new(Full(Cursor::new(Vec::new())), 8000, Layout::Mono).unwrap();
    w.write_frames(&[0; 20]).unwrap();
    let e = w.write_frames(&[0; 20]).unwrap_err();
    assert_eq!(e.to_string(), "writing WAV: no space left on device");
    assert_eq!(w.frames(), 20, "the failed write is not counted");
    w.finish().unwrap();
}
