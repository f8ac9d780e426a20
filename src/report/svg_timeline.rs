//! The timeline chart of `report.html`: time since the run started on the x axis, one lane
//! per probe, fault windows shaded, the heal marked. Each lane shows the probe's state as
//! measured (healthy; down; each boundary's uncertainty hatched, from the last observation
//! of one state to the first of the other) and, under it, the samples around the state
//! changes as spans from start to end, stacked in a few rows, with a dot at the instant each
//! is dated by: the reader sees why a window starts or ends where it does. Plain inline SVG
//! styled by the page's CSS; tooltips are SVG `<title>`s, so no script.
//!
//! The page stays small for any run: a lane draws its outage windows one by one only up to
//! a budget (beyond it they are merged per pixel column) and at most [`MAX_SPANS`] samples,
//! those nearest the state changes, with slow successes first.

use std::fmt::Write;

use super::escape::escape;
use super::format::{fault_span, instant, offset, run_ms};
use super::tables::{came_back, recovery as recovery_text, went_down};
use super::{Dating, ProbeRecord, RunReport, Sample};
use crate::measure::{format_ms, OutageWindow, Recovery};

const WIDTH: f64 = 1000.0;
/// Room for the probe names.
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
/// Room for the fault and heal labels.
const TOP: f64 = 34.0;
const LANE: f64 = 52.0;
const AXIS: f64 = 38.0;
/// Pixels of the time axis.
const PLOT: f64 = WIDTH - LEFT - RIGHT;
const NAME_CHARS: usize = 20;
/// The state bar of a lane, below the recovery label.
const BAR_Y: f64 = 14.0;
const BAR_H: f64 = 12.0;
/// Rows of sample spans under the state bar.
const ROWS: usize = 4;
const ROW_Y: f64 = 30.0;
const ROW_STEP: f64 = 5.0;
const SPAN_H: f64 = 3.0;
/// Sample spans drawn per lane at most ...
pub(crate) const MAX_SPANS: usize = 400;
/// ... and over all lanes together.
const SPAN_BUDGET: usize = 3000;
/// Outage windows drawn one by one per lane at most, and over all lanes; a lane with more
/// is drawn merged per pixel column.
const MAX_WINDOWS: usize = 100;
const WINDOW_BUDGET: usize = 1000;
/// Error text in a sample's tooltip is cut to this many characters.
const ERROR_CHARS: usize = 80;

/// The chart and what it had to leave out, in words.
pub(crate) struct Chart {
    pub svg: String,
    /// One line per lane that does not show everything (samples thinned, windows merged).
    pub notes: Vec<String>,
}

