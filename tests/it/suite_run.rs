//! `kubedrill run DIR --suite NAME` through the real binary, with local command probes and
//! faults: one suite directory holding every run's directory, an index.html whose rows
//! link to reports that exist, one junit.xml, a summary.json, and the worst exit code.

use std::path::{Path, PathBuf};

use crate::common::{kubedrill, temp_dir, wait_for, write};
use crate::run_binary::{Exit, SpawnedRun, INJECTED};

fn scenario(name: &str, body: &str) -> String {
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\nsettings: {{ stable-window: 300ms }}\n{body}"
    )
}

/// Passes; its probe name is markup that index.html must show, not render.
const PASSING: &str = r#"probes:
  - { name: "<i>probe</i>", interval: 100ms, command: { argv: ["true"] } }
steps:
  - wait: 300ms
expect:
  - { probe: "<i>probe</i>", availability: ">= 99%" }
"#;

/// A flag file makes the probe fail for 1s; the expectation cannot hold (exit 1).
fn failing(flag: &Path) -> String {
    format!(
        r#"probes:
  - {{ name: up, interval: 100ms, command: {{ argv: [sh, -c, "! test -e {flag}"] }} }}
steps:
  - wait: 300ms
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
    for: 1s
expect:
  - {{ probe: up, max-outage: "<= 10ms" }}
  - {{ probe: up, availability: ">= 1%" }}
"#,
        flag = flag.display()
    )
}

/// Its revert fails (exit 4): the suite stops after it.
const REVERT_FAILS: &str = r#"steps:
  - fault:
      command: { inject: ["true"], revert: [sh, -c, "exit 1"] }
    for: 100ms
"#;

/// `kubedrill run DIR --suite NAME --report-dir REPORTS`.
fn run_suite(dir: &Path, name: &str, reports: &Path) -> Exit {
    Exit::of(
        kubedrill()
            .args([
                "run",
                dir.to_str().unwrap(),
                "--suite",
                name,
                "--report-dir",
            ])
            .arg(reports),
    )
}

/// The one suite directory under `reports`, named `NAME-<timestamp>`.
fn only_suite_dir(reports: &Path, name: &str) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let file_name = dirs[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(file_name.starts_with(&format!("{name}-")), "{file_name}");
    dirs[0].clone()
}

/// Every `href="..."` of a page.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

/// Per `<testsuite>` of a JUnit file: its name, tests and failures attributes, and the
/// names of its test cases; plus the root's tests and failures.
struct Junit {
    tests: u64,
    failures: u64,
    suites: Vec<(String, u64, u64, Vec<String>)>,
}

fn parse_junit(xml: &str) -> Junit {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut j = Junit {
        tests: 0,
        failures: 0,
        suites: Vec::new(),
    };
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |key: &str| -> String {
                    e.try_get_attribute(key)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned())
                        .unwrap_or_default()
                };
                let num = |key: &str| attr(key).parse::<u64>().unwrap_or(0);
                match e.name().as_ref() {
                    b"testsuites" => (j.tests, j.failures) = (num("tests"), num("failures")),
                    b"testsuite" => {
                        j.suites
                            .push((attr("name"), num("tests"), num("failures"), Vec::new()))
                    }
                    b"testcase" => j.suites.last_mut().unwrap().3.push(attr("name")),
                    _ => {}
                }
            }
            Event::Eof => return j,
            _ => {}
        }
    }
}

