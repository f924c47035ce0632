//! An incremental 16-bit PCM WAV writer for call recordings.
//!
//! The header is written first with the sizes so far and rewritten on every
//! [`WavWriter::flush`], every [`WavWriter::set_header_interval`] frames (default one
//! second of audio) and on [`WavWriter::finish`]; so a process that stops between two
//! updates leaves a valid file holding everything up to the last one (a reader ignores the
//! bytes after the stated data size). Dropping an unfinished writer updates the header too,
//! on a best-effort basis.
//!
//! Our own rather than `hound`'s: `hound::WavWriter::finalize` consumes the writer without
//! handing back the inner one, writes sample by sample, and has `unsafe` in its buffered
//! path; a canonical 44-byte header is all a recording needs.

use std::io::{self, Seek, SeekFrom, Write};

use crate::Error;

/// Size of the canonical PCM header.
const HEADER_LEN: u64 = 44;
/// The RIFF size field is 32 bits: at most this many data bytes.
const MAX_DATA: u64 = u32::MAX as u64 - (HEADER_LEN - 8);

/// The channel layout of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One channel.
    Mono,
    /// Two channels: the remote party left, our side right.
    Stereo,
}

impl Layout {
    fn channels(self) -> u16 {
        match self {
            Layout::Mono => 1,
            Layout::Stereo => 2,
        }
    }
}

/// Writes a 16-bit PCM WAV file incrementally to any `Write + Seek` (a file the shell
/// opened, a `Cursor` in tests).
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    out: Option<W>,
    start: u64,
    layout: Layout,
    sample_rate: u32,
    data_bytes: u64,
    header_every: u64,
    since_header: u64,
    buf: Vec<u8>,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Starts a recording at `out`'s current position with a header for no audio yet.
    pub fn new(mut out: W, sample_rate: u32, layout: Layout) -> Result<Self, Error> {
        let start = out.stream_position()?;
        let mut w = WavWriter {
            out: Some(out),
            start,
            layout,
            sample_rate,
            data_bytes: 0,
            header_every: u64::from(sample_rate.max(1)),
            since_header: 0,
            buf: Vec::new(),
        };
        let header = w.header();
        w.out()?.write_all(&header)?;
        Ok(w)
    }

    /// Rewrites the header every `frames` frames (0: only on `flush` and `finish`).
    pub fn set_header_interval(&mut self, frames: u32) {
        self.header_every = if frames == 0 {
            u64::MAX
        } else {
            u64::from(frames)
        };
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.data_bytes / (2 * u64::from(self.layout.channels()))
    }

    /// Frames written so far, as time.
    pub fn duration(&self) -> std::time::Duration {
        crate::decode::frames_to_duration(self.frames(), self.sample_rate)
    }

    /// Writes interleaved frames (mono: samples; stereo: left, right, left, …).
    pub fn write_frames(&mut self, interleaved: &[i16]) -> Result<(), Error> {
        if self.layout == Layout::Stereo && !interleaved.len().is_multiple_of(2) {
            return Err(Error::UnevenChannels {
                left: interleaved.len().div_ceil(2),
                right: interleaved.len() / 2,
            });
        }
        self.buf.clear();
        self.buf
            .extend(interleaved.iter().flat_map(|s| s.to_le_bytes()));
        self.append()
    }

    /// Writes one stretch of both sides of a call: stereo puts `remote` left and `local`
    /// right; mono writes their sum (clipped). The two must have the same length.
    pub fn write_sides(&mut self, remote: &[i16], local: &[i16]) -> Result<(), Error> {
        if remote.len() != local.len() {
            return Err(Error::UnevenChannels {
                left: remote.len(),
                right: local.len(),
            });
        }
        self.buf.clear();
        let pairs = remote.iter().zip(local);
        match self.layout {
            Layout::Stereo => self.buf.extend(pairs.flat_map(|(r, l)| {
                let [a, b] = r.to_le_bytes();
                let [c, d] = l.to_le_bytes();
                [a, b, c, d]
            })),
            Layout::Mono => self
                .buf
                .extend(pairs.flat_map(|(r, l)| r.saturating_add(*l).to_le_bytes())),
        }
        self.append()
    }

    /// Rewrites the header for everything written so far and flushes `out`.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.update_header()?;
        self.out()?.flush()?;
        Ok(())
    }

    /// Finalises the header, flushes and hands back `out`.
    pub fn finish(mut self) -> Result<W, Error> {
        self.flush()?;
        self.out
            .take()
            .ok_or_else(|| io::Error::other("WAV writer already finished").into())
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("WAV writer already finished"))
    }

    fn append(&mut self) -> Result<(), Error> {
        let bytes = self.buf.len() as u64;
        if self.data_bytes + bytes > MAX_DATA {
            return Err(Error::WavFull);
        }
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("WAV writer already finished"))?;
        out.write_all(&self.buf)?;
        self.data_bytes += bytes;
        self.since_header += bytes / (2 * u64::from(self.layout.channels()));
        if self.since_header >= self.header_every {
            self.update_header()?;
        }
        Ok(())
    }

    fn update_header(&mut self) -> Result<(), Error> {
        let end = self.start + HEADER_LEN + self.data_bytes;
        let data = self.data_bytes as u32;
        let start = self.start;
        let out = self.out()?;
        out.seek(SeekFrom::Start(start + 4))?;
        out.write_all(&(data + 36).to_le_bytes())?;
        out.seek(SeekFrom::Start(start + 40))?;
        out.write_all(&data.to_le_bytes())?;
        out.seek(SeekFrom::Start(end))?;
        self.since_header = 0;
        Ok(())
    }

    fn header(&self) -> [u8; HEADER_LEN as usize] {
        let channels = self.layout.channels();
        let block_align = 2 * channels;
        let byte_rate = self.sample_rate.saturating_mul(u32::from(block_align));
        let data = self.data_bytes as u32;
        let mut h = [0u8; HEADER_LEN as usize];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&(data + 36).to_le_bytes());
        h[8..12].copy_from_slice(b"WAVE");
        h[12..16].copy_from_slice(b"fmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
        h[22..24].copy_from_slice(&channels.to_le_bytes());
        h[24..28].copy_from_slice(&self.sample_rate.to_le_bytes());
        h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
        h[32..34].copy_from_slice(&block_align.to_le_bytes());
        h[34..36].copy_from_slice(&16u16.to_le_bytes());
        h[36..40].copy_from_slice(b"data");
        h[40..44].copy_from_slice(&data.to_le_bytes());
        h
    }
}

impl<W: Write + Seek> Drop for WavWriter<W> {
    /// Best effort for a writer dropped without [`WavWriter::finish`]: the header is made
    /// to cover all written audio; errors cannot be reported here.
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn the_4_gib_limit_is_an_error_not_a_wrapped_size() {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), 8000, Layout::Mono).unwrap();
        // Pretend 4 GiB minus 4 bytes are on disk (the cursor itself stays small).
        w.data_bytes = MAX_DATA - 4;
        w.write_frames(&[1, 2]).unwrap();
        assert!(matches!(w.write_frames(&[3]), Err(Error::WavFull)));
        assert_eq!(w.data_bytes, MAX_DATA);
        w.update_header().unwrap();
        let bytes = w.out.as_ref().unwrap().get_ref();
        assert_eq!(&bytes[4..8], &u32::MAX.to_le_bytes());
        assert_eq!(&bytes[40..44], &(u32::MAX - 36).to_le_bytes());
    }
}
