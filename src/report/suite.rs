//! A suite: several runs one after the other in one directory, with `summary.json` (this
//! model), `index.html` ([`super::suite_html`]) and one `junit.xml` for all of them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use quick_junit::{Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use super::format::verdict_label;
use super::junit::{failure, test_suite};
use super::{ProbeRecord, RunReport};

/// Bumped whenever a field of `summary.json` changes meaning or disappears.
pub const SUITE_SCHEMA_VERSION: u32 = 1;

/// The verdict of a scenario the suite never started (it stopped before: a signal, or a
/// revert that failed in an earlier run).
pub const NOT_RUN: &str = "not-run";

/// `summary.json`: the suite and, per scenario in order, its verdict and key numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteSummary {
    pub schema_version: u32,
    pub suite: String,
    pub kubedrill_version: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// The worst exit code of its runs (numerically highest: 4 > 3 > 2 > 1 > 0).
    pub exit_code: i32,
    /// Why the suite stopped before its last scenario, if it did.
    pub stopped: Option<String>,
    pub runs: Vec<SuiteRun>,
}

/// One scenario of a suite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteRun {
    pub scenario: String,
    /// The scenario file as given.
    pub file: String,
    /// `pass`, `fail`, `aborted`, `error`, or `not-run`.
    pub verdict: String,
    /// `None` when it did not run.
    pub exit_code: Option<i32>,
    /// The run directory, relative to the suite directory.
    pub run_dir: Option<String>,
    /// Its `report.json`, relative to the suite directory.
    pub report: Option<String>,
    /// Its `report.html`, relative to the suite directory.
    pub report_html: Option<String>,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<f64>,
    pub probes: Vec<ProbeNumbers>,
}

/// The key numbers of one probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeNumbers {
    pub name: String,
    pub availability_pct: Option<f64>,
    pub longest_outage_ms: f64,
    pub outages: usize,
    /// `None` unless it recovered (see `recovery`).
    pub recovery_ms: Option<f64>,
    /// `1.20s`, `never` or `n/a`.
    pub recovery: String,
    pub time_to_detect_ms: Option<f64>,
}

impl ProbeNumbers {
    /// The numbers of a probe record.
    pub fn of(p: &ProbeRecord) -> Self {
        let m = &p.measurements;
        ProbeNumbers {
            name: p.name.clone(),
            availability_pct: m.availability_pct,
            longest_outage_ms: m.longest_outage_ms,
            outages: m.outages.len(),
            recovery_ms: m.recovery.millis(),
            recovery: m.recovery.describe(),
            time_to_detect_ms: m.time_to_detect_ms,
        }
    }
}

impl SuiteRun {
    /// A finished run whose directory is `run_dir` (relative to the suite directory).
    pub fn finished(file: &str, r: &RunReport, run_dir: &str, html: bool) -> Self {
        SuiteRun {
            scenario: r.scenario.name.clone(),
            file: file.to_string(),
            verdict: verdict_label(r.verdict).to_lowercase(),
            exit_code: Some(r.exit_code),
            run_dir: Some(run_dir.to_string()),
            report: Some(format!("{run_dir}/report.json")),
            report_html: html.then(|| format!("{run_dir}/report.html")),
            reason: r.reason.clone(),
            started_at: Some(r.started_at),
            duration_ms: Some(r.duration.as_secs_f64() * 1000.0),
            probes: r.probes.iter().map(ProbeNumbers::of).collect(),
        }
    }

    /// A run that could not start, or that the suite never got to (`exit_code` `None`).
    pub fn without_report(
        scenario: &str,
        file: &str,
        exit_code: Option<i32>,
        reason: String,
    ) -> Self {
        SuiteRun {
            scenario: scenario.to_string(),
            file: file.to_string(),
            verdict: if exit_code.is_some() {
                "error".into()
            } else {
                NOT_RUN.into()
            },
            exit_code,
            run_dir: None,
            report: None,
            report_html: None,
            reason: Some(reason),
            started_at: None,
            duration_ms: None,
            probes: Vec::new(),
        }
    }
}

/// The suite's `junit.xml`: a test suite per scenario (as in the run's own `junit.xml`: a
/// case per expectation, "all faults reverted", and "run completed" when it did not pass);
/// a scenario without a report has one case, "run": failed when it could not start,
/// skipped when the suite never got to it.
pub fn suite_junit(summary: &SuiteSummary, reports: &[Option<RunReport>]) -> String {
    let mut report = Report::new(format!("kubedrill suite {}", summary.suite));
    report.set_timestamp(summary.started_at);
    for (run, r) in summary.runs.iter().zip(reports) {
        match r {
            Some(r) => {
                report.add_test_suite(test_suite(r));
            }
            None => {
                let mut suite = TestSuite::new(run.scenario.as_str());
                let why = run.reason.clone().unwrap_or_default();
                let status = if run.exit_code.is_some() {
                    failure(why)
                } else {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(why);
                    s
                };
                let mut case = TestCase::new("run", status);
                case.set_classname(format!("kubedrill.{}", run.scenario));
                suite.add_test_case(case);
                report.add_test_suite(suite);
            }
        }
    }
    report
        .to_string()
        .expect("serialising a JUnit report to memory does not fail")
}

/// Writes `index.html`, `junit.xml` and `summary.json` into the suite directory `dir`
/// (owner-only, like the run reports).
pub fn write_suite(
    dir: &Path,
    summary: &SuiteSummary,
    reports: &[Option<RunReport>],
) -> std::io::Result<Vec<PathBuf>> {
    let files = [
        ("index.html", super::suite_html::render(summary, reports)),
        ("junit.xml", suite_junit(summary, reports)),
        (
            "summary.json",
            serde_json::to_string_pretty(summary).expect("a summary always serialises"),
        ),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            super::write_private(&path, text.as_bytes()).map(|_| path)
        })
        .collect()
}

/// Reads a suite's `summary.json`, refusing newer schema versions.
pub fn read_summary(path: &Path) -> Result<SuiteSummary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s: SuiteSummary = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a kubedrill suite summary: {e}", path.display()))?;
    if s.schema_version > SUITE_SCHEMA_VERSION {
        return Err(format!(
            "{}: schema_version {} is newer than this kubedrill understands ({SUITE_SCHEMA_VERSION})",
            path.display(),
            s.schema_version
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_fixture::sample_report;

    #[test]
    fn a_suite_junit_has_a_testsuite_per_scenario_and_marks_unrun_ones_skipped() {
        let r = sample_report();
        let summary = SuiteSummary {
            schema_version: SUITE_SCHEMA_VERSION,
            suite: "nightly".into(),
            kubedrill_version: "test".into(),
            started_at: r.started_at,
            ended_at: r.ended_at,
            exit_code: 4,
            stopped: Some("a revert failed".into()),
            runs: vec![
                SuiteRun::finished("a.yaml", &r, "a-1", true),
                SuiteRun::without_report("b", "b.yaml", None, "the suite stopped".into()),
            ],
        };
        let xml = suite_junit(&summary, &[Some(r.clone()), None]);
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert!(
            xml.contains("<skipped message=\"the suite stopped\""),
            "{xml}"
        );
        assert_eq!(
            xml.matches("<testcase ").count(),
            r.expectations.len() + 2 + 1,
            "{xml}"
        );
    }
}
