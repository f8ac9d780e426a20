//! `compare.md` (for a PR comment or a job summary) and `compare.html` (a self-contained
//! page: inline CSS, no script, nothing fetched) of a [`Comparison`].

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::compare::{Change, Comparison};
use super::escape::{escape, markdown as md};

const STYLE: &str = include_str!("report.css");
const EXTRA_STYLE: &str = "tr.regressed td{background:#ffebe9}tr.better td{background:#dafbe1}\n";

/// `2 regressions`, `no regression`.
fn headline(c: &Comparison) -> String {
    match c.regressions() {
        0 => "no regression".into(),
        1 => "1 regression".into(),
        n => format!("{n} regressions"),
    }
}

/// The comparison as Markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut s = format!(
        "## kubedrill compare: {}\n\nBaseline: `{}`  \nNew: `{}`  \nThresholds (worse by more than this is a regression): {}\n\n",
        headline(c),
        c.baseline.replace('`', "'"),
        c.new.replace('`', "'"),
        c.thresholds.describe()
    );
    if !c.scenarios.is_empty() {
        s.push_str("| Scenario | Verdict | Probe | Metric | Baseline | New | Change | |\n|---|---|---|---|---|---|---|---|\n");
    }
    for sc in &c.scenarios {
        let verdict = format!(
            "{} → {}{}",
            sc.baseline_verdict,
            sc.new_verdict,
            if sc.verdict_regressed() { " ❌" } else { "" }
        );
        if sc.rows.is_empty() {
            let _ = writeln!(s, "| {} | {verdict} | | | | | | |", md(&sc.name));
        }
        for r in &sc.rows {
            let _ = writeln!(
                s,
                "| {} | {verdict} | {} | {} | {} | {} | {} | {} |",
                md(&sc.name),
                md(&r.probe),
                r.metric.key(),
                r.baseline.text(r.metric),
                r.new.text(r.metric),
                r.delta_text(),
                r.change.label()
            );
        }
    }
    if !c.missing.is_empty() {
        s.push_str("\n### Missing on one side\n\n");
        for m in &c.missing {
            let _ = writeln!(s, "- {}", md(&m.text()));
        }
    }
    s
}

/// The comparison as a self-contained HTML page.
pub fn html(c: &Comparison) -> String {
    let head = headline(c);
    let badge = if c.regressions() == 0 { "pass" } else { "fail" };
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>kubedrill compare · {head}</title>\n<style>\n{STYLE}{EXTRA_STYLE}</style>\n</head>\n<body>\n<header>\n<h1>kubedrill compare <span class=\"badge {badge}\">{head}</span></h1>\n<p class=\"meta\">baseline <code>{}</code> · new <code>{}</code></p>\n<p class=\"meta\">Thresholds (worse by more than this is a regression): {}</p>\n</header>\n",
        escape(&c.baseline),
        escape(&c.new),
        escape(&c.thresholds.describe())
    );
    for sc in &c.scenarios {
        let _ = write!(
            h,
            "<section class=\"scenario\">\n<h2>{} <small>{} → {}{}</small></h2>\n",
            escape(&sc.name),
            escape(&sc.baseline_verdict),
            escape(&sc.new_verdict),
            if sc.verdict_regressed() {
                " ❌ passed before"
            } else {
                ""
            }
        );
        if sc.rows.is_empty() {
            h.push_str("<p class=\"none\">No probe metric to compare.</p>\n</section>\n");
            continue;
        }
        h.push_str("<table>\n<thead>\n<tr><th>Probe</th><th>Metric</th><th>Baseline</th><th>New</th><th>Change</th><th></th></tr>\n</thead>\n<tbody>\n");
        for r in &sc.rows {
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.change.key(),
                escape(&r.probe),
                r.metric.key(),
                escape(&r.baseline.text(r.metric)),
                escape(&r.new.text(r.metric)),
                escape(&r.delta_text()),
                r.change.label()
            );
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }
    if !c.missing.is_empty() {
        h.push_str("<section>\n<h2>Missing on one side</h2>\n<ul class=\"missing\">\n");
        for m in &c.missing {
            let class = if m.regression {
                Change::Regressed.key()
            } else {
                "note"
            };
            let _ = writeln!(h, "<li class=\"{class}\">{}</li>", escape(&m.text()));
        }
        h.push_str("</ul>\n</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Writes `compare.md` and `compare.html` into `dir` (owner-only, like the reports).
pub fn write_comparison(dir: &Path, c: &Comparison) -> std::io::Result<Vec<PathBuf>> {
    [("compare.md", markdown(c)), ("compare.html", html(c))]
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            super::write_private(&path, text.as_bytes()).map(|_| path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{html, markdown};
    use crate::report::compare::{compare, Side};
    use crate::report::compare_thresholds::Thresholds;
    use crate::report::test_fixture::sample_report;

    #[test]
    fn renderings_escape_names_and_show_regressions() {
        let base = sample_report();
        let mut new = base.clone();
        new.probes[0].name = "<b>x|y</b>".into();
        new.probes[1].measurements.longest_outage_ms += 60_000.0;
        let side = |r: &crate::report::RunReport| -> Side {
            vec![(r.scenario.name.clone(), Some(r.clone()))]
        };
        let c = compare(
            ("a", &side(&base)),
            ("b", &side(&new)),
            Thresholds::default(),
            false,
        );
        let m = markdown(&c);
        assert!(m.starts_with("## kubedrill compare: 2 regressions"), "{m}");
        assert!(m.contains("&lt;b>x\\|y&lt;/b>"), "{m}");
        assert!(m.contains("| max-outage |"), "{m}");
        let h = html(&c);
        assert!(!h.contains("<b>x"), "{h}");
        assert!(h.contains("&lt;b&gt;x|y&lt;/b&gt;"));
        assert_eq!(h.matches("<tr class=\"regressed\">").count(), 1, "{h}");
        assert!(h.contains("<li class=\"regressed\">"));
    }
}
