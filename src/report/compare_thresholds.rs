//! The metrics `kubedrill compare` compares and how far each may get worse before it is a
//! regression: `--max-regression recovery=+20%,max-outage=+1s,availability=-0.5pp`.
//!
//! Each entry names a metric and a limit: relative (`+20%` of the baseline), absolute
//! (`+1s`, `+500ms` for times, `-0.5pp` percentage points for availability, `+1` for the
//! outage count) or `off`. A metric regresses when it got worse by more than every limit it
//! has (so `recovery=+20%,recovery=+1s` needs both: the absolute one is a noise floor).
//! The entries given for a metric replace its defaults; metrics not named keep theirs.

use crate::measure::format_ms;

/// A compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareMetric {
    /// Availability by time, in percent (higher is better).
    Availability,
    /// The longest outage, in milliseconds.
    MaxOutage,
    /// Recovery after the last heal, in milliseconds (`never` is worse than any time).
    Recovery,
    /// First injection → first unhealthy observation, in milliseconds.
    TimeToDetect,
    /// Number of outage windows.
    Outages,
}

impl CompareMetric {
    /// Every metric, in the order reports list them.
    pub const ALL: [CompareMetric; 5] = [
        CompareMetric::Availability,
        CompareMetric::MaxOutage,
        CompareMetric::Recovery,
        CompareMetric::TimeToDetect,
        CompareMetric::Outages,
    ];

    /// The name used in `--max-regression` and in the reports.
    pub fn key(self) -> &'static str {
        match self {
            CompareMetric::Availability => "availability",
            CompareMetric::MaxOutage => "max-outage",
            CompareMetric::Recovery => "recovery",
            CompareMetric::TimeToDetect => "time-to-detect",
            CompareMetric::Outages => "outages",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "longest-outage" => Some(CompareMetric::MaxOutage),
            k => Self::ALL.into_iter().find(|m| m.key() == k),
        }
    }

    /// Availability gets worse going down; every other metric going up.
    pub fn higher_is_better(self) -> bool {
        self == CompareMetric::Availability
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }

    /// Changes smaller than this are not shown by the reports, so they count as none:
    /// half of the last digit shown.
    pub fn resolution(self) -> f64 {
        match self {
            CompareMetric::Availability => 0.005,
            _ => 0.5,
        }
    }

    /// A value of this metric in words: `99.50%`, `1.20s`, `3`.
    pub fn value_text(self, v: f64) -> String {
        match self {
            CompareMetric::Availability => format!("{v:.2}%"),
            CompareMetric::Outages => format!("{v:.0}"),
            _ => format_ms(v),
        }
    }

    /// A change of this metric in words: `-0.50pp`, `+1.20s`, `+2`.
    pub fn delta_text(self, d: f64) -> String {
        let sign = if d < 0.0 { "-" } else { "+" };
        let a = d.abs();
        match self {
            CompareMetric::Availability => format!("{sign}{a:.2}pp"),
            CompareMetric::Outages => format!("{sign}{a:.0}"),
            _ => format!("{sign}{}", format_ms(a)),
        }
    }
}

/// How far a metric may get worse: relative to the baseline (percent) and/or absolute (ms,
/// percentage points or a count). Neither: never a regression.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limit {
    pub relative_pct: Option<f64>,
    pub absolute: Option<f64>,
}

impl Limit {
    /// Whether getting worse by `worse_by` (positive: worse) from `baseline` passes every
    /// limit set.
    pub fn exceeded(&self, baseline: f64, worse_by: f64) -> bool {
        if worse_by <= 0.0 || (self.relative_pct.is_none() && self.absolute.is_none()) {
            return false;
        }
        let rel = self
            .relative_pct
            .is_none_or(|r| worse_by > baseline.abs() * r / 100.0);
        let abs = self.absolute.is_none_or(|a| worse_by > a);
        rel && abs
    }

    /// `+20% and +1.00s`, `-0.50pp`, `off`.
    pub fn describe(&self, m: CompareMetric) -> String {
        let sign = if m.higher_is_better() { "-" } else { "+" };
        let parts: Vec<String> = self
            .relative_pct
            .map(|r| format!("{sign}{r}%"))
            .into_iter()
            .chain(self.absolute.map(|a| {
                let text = m.delta_text(a);
                format!("{sign}{}", &text[1..])
            }))
            .collect();
        if parts.is_empty() {
            "off".into()
        } else {
            parts.join(" and ")
        }
    }
}

/// The limit of every metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    limits: [Limit; 5],
}

/// The defaults, as `--max-regression` would write them (README: Nightly CI).
pub const DEFAULT_THRESHOLDS: &str = "availability=-0.5pp,max-outage=+20%,max-outage=+1s,recovery=+20%,recovery=+1s,time-to-detect=+1s,outages=+1";

impl Default for Thresholds {
    fn default() -> Self {
        let ms = |rel: Option<f64>, abs: f64| Limit {
            relative_pct: rel,
            absolute: Some(abs),
        };
        Thresholds {
            limits: [
                ms(None, 0.5),
                ms(Some(20.0), 1000.0),
                ms(Some(20.0), 1000.0),
                ms(None, 1000.0),
                ms(None, 1.0),
            ],
        }
    }
}

impl Thresholds {
    /// The limit of `m`.
    pub fn get(&self, m: CompareMetric) -> Limit {
        self.limits[m.index()]
    }

