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
    /// The measured value in words (`98.50%`, `1.20s`, `never`, `no samples`), with its
    /// error bar when it has one (`1.20s (1.05s..1.30s)`).
    pub actual: String,
    pub passed: bool,
    /// The threshold falls inside the measured value's error bar: the expectation was
    /// judged on the conservative side (a `<=` against the upper bound, a `>=` against
    /// the lower one).
    #[serde(default)]
    pub within_uncertainty: bool,
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

/// A measured value with the range the truth lies in.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measured {
    value: f64,
    low: f64,
    /// `INFINITY` when unbounded (an outage still going on at the end).
    high: f64,
}

impl Measured {
    fn exact(v: f64) -> Self {
        Measured {
            value: v,
            low: v,
            high: v,
        }
    }
}

/// Measured value of `metric` (ms or %) with its bounds, or a reason it has none.
fn value_of(metric: Metric, m: &Measurements) -> Result<Measured, &'static str> {
    match metric {
        Metric::Availability => Ok(Measured {
            value: m.availability_pct.ok_or("no samples")?,
            low: m.availability_min_pct.ok_or("no samples")?,
            high: m.availability_max_pct.ok_or("no samples")?,
        }),
        Metric::MaxOutage => Ok(Measured {
            value: m.longest_outage_ms,
            low: m.longest_outage_min_ms,
            high: m.longest_outage_max_ms.unwrap_or(f64::INFINITY),
        }),
        Metric::Recovery => recovery_value(m.recovery),
        Metric::TimeToDetect => m
            .time_to_detect_ms
            .map(Measured::exact)
            .ok_or("never detected"),
        Metric::LatencyP50 => m
            .latency
            .p50_ms
            .map(Measured::exact)
            .ok_or("no healthy samples"),
        Metric::LatencyP95 => m
            .latency
            .p95_ms
            .map(Measured::exact)
            .ok_or("no healthy samples"),
        Metric::LatencyP99 => m
            .latency
            .p99_ms
            .map(Measured::exact)
            .ok_or("no healthy samples"),
    }
}

fn recovery_value(r: Recovery) -> Result<Measured, &'static str> {
    match r {
        Recovery::Recovered {
            after_ms,
            after_min_ms,
        } => Ok(Measured {
            value: after_ms,
            low: after_min_ms,
            high: after_ms,
        }),
        Recovery::Never => Err("never"),
        Recovery::NotApplicable => Err("no fault was healed"),
    }
}

fn describe(metric: Metric, m: Measured) -> String {
    let text = |v: f64| {
        if !v.is_finite() {
            "still down at the end".to_string()
        } else if metric == Metric::Availability {
            format!("{v:.2}%")
        } else {
            crate::measure::format_ms(v)
        }
    };
    if m.low == m.high {
        text(m.value)
    } else {
        format!("{} ({}..{})", text(m.value), text(m.low), text(m.high))
    }
}

fn judge_value(
    probe: Option<&str>,
    metric: Metric,
    exp: crate::scenario::expectation::Threshold,
    value: Result<Measured, &str>,
) -> ExpectationResult {
    let (actual, passed, within_uncertainty) = match value {
        Ok(m) => {
            let (low, high) = (
                exp.op.holds(m.low, exp.value),
                exp.op.holds(m.high, exp.value),
            );
            (describe(metric, m), low && high, low != high)
        }
        Err(why) => (why.to_string(), false, false),
    };
    ExpectationResult {
        probe: probe.map(String::from),
        metric,
        expected: exp.to_string(),
        actual,
        passed,
        within_uncertainty,
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

    fn judged(expectation: &str) -> Vec<ExpectationResult> {
        let samples = from_pattern("....xx......", 100.0);
        let m = measure(
            &samples,
            FaultSpan {
                first_injected_ms: Some(350.0),
                last_healed_ms: Some(550.0),
            },
            std::time::Duration::from_millis(300),
        );
        let exp: Expectation = serde_yaml::from_str(expectation).unwrap();
        judge(&[exp], |_| Some(&m), m.recovery)
    }

    #[test]
    fn judges_each_metric() {
        // Outage observed from 400 to 600 (at least 100 ms: 400..500, at most 300 ms:
        // 300..600); availability by time 900 of 1100 ms.
        let r = judged(
            "{probe: a, availability: '>= 90%', max-outage: '<= 350ms', recovery: '<= 100ms'}",
        );
        assert_eq!(r.len(), 3);
        assert!(!r[0].passed, "81.8% < 90%: {:?}", r[0]);
        assert!(r[1].passed && !r[1].within_uncertainty, "{:?}", r[1]);
        assert_eq!(r[1].actual, "200ms (100ms..300ms)");
        assert!(
            r[2].passed,
            "recovered at 600 after heal at 550: {:?}",
            r[2]
        );
        assert_eq!(r[2].actual, "50ms (0ms..50ms)");
    }

    #[test]
    fn a_threshold_inside_the_error_bar_is_judged_conservatively() {
        let r = judged("{probe: a, max-outage: '<= 250ms'}");
        assert!(
            !r[0].passed,
            "the upper bound 300ms is over 250ms: {:?}",
            r[0]
        );
        assert!(r[0].within_uncertainty);
        let r = judged("{probe: a, max-outage: '> 250ms'}");
        assert!(!r[0].passed && r[0].within_uncertainty, "{:?}", r[0]);
        let r = judged("{probe: a, max-outage: '> 50ms'}");
        assert!(r[0].passed && !r[0].within_uncertainty, "{:?}", r[0]);
    }
}
