//! Confidence as a rank, so that a band is a range of whole numbers.
//!
//! Sort every band endpoint of a policy (with 0 and 1) into `e_0 = 0 < e_1 < ... < e_m = 1`.
//! Class `i < m` is the interval `[e_i, e_{i+1})`, and class `m` is the point 1.0. Spec
//! section 4 says a band `[lo, hi]` holds `c` when `lo <= c < hi`, or when `c == hi == 1.0`:
//! with `lo = e_a` and `hi = e_b` that is the classes `a..b` (`b` excluded), plus class `m`
//! when `hi` is 1. Either way a contiguous range, so that a band can be a byte range in an
//! automaton and a run in a table. A confidence's class is one binary search.

use std::fmt::Write as _;

/// The endpoints of a policy's bands, and the classes between them.
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    /// Sorted, distinct, from 0.0 to 1.0; `-0.0` is stored as `0.0`.
    endpoints: Vec<f64>,
}

/// An inclusive range of classes.
pub(crate) type ClassRange = (u32, u32);

impl Classes {
    pub(crate) fn new(bands: impl IntoIterator<Item = (f64, f64)>) -> Classes {
        let mut endpoints = vec![0.0, 1.0];
        for (lo, hi) in bands {
            endpoints.extend(
                [lo + 0.0, hi + 0.0]
                    .into_iter()
                    .filter(|e| (0.0..=1.0).contains(e)),
            );
        }
        endpoints.sort_by(f64::total_cmp);
        endpoints.dedup();
        Classes { endpoints }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.endpoints.capacity() * std::mem::size_of::<f64>()
    }

    /// How many classes there are.
    pub(crate) fn count(&self) -> u32 {
        self.endpoints.len() as u32
    }

    /// The class of a checked confidence (in [0, 1]; `-0.0` counts as 0).
    #[inline]
    pub(crate) fn of(&self, c: f64) -> u32 {
        (self
            .endpoints
            .partition_point(|e| *e <= c)
            .saturating_sub(1)) as u32
    }

    /// The classes where `lo <= c < hi` or `c == hi == 1.0` holds, or `None` when there are
    /// none. `lo` and `hi` must be among the bands given to [`Classes::new`].
    pub(crate) fn range(&self, lo: f64, hi: f64) -> Option<ClassRange> {
        let last = self.count() - 1;
        let a = self.index(lo)?;
        if hi == 1.0 {
            return (a <= last).then_some((a, last));
        }
        let b = self.index(hi)?;
        (a < b).then(|| (a, b - 1))
    }

    fn index(&self, value: f64) -> Option<u32> {
        let i = self.endpoints.partition_point(|e| *e < value);
        (self.endpoints.get(i) == Some(&(value + 0.0))).then_some(i as u32)
    }

    /// How many bytes a class takes in an automaton's input.
    pub(crate) fn width(&self) -> usize {
        let last = self.count().saturating_sub(1);
        match last {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            0x1_0000..=0xFF_FFFF => 3,
            _ => 4,
        }
    }

    /// A class as big-endian bytes of [`Classes::width`] length.
    pub(crate) fn encode(&self, class: u32, buf: &mut [u8; 4]) -> usize {
        let width = self.width();
        *buf = class.to_be_bytes();
        buf.copy_within(4 - width.., 0);
        width
    }

    /// A byte-mode regular expression matching the encodings of the classes in `range`.
    pub(crate) fn regex(&self, range: ClassRange) -> String {
        let width = self.width() as u32;
        let mut out = String::from("(?-u:");
        push_range(&mut out, range.0, range.1, width);
        out.push(')');
        out
    }
}

