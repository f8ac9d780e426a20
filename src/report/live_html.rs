//! The web live view's page: the report's stylesheet and SVG timeline, plus what a room
//! watching a game day asks "now": the current step, the faults in place and each probe's
//! state. The page is rendered by the server; a tiny inline script replaces its `<main>`
//! with a fresh rendering from `live.json` every second and reloads once the run is over
//! (the URL then serves the final report). Without script a meta refresh does the same.
//! Nothing is fetched from elsewhere.

use std::fmt::Write;

use super::escape::escape;
use super::format::{offset, pct};
use super::live::{LiveProbe, LiveRun};
use super::svg_timeline;
use crate::measure::format_ms;

const STYLE: &str = include_str!("report.css");
const LIVE_STYLE: &str = ".badge.live{background:#0969da}.now{font-size:15px}.step{font-weight:600}\n\
tr.probe.up td.state{color:#1a7f37;font-weight:600}tr.probe.down td.state{color:#cf222e;font-weight:700}\n\
tr.probe.down{background:#ffebe9}li.fault-in-place{color:#7d4e00}\n";

/// Polls `live.json`: swaps `<main>` for the fresh rendering, reloads when the run is over.
const SCRIPT: &str = r#"<script>
(function () {
  var busy = false;
  setInterval(function () {
    if (busy) return;
    busy = true;
    fetch("live.json", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.finished) { location.reload(); return; }
        document.getElementById("live").innerHTML = s.html;
        document.title = s.title;
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }, 1000);
})();
</script>
"#;

/// The whole page.
pub fn page(r: &LiveRun, now_ms: f64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>\n<title>{}</title>\n<style>\n{STYLE}{LIVE_STYLE}</style>\n</head>\n<body class=\"live\">\n<main id=\"live\">\n{}</main>\n{SCRIPT}</body>\n</html>\n",
        escape(&title(r)),
        main(r, now_ms)
    )
}

/// The page's title: `kubedrill · NAME · LIVE`.
pub fn title(r: &LiveRun) -> String {
    format!("kubedrill · {} · LIVE", r.scenario.name)
}

/// A page saying there is nothing to show yet (or any more), with the same polling.
pub fn waiting_page(message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>\n<title>kubedrill · live view</title>\n<style>\n{STYLE}{LIVE_STYLE}</style>\n</head>\n<body class=\"live\">\n<main id=\"live\">\n<p class=\"waiting\">{}</p>\n</main>\n{SCRIPT}</body>\n</html>\n",
        escape(message)
    )
}

/// A page with one message and no script (a run that could not start).
pub fn message_page(message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>kubedrill · live view</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<p class=\"reason\">{}</p>\n</body>\n</html>\n",
        escape(message)
    )
}

/// `s` as HTML text.
pub fn text(s: &str) -> String {
    escape(s)
}

/// Each probe's state for `live.json`: name, `up`/`down`/`waiting`, availability so far,
/// outages so far, the last sample's latency.
pub fn probe_states(r: &LiveRun) -> serde_json::Value {
    r.probes
        .iter()
        .map(|p| {
            let m = p
                .tracker
                .measurements(Default::default(), Default::default());
            serde_json::json!({
                "name": p.name,
                "state": state_class(p),
                "down_since_ms": p.tracker.current_outage_start(),
                "availability_pct": m.availability_pct,
                "outages": m.outages.len(),
                "samples": m.samples,
                "last_latency_ms": p.last().map(|s| s.latency_ms),
            })
        })
        .collect()
}

fn state_class(p: &LiveProbe) -> &'static str {
    match (p.last(), p.tracker.current_outage_start()) {
        (None, _) => "waiting",
        (Some(_), Some(_)) => "down",
        (Some(_), None) => "up",
    }
}

/// What `<main>` holds: header, now, faults in place, probes, timeline, recent events.
pub fn main(r: &LiveRun, now_ms: f64) -> String {
    let now_ms = now_ms.max(r.latest_ms);
    let mut h = String::new();
    let _ = write!(
        h,
        "<header>\n<h1>{} <span class=\"badge live\">LIVE</span></h1>\n<p class=\"meta\">started <time>{}</time> (UTC) · <code>{}</code></p>\n",
        escape(&r.scenario.name),
        super::format::timestamp(&r.started_at),
        escape(&r.scenario.file),
    );
    if let Some(d) = &r.scenario.description {
        let _ = writeln!(h, "<p>{}</p>", escape(d));
    }
    h.push_str("</header>\n");
    now(&mut h, r, now_ms);
    faults(&mut h, r, now_ms);
    probes(&mut h, r);
    // A fault not reverted yet is, live, a fault in place.
    let chart = svg_timeline::render(&r.report(now_ms))
        .svg
        .replace(" (not reverted)</text>", " (in place)</text>")
        .replace(", not reverted)</title>", ", in place)</title>");
    let _ = write!(
        h,
        "<section>\n<h2>Timeline</h2>\n<div class=\"chart\">{}</div>\n<p class=\"legend\"><span class=\"sw up\"></span>healthy <span class=\"sw down\"></span>down <span class=\"sw unsure\"></span>state changed somewhere in here <span class=\"sw fault\"></span>fault in place <span class=\"sw heal\"></span>heal (last revert)</p>\n</section>\n",
        chart
    );
    events(&mut h, r);
    h
}

