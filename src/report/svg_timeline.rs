//! The timeline chart of `report.html`: time since the run started on the x axis, one lane
//! per probe (samples, outage bars, recovery marker), fault windows shaded, the heal marked.
//! Plain inline SVG styled by the page's CSS; tooltips are SVG `<title>`s, so no script.

use std::fmt::Write;

use super::escape::escape;
use super::format::{fault_span, offset, run_ms};
use super::{ProbeRecord, RunReport, Sample};
use crate::measure::{format_ms, Recovery};

const WIDTH: f64 = 1000.0;
/// Room for the probe names.
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
/// Room for the fault and heal labels.
const TOP: f64 = 34.0;
const LANE: f64 = 46.0;
const AXIS: f64 = 38.0;
/// Pixels of the time axis; a lane with more samples than this is merged per pixel.
const PLOT: f64 = WIDTH - LEFT - RIGHT;
const NAME_CHARS: usize = 20;

/// Renders the chart as an `<svg>` element.
pub(crate) fn render(r: &RunReport) -> String {
    let scale = Scale { run_ms: run_ms(r) };
    let bottom = TOP + LANE * r.probes.len() as f64;
    let height = bottom + AXIS;
    let mut svg = format!(
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="timeline of probes and faults">"#
    );
    svg.push('\n');
    faults(&mut svg, r, &scale, bottom);
    let heal = r.scenario_measurements.healed_at_ms;
    for (i, p) in r.probes.iter().enumerate() {
        lane(&mut svg, p, TOP + LANE * i as f64, &scale, heal);
    }
    if let Some(h) = heal {
        let x = scale.x(h);
        let _ = writeln!(
            svg,
            r#"<g class="heal"><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{bottom:.1}"/><text x="{:.1}" y="{:.1}">heal {}</text></g>"#,
            TOP - 12.0,
            x + 3.0,
            TOP - 4.0,
            offset(h)
        );
    }
    axis(&mut svg, &scale, bottom);
    svg.push_str("</svg>");
    svg
}

/// Maps offsets since the run started (ms) to x pixels and back.
struct Scale {
    run_ms: f64,
}

impl Scale {
    fn x(&self, ms: f64) -> f64 {
        LEFT + ms.clamp(0.0, self.run_ms) / self.run_ms * PLOT
    }

    fn ms(&self, x: f64) -> f64 {
        (x - LEFT) / PLOT * self.run_ms
    }
}

/// One drawn stretch of a lane: a single sample, or merged samples of one state.
struct Mark {
    x0: f64,
    x1: f64,
    ok: bool,
    title: String,
}

/// Shades each fault from injection to revert (or to the end of the run).
fn faults(svg: &mut String, r: &RunReport, scale: &Scale, bottom: f64) {
    for (i, f) in r.faults.iter().enumerate() {
        // Alternate two label rows so faults that start close together stay readable.
        let label_y = 12 + 11 * (i % 2);
        let Some((start, end)) = fault_span(f, scale.run_ms) else {
            continue;
        };
        let (x0, x1) = (scale.x(start), scale.x(end));
        let (label, until) = match (
            f.injection.as_str(),
            f.reverted_at_ms.filter(|_| f.undone()),
        ) {
            ("failed", _) => (
                format!("{} (injection failed)", escape(&f.id)),
                "injection failed".to_string(),
            ),
            (_, Some(at)) => (escape(&f.id), format!("reverted {}", offset(at))),
            (_, None) => (
                format!("{} (not reverted)", escape(&f.id)),
                "not reverted".to_string(),
            ),
        };
        let _ = writeln!(
            svg,
            r#"<g class="fault"><rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>{}: {} (injected {}, {until})</title></rect><text x="{:.1}" y="{label_y}">{label}</text></g>"#,
            (x1 - x0).max(1.0),
            bottom - TOP,
            escape(&f.id),
            escape(&f.description),
            offset(start),
            x0 + 3.0,
        );
    }
}

