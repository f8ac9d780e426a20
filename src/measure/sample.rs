//! One sample: when it started and ended, what it found, and the instant it is dated by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which end of a sample dates its observation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Dating {
    /// A healthy answer shows the target healthy when it arrived.
    End,
    /// A failure (timeout, refusal, bad answer) shows the request sent at the start was
    /// not served.
    Start,
}

/// One observation by a probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Wall clock when the sample started.
    pub at: DateTime<Utc>,
    /// Milliseconds since the run started (monotonic clock) when the sample started.
    pub start_ms: f64,
    /// Milliseconds since the run started when the sample ended (answer, error or timeout).
    pub end_ms: f64,
    /// `end` for healthy samples, `start` for failed ones.
    pub dated_by: Dating,
    pub ok: bool,
    /// `end_ms - start_ms`.
    pub latency_ms: f64,
    /// Short error text for failed samples.
    pub error: Option<String>,
    /// Probe-specific observation (leader id, replica counts ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Sample {
    /// A finished sample, dated by the rule: healthy at its end, failed at its start.
    pub fn new(
        at: DateTime<Utc>,
        start_ms: f64,
        end_ms: f64,
        result: Result<Option<serde_json::Value>, String>,
    ) -> Self {
        let (ok, error, detail) = match result {
            Ok(detail) => (true, None, detail),
            Err(e) => (false, Some(e), None),
        };
        Sample {
            at,
            start_ms,
            end_ms,
            dated_by: if ok { Dating::End } else { Dating::Start },
            ok,
            latency_ms: end_ms - start_ms,
            error,
            detail,
        }
    }

    /// The instant this sample observed the target (ms since the run started).
    pub fn dated_ms(&self) -> f64 {
        match self.dated_by {
            Dating::End => self.end_ms,
            Dating::Start => self.start_ms,
        }
    }
}

/// Orders samples by the instant they are dated by (stable for equal dates).
pub fn sort_by_date(samples: &mut [Sample]) {
    samples.sort_by(|a, b| a.dated_ms().total_cmp(&b.dated_ms()));
}
