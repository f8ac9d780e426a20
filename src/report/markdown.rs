//! `report.md`: a compact summary a person pastes into a ticket.

use std::fmt::Write;

use super::escape;
use super::format::{fault_details, revert_outcome, timestamp, unfinished_reverts, verdict_label};
use super::tables::{self, Table};
use super::RunReport;
use crate::measure::format_ms;
use crate::verdict::Verdict;

/// Renders the report as Markdown.
pub fn render(r: &RunReport) -> String {
    let mut out = String::new();
    let icon = if r.verdict == Verdict::Pass {
        "✅"
    } else {
        "❌"
    };
    let _ = writeln!(
        out,
        "# {icon} {}: {} (exit code {})\n",
        inline(&r.scenario.name),
        verdict_label(r.verdict),
        r.exit_code
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "**Reason:** {}\n", inline(reason));
    }
    if let Some(d) = &r.scenario.description {
        let _ = writeln!(out, "{}\n", inline(d));
    }
    let _ = writeln!(
        out,
        "- **Started:** {} · **Ended:** {} (UTC) · **Duration:** {}",
        timestamp(&r.started_at),
        timestamp(&r.ended_at),
        format_ms(r.duration.as_secs_f64() * 1000.0)
    );
    let _ = writeln!(
        out,
        "- **Scenario file:** `{}` · kubedrill {}\n",
        r.scenario.file.replace('`', "'"),
        inline(&r.kubedrill_version)
    );
    for (title, table) in tables::sections(r, false) {
        let _ = writeln!(out, "## {title}\n\n{}", table_md(&table));
    }
    details(&mut out, r);
    manual_steps(&mut out, r);
    recovered(&mut out, r);
    out
}

/// What `kubedrill recover` did afterwards (its timeline entries), when it ran.
fn recovered(out: &mut String, r: &RunReport) {
    let entries: Vec<_> = r
        .timeline
        .iter()
        .filter(|e| e.kind.starts_with("recover"))
        .collect();
    if entries.is_empty() {
        return;
    }
    out.push_str("## Recovered afterwards\n\n");
    for e in entries {
        let _ = writeln!(out, "- {} {}", timestamp(&e.at), inline(&e.message));
    }
    out.push('\n');
}

/// Fault details (leaders, failover times, per-pod outcomes, command results) as JSON.
fn details(out: &mut String, r: &RunReport) {
    let all = fault_details(r);
    if all.is_empty() {
        return;
    }
    out.push_str("## Fault details\n\n");
    for (id, json) in all {
        let fence = fence_for(std::slice::from_ref(&json));
        let _ = writeln!(out, "**{}**\n\n{fence}json\n{json}\n{fence}\n", inline(&id));
    }
}

/// Each unfinished revert with the commands to run by hand, in a code block.
fn manual_steps(out: &mut String, r: &RunReport) {
    let unfinished: Vec<_> = unfinished_reverts(r).collect();
    if unfinished.is_empty() {
        return;
    }
    out.push_str("## Undo by hand\n\n");
    for rv in unfinished {
        let _ = writeln!(
            out,
            "- **{}** {}: {}",
            inline(&rv.fault_id),
            inline(&revert_outcome(rv)),
            inline(&rv.description)
        );
        if !rv.manual.is_empty() {
            let fence = fence_for(&rv.manual);
            let _ = writeln!(out, "\n{fence}sh\n{}\n{fence}\n", rv.manual.join("\n"));
        }
    }
}

fn table_md(t: &Table) -> String {
    if t.rows.is_empty() {
        return "_None._\n".into();
    }
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut s = row(t.headers.iter().map(|h| h.to_string()).collect());
    s.push_str(&row(t.headers.iter().map(|_| "---".to_string()).collect()));
    for r in &t.rows {
        s.push_str(&row(r.iter().map(|c| cell(c)).collect()));
    }
    if let Some(note) = &t.note {
        s.push_str(&format!("\n_{}_\n", inline(note)));
    }
    s
}