/// One probe: name, samples, outage bars and the recovery marker.
fn lane(svg: &mut String, p: &ProbeRecord, y: f64, scale: &Scale, heal: Option<f64>) {
    let name = escape(&p.name);
    let short: String = if p.name.chars().count() > NAME_CHARS {
        p.name.chars().take(NAME_CHARS - 1).chain(['…']).collect()
    } else {
        p.name.clone()
    };
    let _ = writeln!(
        svg,
        r#"<g class="lane" data-probe="{name}"><line class="lane-line" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text class="probe" x="{:.1}" y="{:.1}" text-anchor="end">{}<title>{name}: {} {}</title></text><text class="kind" x="{:.1}" y="{:.1}" text-anchor="end">{} every {}</text>"#,
        WIDTH - RIGHT,
        y + LANE,
        y + LANE,
        LEFT - 8.0,
        y + 22.0,
        escape(&short),
        escape(&p.kind),
        escape(&p.target),
        LEFT - 8.0,
        y + 36.0,
        escape(&p.kind),
        format_ms(p.interval.as_secs_f64() * 1000.0),
    );
    for m in marks(p, scale) {
        let w = if m.x1 - m.x0 > 3.0 {
            m.x1 - m.x0 - 1.0
        } else {
            (m.x1 - m.x0).max(1.0)
        };
        let _ = writeln!(
            svg,
            r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{w:.1}" height="16"><title>{}</title></rect>"#,
            if m.ok { "ok" } else { "fail" },
            m.x0,
            y + 14.0,
            m.title
        );
    }
    for o in &p.measurements.outages {
        let (x0, x1) = (
            scale.x(o.start_ms),
            scale.x(o.end_ms.unwrap_or(scale.run_ms)),
        );
        let until = o.end_ms.map_or_else(|| "the end".into(), offset);
        let _ = writeln!(
            svg,
            r#"<rect class="outage" x="{x0:.1}" y="{:.1}" width="{:.1}" height="6"><title>outage {} → {until} ({})</title></rect>"#,
            y + 33.0,
            (x1 - x0).max(1.0),
            offset(o.start_ms),
            format_ms(o.length_ms)
        );
    }
    if let Some(h) = heal {
        recovery(svg, p, y, scale, h);
    }
    svg.push_str("</g>\n");
}

/// The samples of a lane. When there are more samples than pixels, each pixel column takes
/// one state (a failure wins its column, so short outages stay visible) and adjacent
/// columns of the same state merge, bounding the marks per lane by the width.
fn marks(p: &ProbeRecord, scale: &Scale) -> Vec<Mark> {
    let interval_ms = p.interval.as_secs_f64() * 1000.0;
    let spans = p.samples.iter().enumerate().map(|(i, s)| {
        let end = p
            .samples
            .get(i + 1)
            .map_or(s.offset_ms + interval_ms, |n| n.offset_ms);
        (s, scale.x(s.offset_ms), scale.x(end))
    });
    if p.samples.len() <= PLOT as usize {
        return spans
            .map(|(s, x0, x1)| Mark {
                x0,
                x1,
                ok: s.ok,
                title: sample_title(s),
            })
            .collect();
    }
    let column = |x: f64| ((x - LEFT).max(0.0) as usize).min(PLOT as usize - 1);
    let mut columns: Vec<Option<bool>> = vec![None; PLOT as usize];
    for (s, x0, x1) in spans {
        let first = column(x0);
        let last = column(x1 - 0.001).max(first);
        for cell in &mut columns[first..=last] {
            *cell = Some(cell.unwrap_or(true) && s.ok);
        }
    }
    let mut marks: Vec<Mark> = Vec::new();
    for (c, state) in columns.into_iter().enumerate() {
        let Some(ok) = state else { continue };
        let x = LEFT + c as f64;
        match marks.last_mut() {
            Some(m) if m.ok == ok && m.x1 == x => m.x1 += 1.0,
            _ => marks.push(Mark {
                x0: x,
                x1: x + 1.0,
                ok,
                title: String::new(),
            }),
        }
    }
    for m in &mut marks {
        let state = if m.ok { "healthy" } else { "failing" };
        m.title = format!(
            "{} → {} {state}",
            offset(scale.ms(m.x0)),
            offset(scale.ms(m.x1))
        );
    }
    marks
}

fn sample_title(s: &Sample) -> String {
    match (s.ok, &s.error) {
        (true, _) => format!("{} ok in {}", offset(s.offset_ms), format_ms(s.latency_ms)),
        (false, Some(e)) => format!("{} failed: {}", offset(s.offset_ms), escape(e)),
        (false, None) => format!("{} failed", offset(s.offset_ms)),
    }
}

