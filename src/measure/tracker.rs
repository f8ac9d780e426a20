//! The online fold from dated observations to measurements. Observations must arrive in
//! date order (the engine's reorder buffer guarantees it); memory grows with the number
//! of state changes, never with the number of samples.

use super::latency::LatencyRecorder;
use super::outage::OutageWindow;
use super::recovery::{recovery_after, Streak};
use super::sample::Sample;
use super::{FaultSpan, Measurements, Recovery};

/// Reconstructed state of one probe's target.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    samples: u64,
    failed: u64,
    first_ms: Option<f64>,
    /// Date and health of the last observation applied.
    last: Option<(f64, bool)>,
    /// Time during which the latest observation was healthy.
    healthy_ms: f64,
    /// Gaps between a last healthy and a first unhealthy observation (state unknown).
    healthy_to_unhealthy_gap_ms: f64,
    /// Gaps between a last unhealthy and a first healthy observation (state unknown).
    unhealthy_to_healthy_gap_ms: f64,
    windows: Vec<OutageWindow>,
    streaks: Vec<Streak>,
    latency: LatencyRecorder,
}

impl Tracker {
    /// Applies one sample (dated by [`Sample::dated_ms`]).
    pub fn apply(&mut self, s: &Sample) {
        self.observe(s.dated_ms(), s.ok, s.start_ms, s.latency_ms);
    }

    /// Applies one observation at `at_ms`. `start_ms` and `latency_ms` are the sample's.
    pub fn observe(&mut self, at_ms: f64, ok: bool, start_ms: f64, latency_ms: f64) {
        self.samples += 1;
        self.first_ms.get_or_insert(at_ms);
        let previous = self.last.replace((at_ms, ok));
        if let Some((prev_ms, prev_ok)) = previous {
            if prev_ok {
                self.healthy_ms += at_ms - prev_ms;
            }
        }
        if ok {
            self.latency.record(latency_ms);
            self.healthy(at_ms, start_ms, previous);
        } else {
            self.failed += 1;
            self.unhealthy(at_ms, previous);
        }
    }

    fn healthy(&mut self, at_ms: f64, start_ms: f64, previous: Option<(f64, bool)>) {
        match previous {
            Some((prev_ms, false)) => {
                self.unhealthy_to_healthy_gap_ms += at_ms - prev_ms;
                if let Some(w) = self.windows.last_mut() {
                    w.close(at_ms);
                }
                self.streaks.push(Streak::new(at_ms, Some(prev_ms)));
            }
            Some((_, true)) => {
                if let Some(s) = self.streaks.last_mut() {
                    s.last_ms = at_ms;
                }
            }
            None => self.streaks.push(Streak::new(at_ms, None)),
        }
        if start_ms < at_ms {
            let i = self.windows.partition_point(|w| w.start_ms <= start_ms);
            if let Some(w) = i.checked_sub(1).map(|i| &mut self.windows[i]) {
                if w.observed_at(start_ms) {
                    w.slow_successes += 1;
                }
            }
        }
    }

    fn unhealthy(&mut self, at_ms: f64, previous: Option<(f64, bool)>) {
        match previous {
            Some((_, false)) => {
                if let Some(w) = self.windows.last_mut() {
                    w.extend(at_ms);
                }
            }
            Some((prev_ms, true)) => {
                self.healthy_to_unhealthy_gap_ms += at_ms - prev_ms;
                self.windows.push(OutageWindow::open(at_ms, Some(prev_ms)));
            }
            None => self.windows.push(OutageWindow::open(at_ms, None)),
        }
    }

    /// Start of the outage still going on, if the last observation was unhealthy.
    pub fn current_outage_start(&self) -> Option<f64> {
        match self.last {
            Some((_, false)) => self.windows.last().map(|w| w.start_ms),
            _ => None,
        }
    }

    /// (first, last) dates of the healthy streak going on, if the last observation was
    /// healthy.
    pub fn current_healthy_streak(&self) -> Option<(f64, f64)> {
        match self.last {
            Some((_, true)) => self.streaks.last().map(|s| (s.first_ms, s.last_ms)),
            _ => None,
        }
    }

    /// Recovery after a heal at `heal_ms` from what was observed so far.
    pub fn recovery_after(&self, heal_ms: f64, stable: std::time::Duration) -> Recovery {
        recovery_after(&self.streaks, heal_ms, stable)
    }

    /// Everything measured for this probe.
    pub fn measurements(&self, span: FaultSpan, stable: std::time::Duration) -> Measurements {
        // Sums of many small intervals drift in the last bits: a probe that was never
        // down must read exactly 100%, not 99.99999999999999%.
        let pct = |part: f64, whole: f64| {
            let share = (part / whole).clamp(0.0, 1.0);
            100.0 * (share * 1e12).round() / 1e12
        };
        let observed_ms = match (self.first_ms, self.last) {
            (Some(first), Some((last, _))) => last - first,
            _ => 0.0,
        };
        let availability = |healthy_ms: f64| match self.last {
            None => None,
            Some((_, ok)) if observed_ms <= 0.0 => Some(if ok { 100.0 } else { 0.0 }),
            Some(_) => Some(pct(healthy_ms, observed_ms)),
        };
        let longest = |f: fn(&OutageWindow) -> f64| self.windows.iter().map(f).fold(0.0, f64::max);
        let longest_outage_max_ms = if self.windows.iter().any(|w| w.end_ms.is_none()) {
            None
        } else {
            Some(longest(|w| w.length_max_ms.unwrap_or(w.length_ms)))
        };
        let time_to_detect_ms = span.first_injected_ms.and_then(|inj| {
            let w = self.windows.iter().find(|w| w.end_earliest_ms >= inj)?;
            Some((w.start_ms - inj).max(0.0))
        });
        Measurements {
            samples: self.samples,
            failed_samples: self.failed,
            sample_success_pct: (self.samples > 0)
                .then(|| pct((self.samples - self.failed) as f64, self.samples as f64)),
            availability_pct: availability(self.healthy_ms),
            availability_min_pct: availability(self.healthy_ms - self.healthy_to_unhealthy_gap_ms),
            availability_max_pct: availability(self.healthy_ms + self.unhealthy_to_healthy_gap_ms),
            observed_ms,
            first_observed_ms: self.first_ms,
            last_observed_ms: self.last.map(|(ms, _)| ms),
            outages: self.windows.clone(),
            longest_outage_ms: longest(|w| w.length_ms),
            longest_outage_min_ms: longest(|w| w.length_min_ms),
            longest_outage_max_ms,
            time_to_detect_ms,
            recovery: match span.last_healed_ms {
                Some(heal) => self.recovery_after(heal, stable),
                None => Recovery::NotApplicable,
            },
            latency: self.latency.summary(),
        }
    }
}
