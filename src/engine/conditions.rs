//! Conditions over live samples: "healthy for a stable window" and "outage longer than".

use std::sync::Arc;
use std::time::Duration;

use super::sampling::ProbeLog;
use crate::report::Sample;

/// Start offset of the healthy streak that reaches the last sample, if the last is ok.
pub fn current_healthy_streak(samples: &[Sample]) -> Option<(f64, f64)> {
    let last = samples.last().filter(|s| s.ok)?;
    let start = samples
        .iter()
        .rev()
        .take_while(|s| s.ok)
        .last()
        .map(|s| s.offset_ms)?;
    Some((start, last.offset_ms))
}

/// Offset of the first failure of the outage still going on, if the last sample failed.
pub fn current_outage_start(samples: &[Sample]) -> Option<f64> {
    samples.last().filter(|s| !s.ok)?;
    samples
        .iter()
        .rev()
        .take_while(|s| !s.ok)
        .last()
        .map(|s| s.offset_ms)
}

/// True when every log's current healthy streak spans at least `stable`, counting only
/// from `since_ms` (a streak older than that counts from `since_ms`, so the condition
/// needs fresh samples and cannot pass on a baseline taken before the wait began).
pub fn all_stable(logs: &[Arc<ProbeLog>], stable: Duration, since_ms: f64) -> bool {
    let stable_ms = stable.as_secs_f64() * 1000.0;
    logs.iter().all(|log| {
        log.read(current_healthy_streak)
            .is_some_and(|(start, last)| last - start.max(since_ms) >= stable_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::test_samples::from_pattern;

    #[test]
    fn streaks_and_outages() {
        let s = from_pattern("..xx...", 100.0);
        assert_eq!(current_healthy_streak(&s), Some((400.0, 600.0)));
        assert_eq!(current_outage_start(&s), None);
        let s = from_pattern("..xx", 100.0);
        assert_eq!(current_outage_start(&s), Some(200.0));
        assert_eq!(current_healthy_streak(&s), None);
    }
}