/// Renders the chart as an `<svg>` element.
pub(crate) fn render(r: &RunReport) -> Chart {
    let scale = Scale { run_ms: run_ms(r) };
    let bottom = TOP + LANE * r.probes.len() as f64;
    let height = bottom + AXIS;
    let mut svg = format!(
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="timeline of probes and faults">"#
    );
    svg.push('\n');
    svg.push_str(r#"<defs><pattern id="unsure" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4"/></pattern></defs>"#);
    svg.push('\n');
    faults(&mut svg, r, &scale, bottom);
    let heal = r.scenario_measurements.healed_at_ms;
    let lanes = r.probes.len().max(1);
    let budget = Budget {
        spans: MAX_SPANS.min(SPAN_BUDGET / lanes),
        windows: MAX_WINDOWS.min(WINDOW_BUDGET / lanes),
    };
    let mut notes = Vec::new();
    for (i, p) in r.probes.iter().enumerate() {
        notes.extend(lane(
            &mut svg,
            p,
            TOP + LANE * i as f64,
            &scale,
            heal,
            budget,
        ));
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
    Chart { svg, notes }
}

/// Maps offsets since the run started (ms) to x pixels.
struct Scale {
    run_ms: f64,
}

impl Scale {
    fn x(&self, ms: f64) -> f64 {
        LEFT + ms.clamp(0.0, self.run_ms) / self.run_ms * PLOT
    }
}

/// What one lane may draw.
#[derive(Debug, Clone, Copy)]
struct Budget {
    spans: usize,
    windows: usize,
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

/// One probe: name, state bar, sample spans and the recovery marker. Returns a note when
/// the lane does not show everything.
fn lane(
    svg: &mut String,
    p: &ProbeRecord,
    y: f64,
    scale: &Scale,
    heal: Option<f64>,
    budget: Budget,
) -> Option<String> {
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
    let mut notes = Vec::new();
    if let Some((first, last)) = observed(p) {
        let (x0, x1) = (scale.x(first), scale.x(last));
        let _ = writeln!(
            svg,
            r#"<rect class="up" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{BAR_H}"><title>observed {} → {}: healthy unless marked</title></rect>"#,
            y + BAR_Y,
            (x1 - x0).max(1.0),
            instant(first),
            instant(last),
        );
    }
    let windows = &p.measurements.outages;
    if windows.len() <= budget.windows {
        for w in windows {
            window(svg, w, y, scale);
        }
    } else {
        merged_windows(svg, windows, y, scale);
        notes.push(format!(
            "{} outage windows merged per pixel column",
            windows.len()
        ));
    }
    let (chosen, candidates) = chosen_samples(p, budget.spans);
    spans(svg, &chosen, y, scale);
    if chosen.len() < candidates {
        notes.push(format!(
            "{} of the {candidates} samples near state changes drawn (slow successes first, then the nearest)",
            chosen.len()
        ));
    }
    if p.samples_embedded != "all" {
        notes.push(format!(
            "report.json holds only the samples near state changes; all {} are in {}",
            p.measurements.samples, p.samples_file
        ));
    }
    if let Some(h) = heal {
        recovery(svg, p, y, scale, h);
    }
    svg.push_str("</g>\n");
    (!notes.is_empty()).then(|| format!("{}: {}.", p.name, notes.join("; ")))
}

/// From the first to the last observation.
fn observed(p: &ProbeRecord) -> Option<(f64, f64)> {
    let m = &p.measurements;
    let first = m
        .first_observed_ms
        .or(p.samples.first().map(Sample::dated_ms))?;
    let last = m
        .last_observed_ms
        .or(p.samples.last().map(Sample::dated_ms))?;
    Some((first, last))
}

/// One outage window: down from the first to the last failed observation, each boundary's
/// uncertainty hatched, one tooltip for all three.
fn window(svg: &mut String, w: &OutageWindow, y: f64, scale: &Scale) {
    let slow = match w.slow_successes {
        0 => String::new(),
        1 => ", 1 slow success".into(),
        n => format!(", {n} slow successes"),
    };
    let length = super::format::ranged(w.length_ms, w.length_min_ms, w.length_max_ms, format_ms);
    let _ = write!(
        svg,
        r#"<g class="outage"><title>outage {length}: went down {}, came back {}; {} failed samples{slow}</title>"#,
        went_down(w),
        came_back(w),
        w.failed_samples,
    );
    let bar = |svg: &mut String, class: &str, from: f64, to: f64, min: f64| {
        let (x0, x1) = (scale.x(from), scale.x(to));
        if x1 - x0 > 0.0 || min > 0.0 {
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{BAR_H}"/>"#,
                y + BAR_Y,
                (x1 - x0).max(min)
            );
        }
    };
    if w.start_earliest_ms < w.start_ms {
        bar(svg, "unsure", w.start_earliest_ms, w.start_ms, 0.0);
    }
    bar(svg, "down", w.start_ms, w.end_earliest_ms, 1.0);
    if let Some(end) = w.end_ms {
        bar(svg, "unsure", w.end_earliest_ms, end, 0.0);
    }
    svg.push_str("</g>\n");
}

/// Too many windows to draw one by one: each pixel column takes the worst state that
/// touches it (down, then uncertain), and neighbouring columns of one state merge, so the
/// marks are bounded by the width.
fn merged_windows(svg: &mut String, windows: &[OutageWindow], y: f64, scale: &Scale) {
    const UNSURE: u8 = 1;
    const DOWN: u8 = 2;
    let n = PLOT as usize;
    let column = |ms: f64| ((scale.x(ms) - LEFT).max(0.0) as usize).min(n - 1);
    let mut columns = vec![0u8; n];
    let mut mark = |from: f64, to: f64, state: u8| {
        let (c0, c1) = (column(from), column(to).max(column(from)));
        for c in &mut columns[c0..=c1] {
            *c = (*c).max(state);
        }
    };
    for w in windows {
        if w.start_earliest_ms < w.start_ms {
            mark(w.start_earliest_ms, w.start_ms, UNSURE);
        }
        if let Some(end) = w.end_ms {
            mark(w.end_earliest_ms, end, UNSURE);
        }
        mark(w.start_ms, w.end_earliest_ms, DOWN);
    }
    // One path per state: a few bytes per merged stretch.
    let (mut down, mut unsure) = (String::new(), String::new());
    let top = y + BAR_Y;
    let mut c = 0;
    while c < n {
        let state = columns[c];
        let run = columns[c..].iter().take_while(|s| **s == state).count();
        let path = match state {
            DOWN => Some(&mut down),
            UNSURE => Some(&mut unsure),
            _ => None,
        };
        if let Some(path) = path {
            let _ = write!(
                path,
                "M{}.0 {top:.1}h{run}v{BAR_H}h-{run}z",
                LEFT as usize + c
            );
        }
        c += run;
    }
    let _ = writeln!(
        svg,
        r#"<g class="merged"><title>{} outage windows, merged per pixel column (the Outage windows table lists them)</title><path class="unsure" d="{unsure}"/><path class="down" d="{down}"/>"#,
        windows.len()
    );
    svg.push_str("</g>\n");
}

/// A sample chosen for drawing.
struct Chosen<'a> {
    sample: &'a Sample,
    /// Started while an outage was observed, answered only after it.
    slow: bool,
}

/// The samples worth drawing: those whose span lies within one interval of a boundary's
/// uncertainty, slow successes first, then those touching a boundary, then the nearest;
/// at most `limit`, thinned evenly in time when a group does not fit. Also returns how
/// many were worth drawing.
fn chosen_samples(p: &ProbeRecord, limit: usize) -> (Vec<Chosen<'_>>, usize) {
    let windows = &p.measurements.outages;
    let bounds = boundaries(windows);
    let pad = p.interval.as_secs_f64() * 1000.0;
    // (group, distance, index)
    let mut ranked: Vec<(u8, f64, usize)> = p
        .samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            if slow_success(windows, s) {
                return Some((0, 0.0, i));
            }
            let d = distance(&bounds, s.start_ms, s.end_ms);
            (d <= pad).then_some((if d == 0.0 { 1 } else { 2 }, d, i))
        })
        .collect();
    let candidates = ranked.len();
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut keep: Vec<usize> = Vec::with_capacity(limit.min(candidates));
    for group in 0..=2u8 {
        let members: Vec<usize> = ranked
            .iter()
            .filter(|r| r.0 == group)
            .map(|r| r.2)
            .collect();
        let room = limit - keep.len();
        if members.len() <= room {
            keep.extend(members);
        } else {
            if group < 2 {
                // Same rank: spread the ones drawn over the whole run.
                let mut by_date = members;
                by_date.sort_unstable();
                keep.extend((0..room).map(|k| by_date[k * by_date.len() / room]));
            } else {
                keep.extend(&members[..room]);
            }
            break;
        }
    }
    let mut chosen: Vec<Chosen> = keep
        .into_iter()
        .map(|i| Chosen {
            sample: &p.samples[i],
            slow: slow_success(windows, &p.samples[i]),
        })
        .collect();
    chosen.sort_by(|a, b| a.sample.start_ms.total_cmp(&b.sample.start_ms));
    (chosen, candidates)
}

