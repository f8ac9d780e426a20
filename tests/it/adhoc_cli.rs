//! Ad-hoc one-liners through the real binary: `inject` and `probe` build a scenario from
//! flags, run it through the same engine and write the same report.json as a YAML run;
//! `--print-scenario` prints a file that validates and runs to the same report shape; a
//! bad flag is exit 2 naming the flag, with nothing run.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;

use kubedrill::measure::LatencySummary;
use serde_json::Value;

use crate::common::{kubedrill, ms, only_report, temp_dir, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{run_to_end, Exit};

/// The top-level keys of a report and the keys of each probe's measurements.
fn shape(r: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("not an object: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    let probe = &r["probes"][0]["measurements"];
    (keys(r), keys(probe))
}

fn assert_same_shape(adhoc: &Value, yaml: &Value) {
    assert_eq!(shape(adhoc), shape(yaml), "report.json shapes differ");
    assert_eq!(adhoc["schema_version"], yaml["schema_version"]);
    assert!(adhoc["schema_version"].as_u64().is_some());
}

/// `kubedrill ARGS...` run to its end.
fn kd(args: &[&str]) -> Exit {
    Exit::of(kubedrill().args(args))
}

/// A TCP server on 127.0.0.1 that accepts (and drops) every connection until the test ends.
pub fn tcp_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || for _ in listener.incoming() {});
    addr
}

/// `inject --print-scenario`/`probe --print-scenario` output saved, validated and run as
/// a file; returns that run's report.
fn print_validate_run(args: &[&str], dir: &Path) -> Value {
    let mut printed = args.to_vec();
    printed.push("--print-scenario");
    let out = kd(&printed);
    out.assert_code(0);
    assert!(
        !dir.join("printed-reports").exists(),
        "--print-scenario runs nothing"
    );
    let file = write(dir, "printed.yaml", &out.stdout);
    kd(&["validate", file.to_str().unwrap()]).assert_code(0);
    let reports = dir.join("printed-reports");
    run_to_end(&file, &reports).assert_code(0);
    only_report(&reports)
}

#[test]
fn inject_stop_service_runs_like_its_yaml_scenario() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let kubelet = lab.node("n1").services["kubelet"].endpoints["healthz"].clone();
    // http://IP:PORT/healthz → IP:PORT
    let addr = kubelet
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let inventory = lab.lab.inventory_file.display().to_string();
    let dir = temp_dir();
    let reports = dir.path().join("adhoc-reports");
    let probe = format!("tcp={addr}");
    let args = [
        "inject",
        "stop-service",
        "--node",
        "n1",
        "--set",
        "service=kubelet",
        "--for",
        "3s",
        "--probe",
        &probe,
        "--inventory",
        &inventory,
    ];
    let mut with_reports = args.to_vec();
    with_reports.extend(["--report-dir", reports.to_str().unwrap()]);
    let out = kd(&with_reports);
    out.assert_code(0);
    assert!(
        out.stdout.contains("adhoc-stop-service: Pass (exit 0)"),
        "{}",
        out.stdout
    );
    let adhoc = only_report(&reports);

    // The fault was injected and reverted, on n1.
    let fault = &adhoc["faults"][0];
    assert_eq!(fault["kind"], "stop-service");
    assert_eq!(fault["details"]["nodes"][0]["node"], "n1");
    let (injected, healed) = (ms(&fault["injected_at_ms"]), ms(&fault["reverted_at_ms"]));
    assert!(
        healed - injected >= 3000.0 - 250.0,
        "held 3s: {injected} → {healed}"
    );
    assert_eq!(adhoc["reverts"][0]["outcome"], "reverted");
    // The outage was measured: the kubelet port closed while the fault held.
    let tcp = &adhoc["probes"][0];
    assert_eq!(tcp["name"], "tcp");
    let outages = tcp["measurements"]["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 1, "{outages:?}");
    let (start, end) = (ms(&outages[0]["start_ms"]), ms(&outages[0]["end_ms"]));
    assert!(
        start >= injected - 250.0 && start <= healed && end >= healed - 250.0,
        "outage {start} → {end} inside the fault {injected} → {healed}"
    );
    assert!(ms(&tcp["measurements"]["longest_outage_ms"]) >= 2500.0);

    // The same drill written by hand as YAML gives the same report shape.
    let yaml = format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: yaml-stop-service }}
target: {{ inventory: "{inventory}" }}
probes:
  - name: tcp
    interval: 200ms
    timeout: 1s
    tcp: {{ address: "{addr}" }}
steps:
  - wait: 2s
  - fault:
      stop-service: {{ nodes: [n1], service: kubelet }}
    for: 3s
"#
    );
    let file = write(dir.path(), "yaml.yaml", &yaml);
    let yaml_reports = dir.path().join("yaml-reports");
    run_to_end(&file, &yaml_reports).assert_code(0);
    let from_yaml = only_report(&yaml_reports);
    assert_same_shape(&adhoc, &from_yaml);
    assert_eq!(
        adhoc["plan"].as_array().unwrap().len(),
        2,
        "baseline wait + fault"
    );
    assert_eq!(adhoc["plan"][1]["kind"], from_yaml["plan"][1]["kind"]);

    // --print-scenario: validates, and run as a file gives the same shape and fault.
    let printed = print_validate_run(&args, dir.path());
    assert_same_shape(&adhoc, &printed);
    assert_eq!(printed["scenario"]["name"], "adhoc-stop-service");
    assert_eq!(printed["faults"][0]["kind"], "stop-service");
    assert_eq!(printed["reverts"][0]["outcome"], "reverted");
}