#[test]
fn a_suite_writes_index_junit_and_summary_and_exits_with_the_worst_code() {
    let tmp = temp_dir();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    // Run in file-name order (1, 2, 3), not by scenario name.
    write(&scenarios, "1-pass.yaml", &scenario("zeta-pass", PASSING));
    let flag = tmp.path().join("down");
    write(
        &scenarios,
        "2-fail.yaml",
        &scenario("alpha-fail", &failing(&flag)),
    );
    write(&scenarios, "3-pass.yaml", &scenario("mid-pass", PASSING));
    write(&scenarios, "notes.txt", "not a scenario");
    let reports = tmp.path().join("reports");

    let exit = run_suite(&scenarios, "nightly", &reports);
    exit.assert_code(1);
    assert!(
        exit.stdout
            .contains("suite nightly: 3 scenario(s): 2 pass, 1 fail (exit 1)"),
        "{}",
        exit.stdout
    );
    let suite = only_suite_dir(&reports, "nightly");

    // summary.json: the runs in order, their verdicts, codes, reports and numbers.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["exit_code"], 1);
    let runs = summary["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zeta-pass", "alpha-fail", "mid-pass"]);
    let verdicts: Vec<&str> = runs
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "fail", "pass"]);
    let codes: Vec<i64> = runs
        .iter()
        .map(|r| r["exit_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [0, 1, 0]);
    for r in runs {
        let report = suite.join(r["report"].as_str().unwrap());
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(
            json["scenario"]["name"],
            r["scenario"],
            "{}",
            report.display()
        );
        assert!(suite.join(r["run_dir"].as_str().unwrap()).is_dir());
    }
    let up = &runs[1]["probes"][0];
    assert_eq!(up["name"], "up");
    assert_eq!(up["outages"], 1, "{up}");
    let longest = up["longest_outage_ms"].as_f64().unwrap();
    assert!(
        (700.0..3000.0).contains(&longest),
        "the 1s fault made a ~1s outage: {longest}"
    );
    assert!(up["availability_pct"].as_f64().unwrap() < 100.0);
    assert!(up["recovery_ms"].as_f64().is_some(), "{up}");

    // index.html: a row per scenario, links that exist, markup escaped, one timeline.
    let index = std::fs::read_to_string(suite.join("index.html")).unwrap();
    assert_eq!(index.matches("<tr class=\"run\">").count(), 3, "{index}");
    let links = hrefs(&index);
    assert_eq!(links.len(), 3, "{links:?}");
    for (link, r) in links.iter().zip(runs) {
        assert!(suite.join(link).is_file(), "{link} exists");
        assert!(
            link.starts_with(r["run_dir"].as_str().unwrap()),
            "{link} is in its run's directory"
        );
        assert!(link.ends_with("/report.html"));
    }
    assert!(!index.contains("<i>probe"), "probe names are escaped");
    assert!(index.contains("&lt;i&gt;probe&lt;/i&gt;"));
    assert_eq!(index.matches("<svg").count(), 1, "one combined timeline");
    assert_eq!(index.matches("<g class=\"run\">").count(), 3);
    assert_eq!(
        index.matches("<rect class=\"down\"").count(),
        1,
        "the one outage is drawn"
    );
    assert_eq!(index.matches("<g class=\"fault\">").count(), 1);
    for needle in ["<script", "<link", "src=", "http://", "https://"] {
        assert!(
            !index.contains(needle),
            "index.html loads nothing: {needle}"
        );
    }

    // junit.xml: a testsuite per scenario, a testcase per expectation.
    let junit = parse_junit(&std::fs::read_to_string(suite.join("junit.xml")).unwrap());
    let suite_names: Vec<&str> = junit.suites.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(suite_names, ["zeta-pass", "alpha-fail", "mid-pass"]);
    let fail = &junit.suites[1];
    assert_eq!(
        fail.3,
        [
            "up max-outage <= 10ms",
            "up availability >= 1%",
            "all faults reverted",
            "run completed"
        ]
    );
    assert_eq!((fail.1, fail.2), (4, 2), "tests and failures of alpha-fail");
    assert_eq!(
        junit.suites[0].3,
        ["<i>probe</i> availability >= 99%", "all faults reverted"]
    );
    assert_eq!((junit.tests, junit.failures), (2 + 4 + 2, 2));
}

#[test]
fn a_failed_revert_stops_the_suite_and_its_exit_code_wins() {
    let tmp = temp_dir();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let flag = tmp.path().join("down");
    write(
        &scenarios,
        "a.yaml",
        &scenario("first-fails", &failing(&flag)),
    );
    write(
        &scenarios,
        "b.yaml",
        &scenario("revert-fails", REVERT_FAILS),
    );
    write(&scenarios, "c.yaml", &scenario("never-runs", PASSING));
    let reports = tmp.path().join("reports");

    let exit = run_suite(&scenarios, "gameday", &reports);
    exit.assert_code(4);
    let suite = only_suite_dir(&reports, "gameday");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["exit_code"], 4);
    assert!(summary["stopped"]
        .as_str()
        .unwrap()
        .contains("a revert of revert-fails failed"));
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs[0]["exit_code"], 1);
    assert_eq!(runs[1]["exit_code"], 4);
    assert_eq!(runs[2]["verdict"], "not-run");
    assert!(runs[2]["exit_code"].is_null());
    // Two run directories only: the third scenario never started.
    let run_dirs = std::fs::read_dir(&suite)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(run_dirs, 2);
    let index = std::fs::read_to_string(suite.join("index.html")).unwrap();
    assert_eq!(index.matches("<tr class=\"run\">").count(), 3);
    assert_eq!(hrefs(&index).len(), 2, "no link for the scenario not run");
    assert!(index.contains("Stopped early:"));
    let junit = std::fs::read_to_string(suite.join("junit.xml")).unwrap();
    let parsed = parse_junit(&junit);
    assert_eq!(parsed.suites.len(), 3);
    assert_eq!(parsed.suites[2].3, ["run"]);
    assert!(junit.contains("<skipped message=\"not run: a revert of revert-fails"));
}