/// Each window's two boundary uncertainties (start_earliest..start, end_earliest..end), in
/// time order (each ends no later than the next begins).
fn boundaries(windows: &[OutageWindow]) -> Vec<(f64, f64)> {
    windows
        .iter()
        .flat_map(|w| {
            [
                (w.start_earliest_ms, w.start_ms),
                (w.end_earliest_ms, w.end_ms.unwrap_or(w.end_earliest_ms)),
            ]
        })
        .collect()
}

/// How far the span `from..to` is from the nearest boundary (0 when it overlaps one).
fn distance(bounds: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let i = bounds.partition_point(|&(_, hi)| hi < from);
    let after = bounds
        .get(i)
        .map_or(f64::INFINITY, |&(lo, _)| (lo - to).max(0.0));
    let before = i
        .checked_sub(1)
        .map_or(f64::INFINITY, |j| from - bounds[j].1);
    after.min(before)
}

/// A healthy sample started while an outage was observed (first to last failed
/// observation) and answered after it: the outage table counts it as a slow success.
fn slow_success(windows: &[OutageWindow], s: &Sample) -> bool {
    if !s.ok {
        return false;
    }
    let i = windows.partition_point(|w| w.start_ms <= s.start_ms);
    i.checked_sub(1).is_some_and(|i| {
        let w = &windows[i];
        s.start_ms <= w.end_earliest_ms && s.dated_ms() > w.end_earliest_ms
    })
}

