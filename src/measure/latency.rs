//! Latency percentiles over healthy samples, in bounded memory: exact while there are few
//! samples, then from a log-scale histogram whose buckets are 0.5% wide.

use serde::{Deserialize, Serialize};

/// p50/p95/p99/max of healthy samples' latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl LatencySummary {
    /// Summary of `values` (any order).
    pub fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self {
            p50_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted.last().copied(),
        }
    }
}

/// A latency, finer than a duration since healthy samples often take under a
/// millisecond: `0.42ms`, `3.1ms`, `250ms`, `1.20s`.
pub fn format_latency(ms: f64) -> String {
    match ms {
        _ if ms < 1.0 => format!("{ms:.2}ms"),
        _ if ms < 10.0 => format!("{ms:.1}ms"),
        _ if ms < 1000.0 => format!("{ms:.0}ms"),
        _ => format!("{:.2}s", ms / 1000.0),
    }
}

impl LatencySummary {
    /// `p50 3.1ms  p95 9.9ms  max 17ms`, or `n/a` without a healthy sample.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("p50", self.p50_ms),
            ("p95", self.p95_ms),
            ("max", self.max_ms),
        ]
        .into_iter()
        .filter_map(|(name, ms)| Some(format!("{name} {}", format_latency(ms?))))
        .collect();
        if parts.is_empty() {
            "n/a".into()
        } else {
            parts.join("  ")
        }
    }
}

/// Nearest-rank percentile of already sorted values.
pub fn percentile(sorted: &[f64], pct: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Values kept exactly before switching to the histogram.
const EXACT: usize = 4096;
/// Bucket growth factor: a percentile read from the histogram is within 0.5% of the truth.
const GROWTH: f64 = 1.005;

/// Collects latencies; percentiles are exact for the first [`EXACT`] values.
#[derive(Debug, Clone, Default)]
pub struct LatencyRecorder {
    exact: Vec<f64>,
    /// Counts per bucket of microseconds on a log scale (empty until needed).
    buckets: Vec<u32>,
    count: u64,
    max: f64,
}

fn bucket_of(ms: f64) -> usize {
    let us = (ms * 1000.0).max(1.0);
    (us.ln() / GROWTH.ln()) as usize
}

fn bucket_upper_ms(i: usize) -> f64 {
    GROWTH.powi(i as i32 + 1) / 1000.0
}

impl LatencyRecorder {
    /// Records one latency.
    pub fn record(&mut self, ms: f64) {
        self.count += 1;
        self.max = self.max.max(ms);
        if self.buckets.is_empty() && self.exact.len() < EXACT {
            self.exact.push(ms);
            return;
        }
        for v in std::mem::take(&mut self.exact) {
            self.bump(v);
        }
        self.bump(ms);
    }

    fn bump(&mut self, ms: f64) {
        let i = bucket_of(ms);
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] += 1;
    }

    /// Nearest-rank percentiles (exact, or the bucket's upper edge capped at the maximum).
    pub fn summary(&self) -> LatencySummary {
        if self.buckets.is_empty() {
            return LatencySummary::of(&self.exact);
        }
        let at = |pct: f64| {
            let rank = ((pct / 100.0) * self.count as f64).ceil().max(1.0) as u64;
            let mut seen = 0u64;
            self.buckets.iter().enumerate().find_map(|(i, n)| {
                seen += u64::from(*n);
                (seen >= rank).then(|| bucket_upper_ms(i).min(self.max))
            })
        };
        LatencySummary {
            p50_ms: at(50.0),
            p95_ms: at(95.0),
            p99_ms: at(99.0),
            max_ms: Some(self.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = LatencySummary::of(&v);
        assert_eq!(
            (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms),
            (Some(50.0), Some(95.0), Some(99.0), Some(100.0))
        );
        assert_eq!(LatencySummary::of(&[]).p50_ms, None);
    }

    #[test]
    fn latencies_read_at_their_scale() {
        let texts: Vec<String> = [0.42, 3.08, 250.4, 1200.0]
            .into_iter()
            .map(format_latency)
            .collect();
        assert_eq!(texts, ["0.42ms", "3.1ms", "250ms", "1.20s"]);
        let s = LatencySummary::of(&[1.0, 2.0, 30.0]);
        assert_eq!(s.describe(), "p50 2.0ms  p95 30ms  max 30ms");
        assert_eq!(LatencySummary::default().describe(), "n/a");
    }

    #[test]
    fn histogram_percentiles_within_half_a_percent() {
        let mut r = LatencyRecorder::default();
        let values: Vec<f64> = (1..=100_000).map(|i| f64::from(i) / 100.0).collect();
        for v in &values {
            r.record(*v);
        }
        let exact = LatencySummary::of(&values);
        let got = r.summary();
        for (a, b) in [
            (got.p50_ms, exact.p50_ms),
            (got.p95_ms, exact.p95_ms),
            (got.p99_ms, exact.p99_ms),
        ] {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!((a - b).abs() / b <= 0.005, "{a} vs {b}");
        }
        assert_eq!(got.max_ms, Some(1000.0));
    }
}
