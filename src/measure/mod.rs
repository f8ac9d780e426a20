//! From samples to numbers: availability, outage windows with error bars, time to detect,
//! recovery time and latency percentiles.
//!
//! Every sample is an observation dated where it observed the target: a healthy answer at
//! its end, a failure at its start ([`Sample::dated_ms`]). [`Tracker`] folds observations
//! in date order; it keeps state changes, not samples.

mod latency;
mod outage;
mod recovery;
mod sample;
mod tracker;

pub use latency::{format_latency, percentile, LatencyRecorder, LatencySummary};
pub use outage::OutageWindow;
pub use recovery::{format_ms, recovery_after, Recovery, Streak};
pub use sample::{sort_by_date, Dating, Sample};
pub use tracker::Tracker;

use serde::{Deserialize, Serialize};

/// Everything measured for one probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measurements {
    pub samples: u64,
    pub failed_samples: u64,
    /// Percentage of samples that were healthy (per sample, not per unit of time).
    pub sample_success_pct: Option<f64>,
    /// Percentage of the observed time during which the target was healthy: each
    /// observation holds until the next one. `None` without samples.
    pub availability_pct: Option<f64>,
    /// Availability if every gap between a healthy and an unhealthy observation was down.
    pub availability_min_pct: Option<f64>,
    /// Availability if every such gap was up.
    pub availability_max_pct: Option<f64>,
    /// From the first to the last observation, in milliseconds.
    pub observed_ms: f64,
    /// Date of the first observation.
    #[serde(default)]
    pub first_observed_ms: Option<f64>,
    /// Date of the last observation.
    #[serde(default)]
    pub last_observed_ms: Option<f64>,
    pub outages: Vec<OutageWindow>,
    pub longest_outage_ms: f64,
    /// The longest outage was at least this long.
    pub longest_outage_min_ms: f64,
    /// ... and at most this long; `None` when an outage was still going on at the end.
    pub longest_outage_max_ms: Option<f64>,
    /// First fault injection → first unhealthy observation at or after it.
    pub time_to_detect_ms: Option<f64>,
    /// Last heal → start of the first healthy streak lasting the stable window.
    pub recovery: Recovery,
    pub latency: LatencySummary,
}

/// When faults were injected and healed, in milliseconds since the run started.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultSpan {
    pub first_injected_ms: Option<f64>,
    pub last_healed_ms: Option<f64>,
}

/// Measures samples given in any order (a convenience over [`Tracker`]).
pub fn measure(
    samples: &[Sample],
    span: FaultSpan,
    stable_window: std::time::Duration,
) -> Measurements {
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by(|a, b| a.dated_ms().total_cmp(&b.dated_ms()));
    let mut t = Tracker::default();
    for s in sorted {
        t.apply(s);
    }
    t.measurements(span, stable_window)
}

#[cfg(test)]
pub(crate) mod test_samples {
    use chrono::Utc;

    use super::{Sample, Tracker};