/// The chosen samples as spans from start to end, stacked in [`ROWS`] rows so overlapping
/// samples stay apart, each with a dot at the instant it is dated by.
fn spans(svg: &mut String, chosen: &[Chosen], y: f64, scale: &Scale) {
    if chosen.is_empty() {
        return;
    }
    let mut row_end = [f64::NEG_INFINITY; ROWS];
    for c in chosen {
        let s = c.sample;
        let x0 = scale.x(s.start_ms);
        let x1 = scale.x(s.end_ms).max(x0 + 1.0);
        let row = (0..ROWS)
            .find(|&r| row_end[r] + 1.0 <= x0)
            .unwrap_or_else(|| {
                (0..ROWS)
                    .min_by(|&a, &b| row_end[a].total_cmp(&row_end[b]))
                    .unwrap_or(0)
            });
        row_end[row] = row_end[row].max(x1);
        let top = y + ROW_Y + ROW_STEP * row as f64;
        let class = match (s.ok, c.slow) {
            (true, true) => "slow",
            (true, false) => "ok",
            (false, _) => "fail",
        };
        let _ = writeln!(
            svg,
            r#"<g class="s {class}"><title>{}</title><rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{SPAN_H}"/><circle cx="{:.1}" cy="{:.1}" r="1.8"/></g>"#,
            escape(&sample_title(s, c.slow)),
            x1 - x0,
            scale.x(s.dated_ms()),
            top + SPAN_H / 2.0,
        );
    }
}

/// `failed: started +6.000s, ended +7.000s (1.00s), dated by its start: timed out`.
fn sample_title(s: &Sample, slow: bool) -> String {
    let what = match (s.ok, slow) {
        (true, true) => "slow success (started during the outage, answered after it)",
        (true, false) => "healthy",
        (false, _) => "failed",
    };
    let dated = match s.dated_by {
        Dating::Start => "start",
        Dating::End => "end",
    };
    let mut t = format!(
        "{what}: started {}, ended {} ({}), dated by its {dated}",
        instant(s.start_ms),
        instant(s.end_ms),
        format_ms(s.latency_ms),
    );
    if let Some(e) = &s.error {
        t.push_str(": ");
        t.extend(e.chars().take(ERROR_CHARS));
        if e.chars().count() > ERROR_CHARS {
            t.push('…');
        }
    }
    t
}

