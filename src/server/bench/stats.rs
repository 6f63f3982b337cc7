//! Latency summaries.

use std::time::Duration;

use serde::Serialize;

/// A sample of latencies, in microseconds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latencies {
    pub count: usize,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Latencies {
    /// The summary of `sample` (sorted in place). Percentiles are nearest-rank: the value
    /// at or below which that share of the sample lies.
    pub fn of(sample: &mut [Duration]) -> Latencies {
        sample.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let at = |q: f64| {
            let n = sample.len();
            if n == 0 {
                return 0.0;
            }
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            sample.get(rank - 1).copied().map_or(0.0, us)
        };
        let total: f64 = sample.iter().copied().map(us).sum();
        Latencies {
            count: sample.len(),
            mean_us: if sample.is_empty() {
                0.0
            } else {
                total / sample.len() as f64
            },
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: sample.last().copied().map_or(0.0, us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut sample: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let l = Latencies::of(&mut sample);
        assert_eq!(l.count, 1000);
        assert_eq!(l.p50_us.round(), 500.0);
        assert_eq!(l.p99_us.round(), 990.0);
        assert_eq!(l.p999_us.round(), 999.0);
        assert_eq!(l.max_us.round(), 1000.0);
        assert_eq!(l.mean_us.round(), 501.0);
        assert_eq!(Latencies::of(&mut []).p99_us, 0.0);
    }
}