    /// Samples dated `step_ms` apart; `pattern` has one char per sample: `.` ok, `x` fail.
    /// Each takes 1 ms (a healthy one ends at its date, a failed one starts at it).
    pub fn from_pattern(pattern: &str, step_ms: f64) -> Vec<Sample> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let at = i as f64 * step_ms;
                if c == '.' {
                    Sample::new(Utc::now(), at - 1.0, at, Ok(None))
                } else {
                    Sample::new(Utc::now(), at, at + 1.0, Err("down".into()))
                }
            })
            .collect()
    }

    /// A tracker fed with `samples` in their order.
    pub fn tracker_of(samples: &[Sample]) -> Tracker {
        let mut t = Tracker::default();
        for s in samples {
            t.apply(s);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use super::test_samples::from_pattern;
    use super::*;

    #[test]
    fn windows_carry_error_bars() {
        let m = measure(
            &from_pattern("..xxx..x.xx", 100.0),
            FaultSpan::default(),
            Duration::from_millis(200),
        );
        let w = &m.outages;
        assert_eq!(w.len(), 3);
        assert_eq!(
            (
                w[0].start_earliest_ms,
                w[0].start_ms,
                w[0].end_earliest_ms,
                w[0].end_ms
            ),
            (100.0, 200.0, 400.0, Some(500.0))
        );
        assert_eq!(
            (w[0].length_ms, w[0].length_min_ms, w[0].length_max_ms),
            (300.0, 200.0, Some(400.0))
        );
        assert_eq!((w[1].start_ms, w[1].end_ms), (700.0, Some(800.0)));
        assert_eq!(
            (w[2].start_ms, w[2].end_ms, w[2].length_ms),
            (900.0, None, 100.0)
        );
        assert_eq!(m.longest_outage_ms, 300.0);
        assert_eq!(m.longest_outage_min_ms, 200.0);
        assert_eq!(m.longest_outage_max_ms, None, "the last outage never ended");
    }

    #[test]
    fn availability_is_by_time_not_by_sample() {
        // Healthy every 100 ms for 2 s, then ONE failed sample that hung 1 s, then healthy.
        let mut s: Vec<Sample> = (1..=20)
            .map(|i| {
                Sample::new(
                    Utc::now(),
                    i as f64 * 100.0 - 1.0,
                    i as f64 * 100.0,
                    Ok(None),
                )
            })
            .collect();
        s.push(Sample::new(
            Utc::now(),
            2050.0,
            3050.0,
            Err("timed out".into()),
        ));
        s.extend((31..=40).map(|i| {
            Sample::new(
                Utc::now(),
                i as f64 * 100.0 - 1.0,
                i as f64 * 100.0,
                Ok(None),
            )
        }));
        let m = measure(&s, FaultSpan::default(), Duration::from_secs(1));
        // Observed from 100 to 4000; down from 2050 to 3100 (1050 ms of 3900).
        let a = m.availability_pct.unwrap();
        assert!((a - 100.0 * (1.0 - 1050.0 / 3900.0)).abs() < 1e-9, "{a}");
        assert!(m.availability_min_pct.unwrap() < a && a < m.availability_max_pct.unwrap());
        assert!((m.sample_success_pct.unwrap() - 100.0 * 30.0 / 31.0).abs() < 1e-9);
    }

    #[test]
    fn never_down_is_exactly_one_hundred_percent() {
        // Dates that are not exact in binary: the healthy time is a sum of 10,000 of them.
        let s: Vec<Sample> = (1..=10_000)
            .map(|i| {
                let at = i as f64 * 0.1 + 0.07;
                Sample::new(Utc::now(), at - 0.01, at, Ok(None))
            })
            .collect();
        let m = measure(&s, FaultSpan::default(), Duration::from_secs(1));
        assert_eq!(m.availability_pct, Some(100.0));
        assert_eq!(m.availability_min_pct, Some(100.0));
    }

    #[test]
    fn slow_successes_inside_an_outage_are_counted() {
        let mut s = from_pattern("..xxxx....", 100.0);
        // Started at 250 (inside the outage) and answered at 950, after it.
        s.push(Sample::new(Utc::now(), 250.0, 950.0, Ok(None)));
        let m = measure(&s, FaultSpan::default(), Duration::from_millis(100));
        assert_eq!(m.outages.len(), 1);
        assert_eq!(m.outages[0].slow_successes, 1);
        assert_eq!(m.outages[0].end_ms, Some(600.0));
    }

    #[test]
    fn failures_are_dated_at_their_start_and_successes_at_their_end() {
        // A success that started before the cut but was answered after a failure that
        // started later: ordered by their dates, not their starts.
        let s = vec![
            Sample::new(Utc::now(), 0.0, 10.0, Ok(None)),
            Sample::new(Utc::now(), 100.0, 1500.0, Ok(None)),
            Sample::new(Utc::now(), 200.0, 1200.0, Err("timed out".into())),
            Sample::new(Utc::now(), 1300.0, 1301.0, Ok(None)),
        ];
        let m = measure(&s, FaultSpan::default(), Duration::from_millis(100));
        let w = &m.outages[0];
        assert_eq!((w.start_earliest_ms, w.start_ms), (10.0, 200.0));
        assert_eq!((w.end_earliest_ms, w.end_ms), (200.0, Some(1301.0)));
    }

    #[test]
    fn time_to_detect_counts_from_the_first_injection() {
        let m = measure(
            &from_pattern("....xx....", 100.0),
            FaultSpan {
                first_injected_ms: Some(250.0),
                last_healed_ms: Some(550.0),
            },
            Duration::from_millis(200),
        );
        assert_eq!(m.time_to_detect_ms, Some(150.0));
        assert_eq!(
            m.recovery,
            Recovery::Recovered {
                after_ms: 50.0,
                after_min_ms: 0.0
            }
        );
    }
}
