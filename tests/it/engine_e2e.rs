//! The engine end to end with real local servers: a kubelet stand-in (HTTP) and dnsmasq
//! (DNS), frozen by a `command` fault (SIGSTOP) for a known interval and thawed (SIGCONT)
//! by its revert. The measured outage and recovery must match that ground truth.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{
    free_port, ms, only_report, only_run_dir, probe, read_report, temp_dir, wait_for, write,
    Dnsmasq,
};
use crate::run_binary::run_to_end;

/// The kubelet stand-in (HTTP `/healthz`) on 127.0.0.1:PORT.
pub struct Standin {
    pub child: Child,
    pub port: u16,
}

impl Standin {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_kubedrill-kubelet-standin"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stand-in");
        wait_for(Duration::from_secs(10), "stand-in to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Standin { child, port }
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INTERVAL_MS: f64 = 200.0;
/// Scheduling slack on a loaded 2-core machine, on top of one probe interval.
const SLACK_MS: f64 = 150.0;

fn scenario(web: &Standin, dns: &Dnsmasq, extra_expect: &str) -> String {
    let pids = format!("{}, {}", web.child.id(), dns.pid());
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: freeze-web-and-dns }}
settings: {{ stable-window: 600ms }}
probes:
  - name: web
    interval: 200ms
    timeout: 150ms
    http: {{ url: "http://127.0.0.1:{web_port}/healthz", expect-status: 200 }}
  - name: dns
    interval: 200ms
    timeout: 150ms
    dns: {{ server: "{dns_server}", name: a.example.test, expect: ["10.1.2.3"] }}
steps:
  - wait: 1s
  - id: freeze
    fault:
      command: {{ inject: [kill, -STOP, {pids}], revert: [kill, -CONT, {pids}] }}
    for: 2s
  - wait-until: {{ stable-for: 600ms, timeout: 15s }}
expect:
  - {{ probe: web, max-outage: "<= 3s", recovery: "<= 1s", availability: ">= 30%" }}
  - {{ probe: dns, max-outage: "<= 3s", recovery: "<= 1s", time-to-detect: "<= 1s" }}
  - {{ recovery: "<= 1s" }}
{extra_expect}"#,
        web_port = web.port,
        dns_server = dns.server(),
    )
}

#[test]
fn measured_outage_and_recovery_match_the_injected_freeze() {
    let web = Standin::start();
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    let file = write(dir.path(), "freeze.yaml", &scenario(&web, &dns, ""));
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(0);

    // The servers really are back.
    assert!(dns.answers(), "dnsmasq answers again");
    assert_ne!(
        crate::common::process_state(web.child.id()),
        Some('T'),
        "stand-in thawed"
    );

    let run = only_run_dir(&reports);
    let r = read_report(&run);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["schema_version"], 2);
    let fault = &r["faults"][0];
    let (injected, reverted) = (ms(&fault["injected_at_ms"]), ms(&fault["reverted_at_ms"]));
    assert!(
        (reverted - injected - 2000.0).abs() < 500.0,
        "fault held ~2s: {injected} → {reverted}"
    );
    for probe in r["probes"].as_array().unwrap() {
        let name = probe["name"].as_str().unwrap();
        let m = &probe["measurements"];
        let outages = m["outages"].as_array().unwrap();
        assert_eq!(outages.len(), 1, "{name}: one outage window: {outages:?}");
        let (start, end) = (ms(&outages[0]["start_ms"]), ms(&outages[0]["end_ms"]));
        assert!(
            (start - injected).abs() <= INTERVAL_MS + SLACK_MS,
            "{name}: outage starts at {start}, freeze at {injected}"
        );
        assert!(
            (end - reverted).abs() <= INTERVAL_MS + SLACK_MS,
            "{name}: outage ends at {end}, thaw at {reverted}"
        );
        let recovery = ms(&m["recovery"]["after_ms"]);
        assert!(
            recovery <= INTERVAL_MS + SLACK_MS,
            "{name}: recovery {recovery}ms"
        );
        let detect = ms(&m["time_to_detect_ms"]);
        assert!(
            detect <= INTERVAL_MS + SLACK_MS,
            "{name}: time to detect {detect}ms"
        );
        assert!(
            probe["samples"].as_array().unwrap().len() >= 15,
            "{name} sampled the whole run"
        );
    }

    // junit.xml: valid XML with one testcase per expectation metric plus "all faults reverted".
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    let names = junit_testcases(&junit);
    assert_eq!(
        names.len(),
        7 + 1,
        "seven expectation metrics plus all faults reverted: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "web max-outage <= 3s"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "all faults reverted"),
        "{names:?}"
    );
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<svg"), "report.html has the timeline chart");
    assert!(std::fs::read_to_string(run.join("report.md"))
        .unwrap()
        .contains("freeze-web-and-dns"));
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    let registered = journal
        .find("\"entry\":\"registered\"")
        .expect("registered");
    let injecting = journal.find("\"entry\":\"injecting\"").expect("injecting");
    assert!(
        registered < injecting,
        "the revert is journaled before the injection"
    );
}

