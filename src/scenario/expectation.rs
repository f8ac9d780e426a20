//! Expectations (`availability: ">= 99%"`) and abort conditions (`outage: "> 60s"`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
}

impl Op {
    /// `actual OP bound`.
    pub fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Op::Le => actual <= bound,
            Op::Lt => actual < bound,
            Op::Ge => actual >= bound,
            Op::Gt => actual > bound,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }
}

/// What a threshold's number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    Percent,
    Millis,
}

/// `>= 99%` or `<= 5s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub op: Op,
    pub value: f64,
    pub unit: Unit,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Unit::Percent => write!(f, "{} {}%", self.op.symbol(), self.value),
            Unit::Millis => write!(
                f,
                "{} {}",
                self.op.symbol(),
                humantime::format_duration(std::time::Duration::from_secs_f64(self.value / 1000.0))
            ),
        }
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .iter()
            .find_map(|(sym, op)| t.strip_prefix(sym).map(|r| (*op, r.trim())))
            .ok_or_else(|| format!("`{s}` needs a comparison first, like `>= 99%` or `<= 5s`"))?;
        if let Some(pct) = rest.strip_suffix('%') {
            let value: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("`{s}`: `{pct}` is not a number of percent"))?;
            if !(0.0..=100.0).contains(&value) {
                return Err(format!("`{s}`: a percentage must be between 0 and 100"));
            }
            return Ok(Threshold {
                op,
                value,
                unit: Unit::Percent,
            });
        }
        let d: super::duration::HumanDuration = rest.parse().map_err(|e| format!("`{s}`: {e}"))?;
        Ok(Threshold {
            op,
            value: d.get().as_secs_f64() * 1000.0,
            unit: Unit::Millis,
        })
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One `expect:` entry. Without `probe` it is scenario-wide (only `recovery` applies).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Expectation {
    #[serde(default)]
    pub probe: Option<String>,
    #[serde(default)]
    pub availability: Option<Threshold>,
    #[serde(default)]
    pub max_outage: Option<Threshold>,
    #[serde(default)]
    pub recovery: Option<Threshold>,
    #[serde(default)]
    pub time_to_detect: Option<Threshold>,
    #[serde(default)]
    pub latency_p50: Option<Threshold>,
    #[serde(default)]
    pub latency_p95: Option<Threshold>,
    #[serde(default)]
    pub latency_p99: Option<Threshold>,
}

/// A metric an expectation can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    Availability,
    MaxOutage,
    Recovery,
    TimeToDetect,
    LatencyP50,
    LatencyP95,
    LatencyP99,
}

impl Metric {
    /// The YAML key.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Availability => "availability",
            Metric::MaxOutage => "max-outage",
            Metric::Recovery => "recovery",
            Metric::TimeToDetect => "time-to-detect",
            Metric::LatencyP50 => "latency-p50",
            Metric::LatencyP95 => "latency-p95",
            Metric::LatencyP99 => "latency-p99",
        }
    }

    /// The unit thresholds for this metric must use.
    pub fn unit(self) -> Unit {
        if self == Metric::Availability {
            Unit::Percent
        } else {
            Unit::Millis
        }
    }
}

impl Expectation {
    /// The metrics this entry sets, in a fixed order.
    pub fn checks(&self) -> Vec<(Metric, Threshold)> {
        [
            (Metric::Availability, self.availability),
            (Metric::MaxOutage, self.max_outage),
            (Metric::Recovery, self.recovery),
            (Metric::TimeToDetect, self.time_to_detect),
            (Metric::LatencyP50, self.latency_p50),
            (Metric::LatencyP95, self.latency_p95),
            (Metric::LatencyP99, self.latency_p99),
        ]
        .into_iter()
        .filter_map(|(m, t)| t.map(|t| (m, t)))
        .collect()
    }
}

/// `abort-if: [{ probe: api, outage: "> 60s" }]`: revert at once and mark the run aborted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AbortCondition {
    pub probe: String,
    /// Current outage of the probe compared with this threshold.
    pub outage: Threshold,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thresholds() {
        let t: Threshold = ">= 99.5%".parse().unwrap();
        assert_eq!((t.op, t.value, t.unit), (Op::Ge, 99.5, Unit::Percent));
        let t: Threshold = "<= 5s".parse().unwrap();
        assert_eq!((t.op, t.value, t.unit), (Op::Le, 5000.0, Unit::Millis));
        assert!("99%"
            .parse::<Threshold>()
            .unwrap_err()
            .contains("comparison"));
        assert!(">= 120%".parse::<Threshold>().is_err());
    }
}
