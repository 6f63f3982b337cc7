//! Confidence bands cut into pieces on which every band either holds or does not: between two
//! consecutive band endpoints, and the point 1.0 on its own (spec section 4: `lo <= c < hi`, and
//! 1.0 belongs to the bands that end there).

use std::fmt;

/// A piece of [0, 1]: `[lo, hi)`, or the single point 1.0 when `lo == hi == 1.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    pub lo: f64,
    pub hi: f64,
}

impl Piece {
    /// A confidence inside the piece; every band holds it exactly when it holds the piece.
    pub fn sample(&self) -> f64 {
        self.lo
    }
}

/// The pieces for a set of bands, in order.
pub fn pieces(bands: &[(f64, f64)]) -> Vec<Piece> {
    let mut points: Vec<f64> = vec![0.0, 1.0];
    for (lo, hi) in bands {
        points.extend([*lo, *hi].into_iter().filter(|p| (0.0..=1.0).contains(p)));
    }
    points.sort_by(f64::total_cmp);
    points.dedup();
    let mut out: Vec<Piece> = points
        .windows(2)
        .map(|w| Piece { lo: w[0], hi: w[1] })
        .collect();
    out.push(Piece { lo: 1.0, hi: 1.0 });
    out
}

/// Consecutive pieces merged, for messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
    /// Whether 1.0 is included (the interval ends with the point 1.0).
    pub closed: bool,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            if self.lo == 1.0 {
                write!(f, "exactly 1.0")
            } else {
                write!(f, "[{:?}, 1.0]", self.lo)
            }
        } else {
            write!(f, "[{:?}, {:?})", self.lo, self.hi)
        }
    }
}

/// Merges the chosen pieces (given in order) into intervals.
pub fn intervals(chosen: &[Piece]) -> Vec<Interval> {
    let mut out: Vec<Interval> = Vec::new();
    for p in chosen {
        let point = p.lo == p.hi;
        match out.last_mut() {
            Some(last) if !last.closed && last.hi == p.lo => {
                if point {
                    last.closed = true;
                } else {
                    last.hi = p.hi;
                }
            }
            _ => out.push(Interval {
                lo: p.lo,
                hi: p.hi,
                closed: point,
            }),
        }
    }
    out
}

pub fn describe(list: &[Interval]) -> String {
    let parts: Vec<String> = list.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cut_at_every_endpoint() {
        let p = pieces(&[(0.0, 0.5), (0.5, 1.0)]);
        assert_eq!(p.len(), 3);
        assert_eq!(p[2], Piece { lo: 1.0, hi: 1.0 });
        let merged = intervals(&p);
        assert_eq!(describe(&merged), "[0.0, 1.0]");
        assert_eq!(describe(&intervals(&p[..1])), "[0.0, 0.5)");
        assert_eq!(describe(&intervals(&p[2..])), "exactly 1.0");
    }
}
