//! `kubedrill compare`: two sets of runs (two report.json files, or two suites) matched by
//! scenario name and probe name, each probe's metrics side by side with their change, and
//! which changes are regressions ([`Thresholds`]).
//!
//! Also regressions: a scenario that passed in the baseline and does not pass in NEW, and a
//! scenario or probe of the baseline missing in NEW (or not run there), unless missing ones
//! are allowed. A scenario or probe only in NEW is listed as new. Rows where neither side
//! has a value (recovery and time to detect of a run without faults) are left out.

use super::compare_thresholds::{CompareMetric, Thresholds};
use super::{ProbeRecord, RunReport};
use crate::measure::Recovery;

/// One side of a comparison: scenario name and its report (`None`: listed but not run).
pub type Side = Vec<(String, Option<RunReport>)>;

/// A metric's value in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    Value(f64),
    /// Recovery that never came.
    Never,
    /// Not measured (no samples, no fault healed, nothing detected).
    None,
}

impl Reading {
    /// In words: `99.50%`, `never`, `–`.
    pub fn text(self, m: CompareMetric) -> String {
        match self {
            Reading::Value(v) => m.value_text(v),
            Reading::Never => "never".into(),
            Reading::None => "–".into(),
        }
    }
}

/// How NEW compares with the baseline on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Worse past the threshold.
    Regressed,
    /// Worse, within the threshold.
    Worse,
    Same,
    Better,
    /// One side has no value.
    NotCompared,
}

impl Change {
    /// `❌ regressed`, `worse (within threshold)`, ...
    pub fn label(self) -> &'static str {
        match self {
            Change::Regressed => "❌ regressed",
            Change::Worse => "worse (within threshold)",
            Change::Same => "same",
            Change::Better => "✅ better",
            Change::NotCompared => "not compared",
        }
    }

    /// A CSS class / short key: `regressed`, `worse`, ...
    pub fn key(self) -> &'static str {
        match self {
            Change::Regressed => "regressed",
            Change::Worse => "worse",
            Change::Same => "same",
            Change::Better => "better",
            Change::NotCompared => "not-compared",
        }
    }
}

/// One probe metric, baseline against NEW.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub probe: String,
    pub metric: CompareMetric,
    pub baseline: Reading,
    pub new: Reading,
    pub change: Change,
}

impl MetricRow {
    /// The change in words: `+1.20s (+25%)`, `-0.50pp`, `never recovered`, `–`.
    pub fn delta_text(&self) -> String {
        match (self.baseline, self.new) {
            (Reading::Value(b), Reading::Value(n)) => {
                let delta = n - b;
                if delta.abs() < self.metric.resolution() {
                    return self.metric.delta_text(0.0);
                }
                let d = self.metric.delta_text(delta);
                if self.metric != CompareMetric::Availability && b > 0.0 {
                    format!("{d} ({:+.0}%)", (n - b) / b * 100.0)
                } else {
                    d
                }
            }
            (Reading::Value(_), Reading::Never) => "never recovered".into(),
            (Reading::Never, Reading::Value(_)) => "recovered now".into(),
            _ => "–".into(),
        }
    }
}

/// One scenario present on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioComparison {
    pub name: String,
    /// `pass`, `fail`, `aborted`, `error`.
    pub baseline_verdict: String,
    pub new_verdict: String,
    pub baseline_exit: i32,
    pub new_exit: i32,
    pub rows: Vec<MetricRow>,
}

impl ScenarioComparison {
    /// Passed in the baseline, not in NEW.
    pub fn verdict_regressed(&self) -> bool {
        self.baseline_verdict == "pass" && self.new_verdict != "pass"
    }
}

/// A scenario or probe on one side only.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub scenario: String,
    /// `None`: the whole scenario.
    pub probe: Option<String>,
    /// Missing in NEW (else: new in NEW, no baseline).
    pub in_new: bool,
    /// Why, when the scenario is listed but was not run.
    pub note: Option<String>,
    /// Counted as a regression.
    pub regression: bool,
}

