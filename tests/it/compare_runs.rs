//! `kubedrill compare` through the real binary, on reports of real local runs: a longer
//! outage is a regression (exit 1), the same change the other way round is not (exit 0),
//! thresholds move the line, and a probe missing in NEW is reported (and a regression
//! unless --allow-missing). Suites are compared by their directories.

use std::path::{Path, PathBuf};

use crate::common::{kubedrill, only_run_dir, temp_dir, write};
use crate::run_binary::{run_command, Exit};

/// A probe that fails while a flag file exists, and a fault that holds the flag `hold`.
fn outage_scenario(flag: &Path) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: flag-outage }}
settings: {{ stable-window: 300ms }}
vars: {{ hold: 300ms }}
probes:
  - {{ name: up, interval: 100ms, command: {{ argv: [sh, -c, "! test -e {flag}"] }} }}
steps:
  - wait: 300ms
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
    for: ${{hold}}
"#,
        flag = flag.display()
    )
}

/// No fault: probes that always pass, so both sides measure the same.
fn steady_scenario(probes: &[&str]) -> String {
    let probes: String = probes
        .iter()
        .map(|p| format!("  - {{ name: {p}, interval: 100ms, command: {{ argv: [\"true\"] }} }}\n"))
        .collect();
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: steady }}\nprobes:\n{probes}steps:\n  - wait: 300ms\n"
    )
}

/// Runs `file` with `hold` into its own report root; returns its report.json.
fn run_with_hold(file: &Path, reports: &Path, hold: &str) -> PathBuf {
    Exit::of(run_command(file, reports).args(["--set", &format!("hold={hold}")])).assert_code(0);
    only_run_dir(reports).join("report.json")
}

fn compare(baseline: &Path, new: &Path, extra: &[&str]) -> Exit {
    Exit::of(
        kubedrill()
            .arg("compare")
            .arg(baseline)
            .arg(new)
            .args(extra),
    )
}

#[test]
fn a_longer_outage_is_a_regression_and_a_shorter_one_is_not() {
    let tmp = temp_dir();
    let flag = tmp.path().join("down");
    let file = write(tmp.path(), "s.yaml", &outage_scenario(&flag));
    let short = run_with_hold(&file, &tmp.path().join("short"), "300ms");
    let long = run_with_hold(&file, &tmp.path().join("long"), "2500ms");

    // Longer by ~2.2s: past +20% and +1s.
    let exit = compare(&short, &long, &[]);
    exit.assert_code(1);
    let row = exit
        .stdout
        .lines()
        .find(|l| l.contains("| up | max-outage |"))
        .unwrap_or_else(|| panic!("a max-outage row: {}", exit.stdout));
    assert!(row.ends_with("| ❌ regressed |"), "{row}");
    assert!(
        exit.stdout.starts_with("## kubedrill compare: "),
        "{}",
        exit.stdout
    );
    // Written next to NEW by default.
    let new_dir = long.parent().unwrap();
    let md = std::fs::read_to_string(new_dir.join("compare.md")).unwrap();
    assert_eq!(md.trim_end(), exit.stdout.trim_end());
    let html = std::fs::read_to_string(new_dir.join("compare.html")).unwrap();
    assert!(
        html.contains("<tr class=\"regressed\"><td>up</td><td>max-outage</td>"),
        "{html}"
    );

    // The other way round: an improvement, exit 0, written to --out.
    let out = tmp.path().join("out");
    let exit = compare(&long, &short, &["--out", out.to_str().unwrap()]);
    exit.assert_code(0);
    assert!(exit.stdout.contains("## kubedrill compare: no regression"));
    let row = exit
        .stdout
        .lines()
        .find(|l| l.contains("| up | max-outage |"))
        .unwrap();
    assert!(row.ends_with("| ✅ better |"), "{row}");
    assert!(out.join("compare.md").is_file() && out.join("compare.html").is_file());

    // A looser threshold lets the same change through.
    compare(
        &short,
        &long,
        &["--max-regression", "max-outage=+10s,availability=off"],
    )
    .assert_code(0);
    // A bad threshold is a usage error.
    let exit = compare(&short, &long, &["--max-regression", "recovery=-1s"]);
    exit.assert_code(2);
    assert!(exit.stderr.contains("write +1s"), "{}", exit.stderr);
}

#[test]
fn a_probe_missing_in_the_new_suite_is_reported_as_a_regression() {
    let tmp = temp_dir();
    let both = tmp.path().join("both");
    let one = tmp.path().join("one");
    std::fs::create_dir_all(&both).unwrap();
    std::fs::create_dir_all(&one).unwrap();
    write(&both, "s.yaml", &steady_scenario(&["up", "extra"]));
    write(&one, "s.yaml", &steady_scenario(&["up"]));
    let suite = |dir: &Path, reports: &Path| -> PathBuf {
        Exit::of(
            kubedrill()
                .args([
                    "run",
                    dir.to_str().unwrap(),
                    "--suite",
                    "nightly",
                    "--report-dir",
                ])
                .arg(reports),
        )
        .assert_code(0);
        only_run_dir(reports)
    };
    let baseline = suite(&both, &tmp.path().join("r1"));
    let new = suite(&one, &tmp.path().join("r2"));

    let exit = compare(&baseline, &new, &[]);
    exit.assert_code(1);
    assert!(
        exit.stdout.contains(
            "probe `extra` of scenario `steady` is in the baseline but missing in NEW (regression)"
        ),
        "{}",
        exit.stdout
    );
    assert!(
        exit.stdout
            .contains("| steady | pass → pass | up | outages | 0 | 0 | +0 | same |"),
        "the probe on both sides is compared: {}",
        exit.stdout
    );
    assert!(
        new.join("compare.html").is_file(),
        "written into NEW's suite directory"
    );

    // Allowed: still reported, not a regression.
    let exit = compare(&baseline, &new, &["--allow-missing"]);
    exit.assert_code(0);
    assert!(exit.stdout.contains("missing in NEW"), "{}", exit.stdout);

    // The other way round the probe is new, never a regression.
    let exit = compare(&new, &baseline, &[]);
    exit.assert_code(0);
    assert!(
        exit.stdout
            .contains("probe `extra` of scenario `steady` is new in NEW"),
        "{}",
        exit.stdout
    );

    // A run against a suite is refused.
    let report = new
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path().join("report.json"))
        .find(|p| p.is_file())
        .unwrap();
    let exit = compare(&report, &baseline, &[]);
    exit.assert_code(2);
    assert!(
        exit.stderr.contains("a suite with a suite"),
        "{}",
        exit.stderr
    );
}
