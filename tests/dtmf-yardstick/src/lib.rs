//! Test only: Debian's libspandsp 0.0.6 `dtmf_rx` behind a safe wrapper, so that the tests
//! can hold hasip-media's in-band DTMF detector against a detector telephony systems have
//! used for years (issue 4: "detects at least every digit that libspandsp detects").

use std::ffi::{c_char, c_int, c_void};
use std::ptr::NonNull;

#[allow(unsafe_code)]
mod ffi {
    use super::{c_char, c_int, c_void};

    /// `digits_rx_callback_t`.
    pub(super) type Callback = Option<extern "C" fn(*mut c_void, *const c_char, c_int)>;

    #[link(name = "spandsp")]
    unsafe extern "C" {
        pub(super) fn dtmf_rx_init(
            s: *mut c_void,
            callback: Callback,
            user_data: *mut c_void,
        ) -> *mut c_void;
        pub(super) fn dtmf_rx(s: *mut c_void, amp: *const i16, samples: c_int) -> c_int;
        pub(super) fn dtmf_rx_get(s: *mut c_void, digits: *mut c_char, max: c_int) -> usize;
        pub(super) fn dtmf_rx_free(s: *mut c_void) -> c_int;
    }
}

/// libspandsp's DTMF receiver with its default settings, for 8 kHz 16-bit audio.
#[derive(Debug)]
pub struct SpandspDtmf {
    state: NonNull<c_void>,
    found: String,
}

impl SpandspDtmf {
    /// A receiver; `None` if libspandsp could not allocate one.
    #[must_use]
    #[allow(unsafe_code)]
    pub fn new() -> Option<Self> {
        // SAFETY: a null state asks dtmf_rx_init to allocate one; no callback, so digits
        // are buffered inside the state and read with dtmf_rx_get.
        let s = unsafe { ffi::dtmf_rx_init(std::ptr::null_mut(), None, std::ptr::null_mut()) };
        NonNull::new(s).map(|state| Self {
            state,
            found: String::new(),
        })
    }

    /// Feeds audio (8 kHz).
    #[allow(unsafe_code)]
    pub fn process(&mut self, pcm: &[i16]) {
        for chunk in pcm.chunks(160) {
            let n = c_int::try_from(chunk.len()).unwrap_or(0);
            // SAFETY: `state` came from dtmf_rx_init and is freed only in Drop; `chunk` is
            // a valid slice of `n` samples that dtmf_rx only reads.
            unsafe {
                ffi::dtmf_rx(self.state.as_ptr(), chunk.as_ptr(), n);
            }
            self.collect();
        }
    }

    #[allow(unsafe_code)]
    fn collect(&mut self) {
        let mut buf = [0 as c_char; 128];
        // SAFETY: `buf` has room for 127 digits and the terminating NUL dtmf_rx_get writes.
        let n = unsafe { ffi::dtmf_rx_get(self.state.as_ptr(), buf.as_mut_ptr(), 127) };
        for &c in &buf[..n.min(127)] {
            self.found.push(char::from(c as u8));
        }
    }

    /// The digits found so far, in order.
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.found
    }
}

impl Drop for SpandspDtmf {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: allocated by dtmf_rx_init (null state), freed once here.
        unsafe {
            ffi::dtmf_rx_free(self.state.as_ptr());
        }
    }
}