impl Missing {
    /// `probe api of etcd-kill is missing in NEW (regression)`.
    pub fn text(&self) -> String {
        let what = match &self.probe {
            Some(p) => format!("probe `{p}` of scenario `{}`", self.scenario),
            None => format!("scenario `{}`", self.scenario),
        };
        let side = if self.in_new {
            "is in the baseline but missing in NEW"
        } else {
            "is new in NEW (no baseline to compare with)"
        };
        let note = self
            .note
            .as_ref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default();
        let reg = if self.regression { " (regression)" } else { "" };
        format!("{what} {side}{note}{reg}")
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub baseline: String,
    pub new: String,
    pub thresholds: Thresholds,
    pub scenarios: Vec<ScenarioComparison>,
    pub missing: Vec<Missing>,
}

impl Comparison {
    /// Every regression: metrics past their threshold, verdicts lost, missing scenarios
    /// and probes.
    pub fn regressions(&self) -> usize {
        let metrics = self
            .scenarios
            .iter()
            .map(|s| {
                s.rows
                    .iter()
                    .filter(|r| r.change == Change::Regressed)
                    .count()
                    + usize::from(s.verdict_regressed())
            })
            .sum::<usize>();
        metrics + self.missing.iter().filter(|m| m.regression).count()
    }

    /// Metric changes for the better.
    pub fn improvements(&self) -> usize {
        self.scenarios
            .iter()
            .flat_map(|s| &s.rows)
            .filter(|r| r.change == Change::Better)
            .count()
    }
}

/// Compares `new` with `baseline`; `allow_missing` makes scenarios and probes missing in
/// NEW notes instead of regressions.
pub fn compare(
    baseline: (&str, &Side),
    new: (&str, &Side),
    thresholds: Thresholds,
    allow_missing: bool,
) -> Comparison {
    let mut c = Comparison {
        baseline: baseline.0.to_string(),
        new: new.0.to_string(),
        thresholds,
        scenarios: Vec::new(),
        missing: Vec::new(),
    };
    let find = |side: &'_ Side, name: &str| -> Option<Option<RunReport>> {
        side.iter().find(|(n, _)| n == name).map(|(_, r)| r.clone())
    };
    for (name, b) in baseline.1 {
        let Some(b) = b else { continue };
        match find(new.1, name) {
            Some(Some(n)) => {
                let s = compare_runs(name, b, &n, &c.thresholds, allow_missing, &mut c.missing);
                c.scenarios.push(s);
            }
            found => c.missing.push(Missing {
                scenario: name.clone(),
                probe: None,
                in_new: true,
                note: found.map(|_| "listed but not run".to_string()),
                regression: !allow_missing,
            }),
        }
    }
    for (name, _) in new.1 {
        if find(baseline.1, name).is_none_or(|r| r.is_none()) {
            c.missing.push(Missing {
                scenario: name.clone(),
                probe: None,
                in_new: false,
                note: None,
                regression: false,
            });
        }
    }
    c
}

fn compare_runs(
    name: &str,
    b: &RunReport,
    n: &RunReport,
    t: &Thresholds,
    allow_missing: bool,
    missing: &mut Vec<Missing>,
) -> ScenarioComparison {
    let label = |r: &RunReport| super::format::verdict_label(r.verdict).to_lowercase();
    let mut rows = Vec::new();
    for bp in &b.probes {
        let Some(np) = n.probes.iter().find(|p| p.name == bp.name) else {
            missing.push(Missing {
                scenario: name.to_string(),
                probe: Some(bp.name.clone()),
                in_new: true,
                note: None,
                regression: !allow_missing,
            });
            continue;
        };
        for m in CompareMetric::ALL {
            let (bv, nv) = (reading(bp, m), reading(np, m));
            if bv == Reading::None && nv == Reading::None {
                continue;
            }
            rows.push(MetricRow {
                probe: bp.name.clone(),
                metric: m,
                baseline: bv,
                new: nv,
                change: change(m, bv, nv, t),
            });
        }
    }
    for np in n
        .probes
        .iter()
        .filter(|np| !b.probes.iter().any(|p| p.name == np.name))
    {
        missing.push(Missing {
            scenario: name.to_string(),
            probe: Some(np.name.clone()),
            in_new: false,
            note: None,
            regression: false,
        });
    }
    ScenarioComparison {
        name: name.to_string(),
        baseline_verdict: label(b),
        new_verdict: label(n),
        baseline_exit: b.exit_code,
        new_exit: n.exit_code,
        rows,
    }
}

/// The value of `m` for a probe.
pub fn reading(p: &ProbeRecord, m: CompareMetric) -> Reading {
    let x = &p.measurements;
    let opt = |v: Option<f64>| v.map_or(Reading::None, Reading::Value);
    match m {
        CompareMetric::Availability => opt(x.availability_pct),
        CompareMetric::MaxOutage => Reading::Value(x.longest_outage_ms),
        CompareMetric::Recovery => match x.recovery {
            Recovery::Recovered { after_ms, .. } => Reading::Value(after_ms),
            Recovery::Never => Reading::Never,
            Recovery::NotApplicable => Reading::None,
        },
        CompareMetric::TimeToDetect => opt(x.time_to_detect_ms),
        CompareMetric::Outages => Reading::Value(x.outages.len() as f64),
    }
}