    /// The defaults with the entries of `spec` (`metric=limit,...`) applied.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut t = Thresholds::default();
        let mut named = [false; 5];
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}`: expected METRIC=LIMIT, e.g. recovery=+20%"))?;
            let m = CompareMetric::from_key(key.trim()).ok_or_else(|| {
                format!(
                    "`{entry}`: unknown metric `{}` (one of: {})",
                    key.trim(),
                    CompareMetric::ALL.map(|m| m.key()).join(", ")
                )
            })?;
            let limit = &mut t.limits[m.index()];
            if !std::mem::replace(&mut named[m.index()], true) {
                *limit = Limit::default();
            }
            apply(m, value.trim(), limit).map_err(|e| format!("`{entry}`: {e}"))?;
        }
        Ok(t)
    }

    /// Every metric's limit in words: `availability -0.5pp, max-outage +20% and +1.00s, ...`.
    pub fn describe(&self) -> String {
        CompareMetric::ALL
            .map(|m| format!("{} {}", m.key(), self.get(m).describe(m)))
            .join(", ")
    }
}

/// Sets the relative or absolute part of `limit` from one value (`+20%`, `+1s`, `-0.5pp`,
/// `+2`, `off`).
fn apply(m: CompareMetric, value: &str, limit: &mut Limit) -> Result<(), String> {
    if value == "off" {
        *limit = Limit::default();
        return Ok(());
    }
    let worse = if m.higher_is_better() { '-' } else { '+' };
    let body = match value.chars().next() {
        Some(c) if c == worse => &value[1..],
        Some(c @ ('+' | '-')) => {
            return Err(format!(
                "{} gets worse going {}: write {worse}{} (`{c}` would be an improvement)",
                m.key(),
                if m.higher_is_better() { "down" } else { "up" },
                &value[1..]
            ))
        }
        _ => value,
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("`{value}` is not a number with a unit"))?;
    match (m, unit) {
        (CompareMetric::Availability, "pp") | (CompareMetric::Outages, "") => {
            limit.absolute = Some(n)
        }
        (CompareMetric::Availability, "%") => {
            return Err(
                "availability is a percentage already: give percentage points, e.g. -0.5pp".into(),
            )
        }
        (CompareMetric::Availability, _) => {
            return Err("use pp (percentage points), e.g. -0.5pp".into())
        }
        (_, "%") => limit.relative_pct = Some(n),
        (CompareMetric::Outages, _) => {
            return Err("give a count (+1) or a percentage (+50%)".into())
        }
        (_, "ms") => limit.absolute = Some(n),
        (_, "s") => limit.absolute = Some(n * 1000.0),
        (_, "m") => limit.absolute = Some(n * 60_000.0),
        (_, _) => return Err("give a time (+500ms, +1s, +2m) or a percentage (+20%)".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CompareMetric as M, Limit, Thresholds, DEFAULT_THRESHOLDS};

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        assert_eq!(
            Thresholds::parse(DEFAULT_THRESHOLDS).unwrap(),
            Thresholds::default()
        );
        assert_eq!(
            Thresholds::default().describe(),
            "availability -0.50pp, max-outage +20% and +1.00s, recovery +20% and +1.00s, time-to-detect +1.00s, outages +1"
        );
    }

    #[test]
    fn entries_replace_a_metrics_defaults_and_keep_the_others() {
        let t = Thresholds::parse("recovery=+20%, max-outage=+1s,availability=-0.5pp").unwrap();
        assert_eq!(
            t.get(M::Recovery),
            Limit {
                relative_pct: Some(20.0),
                absolute: None
            }
        );
        assert_eq!(
            t.get(M::MaxOutage),
            Limit {
                relative_pct: None,
                absolute: Some(1000.0)
            }
        );
        assert_eq!(t.get(M::Availability).absolute, Some(0.5));
        assert_eq!(
            t.get(M::TimeToDetect),
            Thresholds::default().get(M::TimeToDetect)
        );
        let t = Thresholds::parse("recovery=+10%,recovery=+250ms,outages=off,longest-outage=+2m")
            .unwrap();
        assert_eq!(
            t.get(M::Recovery),
            Limit {
                relative_pct: Some(10.0),
                absolute: Some(250.0)
            }
        );
        assert_eq!(t.get(M::Outages), Limit::default());
        assert_eq!(t.get(M::MaxOutage).absolute, Some(120_000.0));
        assert_eq!(t.get(M::Outages).describe(M::Outages), "off");
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (spec, needle) in [
            ("recovery", "expected METRIC=LIMIT"),
            ("latency=+1s", "unknown metric `latency`"),
            ("recovery=-20%", "write +20%"),
            ("availability=+0.5pp", "write -0.5pp"),
            ("availability=-0.5%", "percentage points"),
            ("recovery=+1h", "give a time"),
            ("recovery=+abc", "not a number"),
            ("outages=+1s", "give a count"),
        ] {
            let err = Thresholds::parse(spec).unwrap_err();
            assert!(err.contains(needle), "{spec}: {err}");
            assert!(err.starts_with(&format!("`{spec}`")), "{err}");
        }
    }

    #[test]
    fn a_metric_regresses_only_past_every_limit_it_has() {
        let both = Limit {
            relative_pct: Some(20.0),
            absolute: Some(1000.0),
        };
        assert!(both.exceeded(4000.0, 1001.0)); // +25%, +1.001s
        assert!(!both.exceeded(4000.0, 700.0)); // +17.5%
        assert!(!both.exceeded(1000.0, 900.0)); // +90% but under 1s
        assert!(!both.exceeded(1000.0, -500.0)); // better
        assert!(!Limit::default().exceeded(1.0, 1e9));
        let rel = Limit {
            relative_pct: Some(20.0),
            absolute: None,
        };
        assert!(
            rel.exceeded(0.0, 1.0),
            "from zero any increase is past a relative limit"
        );
        let pp = Limit {
            relative_pct: None,
            absolute: Some(0.5),
        };
        assert!(pp.exceeded(99.9, 0.6) && !pp.exceeded(99.9, 0.5));
    }
}
