//! Outage windows: maximal runs of unhealthy observations, with error bars on both ends.

use serde::{Deserialize, Serialize};

/// A stretch of time during which a probe observed its target unhealthy.
///
/// Observations are dated (healthy at the end of a sample, failed at its start), so the
/// true start lies between the last healthy observation and the first unhealthy one, and
/// the true end between the last unhealthy observation and the first healthy one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutageWindow {
    /// Date of the first unhealthy observation (ms since run start).
    pub start_ms: f64,
    /// Date of the last healthy observation before it (the earliest the outage can have
    /// begun); the first unhealthy date itself when nothing healthy came before.
    pub start_earliest_ms: f64,
    /// Date of the first healthy observation after it; `None` if the run ended while down.
    pub end_ms: Option<f64>,
    /// Date of the last unhealthy observation (the outage lasted at least until then).
    pub end_earliest_ms: f64,
    /// `end - start`, or last unhealthy − start when the outage never ended.
    pub length_ms: f64,
    /// Shortest the outage can have been: last unhealthy − first unhealthy.
    pub length_min_ms: f64,
    /// Longest it can have been: first healthy after − last healthy before; `None` when
    /// it never ended.
    pub length_max_ms: Option<f64>,
    /// Unhealthy observations inside it.
    pub failed_samples: u64,
    /// Healthy samples that started while it was being observed but were answered only
    /// after it (slow successes: the target answered late, not in time).
    pub slow_successes: u64,
}

impl OutageWindow {
    /// A window opened by an unhealthy observation at `at_ms`; `before_ms` is the last
    /// healthy observation, if any.
    pub(crate) fn open(at_ms: f64, before_ms: Option<f64>) -> Self {
        OutageWindow {
            start_ms: at_ms,
            start_earliest_ms: before_ms.unwrap_or(at_ms),
            end_ms: None,
            end_earliest_ms: at_ms,
            length_ms: 0.0,
            length_min_ms: 0.0,
            length_max_ms: None,
            failed_samples: 1,
            slow_successes: 0,
        }
    }

    /// Another unhealthy observation inside the window.
    pub(crate) fn extend(&mut self, at_ms: f64) {
        self.end_earliest_ms = at_ms;
        self.length_ms = at_ms - self.start_ms;
        self.length_min_ms = self.length_ms;
        self.failed_samples += 1;
    }

    /// The first healthy observation after the window, at `at_ms`.
    pub(crate) fn close(&mut self, at_ms: f64) {
        self.end_ms = Some(at_ms);
        self.length_ms = at_ms - self.start_ms;
        self.length_max_ms = Some(at_ms - self.start_earliest_ms);
    }

    /// True when a sample started at `start_ms` began while this outage was observed.
    pub(crate) fn observed_at(&self, start_ms: f64) -> bool {
        (self.start_ms..=self.end_earliest_ms).contains(&start_ms)
    }
}