fn change(m: CompareMetric, b: Reading, n: Reading, t: &Thresholds) -> Change {
    let limit = t.get(m);
    match (b, n) {
        (Reading::Value(b), Reading::Value(n)) => {
            let worse_by = if m.higher_is_better() { b - n } else { n - b };
            if worse_by.abs() < m.resolution() {
                Change::Same
            } else if limit.exceeded(b, worse_by) {
                Change::Regressed
            } else if worse_by > 0.0 {
                Change::Worse
            } else if worse_by < 0.0 {
                Change::Better
            } else {
                Change::Same
            }
        }
        (Reading::Value(_), Reading::Never) if limit == Default::default() => Change::Worse,
        (Reading::Value(_), Reading::Never) => Change::Regressed,
        (Reading::Never, Reading::Value(_)) => Change::Better,
        (Reading::Never, Reading::Never) => Change::Same,
        _ => Change::NotCompared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_fixture::sample_report;

    fn side(r: &RunReport) -> Side {
        vec![(r.scenario.name.clone(), Some(r.clone()))]
    }

    #[test]
    fn the_same_run_has_no_regression_and_every_row_is_same() {
        let r = sample_report();
        let c = compare(
            ("a", &side(&r)),
            ("b", &side(&r)),
            Thresholds::default(),
            false,
        );
        assert_eq!(c.regressions(), 0, "{c:?}");
        assert!(c.scenarios[0].rows.iter().all(|r| r.change == Change::Same));
        assert!(c.missing.is_empty());
    }

    #[test]
    fn a_longer_recovery_regresses_and_a_shorter_one_improves() {
        let base = sample_report();
        let mut worse = base.clone();
        let p = &mut worse.probes[0].measurements;
        let before = p.recovery.millis().expect("the fixture recovered");
        p.recovery = Recovery::Recovered {
            after_ms: before + 5000.0,
            after_min_ms: before + 5000.0,
        };
        let c = compare(
            ("a", &side(&base)),
            ("b", &side(&worse)),
            Thresholds::default(),
            false,
        );
        let row = c.scenarios[0]
            .rows
            .iter()
            .find(|r| r.metric == CompareMetric::Recovery && r.probe == base.probes[0].name)
            .unwrap();
        assert_eq!(row.change, Change::Regressed);
        assert!(
            row.delta_text().starts_with("+5.00s"),
            "{}",
            row.delta_text()
        );
        assert_eq!(c.regressions(), 1);
        // The other way round it is an improvement.
        let c = compare(
            ("a", &side(&worse)),
            ("b", &side(&base)),
            Thresholds::default(),
            false,
        );
        assert_eq!(c.regressions(), 0);
        assert_eq!(c.improvements(), 1);
    }

    #[test]
    fn a_probe_missing_in_new_is_a_regression_unless_allowed() {
        let base = sample_report();
        let mut new = base.clone();
        let gone = new.probes.remove(1).name;
        let c = compare(
            ("a", &side(&base)),
            ("b", &side(&new)),
            Thresholds::default(),
            false,
        );
        assert_eq!(c.missing.len(), 1);
        assert_eq!(c.missing[0].probe.as_deref(), Some(gone.as_str()));
        assert!(c.missing[0].text().contains("missing in NEW (regression)"));
        assert_eq!(c.regressions(), 1);
        let c = compare(
            ("a", &side(&base)),
            ("b", &side(&new)),
            Thresholds::default(),
            true,
        );
        assert_eq!(c.regressions(), 0);
        // Only in NEW: new, never a regression.
        let c = compare(
            ("a", &side(&new)),
            ("b", &side(&base)),
            Thresholds::default(),
            false,
        );
        assert_eq!(c.regressions(), 0);
        assert!(c.missing[0].text().contains("is new in NEW"));
    }

    #[test]
    fn recovering_never_is_a_regression_and_a_lost_pass_too() {
        let mut base = sample_report();
        base.verdict = crate::verdict::Verdict::Pass;
        let mut new = base.clone();
        new.probes[0].measurements.recovery = Recovery::Never;
        new.verdict = crate::verdict::Verdict::Fail;
        let c = compare(
            ("a", &side(&base)),
            ("b", &side(&new)),
            Thresholds::default(),
            false,
        );
        assert!(c.scenarios[0].verdict_regressed());
        assert_eq!(c.regressions(), 2, "{c:?}");
    }
}
