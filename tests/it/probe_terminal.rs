//! `kubedrill probe` on a terminal (a pty from util-linux `script`): the live view shows
//! each probe's availability and the latency of its recent healthy samples while it
//! watches, and the summary after it names the run's latency percentiles.

use std::process::Command;

use crate::adhoc_cli::tcp_server;
use crate::common::{only_report, temp_dir};
use crate::run_binary::Exit;

/// `argv` run on a pseudo-terminal, the live view on (no `KUBEDRILL_NO_LIVE`); the
/// terminal's output, both streams, with carriage returns and escapes as written.
fn on_a_terminal(argv: &[&str]) -> Exit {
    let command: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
    Exit::of(
        Command::new("script")
            .args(["--quiet", "--flush", "--return", "--command"])
            .arg(command.join(" "))
            .arg("/dev/null")
            .env_remove("KUBEDRILL_NO_LIVE"),
    )
}

#[test]
fn the_live_view_shows_availability_and_recent_latency_per_probe() {
    let addr = tcp_server();
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    let probe = format!("tcp={addr}");
    let out = on_a_terminal(&[
        env!("CARGO_BIN_EXE_kubedrill"),
        "probe",
        &probe,
        "--for",
        "2s",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    out.assert_code(0);
    // Every redraw of the probe's line (its light first), as the terminal got it.
    let live: Vec<&str> = out
        .stdout
        .split(['\r', '\n'])
        .filter(|l| l.contains("●\x1b[0m tcp  "))
        .collect();
    assert!(
        live.len() >= 3,
        "the live view redrew the probe: {}",
        out.stdout
    );
    let last = live.last().unwrap();
    assert!(
        last.contains("\x1b[32m●\x1b[0m tcp  100.00%  last ")
            && last.contains(" p50 ")
            && last.contains(" p95 ")
            && last.contains(" healthy)"),
        "light, availability, last and recent latency: {last:?}"
    );
    // The count of healthy samples it covers grew while the probe watched.
    let counts: Vec<u32> = live
        .iter()
        .filter_map(|l| l.rsplit_once("(last ")?.1.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        counts.first() < counts.last(),
        "{counts:?} in {}",
        out.stdout
    );
    let r = only_report(&reports);
    let samples = r["probes"][0]["measurements"]["samples"].as_u64().unwrap();
    assert!(
        u64::from(*counts.last().unwrap()) <= samples,
        "the view counts samples the report has: {counts:?} vs {samples}"
    );
    assert!(
        out.stdout.contains("probe tcp ") && out.stdout.contains("latency p50 "),
        "the summary names the latency: {}",
        out.stdout
    );
}
