//! `kubedrill run --serve ADDR`, the web live view, checked in headless Chromium: while a
//! real dnsmasq is frozen by a command fault, the page shows the fault window and the dns
//! probe's outage (a tcp probe on a local listener stays up); once the run is over the
//! same URL is the final report. A busy address is exit 2 with nothing run.

use std::net::TcpListener;
use std::time::Duration;

use crate::common::{free_port, only_run_dir, temp_dir, wait_for, write, Dnsmasq};
use crate::headless::{dump_dom, http_get, screenshot};
use crate::run_binary::{run_command, Exit, SpawnedRun, INJECTED};

/// A local TCP target that accepts (and drops) every connection until the test ends.
fn tcp_target() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    port
}

fn scenario(dns: &Dnsmasq, tcp_port: u16) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: live-game-day }}
settings: {{ stable-window: 400ms }}
probes:
  - name: dns
    interval: 200ms
    timeout: 150ms
    dns: {{ server: "{}", name: a.example.test }}
  - name: tcp
    interval: 200ms
    timeout: 300ms
    tcp: {{ address: "127.0.0.1:{tcp_port}" }}
steps:
  - wait: 1s
  - id: freeze-dns
    fault:
      command: {{ inject: [kill, -STOP, "{pid}"], revert: [kill, -CONT, "{pid}"] }}
    for: 20s
"#,
        dns.server(),
        pid = dns.pid(),
    )
}

/// `live.json` as JSON (`Null` while nothing answers).
fn live_state(port: u16) -> serde_json::Value {
    http_get(port, "/live.json")
        .and_then(|(_, body)| serde_json::from_str(&body).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The probe `name`'s state in `live.json`.
fn probe_state(state: &serde_json::Value, name: &str) -> String {
    state["probes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["state"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The part of the page's SVG that draws the lane of `probe`.
fn lane<'a>(dom: &'a str, probe: &str) -> &'a str {
    let start = dom
        .find(&format!("<g class=\"lane\" data-probe=\"{probe}\">"))
        .unwrap_or_else(|| panic!("no lane for {probe}: {dom}"));
    let rest = &dom[start + 1..];
    let end = rest.find("<g class=\"lane\"").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn the_live_page_shows_the_fault_and_the_outage_then_becomes_the_report() {
    let dns = Dnsmasq::start();
    let tcp_port = tcp_target();
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(&dns, tcp_port));
    let reports = dir.path().join("reports");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("http://{addr}/");
    let run = SpawnedRun::start(&file, &reports, &["--serve", &addr, "--serve-linger", "5m"]);
    run.wait_for_journal(
        Duration::from_secs(20),
        "the fault to be injected",
        INJECTED,
    );
    // The outage is observed within a sample or two of the freeze.
    wait_for(
        Duration::from_secs(5),
        "live.json to show the dns probe down",
        || probe_state(&live_state(port), "dns") == "down",
    );

    let dom = dump_dom(&url);
    assert!(
        dom.contains("<title>kubedrill · live-game-day · LIVE</title>"),
        "{dom}"
    );
    assert!(dom.contains("<span class=\"badge live\">LIVE</span>"));
    // The current step and the fault in place, named as the run names them.
    assert!(
        dom.contains("step 2/2: fault freeze-dns"),
        "current step: {dom}"
    );
    let in_place = dom
        .split("<li class=\"fault-in-place\" data-fault=\"freeze-dns\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no fault in place: {dom}"));
    assert!(
        in_place.contains(&format!("kill -STOP {}", dns.pid())),
        "{in_place}"
    );
    // The probes: dns down since the freeze, tcp up.
    assert!(
        dom.contains("<tr class=\"probe down\" data-probe=\"dns\">"),
        "{dom}"
    );
    assert!(dom.contains("<tr class=\"probe up\" data-probe=\"tcp\">"));
    // The timeline: the fault window shaded, an outage window in the dns lane only.
    let svg = dom
        .split("<svg class=\"timeline\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no timeline: {dom}"));
    assert!(svg.contains("<g class=\"fault\">"), "{svg}");
    assert!(svg.contains("freeze-dns"), "{svg}");
    assert!(lane(svg, "dns").contains("<g class=\"outage\">"));
    assert!(lane(svg, "dns").contains("<rect class=\"down\""));
    assert!(!lane(svg, "tcp").contains("<g class=\"outage\">"));
    // Nothing is loaded from elsewhere.
    for fetch in [" src=", "<link", "url(http", "@import"] {
        assert!(!dom.contains(fetch), "{fetch}: {dom}");
    }
    screenshot(&url, &dir.path().join("live.png"));

    // The run ends (the fault is reverted after 20s); the URL turns into the report.
    wait_for(
        Duration::from_secs(60),
        "live.json to say the run finished",
        || live_state(port)["finished"] == true,
    );
    let run_dir = only_run_dir(&reports);
    let report_html = std::fs::read_to_string(run_dir.join("report.html")).unwrap_or_default();
    let dom = dump_dom(&url);
    assert!(
        dom.contains("<title>kubedrill · live-game-day · PASS</title>"),
        "{dom}"
    );
    assert!(dom.contains("<span class=\"badge pass\">PASS</span>"));
    assert!(
        !dom.contains("badge live") && !dom.contains("<script"),
        "{dom}"
    );
    assert!(dom.contains("<h2>Timeline</h2>"));
    assert!(dom.contains("reverted (started +"), "{dom}");
    screenshot(&url, &dir.path().join("final.png"));
    // `/` serves what the run wrote, and the reports beside it; never the journal.
    let (status, served) = http_get(port, "/").unwrap();
    assert_eq!(status, 200);
    if !report_html.is_empty() {
        assert_eq!(served, report_html);
    }
    let (status, json) = http_get(port, "/report.json").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        json,
        std::fs::read_to_string(run_dir.join("report.json")).unwrap()
    );
    assert_eq!(http_get(port, "/journal.jsonl").unwrap().0, 404);
    assert_eq!(http_get(port, "/../s.yaml").unwrap().0, 404);

    // Ctrl-C ends the linger at once with the run's exit code.
    run.sigint();
    let out = run.finish();
    out.assert_code(0);
    assert!(
        out.stderr.contains(&format!("live view: {url}")),
        "{}",
        out.stderr
    );
    assert!(
        http_get(port, "/").is_none(),
        "the server stopped with the command"
    );
}

#[test]
fn a_busy_serve_address_is_exit_2_and_nothing_runs() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = temp_dir();
    let flag = dir.path().join("injected");
    let file = write(
        dir.path(),
        "s.yaml",
        &format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: busy }}\nsteps:\n  - fault:\n      command: {{ inject: [touch, \"{}\"], revert: [\"true\"] }}\n    for: 100ms\n",
            flag.display()
        ),
    );
    let reports = dir.path().join("reports");
    let out = Exit::of(run_command(&file, &reports).args(["--serve", &addr]));
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("error: --serve {addr}:")),
        "{}",
        out.stderr
    );
    assert!(!flag.exists(), "the fault was not injected");
    assert!(!reports.exists(), "no run directory was made");
}