fn now(h: &mut String, r: &LiveRun, now_ms: f64) {
    let step = match &r.step {
        Some((i, n, d)) => format!("step {}/{n}: {d}", i + 1),
        None => "starting (baseline checks)".into(),
    };
    let _ = write!(
        h,
        "<section class=\"now\">\n<p>elapsed <span class=\"elapsed\" data-ms=\"{now_ms:.0}\">{}</span> · <span class=\"step\" id=\"current-step\">{}</span></p>\n",
        format_ms(now_ms),
        escape(&step)
    );
    if let Some(p) = &r.phase {
        let _ = writeln!(h, "<p class=\"phase\">{}</p>", escape(p));
    }
    if r.missed_events > 0 {
        let _ = writeln!(
            h,
            "<p class=\"note\">this page fell behind and missed {} events: its counts are partial (the report will not be)</p>",
            r.missed_events
        );
    }
    h.push_str("</section>\n");
}

fn faults(h: &mut String, r: &LiveRun, now_ms: f64) {
    h.push_str("<section>\n<h2>Faults in place</h2>\n");
    let mut any = false;
    for f in r.faults_in_place() {
        if !any {
            h.push_str("<ul class=\"faults-in-place\">\n");
            any = true;
        }
        let since = f.injected_at_ms.unwrap_or(0.0);
        let failed = if f.revert == "failed" {
            " — REVERT FAILED"
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<li class=\"fault-in-place\" data-fault=\"{id}\"><strong>{id}</strong> {} (in place since {}, for {}){failed}</li>",
            escape(&f.description),
            offset(since),
            format_ms(now_ms - since),
            id = escape(&f.id),
        );
    }
    if any {
        h.push_str("</ul>\n");
    } else {
        h.push_str("<p class=\"none\">None.</p>\n");
    }
    h.push_str("</section>\n");
}

