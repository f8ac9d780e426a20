//! The combined timeline of a suite's `index.html`: one row per scenario, each on a common
//! axis that starts at its own run's start (so the runs line up and compare), with the
//! fault windows shaded and, per probe, a thin bar: observed (healthy) and the outage
//! windows. Windows closer than a pixel are merged, so the SVG stays small for any run.
//! Plain inline SVG styled by report.css; tooltips are SVG `<title>`s.

use std::fmt::Write;

use super::escape::escape;
use super::format::{fault_span, offset, run_ms};
use super::RunReport;
use super::SuiteRun;
use crate::measure::format_ms;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 190.0;
const RIGHT: f64 = 20.0;
const PLOT: f64 = WIDTH - LEFT - RIGHT;
const TOP: f64 = 8.0;
/// Height of a scenario row without its probe bars, and of each bar.
const ROW_HEAD: f64 = 18.0;
const BAR: f64 = 8.0;
const BAR_GAP: f64 = 3.0;
const ROW_GAP: f64 = 10.0;
const AXIS: f64 = 30.0;
const NAME_CHARS: usize = 26;

/// The chart as an `<svg>` element; runs without a report get an empty row.
pub(crate) fn render(runs: &[SuiteRun], reports: &[Option<RunReport>]) -> String {
    let longest = reports.iter().flatten().map(run_ms).fold(1.0_f64, f64::max);
    let scale = |ms: f64| LEFT + ms.clamp(0.0, longest) / longest * PLOT;
    let heights: Vec<f64> = reports
        .iter()
        .map(|r| {
            let bars = r.as_ref().map_or(0, |r| r.probes.len()) as f64;
            ROW_HEAD + bars * (BAR + BAR_GAP) + ROW_GAP
        })
        .collect();
    let bottom = TOP + heights.iter().sum::<f64>();
    let height = bottom + AXIS;
    let mut svg = format!(
        r#"<svg class="timeline suite" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="timeline of every scenario: faults and outages since each run's start">"#
    );
    svg.push('\n');
    let mut y = TOP;
    for ((run, r), h) in runs.iter().zip(reports).zip(&heights) {
        let _ = write!(
            svg,
            r#"<g class="run"><title>{}</title>"#,
            escape(&run.scenario)
        );
        let _ = writeln!(
            svg,
            r#"<text class="probe" x="4" y="{:.1}">{}</text><text class="kind" x="{:.1}" y="{:.1}">{}</text>"#,
            y + 12.0,
            escape(&short(&run.scenario)),
            LEFT,
            y + 12.0,
            escape(&run.verdict.to_uppercase()),
        );
        if let Some(r) = r {
            row(&mut svg, r, y, h - ROW_GAP, &scale);
        }
        svg.push_str("</g>\n");
        y += h;
    }
    axis(&mut svg, longest, bottom, &scale);
    svg.push_str("</svg>");
    svg
}

fn row(svg: &mut String, r: &RunReport, y: f64, h: f64, scale: &dyn Fn(f64) -> f64) {
    let end = run_ms(r);
    for f in &r.faults {
        if let Some((from, to)) = fault_span(f, end) {
            let (x1, x2) = (scale(from), scale(to));
            let _ = writeln!(
                svg,
                r#"<g class="fault"><title>{} {}: {} → {}</title><rect x="{x1:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}"/></g>"#,
                escape(&f.id),
                escape(&f.kind),
                offset(from),
                offset(to),
                (x2 - x1).max(1.0),
            );
        }
    }
    for (i, p) in r.probes.iter().enumerate() {
        let by = y + ROW_HEAD + i as f64 * (BAR + BAR_GAP);
        let m = &p.measurements;
        let _ = writeln!(
            svg,
            r#"<text class="kind" x="14" y="{:.1}">{}</text>"#,
            by + BAR - 1.0,
            escape(&short(&p.name))
        );
        if let (Some(a), Some(b)) = (m.first_observed_ms, m.last_observed_ms) {
            let _ = writeln!(
                svg,
                r#"<rect class="up" x="{:.1}" y="{by:.1}" width="{:.1}" height="{BAR}"><title>{}: observed {} → {}</title></rect>"#,
                scale(a),
                (scale(b) - scale(a)).max(1.0),
                escape(&p.name),
                offset(a),
                offset(b),
            );
        }
        let windows = m
            .outages
            .iter()
            .map(|o| (o.start_ms, o.end_ms.unwrap_or(o.end_earliest_ms)));
        for (from, to, n) in merged(windows, scale) {
            let what = if n == 1 {
                format!(
                    "outage {} → {} ({})",
                    offset(from),
                    offset(to),
                    format_ms(to - from)
                )
            } else {
                format!("{n} outages {} → {}", offset(from), offset(to))
            };
            let _ = writeln!(
                svg,
                r#"<rect class="down" x="{:.1}" y="{by:.1}" width="{:.1}" height="{BAR}"><title>{}: {what}</title></rect>"#,
                scale(from),
                (scale(to) - scale(from)).max(1.0),
                escape(&p.name),
            );
        }
    }
}

/// Windows in time order, merged while they are less than a pixel apart: (from, to, count).
fn merged(
    windows: impl Iterator<Item = (f64, f64)>,
    scale: &dyn Fn(f64) -> f64,
) -> Vec<(f64, f64, usize)> {
    let mut out: Vec<(f64, f64, usize)> = Vec::new();
    for (from, to) in windows {
        match out.last_mut() {
            Some(last) if scale(from) <= scale(last.1) + 1.0 => {
                last.1 = last.1.max(to);
                last.2 += 1;
            }
            _ => out.push((from, to, 1)),
        }
    }
    out
}

fn axis(svg: &mut String, longest: f64, bottom: f64, scale: &dyn Fn(f64) -> f64) {
    let _ = writeln!(
        svg,
        r#"<g class="axis"><line x1="{LEFT}" x2="{:.1}" y1="{bottom:.1}" y2="{bottom:.1}"/>"#,
        LEFT + PLOT
    );
    let step = tick_step(longest);
    let mut t = 0.0;
    while t <= longest + 0.5 {
        let x = scale(t);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{bottom:.1}" y2="{:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 4.0,
            bottom + 16.0,
            offset(t)
        );
        t += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}">since each run's start</text></g>"#,
        bottom + 28.0
    );
}

/// A round tick step giving at most about ten ticks.
fn tick_step(ms: f64) -> f64 {
    [
        100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3,
        1800e3, 3600e3,
    ]
    .into_iter()
    .find(|s| ms / s <= 10.0)
    .unwrap_or(7200e3)
}

fn short(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(NAME_CHARS - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::merged;

    #[test]
    fn windows_closer_than_a_pixel_merge() {
        let scale = |ms: f64| ms / 10.0;
        let w = merged(
            [(0.0, 5.0), (12.0, 20.0), (100.0, 110.0)].into_iter(),
            &scale,
        );
        assert_eq!(w, [(0.0, 20.0, 2), (100.0, 110.0, 1)]);
    }
}
