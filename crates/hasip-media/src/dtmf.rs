//! The DTMF vocabulary shared by the three ways digits travel: [`Digit`], where a received
//! digit came from ([`DtmfSource`]), how to send one ([`DtmfMethod`]) and for how long
//! ([`DtmfTiming`]).

use std::fmt;
use std::time::Duration;

/// Low-group (row) frequencies in Hz (ITU-T Q.23).
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz (ITU-T Q.23).
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad, row by row (Q.23): `1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D`.
const KEYPAD: [[u8; 4]; 4] = [
    [b'1', b'2', b'3', b'A'],
    [b'4', b'5', b'6', b'B'],
    [b'7', b'8', b'9', b'C'],
    [b'*', b'0', b'#', b'D'],
];

/// One of the 16 DTMF digits: `0`–`9`, `*`, `#`, `A`–`D`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(u8);

impl Digit {
    /// All 16 digits in RFC 4733 event-code order.
    pub const ALL: [Digit; 16] = [
        Digit(b'0'),
        Digit(b'1'),
        Digit(b'2'),
        Digit(b'3'),
        Digit(b'4'),
        Digit(b'5'),
        Digit(b'6'),
        Digit(b'7'),
        Digit(b'8'),
        Digit(b'9'),
        Digit(b'*'),
        Digit(b'#'),
        Digit(b'A'),
        Digit(b'B'),
        Digit(b'C'),
        Digit(b'D'),
    ];

    /// The digit for a character (`a`–`d` are accepted in lower case too).
    pub fn from_char(c: char) -> Option<Self> {
        let c = c.to_ascii_uppercase();
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Self(c as u8))
    }

    /// The digit's character (`A`–`D` in upper case).
    pub fn as_char(self) -> char {
        char::from(self.0)
    }

    /// The RFC 4733 §3.2 event code: 0–9, `*` 10, `#` 11, `A`–`D` 12–15.
    pub fn event_code(self) -> u8 {
        match self.0 {
            b'0'..=b'9' => self.0 - b'0',
            b'*' => 10,
            b'#' => 11,
            other => other - b'A' + 12,
        }
    }

    /// The digit of an RFC 4733 event code, if it is one of the 16 DTMF events.
    pub fn from_event_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The keypad row and column (0–3 each).
    pub fn position(self) -> (usize, usize) {
        for (r, row) in KEYPAD.iter().enumerate() {
            for (c, &k) in row.iter().enumerate() {
                if k == self.0 {
                    return (r, c);
                }
            }
        }
        (3, 1)
    }

    /// The digit at a keypad row and column (0–3 each; others wrap).
    pub fn at(row: usize, col: usize) -> Self {
        Self(KEYPAD[row % 4][col % 4])
    }

    /// Its two frequencies in Hz: (row, column).
    pub fn frequencies(self) -> (f32, f32) {
        let (r, c) = self.position();
        (ROW_HZ[r], COL_HZ[c])
    }
}

impl fmt::Debug for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digit({})", self.as_char())
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Where a received digit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// An RFC 4733 telephone-event.
    Rfc4733,
    /// Tones in the decoded audio (Goertzel detector).
    InBand,
}

/// How to send digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfMethod {
    /// RFC 4733 telephone-events (ha-sip's `rfc2833`).
    Rfc4733,
    /// Two-tone audio mixed into the outgoing stream (ha-sip's `in_band`).
    InBand,
}

/// Tone and pause length of each sent digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfTiming {
    /// How long each digit sounds.
    pub tone: Duration,
    /// Silence after each digit before the next one.
    pub pause: Duration,
}

impl Default for DtmfTiming {
    /// ha-sip's (pjsua's) in-band timing: 180 ms tone, 220 ms pause.
    fn default() -> Self {
        Self {
            tone: Duration::from_millis(180),
            pause: Duration::from_millis(220),
        }
    }
}

/// Why digits could not be queued for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtmfError {
    /// A character that is not a DTMF digit (the first one found).
    InvalidDigit(char),
    /// RFC 4733 was asked for but telephone-event was not negotiated.
    NotNegotiated,
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidDigit(c) => write!(f, "{c:?} is not a DTMF digit (0-9, *, #, A-D)"),
            Self::NotNegotiated => f.write_str("telephone-event was not negotiated for this call"),
        }
    }
}

impl std::error::Error for DtmfError {}

/// Parses a digit string, refusing it whole if any character is not a digit.
///
/// # Errors
/// [`DtmfError::InvalidDigit`] with the first offending character.
pub fn parse_digits(digits: &str) -> Result<Vec<Digit>, DtmfError> {
    digits
        .chars()
        .map(|c| Digit::from_char(c).ok_or(DtmfError::InvalidDigit(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_3_2_event_codes() {
        for (code, d) in Digit::ALL.iter().enumerate() {
            assert_eq!(usize::from(d.event_code()), code);
            assert_eq!(Digit::from_event_code(code as u8), Some(*d));
        }
        assert_eq!(Digit::from_event_code(16), None);
        assert_eq!(Digit::from_char('*').unwrap().event_code(), 10);
        assert_eq!(Digit::from_char('#').unwrap().event_code(), 11);
        assert_eq!(Digit::from_char('d').unwrap().event_code(), 15);
        assert_eq!(Digit::from_char('E'), None);
    }

    #[test]
    fn q23_frequencies() {
        assert_eq!(
            Digit::from_char('1').unwrap().frequencies(),
            (697.0, 1209.0)
        );
        assert_eq!(
            Digit::from_char('0').unwrap().frequencies(),
            (941.0, 1336.0)
        );
        assert_eq!(
            Digit::from_char('#').unwrap().frequencies(),
            (941.0, 1477.0)
        );
        assert_eq!(
            Digit::from_char('A').unwrap().frequencies(),
            (697.0, 1633.0)
        );
        for d in Digit::ALL {
            let (r, c) = d.position();
            assert_eq!(Digit::at(r, c), d);
        }
    }

    #[test]
    fn digit_strings() {
        assert_eq!(parse_digits("12#a").unwrap().len(), 4);
        assert_eq!(parse_digits("1x2"), Err(DtmfError::InvalidDigit('x')));
        assert_eq!(parse_digits("").unwrap(), vec![]);
    }
}
