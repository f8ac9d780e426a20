//! From samples to numbers: availability, outage windows, time to detect, recovery time
//! and latency percentiles. Pure functions over the samples of one probe.

mod latency;
mod outage;
mod recovery;

pub use latency::{percentile, LatencySummary};
pub use outage::{outage_windows, OutageWindow};
pub use recovery::{format_ms, recovery_after, Recovery};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::report::Sample;

/// Everything measured for one probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measurements {
    pub samples: usize,
    pub failed_samples: usize,
    /// Percentage of samples that were healthy (100 when there are no samples is NOT
    /// assumed: it is `None`).
    pub availability_pct: Option<f64>,
    pub outages: Vec<OutageWindow>,
    pub longest_outage_ms: f64,
    /// First fault injection → first failed sample at or after it.
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

/// Measures one probe's samples (ordered by offset).
pub fn measure(samples: &[Sample], span: FaultSpan, stable_window: Duration) -> Measurements {
    let outages = outage_windows(samples);
    let failed = samples.iter().filter(|s| !s.ok).count();
    let availability_pct = (!samples.is_empty())
        .then(|| 100.0 * (samples.len() - failed) as f64 / samples.len() as f64);
    let longest_outage_ms = outages.iter().map(|o| o.length_ms).fold(0.0, f64::max);
    let time_to_detect_ms = span.first_injected_ms.and_then(|start| {
        samples
            .iter()
            .find(|s| !s.ok && s.offset_ms >= start)
            .map(|s| s.offset_ms - start)
    });
    let recovery = match span.last_healed_ms {
        Some(heal) => recovery_after(samples, heal, stable_window),
        None => Recovery::NotApplicable,
    };
    let latencies: Vec<f64> = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.latency_ms)
        .collect();
    Measurements {
        samples: samples.len(),
        failed_samples: failed,
        availability_pct,
        outages,
        longest_outage_ms,
        time_to_detect_ms,
        recovery,
        latency: LatencySummary::of(&latencies),
    }
}

#[cfg(test)]
pub(crate) mod test_samples {
    use chrono::Utc;

    use crate::report::Sample;

    /// Samples at `step_ms` spacing; `pattern` has one char per sample: `.` ok, `x` fail.
    pub fn from_pattern(pattern: &str, step_ms: f64) -> Vec<Sample> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| Sample {
                at: Utc::now(),
                offset_ms: i as f64 * step_ms,
                ok: c == '.',
                latency_ms: 1.0 + i as f64,
                error: (c != '.').then(|| "down".to_string()),
                detail: None,
            })
            .collect()
    }
}
