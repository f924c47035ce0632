//! Audio for ha-sip-rs: decoding wav/mp3/ogg/flac (symphonia), resampling (rubato) to
//! mono PCM at the codec rate, and WAV writing for recordings.
//!
//! Pure: it takes bytes and returns samples; the shell does the file and network I/O.
//! It is empty until the media and Home Assistant issues fill it.
#![forbid(unsafe_code)]
