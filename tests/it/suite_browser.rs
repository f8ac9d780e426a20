//! A suite's index.html in headless Chromium: one row per scenario with its verdict and a
//! link to its report, and the combined timeline SVG with the fault and the outage; the
//! same page is what `--serve` shows once the suite is over, with the runs' reports
//! served beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{free_port, temp_dir, wait_for, write};
use crate::headless::{dump_dom, http_get, screenshot};
use crate::run_binary::SpawnedRun;

fn scenario(name: &str, body: &str) -> String {
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\nsettings: {{ stable-window: 300ms }}\n{body}"
    )
}

const PASSING: &str = r#"probes:
  - { name: always, interval: 100ms, command: { argv: ["true"] } }
steps:
  - wait: 300ms
"#;

/// A flag file makes the probe fail for 1s; `max-outage` cannot hold (exit 1).
fn failing(flag: &Path) -> String {
    format!(
        r#"probes:
  - {{ name: flagged, interval: 100ms, command: {{ argv: [sh, -c, "! test -e {flag}"] }} }}
steps:
  - wait: 300ms
  - id: raise-flag
    fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
    for: 1s
expect:
  - {{ probe: flagged, max-outage: "<= 10ms" }}
"#,
        flag = flag.display()
    )
}

/// The one suite directory under `reports`.
fn only_suite_dir(reports: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The `<tr class="run">` rows of a DOM.
fn rows(dom: &str) -> Vec<&str> {
    dom.split("<tr class=\"run\">")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap())
        .collect()
}

#[test]
fn the_suite_index_renders_one_row_per_scenario_and_the_timeline() {
    let tmp = temp_dir();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    write(&scenarios, "1-steady.yaml", &scenario("steady", PASSING));
    let flag = tmp.path().join("down");
    write(
        &scenarios,
        "2-flag.yaml",
        &scenario("flag-outage", &failing(&flag)),
    );
    write(
        &scenarios,
        "3-again.yaml",
        &scenario("steady-again", PASSING),
    );
    let reports = tmp.path().join("reports");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let run = SpawnedRun::start(
        &scenarios,
        &reports,
        &[
            "--suite",
            "gameday",
            "--serve",
            &addr,
            "--serve-linger",
            "5m",
        ],
    );
    wait_for(
        Duration::from_secs(60),
        "the suite to finish (live.json finished)",
        || {
            http_get(port, "/live.json").is_some_and(|(_, b)| b.contains("\"finished\":true"))
                && only_suite_dir_ready(&reports)
        },
    );
    let suite = only_suite_dir(&reports);
    let index = suite.join("index.html");

    // The file as written, in the browser.
    let file_url = format!("file://{}", index.display());
    let dom = dump_dom(&file_url);
    let rows = rows(&dom);
    assert_eq!(rows.len(), 3, "{dom}");
    for (row, (name, verdict)) in rows.iter().zip([
        ("steady", "PASS"),
        ("flag-outage", "FAIL"),
        ("steady-again", "PASS"),
    ]) {
        assert!(row.contains(&format!("<strong>{name}</strong>")), "{row}");
        assert!(
            row.contains(&format!("\">{verdict}</span>")),
            "{name}: {row}"
        );
        assert!(row.contains("report.html\""), "links its report: {row}");
    }
    let svg = dom
        .split("<svg class=\"timeline suite\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no suite timeline: {dom}"));
    let svg = svg.split("</svg>").next().unwrap();
    assert_eq!(svg.matches("<g class=\"run\">").count(), 3, "{svg}");
    assert_eq!(svg.matches("<g class=\"fault\">").count(), 1, "{svg}");
    assert!(svg.contains("raise-flag"), "{svg}");
    screenshot(&file_url, &tmp.path().join("index.png"));

    // The same page is what the live view serves now, and each row's link works there.
    let served = dump_dom(&format!("http://{addr}/"));
    assert_eq!(self::rows(&served).len(), 3, "{served}");
    let link = served
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|h| h.contains("flag-outage") && h.ends_with("report.html"))
        .unwrap_or_else(|| panic!("no link to the flag-outage report: {served}"));
    let (status, report) = http_get(port, &format!("/{link}")).unwrap();
    assert_eq!(status, 200, "{link}");
    assert!(report.contains("<title>kubedrill · flag-outage · FAIL</title>"));
    screenshot(&format!("http://{addr}/"), &tmp.path().join("served.png"));

    run.sigint();
    run.finish().assert_code(1);
}

/// The suite directory exists and holds its index.html.
fn only_suite_dir_ready(reports: &Path) -> bool {
    std::fs::read_dir(reports)
        .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.path().join("index.html").is_file())))
}