/// The big-endian numbers `lo..=hi` of `width` bytes, as a regex: split on the first byte,
/// the way UTF-8 ranges are split into byte sequences.
fn push_range(out: &mut String, lo: u32, hi: u32, width: u32) {
    if width == 0 {
        return;
    }
    let shift = 8 * (width - 1);
    let rest_max = if shift == 0 { 0 } else { (1u32 << shift) - 1 };
    let (top_lo, top_hi) = (lo >> shift, hi >> shift);
    let (rest_lo, rest_hi) = (lo & rest_max, hi & rest_max);
    if top_lo == top_hi {
        let _ = write!(out, "\\x{top_lo:02X}");
        push_range(out, rest_lo, rest_hi, width - 1);
        return;
    }
    out.push_str("(?:");
    // The first top byte, from rest_lo up; the middle ones, anything; the last, up to rest_hi.
    let mut alternatives = Vec::new();
    let mut first_full = top_lo;
    if rest_lo != 0 {
        let mut alt = format!("\\x{top_lo:02X}");
        push_range(&mut alt, rest_lo, rest_max, width - 1);
        alternatives.push(alt);
        first_full = top_lo + 1;
    }
    let mut last_full = top_hi;
    let mut last = None;
    if rest_hi != rest_max {
        let mut alt = format!("\\x{top_hi:02X}");
        push_range(&mut alt, 0, rest_hi, width - 1);
        last = Some(alt);
        last_full = top_hi.wrapping_sub(1);
    }
    if first_full <= last_full && last_full != u32::MAX {
        let mut alt = format!("[\\x{first_full:02X}-\\x{last_full:02X}]");
        for _ in 1..width {
            alt.push_str("[\\x00-\\xFF]");
        }
        alternatives.push(alt);
    }
    alternatives.extend(last);
    out.push_str(&alternatives.join("|"));
    out.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_spec_band_rule() {
        let classes = Classes::new([(0.0, 0.4), (0.4, 0.7), (0.7, 1.0), (0.5, 0.5), (1.0, 1.0)]);
        let holds = |lo: f64, hi: f64, c: f64| {
            classes
                .range(lo, hi)
                .is_some_and(|(a, b)| (a..=b).contains(&classes.of(c)))
        };
        for c in [
            0.0, -0.0, 0.1, 0.3999, 0.4, 0.45, 0.5, 0.6999, 0.7, 0.99, 1.0,
        ] {
            for (lo, hi) in [
                (0.0, 0.4),
                (0.4, 0.7),
                (0.7, 1.0),
                (0.5, 0.5),
                (1.0, 1.0),
                (0.0, 1.0),
            ] {
                let spec = (lo <= c && c < hi) || (c == hi && hi == 1.0);
                assert_eq!(holds(lo, hi, c), spec, "[{lo}, {hi}] at {c}");
            }
        }
        assert_eq!(classes.range(0.5, 0.5), None);
        assert_eq!(classes.range(-0.0, 0.4), classes.range(0.0, 0.4));
    }

    #[test]
    fn byte_ranges_cover_exactly_their_classes() {
        for width in 1..=3u32 {
            let max = if width == 3 {
                0x2_0000
            } else {
                (1u32 << (8 * width)) - 1
            };
            let cases = [
                (0, max),
                (0, 0),
                (5, 5),
                (3, 260),
                (255, 256),
                (256, 511),
                (1, max - 1),
                (0x1FF, 0x1_0100),
            ];
            for (lo, hi) in cases {
                let (lo, hi) = (lo.min(max), hi.min(max));
                let mut re = String::from("(?-u:");
                push_range(&mut re, lo, hi, width);
                re.push(')');
                let re = regex::bytes::Regex::new(&format!("^{re}$")).unwrap();
                for probe in [
                    0,
                    1,
                    4,
                    5,
                    6,
                    255,
                    256,
                    257,
                    260,
                    261,
                    511,
                    512,
                    0x1FF,
                    0x1_0100,
                    max - 1,
                    max,
                ] {
                    if probe > max {
                        continue;
                    }
                    let bytes = &probe.to_be_bytes()[(4 - width as usize)..];
                    assert_eq!(
                        re.is_match(bytes),
                        (lo..=hi).contains(&probe),
                        "{lo}..={hi} w{width} at {probe}: {re}"
                    );
                }
            }
        }
    }
}