fn probes(h: &mut String, r: &LiveRun) {
    h.push_str("<section>\n<h2>Probes</h2>\n<table class=\"probes\">\n<thead><tr><th>probe</th><th>kind</th><th>target</th><th>state</th><th>availability so far</th><th>outages</th><th>last latency</th><th>samples</th><th>last error</th></tr></thead>\n<tbody>\n");
    for p in &r.probes {
        probe_row(h, p);
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn probe_row(h: &mut String, p: &LiveProbe) {
    let class = state_class(p);
    let state = match p.tracker.current_outage_start() {
        _ if class == "waiting" => "no sample yet".to_string(),
        Some(since) => format!("DOWN since {}", offset(since)),
        None => "UP".to_string(),
    };
    let m = &p
        .tracker
        .measurements(Default::default(), Default::default());
    let last_latency = p
        .last()
        .map_or_else(|| "–".to_string(), |s| format_ms(s.latency_ms));
    let error = p
        .last()
        .and_then(|s| s.error.as_deref())
        .map(escape)
        .unwrap_or_default();
    let _ = writeln!(
        h,
        "<tr class=\"probe {class}\" data-probe=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"state\">{}</td><td class=\"availability\">{}</td><td class=\"outages\">{}</td><td class=\"latency\">{}</td><td>{} ({} failed)</td><td class=\"error\">{error}</td></tr>",
        escape(&p.name),
        escape(&p.name),
        escape(&p.kind),
        escape(&p.target),
        escape(&state),
        pct(m.availability_pct),
        m.outages.len(),
        last_latency,
        m.samples,
        m.failed_samples,
    );
}

/// The latest timeline entries, newest first.
fn events(h: &mut String, r: &LiveRun) {
    h.push_str("<section>\n<h2>Events</h2>\n<table class=\"events\">\n<thead><tr><th>at</th><th>event</th><th>what</th></tr></thead>\n<tbody>\n");
    for t in r.timeline.iter().rev().take(30) {
        let _ = writeln!(
            h,
            "<tr class=\"event {kind}\"><td>{}</td><td>{kind}</td><td>{}</td></tr>",
            offset(t.offset_ms),
            escape(&t.message),
            kind = escape(&t.kind),
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineEvent;
    use crate::measure::Sample;
    use crate::report::TimelineEvent;
    use chrono::Utc;

    fn scenario() -> crate::scenario::Scenario {
        let text = r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: { name: game-day, description: "game <day>" }
probes:
  - { name: dns, interval: 200ms, timeout: 150ms, dns: { server: "127.0.0.1:5353", name: a.example.test } }
  - { name: tcp, interval: 200ms, tcp: { address: "127.0.0.1:9" } }
steps:
  - fault:
      command: { inject: ["true"], revert: ["true"] }
    for: 5s
"#;
        crate::scenario::load_str(std::path::Path::new("s.yaml"), text, &Default::default())
            .expect("valid scenario")
    }

    fn timeline(kind: &str, at: f64, message: &str) -> EngineEvent {
        EngineEvent::Timeline(TimelineEvent {
            at: Utc::now(),
            offset_ms: at,
            kind: kind.into(),
            step: Some(0),
            message: message.into(),
        })
    }

    fn sample(probe: &str, start: f64, ok: bool) -> EngineEvent {
        let end = start + if ok { 5.0 } else { 150.0 };
        let result = if ok {
            Ok(None)
        } else {
            Err("timed out <secretless>".into())
        };
        EngineEvent::Observed {
            probe: probe.into(),
            sample: Sample::new(Utc::now(), start, end, result),
        }
    }

    /// dns goes down while the fault is in place; tcp stays up.
    fn mid_fault() -> LiveRun {
        let mut r = LiveRun::new(&scenario());
        r.apply(&EngineEvent::StepStarted {
            index: 0,
            total: 1,
            description: "fault: command true".into(),
        });
        for i in 0..10 {
            let t = i as f64 * 200.0;
            r.apply(&sample("dns", t, true));
            r.apply(&sample("tcp", t, true));
        }
        r.apply(&timeline("fault-injected", 2000.0, "fault-1: command true"));
        for i in 10..20 {
            let t = i as f64 * 200.0;
            r.apply(&sample("dns", t, false));
            r.apply(&sample("tcp", t, true));
        }
        r
    }

    #[test]
    fn shows_the_fault_in_place_and_the_outage_so_far() {
        let r = mid_fault();
        let html = main(&r, 4000.0);
        assert!(
            html.contains(
                "<span class=\"step\" id=\"current-step\">step 1/1: fault: command true</span>"
            ),
            "{html}"
        );
        assert!(html.contains("<li class=\"fault-in-place\" data-fault=\"fault-1\"><strong>fault-1</strong> command true (in place since +2.00s, for 2.00s)</li>"), "{html}");
        assert!(html.contains("<tr class=\"probe down\" data-probe=\"dns\">"));
        assert!(
            html.contains("<td class=\"state\">DOWN since +2.00s</td>"),
            "{html}"
        );
        assert!(html.contains("<tr class=\"probe up\" data-probe=\"tcp\">"));
        // The chart: the fault shaded, an outage window in the dns lane, none in tcp's.
        assert_eq!(html.matches("<g class=\"fault\">").count(), 1);
        let dns = html.split("data-probe=\"dns\"><line").nth(1).unwrap();
        let dns = dns.split("<g class=\"lane\"").next().unwrap();
        assert!(dns.contains("<g class=\"outage\">"), "{dns}");
        assert!(html.contains(">fault-1 (in place)</text>"), "{html}");
        let tcp = html.split("data-probe=\"tcp\"><line").nth(1).unwrap();
        assert!(!tcp.contains("<g class=\"outage\">"), "{tcp}");
        // Markup from names and errors is text.
        assert!(html.contains("game &lt;day&gt;") && !html.contains("<day>"));
        assert!(html.contains("timed out &lt;secretless&gt;"));
    }

    #[test]
    fn a_reverted_fault_leaves_the_list_and_marks_the_heal() {
        let mut r = mid_fault();
        r.apply(&timeline("fault-reverted", 4100.0, "fault-1: run true"));
        r.apply(&sample("dns", 4200.0, true));
        let html = main(&r, 4300.0);
        assert!(!html.contains("fault-in-place"), "{html}");
        assert!(html.contains("<g class=\"heal\">"));
        assert!(html.contains("<tr class=\"probe up\" data-probe=\"dns\">"));
        assert_eq!(r.probes[0].tracker.current_outage_start(), None);
    }

    #[test]
    fn credentials_in_a_probe_url_never_reach_the_page() {
        let text = r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: { name: creds }
probes:
  - { name: web, interval: 200ms, http: { url: "http://admin:hunter2@127.0.0.1:9/healthz" } }
steps:
  - wait: 1s
"#;
        let s =
            crate::scenario::load_str(std::path::Path::new("s.yaml"), text, &Default::default())
                .expect("valid scenario");
        let mut r = LiveRun::new(&s);
        r.apply(&sample("web", 0.0, false));
        let html = page(&r, 500.0);
        assert!(html.contains("127.0.0.1:9/healthz"), "{html}");
        assert!(
            !html.contains("hunter2") && !html.contains("admin"),
            "{html}"
        );
    }

    #[test]
    fn a_failed_revert_keeps_the_fault_in_place() {
        let mut r = mid_fault();
        r.apply(&timeline(
            "revert-failed",
            4100.0,
            "fault-1: run true: exit 1",
        ));
        let html = main(&r, 4300.0);
        assert!(html.contains("REVERT FAILED"), "{html}");
    }
}
