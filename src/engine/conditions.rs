//! Conditions over what probes observed: "healthy for a stable window", "outage longer
//! than". They are checked when a probe's state changes and at the instant they could
//! next become true, never on every sample.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::clock::RunClock;
use super::sampling::ProbeLog;

/// Whether every probe is healthy for the stable window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stability {
    /// Every probe's current streak spans the window.
    Stable,
    /// Every probe is healthy; the last of them can be stable at this offset (ms).
    NotBefore(f64),
    /// Some probe is unhealthy or has not been observed: wait for a change.
    Unhealthy,
}

/// Checks that every log's current healthy streak spans at least `stable`, counting only
/// from `since_ms` (a streak older than that counts from `since_ms`, so the condition
/// needs fresh observations and cannot pass on a baseline taken before the wait began).
pub fn stability(logs: &[Arc<ProbeLog>], stable: Duration, since_ms: f64) -> Stability {
    let stable_ms = stable.as_secs_f64() * 1000.0;
    let mut latest: Option<f64> = None;
    for log in logs {
        let Some((first, last)) = log.read(|t| t.current_healthy_streak()) else {
            return Stability::Unhealthy;
        };
        let ready_at = first.max(since_ms) + stable_ms;
        if last < ready_at {
            latest = Some(latest.map_or(ready_at, |l: f64| l.max(ready_at)));
        }
    }
    match latest {
        None => Stability::Stable,
        Some(at) => Stability::NotBefore(at),
    }
}

/// Waits for a state change, or until `at_ms` on the run clock (re-checking `recheck`
/// later when that moment has already passed: observations settle a little after they
/// are dated).
pub async fn change_or_time(
    changes: &mut watch::Receiver<u64>,
    clock: &RunClock,
    at_ms: Option<f64>,
    recheck: Duration,
) {
    let sleep = async {
        match at_ms {
            None => std::future::pending::<()>().await,
            Some(at) => {
                let now = clock.now_ms();
                let wait = if at > now {
                    Duration::from_secs_f64((at - now) / 1000.0)
                } else {
                    recheck
                };
                tokio::time::sleep(wait).await
            }
        }
    };
    tokio::select! {
        r = changes.changed() => if r.is_err() { std::future::pending::<()>().await },
        _ = sleep => {}
    }
}

/// How often to look again at a condition whose moment has passed but whose
/// observations have not settled yet: the shortest probe interval, at least 5 ms.
pub fn recheck_period(intervals: impl Iterator<Item = Duration>) -> Duration {
    intervals
        .min()
        .unwrap_or(Duration::from_millis(100))
        .max(Duration::from_millis(5))
}

#[cfg(test)]
mod tests {
    use crate::measure::test_samples::{from_pattern, tracker_of};

    #[test]
    fn streaks_and_outages() {
        let t = tracker_of(&from_pattern("..xx...", 100.0));
        assert_eq!(t.current_healthy_streak(), Some((400.0, 600.0)));
        assert_eq!(t.current_outage_start(), None);
        let t = tracker_of(&from_pattern("..xx", 100.0));
        assert_eq!(t.current_outage_start(), Some(200.0));
        assert_eq!(t.current_healthy_streak(), None);
    }
}
