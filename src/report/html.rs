//! `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with a verdict badge, the timeline chart and the report's tables.

use std::fmt::Write;

use super::escape::escape;
use super::format::{fault_details, revert_outcome, timestamp, unfinished_reverts, verdict_label};
use super::tables::{self, Table};
use super::{svg_timeline, RunReport};
use crate::measure::format_ms;

const STYLE: &str = include_str!("report.css");

/// Renders the report as a self-contained HTML page.
pub fn render(r: &RunReport) -> String {
    let name = escape(&r.scenario.name);
    let verdict = verdict_label(r.verdict);
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>kubedrill · {name} · {verdict}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
    );
    header(&mut h, r);
    let chart = svg_timeline::render(r);
    let _ = write!(
        h,
        "<section>\n<h2>Timeline</h2>\n<div class=\"chart\">{}</div>\n{LEGEND}\n",
        chart.svg
    );
    if !chart.notes.is_empty() {
        h.push_str("<ul class=\"note\">\n");
        for note in &chart.notes {
            let _ = writeln!(h, "<li>{}</li>", escape(note));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
    for (title, table) in tables::sections(r, true) {
        let _ = write!(
            h,
            "<section>\n<h2>{title}</h2>\n{}</section>\n",
            table_html(&table)
        );
    }
    details(&mut h, r);
    manual_steps(&mut h, r);
    h.push_str("</body>\n</html>\n");
    h
}

/// Fault details (leaders, failover times, per-pod outcomes, command results), folded.
fn details(h: &mut String, r: &RunReport) {
    let all = fault_details(r);
    if all.is_empty() {
        return;
    }
    h.push_str("<section>\n<h2>Fault details</h2>\n");
    for (id, json) in all {
        let _ = writeln!(
            h,
            "<details><summary>{}</summary><pre>{}</pre></details>",
            escape(&id),
            escape(&json)
        );
    }
    h.push_str("</section>\n");
}

const LEGEND: &str = "<p class=\"legend\"><span class=\"sw up\"></span>healthy <span class=\"sw down\"></span>down <span class=\"sw unsure\"></span>state changed somewhere in here (between the last observation of one state and the first of the other) <span class=\"sw fault\"></span>fault in place <span class=\"sw heal\"></span>heal (last revert)<br>Under each lane, the samples around each state change, from start to end: <span class=\"sw s ok\"></span>healthy <span class=\"sw s fail\"></span>failed <span class=\"sw s slow\"></span>slow success (started during the outage, answered after it); the dot marks the instant a sample is dated by: a healthy answer when it arrived, a failure when it was sent.</p>";

fn header(h: &mut String, r: &RunReport) {
    let verdict = verdict_label(r.verdict);
    let _ = write!(
        h,
        "<header>\n<h1>{} <span class=\"badge {}\">{verdict}</span></h1>\n<p class=\"meta\">exit code {} · started <time>{}</time> · ended <time>{}</time> (UTC) · duration {} · <code>{}</code> · kubedrill {}</p>\n",
        escape(&r.scenario.name),
        verdict.to_lowercase(),
        r.exit_code,
        timestamp(&r.started_at),
        timestamp(&r.ended_at),
        format_ms(r.duration.as_secs_f64() * 1000.0),
        escape(&r.scenario.file),
        escape(&r.kubedrill_version),
    );
    if let Some(d) = &r.scenario.description {
        let _ = writeln!(h, "<p>{}</p>", escape(d));
    }
    if let Some(reason) = &r.reason {
        let _ = writeln!(
            h,
            "<p class=\"reason\"><strong>Reason:</strong> {}</p>",
            escape(reason)
        );
    }
    h.push_str("</header>\n");
}

fn table_html(t: &Table) -> String {
    if t.rows.is_empty() {
        return "<p class=\"none\">None.</p>\n".into();
    }
    let row = |tag: &str, cells: &mut dyn Iterator<Item = &str>| {
        let cells: String = cells
            .map(|c| format!("<{tag}>{}</{tag}>", escape(c)))
            .collect();
        format!("<tr>{cells}</tr>\n")
    };
    let mut s = format!(
        "<table>\n<thead>\n{}</thead>\n<tbody>\n",
        row("th", &mut t.headers.iter().copied())
    );
    for r in &t.rows {
        s.push_str(&row("td", &mut r.iter().map(String::as_str)));
    }
    s.push_str("</tbody>\n</table>\n");
    if let Some(note) = &t.note {
        s.push_str(&format!("<p class=\"note\">{}</p>\n", escape(note)));
    }
    s
}

/// Each unfinished revert with the commands to run by hand.
fn manual_steps(h: &mut String, r: &RunReport) {
    let unfinished: Vec<_> = unfinished_reverts(r).collect();
    if unfinished.is_empty() {
        return;
    }
    h.push_str("<section>\n<h2>Undo by hand</h2>\n");
    for rv in unfinished {
        let _ = writeln!(
            h,
            "<p><strong>{}</strong> {}: {}</p>",
            escape(&rv.fault_id),
            escape(&revert_outcome(rv)),
            escape(&rv.description)
        );
        if !rv.manual.is_empty() {
            let _ = writeln!(
                h,
                "<pre><code>{}</code></pre>",
                escape(&rv.manual.join("\n"))
            );
        }
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::report::escape::escape;
    use crate::report::snapshot::assert_golden;
    use crate::report::test_fixture::{flapping_report, sample_report};

    #[test]
    fn html_has_the_chart_and_the_tables() {
        let r = sample_report();
        let html = render(&r);
        assert!(html.contains("<svg"));
        assert_eq!(html.matches("<g class=\"lane\"").count(), 2);
        assert!(html.contains("<g class=\"outage\">"));
        assert!(html.contains("<rect class=\"unsure\""));
        assert!(html.contains("<g class=\"s fail\">"));
        assert_eq!(html.matches("<g class=\"fault\"").count(), 2);
        assert!(html.contains("kubelet-1 (not reverted)"));
        assert!(html.contains("<g class=\"recovery\">"));
        assert!(html.contains("recovered +505ms"));
        assert!(html.contains("<g class=\"heal\">"));
        assert!(html.contains("<span class=\"badge error\">ERROR</span>"));
        assert!(html.contains("<td>❌</td><td>api</td><td>availability</td>"));
        assert!(html.contains("<td>❌ within uncertainty</td><td>dns</td><td>availability</td>"));
        assert!(html.contains("<h2>Timeline events</h2>"));
        assert!(html.contains("sudo systemctl start kubelet"));
    }

    #[test]
    fn a_slow_success_inside_an_outage_is_in_the_table_and_drawn_as_a_span() {
        let html = render(&sample_report());
        assert!(
            html.contains("<tr><td>api</td><td>+5.756–6.000s</td><td>+12.250–12.505s</td><td>6.50s (6.25s..6.75s)</td><td>19</td><td>1</td></tr>"),
            "{html}"
        );
        let slow = html
            .split("<g class=\"s slow\">")
            .nth(1)
            .expect("the slow success is drawn");
        assert!(slow.starts_with(
            "<title>slow success (started during the outage, answered after it): started +12.000s, ended +12.550s (550ms), dated by its end</title><rect "
        ));
    }

    #[test]
    fn html_stays_under_2_mb_for_100k_samples_on_20_flapping_probes() {
        // Flapping every sample, or in blocks about one pixel column wide (the most
        // stretches a merged lane can have).
        for block in [1, 3, 6, 12] {
            let mut r = flapping_report(20, 5_000, block);
            assert_eq!(
                r.probes.iter().map(|p| p.samples.len()).sum::<usize>(),
                100_000
            );
            // Long error texts are cut in tooltips.
            for s in r.probes.iter_mut().flat_map(|p| &mut p.samples) {
                if let Some(e) = &mut s.error {
                    *e = e.repeat(100);
                }
            }
            let html = render(&r);
            assert!(html.len() < 2_000_000, "{} bytes", html.len());
            assert_eq!(html.matches("<g class=\"lane\"").count(), 20);
            assert!(html.contains("<ul class=\"note\">"));
        }
    }

    #[test]
    fn html_is_self_contained() {
        let r = sample_report();
        let mut html = render(&r);
        for p in &r.probes {
            html = html.replace(&escape(&p.target), "");
        }
        for needle in [
            "http://", "https://", "<script", "<link", "src=", "href=", "@import",
        ] {
            assert!(!html.contains(needle), "found {needle}");
        }
    }

    #[test]
    fn html_escapes_text_from_the_report() {
        let mut r = sample_report();
        r.probes[0].name = "<script>alert(1)</script>".into();
        r.probes[1].samples[14].error = Some("<b>boom</b>".into());
        let html = render(&r);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>boom"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn html_snapshot() {
        assert_golden("report.html", &render(&sample_report()));
    }
}
