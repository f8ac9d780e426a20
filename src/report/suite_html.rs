//! A suite's `index.html`: one self-contained page (inline CSS and SVG, no script, nothing
//! fetched) with one row per scenario (verdict, exit code, per probe availability, longest
//! outage and recovery, a link to its report.html) and the combined timeline.

use std::fmt::Write;

use super::escape::escape;
use super::format::{pct, timestamp};
use super::{suite_timeline, RunReport, SuiteSummary};
use crate::exit_code::ExitCode;
use crate::measure::format_ms;

const STYLE: &str = include_str!("report.css");
const EXTRA_STYLE: &str = "td ul{margin:0;padding-left:16px}.badge.not-run{background:#59636e}\n";

/// Renders the suite's index page; `reports[i]` is the report of `summary.runs[i]`.
pub fn render(summary: &SuiteSummary, reports: &[Option<RunReport>]) -> String {
    let name = escape(&summary.suite);
    let verdict = suite_label(summary.exit_code);
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>kubedrill suite · {name} · {verdict}</title>\n<style>\n{STYLE}{EXTRA_STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = write!(
        h,
        "<header>\n<h1>Suite {name} <span class=\"badge {}\">{verdict}</span></h1>\n<p class=\"meta\">exit code {} (the worst of its runs) · {} scenario(s) · started <time>{}</time> · ended <time>{}</time> (UTC) · kubedrill {}</p>\n",
        verdict.to_lowercase(),
        summary.exit_code,
        summary.runs.len(),
        timestamp(&summary.started_at),
        timestamp(&summary.ended_at),
        escape(&summary.kubedrill_version),
    );
    if let Some(why) = &summary.stopped {
        let _ = writeln!(
            h,
            "<p class=\"reason\"><strong>Stopped early:</strong> {}</p>",
            escape(why)
        );
    }
    h.push_str("</header>\n<section>\n<h2>Scenarios</h2>\n<table class=\"runs\">\n<thead>\n<tr><th>#</th><th>Scenario</th><th>Verdict</th><th>Exit code</th><th>Duration</th><th>Probes: availability · longest outage · recovery</th><th>Report</th></tr>\n</thead>\n<tbody>\n");
    for (i, run) in summary.runs.iter().enumerate() {
        let probes: String = run
            .probes
            .iter()
            .map(|p| {
                format!(
                    "<li><strong>{}</strong> {} · {} · {}</li>",
                    escape(&p.name),
                    pct(p.availability_pct),
                    format_ms(p.longest_outage_ms),
                    escape(&p.recovery)
                )
            })
            .collect();
        let reason = run
            .reason
            .as_ref()
            .map(|r| format!("<br><small>{}</small>", escape(r)))
            .unwrap_or_default();
        let link = match &run.report_html {
            Some(href) => format!("<a href=\"{}\">report</a>", escape(href)),
            None => "–".into(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"run\"><td>{}</td><td><strong>{}</strong><br><code>{}</code></td><td><span class=\"badge {}\">{}</span>{reason}</td><td>{}</td><td>{}</td><td><ul>{probes}</ul></td><td>{link}</td></tr>",
            i + 1,
            escape(&run.scenario),
            escape(&run.file),
            escape(&run.verdict),
            escape(&run.verdict.to_uppercase()),
            run.exit_code.map_or_else(|| "–".into(), |c| c.to_string()),
            run.duration_ms.map_or_else(|| "–".into(), format_ms),
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
    let _ = write!(
        h,
        "<section>\n<h2>Timeline</h2>\n<div class=\"chart\">{}</div>\n{LEGEND}\n</section>\n",
        suite_timeline::render(&summary.runs, reports)
    );
    h.push_str("</body>\n</html>\n");
    h
}

const LEGEND: &str = "<p class=\"legend\">One row per scenario, each from its own run's start; one bar per probe. <span class=\"sw up\"></span>observed <span class=\"sw down\"></span>outage <span class=\"sw fault\"></span>fault in place. Windows less than a pixel apart are drawn as one (its tooltip says how many).</p>";

/// `PASS` for exit 0, else the label of the worst run's code.
fn suite_label(code: i32) -> &'static str {
    match code {
        c if c == ExitCode::Pass.code() => "PASS",
        c if c == ExitCode::ExpectationsFailed.code() => "FAIL",
        c if c == ExitCode::Aborted.code() => "ABORTED",
        _ => "ERROR",
    }
}
