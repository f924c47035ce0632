//! The seeded random source for everything SIP draws at random (tags, branches, Call-IDs,
//! CSeq starts). A named algorithm (SplitMix64) rather than a library default, so that
//! transcripts stay byte-stable across dependency updates; the shell seeds it from the OS.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for identifiers that
/// must be unique, not secret. Nonces for digest `cnonce` are drawn from it too; they need
/// unpredictability only against off-path guessing, which a 64-bit OS seed provides.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `n` lower-case hex digits (n ≤ 16).
    pub fn hex(&mut self, n: usize) -> String {
        let v = self.next_u64();
        let s = format!("{v:016x}");
        s[..n.min(16)].to_owned()
    }

    /// A tag for From/To (RFC 3261 §19.3: at least 32 bits of randomness).
    pub fn tag(&mut self) -> String {
        self.hex(12)
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!(
            "{}{}",
            crate::message::values::BRANCH_MAGIC_COOKIE,
            self.hex(16)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(a.tag(), b.tag());
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
        assert!(a.branch().starts_with("z9hG4bK"));
    }
}