/// Marks when the probe recovered after the heal, or that it never did.
fn recovery(svg: &mut String, p: &ProbeRecord, y: f64, scale: &Scale, heal: f64) {
    let (x, class, label) = match p.measurements.recovery {
        Recovery::Recovered { after_ms } => (
            scale.x(heal + after_ms),
            "recovery",
            format!("recovered +{}", format_ms(after_ms)),
        ),
        Recovery::Never => (scale.x(heal), "never", "never recovered".to_string()),
        Recovery::NotApplicable => return,
    };
    // Labels near the right edge read leftwards so they stay inside the chart.
    let (tx, anchor) = if x > WIDTH - RIGHT - 110.0 {
        (x - 4.0, "end")
    } else {
        (x + 4.0, "start")
    };
    let _ = writeln!(
        svg,
        r#"<g class="{class}"><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{label}</text></g>"#,
        y + 3.0,
        y + LANE - 3.0,
        y + 11.0,
    );
}

/// The time axis with "nice" ticks (at most about ten).
fn axis(svg: &mut String, scale: &Scale, y: f64) {
    let run_s = scale.run_ms / 1000.0;
    let step = tick_step(run_s);
    let _ = writeln!(
        svg,
        r#"<g class="axis"><line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/>"#,
        WIDTH - RIGHT
    );
    let mut n = 0.0;
    while n * step <= run_s + 1e-9 {
        let t = n * step;
        let x = scale.x(t * 1000.0);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y:.1}" y2="{:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}s</text>"#,
            y + 5.0,
            y + 17.0,
            (t * 10.0).round() / 10.0
        );
        n += 1.0;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">seconds since start</text></g>"#,
        WIDTH - RIGHT,
        y + 32.0
    );
}

fn tick_step(run_s: f64) -> f64 {
    const STEPS: [f64; 18] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
        3600.0, 7200.0, 21600.0,
    ];
    STEPS
        .into_iter()
        .find(|s| run_s / s <= 10.0)
        .unwrap_or_else(|| (run_s / 10.0).ceil())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_fixture::{sample_report, samples};

    #[test]
    fn dense_lanes_merge_samples_per_pixel() {
        let mut r = sample_report();
        let run_ms = 20_000.0;
        // 10k samples every 2ms with a 30ms outage: far more samples than pixels.
        r.probes[0].samples = samples(2.0, run_ms, (6000.0, 6030.0), "refused");
        r.probes[0].interval = std::time::Duration::from_millis(2);
        let svg = render(&r);
        let lane = svg.split("<g class=\"lane\"").nth(1).unwrap();
        let rects = lane.matches("<rect class=\"ok\"").count();
        let fails = lane.matches("<rect class=\"fail\"").count();
        assert_eq!((rects, fails), (2, 1), "healthy, the short outage, healthy");
        assert!(svg.len() < 40_000, "{} bytes", svg.len());
    }

    #[test]
    fn flapping_dense_lane_stays_bounded_by_width() {
        let mut r = sample_report();
        r.probes[0].samples = (0..10_000)
            .map(|i| {
                let mut s = samples(2.0, 4.0, (0.0, 0.0), "x").remove(0);
                s.offset_ms = i as f64 * 2.0;
                s.ok = i % 2 == 0;
                s
            })
            .collect();
        let svg = render(&r);
        let lane = svg.split("<g class=\"lane\"").nth(1).unwrap();
        assert!(lane.matches("<rect").count() <= PLOT as usize + 10);
    }

    #[test]
    fn never_recovered_and_unreverted_faults_are_marked() {
        let mut r = sample_report();
        r.probes[1].measurements.recovery = Recovery::Never;
        let svg = render(&r);
        assert!(svg.contains("<g class=\"never\">"));
        assert!(svg.contains("never recovered"));
        // kubelet-1 was never reverted: its shading runs to the right edge of the plot.
        let x0 = LEFT + 14_000.0 / 20_000.0 * PLOT;
        assert!(svg.contains(&format!(
            r#"<rect x="{x0:.1}" y="{TOP}" width="{:.1}""#,
            WIDTH - RIGHT - x0
        )));
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(20.0), 2.0);
        assert_eq!(tick_step(0.5), 0.1);
        assert_eq!(tick_step(3600.0), 600.0);
    }
}