#[test]
fn probe_only_watches_and_prints_a_scenario_that_runs_the_same() {
    let addr = tcp_server();
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    let probe = format!("tcp={addr}");
    let args = ["probe", probe.as_str(), "--for", "2s"];
    let mut with_reports = args.to_vec();
    with_reports.extend(["--report-dir", reports.to_str().unwrap()]);
    let out = kd(&with_reports);
    out.assert_code(0);
    let r = only_report(&reports);
    assert_eq!(r["faults"].as_array().unwrap().len(), 0, "no faults");
    assert_eq!(
        r["reverts"].as_array().unwrap().len(),
        0,
        "nothing to revert"
    );
    let m = &r["probes"][0]["measurements"];
    assert_eq!(r["probes"][0]["name"], "tcp");
    // 2s at 200ms: about ten samples, all answered.
    let samples = m["samples"].as_u64().unwrap();
    assert!(samples >= 5, "samples: {samples}");
    assert_eq!(m["failed_samples"], 0);
    assert_eq!(m["availability_pct"], 100.0);
    assert!(m["latency"].is_object(), "latency measured: {m}");
    // The summary line names the latency the report measured.
    let latency: LatencySummary = serde_json::from_value(m["latency"].clone()).unwrap();
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("probe tcp "))
        .unwrap_or_else(|| panic!("no summary line for tcp: {}", out.stdout));
    assert!(
        latency.p50_ms.is_some() && line.ends_with(&format!("latency {}", latency.describe())),
        "{line}"
    );

    // The same watch written as YAML by hand.
    let yaml = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: watch }}\nprobes:\n  - {{ name: tcp, interval: 200ms, timeout: 1s, tcp: {{ address: \"{addr}\" }} }}\nsteps:\n  - wait: 2s\n"
    );
    let file = write(dir.path(), "watch.yaml", &yaml);
    let yaml_reports = dir.path().join("yaml-reports");
    run_to_end(&file, &yaml_reports).assert_code(0);
    assert_same_shape(&r, &only_report(&yaml_reports));

    let printed = print_validate_run(&args, dir.path());
    assert_same_shape(&r, &printed);
    assert_eq!(printed["faults"].as_array().unwrap().len(), 0);
}

#[test]
fn a_bad_set_is_exit_2_naming_the_flag_and_runs_nothing() {
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    let out = kd(&[
        "inject",
        "stop-service",
        "--set",
        "service=kubelet",
        "--set",
        "max-unavailable=lots",
        "--for",
        "3s",
        "--probe",
        "tcp=127.0.0.1:9",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("command line: --set max-unavailable=lots: steps[1].fault.stop-service.max-unavailable: invalid type"),
        "{}",
        out.stderr
    );
    assert!(!reports.exists(), "nothing was run");

    let out = kd(&["inject", "stop-service", "--set", "service", "--for", "3s"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("--set service: write KEY=VALUE"),
        "{}",
        out.stderr
    );

    let out = kd(&[
        "inject",
        "stop-service",
        "--set",
        "servise=kubelet",
        "--for",
        "3s",
    ]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("--set servise=kubelet: ")
            && out.stderr.contains("unknown field `servise`"),
        "{}",
        out.stderr
    );
    let out = kd(&[
        "inject",
        "stop-service",
        "--set",
        "service=x",
        "--for",
        "soon",
    ]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("--for soon: steps[1].for"),
        "{}",
        out.stderr
    );
    let out = kd(&["inject", "stop-everything", "--for", "1s"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("unknown fault kind `stop-everything`"),
        "{}",
        out.stderr
    );
    let out = kd(&["probe", "--for", "1s"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("give at least one probe"),
        "{}",
        out.stderr
    );
    let out = kd(&["probe", "bogus", "--for", "1s"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("--probe bogus: unknown probe kind `bogus`"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_print_scenario_substitutes_variables_and_validates() {
    let addr = tcp_server();
    let dir = temp_dir();
    let yaml = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: watch }\nvars:\n  addr: 127.0.0.1:1\n  hold: 1s\nprobes:\n  - { name: tcp, interval: 200ms, timeout: 1s, tcp: { address: \"${addr}\" } }\nsteps:\n  - wait: ${hold}\n";
    let file = write(dir.path(), "vars.yaml", yaml);
    let set = format!("addr={addr}");
    let out = kd(&[
        "run",
        file.to_str().unwrap(),
        "--set",
        &set,
        "--print-scenario",
    ]);
    out.assert_code(0);
    assert!(out.stdout.contains(&addr), "{}", out.stdout);
    assert!(
        !out.stdout.contains("vars:") && !out.stdout.contains("${"),
        "{}",
        out.stdout
    );
    let printed = write(dir.path(), "printed.yaml", &out.stdout);
    kd(&["validate", printed.to_str().unwrap()]).assert_code(0);
    // A context the scenario does not allow is refused, as the run would refuse it.
    let out = kd(&[
        "run",
        file.to_str().unwrap(),
        "--set",
        &set,
        "--context",
        "other",
        "--print-scenario",
    ]);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("--context other: the scenario does not allow"),
        "{}",
        out.stderr
    );
    let reports = dir.path().join("reports");
    run_to_end(&printed, &reports).assert_code(0);
    let r = only_report(&reports);
    assert_eq!(
        r["probes"][0]["measurements"]["failed_samples"], 0,
        "the substituted address was probed"
    );
}
