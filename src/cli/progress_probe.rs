//! One probe's line in the terminal live view: its light, availability so far (the
//! engine's own fold, so it reads as the final summary will) and the latency of its
//! recent healthy samples.

use std::collections::VecDeque;
use std::time::Duration;

use crate::measure::{format_latency, FaultSpan, LatencySummary, Sample, Tracker};

/// Healthy samples whose latency the live percentiles cover.
const RECENT: usize = 50;

/// What the live view knows of one probe.
#[derive(Debug, Default)]
pub(super) struct ProbeLine {
    tracker: Tracker,
    /// The latest sample's health (`None` before the first one).
    ok: Option<bool>,
    /// Latencies of the latest healthy samples, oldest first.
    recent: VecDeque<f64>,
}

impl ProbeLine {
    /// Folds one sample in (samples arrive in date order).
    pub(super) fn observe(&mut self, s: &Sample) {
        self.tracker.apply(s);
        self.ok = Some(s.ok);
        if s.ok {
            self.recent.push_back(s.latency_ms);
            if self.recent.len() > RECENT {
                self.recent.pop_front();
            }
        }
    }

    /// `● NAME  99.50%  last 3.1ms  p50 2.9ms  p95 9.9ms  max 12ms (last 50 healthy)`,
    /// the light green, red, or hollow before the first sample.
    pub(super) fn render(&self, name: &str) -> String {
        let light = match self.ok {
            Some(true) => "\x1b[32m●\x1b[0m",
            Some(false) => "\x1b[31m●\x1b[0m",
            None => "○",
        };
        let Some(last) = self.recent.back() else {
            return format!("{light} {name}");
        };
        // No fault span: availability is over everything seen so far.
        let availability = self
            .tracker
            .measurements(FaultSpan::default(), Duration::ZERO)
            .availability_pct
            .map_or_else(|| "n/a".into(), |p| format!("{p:.2}%"));
        let recent: Vec<f64> = self.recent.iter().copied().collect();
        format!(
            "{light} {name}  {availability}  last {}  {} (last {} healthy)",
            format_latency(*last),
            LatencySummary::of(&recent).describe(),
            recent.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start_ms: f64, latency_ms: f64, ok: bool) -> Sample {
        let result = if ok { Ok(None) } else { Err("down".into()) };
        Sample::new(chrono::Utc::now(), start_ms, start_ms + latency_ms, result)
    }

    #[test]
    fn shows_availability_and_the_latency_of_recent_healthy_samples() {
        let mut p = ProbeLine::default();
        assert_eq!(p.render("tcp"), "○ tcp");
        // 60 healthy samples of 1..=60 ms, then one failure.
        for i in 1..=60 {
            p.observe(&sample(f64::from(i) * 100.0, f64::from(i), true));
        }
        let line = p.render("tcp");
        assert!(line.contains("tcp  100.00%  last 60ms"), "{line}");
        // Only the latest 50 (11..=60 ms) count: p50 is the 25th of them.
        assert!(
            line.contains("p50 35ms  p95 58ms  max 60ms (last 50 healthy)"),
            "{line}"
        );
        // Down from 6200 ms (dated at their start) until 7200 ms: 6099 of 7099 ms up.
        p.observe(&sample(6200.0, 5.0, false));
        p.observe(&sample(7200.0, 5.0, false));
        let line = p.render("tcp");
        assert!(line.starts_with("\x1b[31m●"), "red after a failure: {line}");
        assert!(
            line.contains("tcp  85.91%  last 60ms"),
            "availability by time; the last healthy latency stays: {line}"
        );
    }
}