/// User text kept on one line (descriptions and reasons may hold newlines), its HTML and
/// Markdown table syntax escaped.
fn inline(s: &str) -> String {
    escape::markdown(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A table cell: one line, escaped like all user text (pipes included).
fn cell(s: &str) -> String {
    inline(s)
}

/// A code fence longer than any run of backticks inside the block.
fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::{fence_for, render};
    use crate::report::snapshot::assert_golden;
    use crate::report::test_fixture::sample_report;

    #[test]
    fn markdown_lists_expectations_and_manual_commands() {
        let md = render(&sample_report());
        assert!(md.starts_with("# ❌ etcd-leader-partition: ERROR (exit code 4)"));
        for row in [
            "| ❌ | api | availability | >= 99% | 67.07% (65.83%..68.36%) |",
            "| ✅ | api | recovery | <= 5s | 505ms (250ms..505ms) |",
            "| ❌ within uncertainty | dns | availability | >= 95% | 94.84% (92.33%..97.44%) |",
            "| ✅ | dns | max-outage | <= 2s | 1.01s (500ms..1.50s) |",
        ] {
            assert!(md.contains(row), "{row} in {md}");
        }
        assert!(md.contains("_Within uncertainty: the threshold lies inside"));
        assert!(md.contains(
            "```sh\nssh -i ~/.ssh/drill admin@10.0.0.12 'sudo systemctl start kubelet'\n```"
        ));
    }

    #[test]
    fn cells_keep_tables_intact() {
        let mut r = sample_report();
        r.probes[0].name = "a|b\nc".into();
        assert!(render(&r).contains("| a\\|b c | 67.07% (65.83%..68.36%) |"));
        r.probes[0].name = "<script>alert(1)</script> c:\\".into();
        r.scenario.description = Some("<img src=x onerror=alert(1)> | x".into());
        r.reason = Some("<b>why</b>".into());
        let md = render(&r);
        assert!(
            !md.contains("<script>") && !md.contains("<img") && !md.contains("<b>"),
            "{md}"
        );
        assert!(
            md.contains("| &lt;script>alert(1)&lt;/script> c:\\\\ | 67.07% (65.83%..68.36%) |"),
            "{md}"
        );
        assert!(md.contains("**Reason:** &lt;b>why&lt;/b>"), "{md}");
        assert_eq!(fence_for(&["echo ```".into()]), "````");
    }

    #[test]
    fn outage_rows_show_boundaries_between_observations_and_slow_successes() {
        let md = render(&sample_report());
        assert!(
            md.contains("| api | 67.07% (65.83%..68.36%) | 74.32% (55/74) | 1 | 6.50s (6.25s..6.75s) | 1.00s | 505ms (250ms..505ms) |"),
            "{md}"
        );
        assert!(md.contains("| 6/80 |"), "{md}");
        assert!(
            md.contains(
                "| api | +5.756–6.000s | +12.250–12.505s | 6.50s (6.25s..6.75s) | 19 | 1 |"
            ),
            "{md}"
        );
    }

    #[test]
    fn an_outage_still_going_on_at_the_end_has_no_upper_bound() {
        let mut r = sample_report();
        let m = &mut r.probes[0].measurements;
        let w = &mut m.outages[0];
        (w.end_ms, w.length_max_ms, w.length_ms) = (None, None, w.length_min_ms);
        m.longest_outage_max_ms = None;
        m.longest_outage_ms = m.longest_outage_min_ms;
        let md = render(&r);
        assert!(
            md.contains("| api | +5.756–6.000s | still down at the end (last seen down +12.250s) | ≥ 6.25s (still down at the end) |"),
            "{md}"
        );
        assert!(
            md.contains("| 1 | ≥ 6.25s (still down at the end) |"),
            "{md}"
        );
    }

    #[test]
    fn a_flapping_probe_lists_its_longest_windows_and_sums_up_the_rest() {
        let md = render(&crate::report::test_fixture::flapping_report(1, 1000, 1));
        let rows = md.matches("| flapping-probe-0 | +").count();
        assert_eq!(rows, crate::report::tables::MAX_OUTAGE_ROWS, "{md}");
        assert!(
            md.contains("| flapping-probe-0 | … 450 more windows, none longer | (report.json has them all) |  | 450 | 0 |"),
            "{md}"
        );
    }

    #[test]
    fn markdown_snapshot() {
        assert_golden("report.md", &render(&sample_report()));
    }
}