/// Testcase names of a JUnit document (parsed as XML, so malformed XML fails).
pub fn junit_testcases(xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut names = Vec::new();
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                let name = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"name")
                    .map(|a| a.unescape_value().unwrap().into_owned())
                    .expect("testcase has a name");
                names.push(name);
            }
            Event::Eof => return names,
            _ => {}
        }
    }
}

#[test]
fn an_outage_longer_than_expected_fails_the_run_with_exit_1() {
    let web = Standin::start();
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    let file = write(
        dir.path(),
        "freeze.yaml",
        &scenario(&web, &dns, "  - { probe: web, max-outage: \"<= 500ms\" }\n"),
    );
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(1);
    let r = only_report(&reports);
    assert_eq!(r["verdict"], "fail");
    let failed: Vec<_> = r["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["metric"], "max-outage");
    assert!(dns.answers(), "reverted although the run failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_does_not_delay_another_probe() {
    // Accepts connections and never answers: the http probe hangs until its timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held =
        std::thread::spawn(move || listener.incoming().take(64).flatten().collect::<Vec<_>>());
    let dir = temp_dir();
    let yaml = format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: hang }}
probes:
  - name: hanging
    interval: 100ms
    timeout: 2s
    http: {{ url: "http://127.0.0.1:{port}/" }}
  - name: quick
    interval: 100ms
    timeout: 1s
    tcp: {{ address: "127.0.0.1:{port}" }}
steps:
  - wait: 3s
"#
    );
    let path = write(dir.path(), "hang.yaml", &yaml);
    let scenario = kubedrill::scenario::load_file(&path, &Default::default()).expect("valid");
    let opts = kubedrill::engine::RunOptions {
        report_root: dir.path().join("reports"),
        cluster: Default::default(),
        events: kubedrill::engine::EventSink::new(64),
        handle_signals: false,
    };
    let outcome = kubedrill::engine::run(&scenario, &opts).await.expect("run");
    drop(held);
    let hanging = probe(&outcome.report, "hanging");
    let quick = probe(&outcome.report, "quick");
    assert!(
        !hanging.samples.is_empty()
            && hanging.samples.iter().all(|s| !s.ok
                && s.error
                    .as_deref()
                    .unwrap_or("")
                    .contains("timed out after 2s")
                && s.dated_by == kubedrill::measure::Dating::Start),
        "{:?}",
        hanging.samples
    );
    // Samples keep starting at every tick while earlier ones hang (21 may run at once).
    let largest_start_gap = |p: &kubedrill::report::ProbeRecord| {
        p.samples
            .windows(2)
            .map(|w| w[1].start_ms - w[0].start_ms)
            .fold(0.0, f64::max)
    };
    assert!(
        largest_start_gap(hanging) < 250.0,
        "the hanging probe kept its schedule (largest gap {}ms)",
        largest_start_gap(hanging)
    );
    assert_eq!(hanging.max_in_flight, 21, "ceil(2s / 100ms) + 1");
    assert_eq!(hanging.missed_ticks, 0, "the bound was never reached");
    assert_eq!(
        hanging.samples.len() as u64 + hanging.missed_ticks + hanging.unfinished_samples,
        hanging.scheduled_ticks
    );
    assert!(
        quick.samples.len() >= 20,
        "quick probe kept its schedule: {} samples",
        quick.samples.len()
    );
    let max_gap = largest_start_gap(quick);
    assert!(
        max_gap < 1000.0,
        "the quick probe was never held up by the hanging one (largest gap {max_gap}ms)"
    );
}