#[test]
fn a_bad_suite_name_or_an_empty_directory_is_exit_2() {
    let tmp = temp_dir();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let reports = tmp.path().join("reports");
    let exit = run_suite(&scenarios, "nightly", &reports);
    exit.assert_code(2);
    assert!(
        exit.stderr.contains("no *.yaml scenario files"),
        "{}",
        exit.stderr
    );
    write(&scenarios, "a.yaml", &scenario("a", PASSING));
    let exit = run_suite(&scenarios, "../escape", &reports);
    exit.assert_code(2);
    assert!(
        exit.stderr.contains("--suite: `../escape`"),
        "{}",
        exit.stderr
    );
    assert!(!reports.exists(), "nothing was run");
}

/// Holds its fault (a flag file) for a minute: only a signal ends it early.
fn long_hold(flag: &Path) -> String {
    format!(
        r#"steps:
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
    for: 60s
"#,
        flag = flag.display()
    )
}

#[test]
fn ctrl_c_reverts_the_run_in_progress_and_stops_the_suite() {
    let tmp = temp_dir();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let flag = tmp.path().join("held");
    write(&scenarios, "a.yaml", &scenario("held", &long_hold(&flag)));
    write(&scenarios, "b.yaml", &scenario("after", PASSING));
    let reports = tmp.path().join("reports");

    let run = SpawnedRun::start(&scenarios, &reports, &["--suite", "gameday"]);
    // The journal of the first run sits in the suite directory.
    wait_for(
        std::time::Duration::from_secs(30),
        "the first run's fault to be injected",
        || {
            std::fs::read_dir(&reports)
                .into_iter()
                .flatten()
                .flatten()
                .any(|suite| crate::common::journal_has(&suite.path(), INJECTED))
        },
    );
    assert!(flag.exists(), "the fault is in place");
    run.sigint();
    let exit = run.finish();
    exit.assert_code(3);
    assert!(!flag.exists(), "the run in progress reverted its fault");
    let suite = only_suite_dir(&reports, "gameday");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["exit_code"], 3);
    assert!(
        summary["stopped"].as_str().unwrap().contains("interrupted"),
        "{summary}"
    );
    assert_eq!(summary["runs"][0]["verdict"], "aborted");
    assert_eq!(summary["runs"][1]["verdict"], "not-run");
    assert!(
        exit.stdout.contains("stopped early: interrupted"),
        "{}",
        exit.stdout
    );
}
