//! `junit.xml`: one test suite per run, one test case per judged expectation, plus
//! "all faults reverted" and, for every run that did not pass, "run completed" (so a
//! failed step such as a timed-out wait-until is red even when every metric held).

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::format::{revert_outcome, unfinished_reverts, verdict_label};
use super::RunReport;
use crate::verdict::Verdict;

/// Renders the report as JUnit XML.
pub fn render(r: &RunReport) -> String {
    let mut report = Report::new("kubedrill");
    report.add_test_suite(test_suite(r));
    report
        .to_string()
        .expect("serialising a JUnit report to memory does not fail")
}

/// The run as one test suite (a suite's `junit.xml` holds one per run).
pub(crate) fn test_suite(r: &RunReport) -> TestSuite {
    let classname = format!("kubedrill.{}", r.scenario.name);
    let mut suite = TestSuite::new(r.scenario.name.as_str());
    suite
        .set_timestamp(r.started_at)
        .set_time(r.duration)
        .add_property(Property::new("verdict", verdict_label(r.verdict)))
        .add_property(Property::new("exit-code", r.exit_code.to_string()))
        .add_property(Property::new(
            "kubedrill-version",
            r.kubedrill_version.as_str(),
        ));
    let cases = r
        .expectations
        .iter()
        .map(|e| {
            let status = if e.passed {
                TestCaseStatus::success()
            } else {
                let mut message = format!("expected {}, measured {}", e.expected, e.actual);
                if e.within_uncertainty {
                    message.push_str(
                        " (within uncertainty: the threshold lies inside the measured range, judged against its worse end)",
                    );
                }
                failure(message)
            };
            (e.name(), status)
        })
        .chain([("all faults reverted".to_string(), reverts_status(r))])
        .chain(run_completed(r).map(|s| ("run completed".to_string(), s)));
    for (name, status) in cases {
        let mut case = TestCase::new(name, status);
        case.set_classname(classname.as_str());
        suite.add_test_case(case);
    }
    suite
}

pub(crate) fn failure(message: String) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message);
    status
}

/// Fails when any revert did not complete, listing what to undo by hand.
fn reverts_status(r: &RunReport) -> TestCaseStatus {
    let unfinished: Vec<_> = unfinished_reverts(r).collect();
    if unfinished.is_empty() {
        return TestCaseStatus::success();
    }
    let listing = unfinished
        .iter()
        .map(|rv| {
            let mut entry = format!(
                "{}: {} ({})",
                rv.fault_id,
                rv.description,
                revert_outcome(rv)
            );
            for cmd in &rv.manual {
                entry.push_str(&format!("\n  run by hand: {cmd}"));
            }
            entry
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut status = failure(format!("{} revert(s) did not complete", unfinished.len()));
    status.set_description(listing);
    status
}

/// Every run that did not pass gets this case; it fails with the reason.
fn run_completed(r: &RunReport) -> Option<TestCaseStatus> {
    (r.verdict != Verdict::Pass).then(|| {
        failure(
            r.reason
                .clone()
                .unwrap_or_else(|| format!("run ended {}", verdict_label(r.verdict))),
        )
    })
}

#[cfg(test)]
mod tests {
    use quick_xml::events::Event;
    use quick_xml::Reader;

    use super::render;
    use crate::report::test_fixture::sample_report;

    /// Test case names and failure messages, read back with an XML parser.
    fn parse(xml: &str) -> (Vec<String>, Vec<String>) {
        let mut reader = Reader::from_str(xml);
        let (mut cases, mut failures) = (vec![], vec![]);
        loop {
            match reader.read_event().expect("junit.xml is well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let attr = |key: &str| {
                        e.try_get_attribute(key)
                            .unwrap()
                            .map(|a| a.unescape_value().unwrap().into_owned())
                    };
                    match e.name().as_ref() {
                        b"testcase" => cases.push(attr("name").unwrap()),
                        b"failure" => failures.push(attr("message").unwrap()),
                        _ => {}
                    }
                }
                Event::Eof => return (cases, failures),
                _ => {}
            }
        }
    }

    #[test]
    fn junit_has_a_case_per_expectation_plus_reverts_and_completion() {
        let xml = render(&sample_report());
        let (cases, failures) = parse(&xml);
        assert_eq!(
            cases,
            [
                "api availability >= 99%",
                "api recovery <= 5s",
                "dns availability >= 95%",
                "dns max-outage <= 2s",
                "all faults reverted",
                "run completed",
            ]
        );
        assert_eq!(failures.len(), 4, "{failures:?}");
        assert!(
            failures[0].starts_with("expected >= 99%, measured 6"),
            "{failures:?}"
        );
        assert!(!failures[0].contains("within uncertainty"));
        assert!(
            failures[1].starts_with("expected >= 95%, measured 94.8")
                && failures[1].ends_with("(within uncertainty: the threshold lies inside the measured range, judged against its worse end)"),
            "{failures:?}"
        );
        assert_eq!(failures[2], "1 revert(s) did not complete");
        assert!(failures[3].contains("not every fault was reverted"));
        assert!(xml.contains("classname=\"kubedrill.etcd-leader-partition\""));
        assert!(xml.contains("timestamp=\"2024-05-01T10:00:00"));
        assert!(xml.contains("time=\"20.000\""), "{xml}");
        assert!(xml.contains("sudo systemctl start kubelet"));
    }

    #[test]
    fn a_clean_pass_has_no_run_completed_case_and_no_failures() {
        let mut r = sample_report();
        r.verdict = crate::verdict::Verdict::Pass;
        r.reverts.retain(|rv| rv.outcome == "reverted");
        r.expectations.retain(|e| e.passed);
        let (cases, failures) = parse(&render(&r));
        assert!(!cases.contains(&"run completed".to_string()));
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn a_failed_step_is_red_even_when_every_metric_held() {
        let mut r = sample_report();
        r.verdict = crate::verdict::Verdict::Fail;
        r.reason = Some("api not healthy for 2s within 30s".into());
        r.reverts.retain(|rv| rv.outcome == "reverted");
        r.expectations.retain(|e| e.passed);
        let (cases, failures) = parse(&render(&r));
        assert!(cases.contains(&"run completed".to_string()));
        assert_eq!(failures, ["api not healthy for 2s within 30s"]);
    }
}
