//! `kubedrill run`: validate everything first, then run scenarios one after the other.

use std::path::PathBuf;

use super::args::{RunArgs, RunCommand};
use super::load::load_all;
use super::plan::{overrides, print_plans};
use super::progress;
use crate::engine::{run as run_engine, EventSink, RunOptions, RunOutcome};
use crate::exit_code::ExitCode;
use crate::measure::format_ms;
use crate::report::write_reports;
use crate::scenario::{ReportFormat, Scenario};

/// Runs every scenario; the exit code is the most severe of all runs.
pub async fn run(c: RunCommand, quiet: bool) -> i32 {
    let RunCommand {
        run: mut a,
        suite,
        report_stdout,
        print_scenario,
        serve,
    } = c;
    a.files = match super::suite::scenario_files(&a.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Invalid.code();
        }
    };
    if let Some(Err(e)) = suite.as_deref().map(super::suite::check_name) {
        eprintln!("error: --suite: {e}");
        return ExitCode::Invalid.code();
    }
    let Some(scenarios) = load_all(&a.files, &a.vars) else {
        return ExitCode::Invalid.code();
    };
    if print_scenario {
        return super::adhoc_print::print_run_scenarios(&a);
    }
    if a.dry_run {
        let runnable = print_plans(&scenarios, &overrides(&a)).await;
        println!("dry run: nothing was injected");
        return if runnable {
            ExitCode::Pass.code()
        } else {
            ExitCode::Invalid.code()
        };
    }
    // Bound before anything runs: a bad or busy address is exit 2, nothing injected.
    if let Some(addr) = serve.serve {
        match super::serve::start(addr).await {
            Ok(server) => a.live = Some(server),
            Err(code) => return code,
        }
    }
    let code = match &suite {
        Some(name) => super::suite::run_suite(&scenarios, &a, name, quiet).await,
        None => run_each(&scenarios, &a, quiet, report_stdout).await,
    };
    if let Some(server) = &a.live {
        server.conclude(suite.is_some());
        server.linger(serve.serve_linger).await;
    }
    code
}

/// Runs the scenarios one by one until one aborts or leaves a revert undone.
async fn run_each(
    scenarios: &[Scenario],
    a: &RunArgs,
    quiet: bool,
    report_stdout: Option<ReportFormat>,
) -> i32 {
    let mut worst = ExitCode::Pass.code();
    for s in scenarios {
        let code = run_one(s, a, quiet, report_stdout).await;
        worst = worst.max(code);
        if code == ExitCode::Aborted.code() || code == ExitCode::RevertFailed.code() {
            break;
        }
    }
    worst
}

async fn run_one(s: &Scenario, a: &RunArgs, quiet: bool, stdout: Option<ReportFormat>) -> i32 {
    let report_root = a
        .report_dir
        .clone()
        .or_else(|| s.report.dir.clone())
        .unwrap_or_else(|| "reports".into());
    match run_in(s, a, quiet, report_root, &s.report.formats).await {
        Ok(o) => {
            if let Some(format) = stdout {
                print_report(&o.report, format);
            }
            o.report.exit_code
        }
        Err(_) => ExitCode::Invalid.code(),
    }
}

/// `--report-stdout`: the report on stdout, JSON on one line (one log line per run).
fn print_report(r: &crate::report::RunReport, format: ReportFormat) {
    let text = match format {
        ReportFormat::Json => serde_json::to_string(r).expect("a report always serialises"),
        other => crate::report::render(r, other),
    };
    println!("{text}");
}

/// Runs `s` with its run directory under `report_root`, writes `formats` (report.json
/// always) and prints its summary. `Err` (printed) when the run could not start: its run
/// directory or journal cannot be written, nothing was injected (exit 2).
pub(super) async fn run_in(
    s: &Scenario,
    a: &RunArgs,
    quiet: bool,
    report_root: PathBuf,
    formats: &[ReportFormat],
) -> Result<RunOutcome, String> {
    let events = EventSink::new(4096);
    // The web live view (`--serve`) subscribes before the engine starts.
    let web = a.live.as_ref().map(|server| server.follow(s, &events));
    let live = progress::spawn(
        &events,
        s.probes.iter().map(|p| p.name.clone()).collect(),
        quiet,
    );
    let opts = RunOptions {
        report_root,
        cluster: overrides(a),
        events,
        handle_signals: true,
    };
    let outcome = run_engine(s, &opts).await;
    // The sink goes with the options: the views end even when the run could not start.
    drop(opts);
    if let Some(h) = live {
        let _ = h.await;
    }
    if let Some(h) = web {
        let _ = h.await;
    }
    match outcome {
        // The run could not start (its run directory or journal cannot be written):
        // nothing was injected, an environment error.
        Err(e) => {
            eprintln!("error: {}: {e}", s.metadata.name);
            if let Some(server) = &a.live {
                server.not_started(&s.metadata.name, &e);
            }
            Err(e)
        }
        Ok(o) => {
            match write_reports(&o.report, &o.run_dir, formats) {
                Ok(paths) => summarize(&o, &paths),
                Err(e) => eprintln!(
                    "error: cannot write reports into {}: {e}",
                    o.run_dir.display()
                ),
            }
            if let Some(server) = &a.live {
                server.finished(&o.report, &o.run_dir);
            }
            Ok(o)
        }
    }
}

fn summarize(o: &RunOutcome, paths: &[std::path::PathBuf]) {
    let r = &o.report;
    println!(
        "{}: {:?} (exit {})",
        r.scenario.name, r.verdict, r.exit_code
    );
    if let Some(reason) = &r.reason {
        println!("  reason: {reason}");
    }
    // A run refused before its steps began measured and judged nothing.
    let started = r.timeline.iter().any(|e| e.kind == "step-started");
    if !started && r.exit_code == ExitCode::Invalid.code() {
        println!("  the run did not start: nothing was injected, no expectation was judged");
    }
    for p in r.probes.iter().filter(|_| started) {
        let m = &p.measurements;
        println!(
            "  probe {:<16} availability {}  outages {}  longest {}  recovery {}  latency {}",
            p.name,
            m.availability_pct
                .map(|a| format!("{a:.2}%"))
                .unwrap_or_else(|| "n/a".into()),
            m.outages.len(),
            format_ms(m.longest_outage_ms),
            m.recovery.describe(),
            m.latency.describe()
        );
    }
    for e in &r.expectations {
        println!(
            "  {} {}: measured {}",
            if e.passed { "PASS" } else { "FAIL" },
            e.name(),
            e.actual
        );
    }
    if !o.left_undone.is_empty() {
        eprintln!("\n!!! NOT EVERY FAULT WAS REVERTED — the system may be degraded. Undo by hand:");
        for r in &o.left_undone {
            eprintln!("  - {} ({}): {}", r.fault_id, r.outcome, r.description);
            for m in &r.manual {
                eprintln!("      {m}");
            }
        }
        eprintln!("  or retry with: kubedrill recover {}", o.run_dir.display());
    }
    println!("  reports: {}", o.run_dir.display());
    for p in paths {
        println!("    {}", p.display());
    }
}
