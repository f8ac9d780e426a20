//! Expectations → pass/fail, and the run's overall verdict.

use serde::{Deserialize, Serialize};

use crate::measure::{Measurements, Recovery};
use crate::scenario::expectation::{Expectation, Metric};

/// The run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every expectation held and every fault was reverted.
    Pass,
    /// An expectation did not hold (or a wait-until timed out).
    Fail,
    /// An abort condition or a signal stopped the run.
    Aborted,
    /// A fault could not be injected or a revert failed.
    Error,
}

/// One metric of one expectation, judged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExpectationResult {
    /// Probe name, or `None` for scenario-wide.
    pub probe: Option<String>,
    pub metric: Metric,
    /// The threshold as written (`>= 99%`).
    pub expected: String,
    /// The measured value in words (`98.50%`, `1.20s`, `never`, `no samples`).
    pub actual: String,
    pub passed: bool,
}

impl ExpectationResult {
    /// `api availability >= 99%`.
    pub fn name(&self) -> String {
        match &self.probe {
            Some(p) => format!("{p} {} {}", self.metric.key(), self.expected),
            None => format!("scenario {} {}", self.metric.key(), self.expected),
        }
    }
}

/// Measured value of `metric` as a number (ms or %) or a reason it has none.
fn value_of(metric: Metric, m: &Measurements) -> Result<f64, &'static str> {
    match metric {
        Metric::Availability => m.availability_pct.ok_or("no samples"),
        Metric::MaxOutage => Ok(m.longest_outage_ms),
        Metric::Recovery => recovery_value(m.recovery),
        Metric::TimeToDetect => m.time_to_detect_ms.ok_or("never detected"),
        Metric::LatencyP50 => m.latency.p50_ms.ok_or("no healthy samples"),
        Metric::LatencyP95 => m.latency.p95_ms.ok_or("no healthy samples"),
        Metric::LatencyP99 => m.latency.p99_ms.ok_or("no healthy samples"),
    }
}

fn recovery_value(r: Recovery) -> Result<f64, &'static str> {
    match r {
        Recovery::Recovered { after_ms } => Ok(after_ms),
        Recovery::Never => Err("never"),
        Recovery::NotApplicable => Err("no fault was healed"),
    }
}

fn judge_value(
    probe: Option<&str>,
    metric: Metric,
    exp: crate::scenario::expectation::Threshold,
    value: Result<f64, &str>,
) -> ExpectationResult {
    let (actual, passed) = match value {
        Ok(v) => {
            let text = if metric == Metric::Availability {
                format!("{v:.2}%")
            } else {
                crate::measure::format_ms(v)
            };
            (text, exp.op.holds(v, exp.value))
        }
        Err(why) => (why.to_string(), false),
    };
    ExpectationResult {
        probe: probe.map(String::from),
        metric,
        expected: exp.to_string(),
        actual,
        passed,
    }
}

/// Judges every expectation. `lookup` finds a probe's measurements by name.
pub fn judge<'a>(
    expectations: &[Expectation],
    lookup: impl Fn(&str) -> Option<&'a Measurements>,
    scenario_recovery: Recovery,
) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    for e in expectations {
        for (metric, threshold) in e.checks() {
            let result = match &e.probe {
                Some(p) => {
                    let value = lookup(p)
                        .ok_or("probe did not run")
                        .and_then(|m| value_of(metric, m));
                    judge_value(Some(p), metric, threshold, value)
                }
                None => judge_value(None, metric, threshold, recovery_value(scenario_recovery)),
            };
            out.push(result);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::test_samples::from_pattern;
    use crate::measure::{measure, FaultSpan};

    #[test]
    fn judges_each_metric() {
        let samples = from_pattern("....xx......", 100.0);
        let m = measure(
            &samples,
            FaultSpan {
                first_injected_ms: Some(350.0),
                last_healed_ms: Some(550.0),
            },
            std::time::Duration::from_millis(300),
        );
        let exp: Expectation = serde_yaml::from_str(
            "{probe: a, availability: '>= 90%', max-outage: '<= 250ms', recovery: '<= 100ms'}",
        )
        .unwrap();
        let r = judge(&[exp], |_| Some(&m), m.recovery);
        assert_eq!(r.len(), 3);
        assert!(!r[0].passed, "10/12 = 83% < 90%: {:?}", r[0]);
        assert!(r[1].passed, "{:?}", r[1]);
        assert!(
            r[2].passed,
            "recovered at 600 after heal at 550: {:?}",
            r[2]
        );
        assert_eq!(r[2].actual, "50ms");
    }
}
