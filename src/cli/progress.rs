//! What a person sees while a run goes: on a terminal, a live status block (elapsed time
//! and current step, then one line per probe: light, availability, latency; see
//! `progress_probe.rs`) under the timeline; otherwise plain log lines.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::progress_probe::ProbeLine;
use crate::engine::{EngineEvent, EventSink};

/// Sets up tracing: info lines when not on a terminal, warnings only under the live view.
pub fn init_tracing(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (_, 2..) => "trace",
        (_, 1) => "debug",
        (true, 0) => "warn",
        (false, 0) if live() => "warn",
        (false, 0) => "info",
    };
    // kube's client logs every failed request at error level; a probe sample already
    // records that failure, so its lines are only shown with -v (or RUST_LOG).
    let kube = if verbose > 0 { level } else { "off" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("kubedrill={level},kube_client={kube},warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// True when stderr is a terminal (live view).
pub fn live() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("KUBEDRILL_NO_LIVE").is_none()
}

/// Starts the live view when on a terminal and not quiet.
pub fn spawn(events: &EventSink, probes: Vec<String>, quiet: bool) -> Option<JoinHandle<()>> {
    if quiet || !live() {
        return None;
    }
    let rx = events.subscribe();
    Some(tokio::spawn(live_view(rx, probes)))
}

async fn live_view(mut rx: tokio::sync::broadcast::Receiver<EngineEvent>, probes: Vec<String>) {
    let start = Instant::now();
    let mut lines: BTreeMap<String, ProbeLine> = probes
        .into_iter()
        .map(|p| (p, ProbeLine::default()))
        .collect();
    let mut step = String::from("starting");
    // Lines of the status block on screen (the cursor is at the end of the last one).
    let mut drawn = 0;
    let mut redraw = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(EngineEvent::Finished) | Err(RecvError::Closed) => break,
                Ok(EngineEvent::StepStarted { index, total, description }) => step = format!("[{}/{}] {description}", index + 1, total),
                Ok(EngineEvent::Sample { .. }) => continue,
                Ok(EngineEvent::Observed { probe, sample }) => {
                    if let Some(line) = lines.get_mut(&probe) {
                        line.observe(&sample);
                    }
                    continue;
                }
                Ok(EngineEvent::Timeline(t)) => {
                    clear(drawn);
                    drawn = 0;
                    eprintln!("{:>8.1}s  {:<15} {}", t.offset_ms / 1000.0, t.kind, t.message);
                }
                Err(RecvError::Lagged(_)) => {}
            },
            _ = redraw.tick() => {}
        }
        clear(drawn);
        let mut block = vec![format!("{:>6.1}s  {step}", start.elapsed().as_secs_f64())];
        block.extend(
            lines
                .iter()
                .map(|(n, l)| format!("        {}", l.render(n))),
        );
        drawn = block.len();
        eprint!("{}", block.join("\n"));
        let _ = std::io::stderr().flush();
    }
    clear(drawn);
}

/// Erases the status block of `lines` lines, leaving the cursor where it began.
fn clear(lines: usize) {
    eprint!(
        "\r\x1b[2K{}",
        "\x1b[1A\x1b[2K".repeat(lines.saturating_sub(1))
    );
}