/// Marks when the probe recovered after the heal, or that it never did.
fn recovery(svg: &mut String, p: &ProbeRecord, y: f64, scale: &Scale, heal: f64) {
    let (x, class, label) = match p.measurements.recovery {
        Recovery::Recovered { after_ms, .. } => (
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
        r#"<g class="{class}"><title>recovery after the heal: {}</title><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{label}</text></g>"#,
        recovery_text(p.measurements.recovery),
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
    use crate::report::test_fixture::{flapping_report, sample_report};

    fn lane_of<'a>(svg: &'a str, probe: &str) -> &'a str {
        let start = svg
            .find(&format!("<g class=\"lane\" data-probe=\"{probe}\""))
            .unwrap();
        let len = svg[start..]
            .find("</g>\n<g class=\"lane\"")
            .unwrap_or(svg.len() - start);
        &svg[start..start + len]
    }

    #[test]
    fn lanes_draw_state_with_uncertain_boundaries() {
        let chart = render(&sample_report());
        let api = lane_of(&chart.svg, "api");
        assert_eq!(api.matches("<rect class=\"up\"").count(), 1);
        assert_eq!(api.matches("<g class=\"outage\">").count(), 1);
        assert_eq!(api.matches("<rect class=\"down\"").count(), 1);
        assert_eq!(api.matches("<rect class=\"unsure\"").count(), 2, "{api}");
        assert!(api.contains("went down +5.75"), "{api}");
        assert!(chart.notes.is_empty(), "{:?}", chart.notes);
    }

    #[test]
    fn only_samples_near_state_changes_are_drawn_as_spans() {
        let r = sample_report();
        let chart = render(&r);
        let api = lane_of(&chart.svg, "api");
        let drawn = api.matches("<g class=\"s ").count();
        assert!(
            drawn > 4 && drawn < r.probes[0].samples.len() / 2,
            "{drawn}"
        );
        // Failed samples hung 1s while the next ticks started: their spans overlap and
        // are stacked in more than one row.
        let rows: std::collections::BTreeSet<&str> = api
            .split("<g class=\"s fail\">")
            .skip(1)
            .filter_map(|g| g.split(" y=\"").nth(1)?.split('"').next())
            .collect();
        assert!(rows.len() > 1, "{rows:?}");
        assert!(
            api.contains("dated by its start: timed out after 1s"),
            "{api}"
        );
        assert!(api.contains("healthy: started +5.750s"), "{api}");
    }

    #[test]
    fn a_slow_success_inside_an_outage_is_drawn() {
        let chart = render(&sample_report());
        let api = lane_of(&chart.svg, "api");
        assert_eq!(api.matches("<g class=\"s slow\">").count(), 1, "{api}");
        assert!(api.contains(
            "slow success (started during the outage, answered after it): started +12.000s, ended +12.550s"
        ));
        assert!(api.contains(", 1 slow success</title>"), "{api}");
    }

    #[test]
    fn marks_per_lane_are_bounded() {
        // 20 probes flapping every sample with overlapping spans: thousands of windows and
        // samples per lane.
        let r = flapping_report(20, 5_000, 1);
        let chart = render(&r);
        for p in &r.probes {
            let lane = lane_of(&chart.svg, &p.name);
            assert!(lane.matches("<g class=\"s ").count() <= MAX_SPANS);
            assert!(lane.matches("<rect").count() <= MAX_SPANS + 1);
            assert_eq!(lane.matches("<path").count(), 2);
            assert!(lane.contains("<g class=\"merged\">"));
        }
        assert_eq!(chart.notes.len(), 20, "{:?}", chart.notes);
        assert!(chart.notes[0].contains("outage windows merged per pixel column"));
    }

    #[test]
    fn never_recovered_and_unreverted_faults_are_marked() {
        let mut r = sample_report();
        r.probes[1].measurements.recovery = Recovery::Never;
        let svg = render(&r).svg;
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
    fn distance_to_the_nearest_boundary() {
        let b = [(100.0, 200.0), (500.0, 600.0)];
        assert_eq!(distance(&b, 150.0, 160.0), 0.0);
        assert_eq!(distance(&b, 50.0, 120.0), 0.0);
        assert_eq!(distance(&b, 210.0, 220.0), 10.0);
        assert_eq!(distance(&b, 450.0, 480.0), 20.0);
        assert_eq!(distance(&b, 0.0, 10.0), 90.0);
        assert_eq!(distance(&b, 700.0, 710.0), 100.0);
        assert_eq!(distance(&[], 0.0, 10.0), f64::INFINITY);
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(20.0), 2.0);
        assert_eq!(tick_step(0.5), 0.1);
        assert_eq!(tick_step(3600.0), 600.0);
    }
}
