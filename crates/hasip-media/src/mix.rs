//! Mixing and rate conversion for bridges and recordings: saturating addition, and
//! conversion between the three rates our codecs use (8, 16 and 48 kHz, integer ratios).
//!
//! The conversion is deliberately simple — linear interpolation up, averaging down — which
//! is transparent for telephone speech; files are resampled properly by `hasip-audio`
//! before they reach a call.

/// Adds `src` into `dst` sample by sample, saturating; extra samples in either are ignored.
pub fn mix_into(dst: &mut [i16], src: &[i16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = d.saturating_add(s);
    }
}

/// Converts `src` at `from` Hz to `to` Hz, appending to `out`.
///
/// Integer ratios (8↔16↔48 kHz) are converted; any other pair is nearest-sample
/// resampled, which is crude but never fails.
pub fn resample_into(src: &[i16], from: u32, to: u32, out: &mut Vec<i16>) {
    if from == to || from == 0 || to == 0 {
        out.extend_from_slice(src);
    } else if to > from && to.is_multiple_of(from) {
        let k = (to / from) as usize;
        for (i, &s) in src.iter().enumerate() {
            let next = src.get(i + 1).copied().unwrap_or(s);
            for j in 0..k {
                let v = i32::from(s) + (i32::from(next) - i32::from(s)) * j as i32 / k as i32;
                out.push(v as i16);
            }
        }
    } else if from > to && from.is_multiple_of(to) {
        let k = (from / to) as usize;
        for chunk in src.chunks(k) {
            let sum: i32 = chunk.iter().map(|&s| i32::from(s)).sum();
            out.push((sum / chunk.len() as i32) as i16);
        }
    } else {
        let n = (src.len() as u64 * u64::from(to) / u64::from(from)) as usize;
        for i in 0..n {
            let j = (i as u64 * u64::from(from) / u64::from(to)) as usize;
            out.push(src.get(j).copied().unwrap_or(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_saturates() {
        let mut d = [30_000i16, -30_000, 5];
        mix_into(&mut d, &[10_000, -10_000]);
        assert_eq!(d, [32_767, -32_768, 5]);
    }

    #[test]
    fn rate_conversion_lengths_and_values() {
        let src: Vec<i16> = (0..160).map(|i| i * 10).collect();
        let mut up = Vec::new();
        resample_into(&src, 8000, 48_000, &mut up);
        assert_eq!(up.len(), 960);
        assert_eq!(&up[..7], &[0, 1, 3, 5, 6, 8, 10]);
        let mut down = Vec::new();
        resample_into(&up, 48_000, 8000, &mut down);
        assert_eq!(down.len(), 160);
        assert!(down.iter().zip(&src).all(|(a, b)| (a - b).abs() <= 10));
        let mut odd = Vec::new();
        resample_into(&src, 8000, 22_050, &mut odd);
        assert_eq!(odd.len(), 441);
        let mut same = Vec::new();
        resample_into(&src, 16_000, 16_000, &mut same);
        assert_eq!(same, src);
    }
}
