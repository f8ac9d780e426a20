//! One run from start to report: probes start, steps run under a `select!` with abort
//! conditions and signals, everything left is reverted, recovery is observed, numbers are
//! measured and judged.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::clock::RunClock;
use super::conditions::{change_or_time, recheck_period, stability, Stability};
use super::events::{EngineEvent, EventSink};
use super::journal::{Journal, JournalEntry};
use super::sample_file::{DeclaredProbe, SampleFile, SAMPLES_FILE};
use super::sampling::{default_max_in_flight, spawn_probe, ProbeLog, ProbeOutputs, ProbeSchedule};
use super::setup::{build_context, create_run_dir, ClusterOverrides};
use super::signals::Signals;
use super::state::RunState;
use super::steps::{run_steps, StepsEnd};
use super::verdict_of::{decide, Ending};
use crate::exit_code::ExitCode;
use crate::measure::Recovery;
use crate::report::{RevertRecord, RunReport};
use crate::scenario::expectation::AbortCondition;
use crate::scenario::Scenario;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Reports go to `<report_root>/<scenario>-<timestamp>/`.
    pub report_root: PathBuf,
    pub cluster: ClusterOverrides,
    pub events: EventSink,
    /// React to SIGINT/SIGTERM (off inside tests that run the engine in-process).
    pub handle_signals: bool,
}

/// What a run left behind.
pub struct RunOutcome {
    pub report: RunReport,
    pub run_dir: PathBuf,
    /// Reverts that failed or never ran (a second signal cut the rollback short).
    pub left_undone: Vec<RevertRecord>,
}

/// Runs `scenario`. `Err` only when the run could not start (run directory, signals).
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunOutcome, String> {
    let run_dir = create_run_dir(&opts.report_root, &scenario.metadata.name).map_err(|e| {
        format!(
            "cannot create a run directory under {}: {e}",
            opts.report_root.display()
        )
    })?;
    let journal = Journal::open(&run_dir).map_err(|e| format!("cannot write the journal: {e}"))?;
    let mut signals = Signals::new(opts.handle_signals).map_err(|e| e.to_string())?;
    let clock = RunClock::start();
    let started_at = Utc::now();
    let ctx = build_context(scenario, &opts.cluster, &run_dir);
    let (ctx, setup_error) = match ctx {
        Ok(c) => (Arc::new(c), None),
        Err(e) => (
            Arc::new(build_context_without_nodes(scenario, opts, &run_dir)),
            Some(e),
        ),
    };
    let _ = journal.append(&JournalEntry::Started {
        scenario: scenario.metadata.name.clone(),
        file: scenario.file.display().to_string(),
        nodes: ctx.nodes.all().map(|n| n.spec().clone()).collect(),
        kubeconfig: ctx.cluster.settings.kubeconfig.clone(),
        context: ctx.cluster.settings.context.clone(),
        pid: std::process::id(),
        started_at: Some(started_at),
    });
    // Every SSH master is journaled, so `recover` can end it if the run is killed.
    super::node_access::journal_ssh_masters(&ctx.nodes, &journal);
    let state = RunState::new(clock, ctx.clone(), journal, opts.events.clone());
    // Announced first (live view and plain logs alike): after a crash, this is what to
    // pass to `kubedrill recover`.
    state.note(
        "run-started",
        None,
        format!(
            "scenario {}, run directory {}",
            scenario.metadata.name,
            run_dir.display()
        ),
    );

    // Every node the scenario will run commands on must be reachable (host key, user):
    // otherwise exit 2, before any baseline, nothing injected.
    let setup_error = match setup_error {
        None => super::node_access::check_touched_nodes(scenario, &ctx)
            .await
            .err(),
        e => e,
    };
    // Guards that can be checked now (the etcd quorum) refuse before any baseline: exit 2.
    let setup_error = match setup_error {
        None => super::preflight::first_refusal(scenario, &ctx).await,
        e => e,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let changes = Arc::new(watch::channel(0u64).0);
    let mut tasks = Vec::new();
    let mut build_error = setup_error;
    let file = match SampleFile::create(&run_dir) {
        Ok(f) => Some(Arc::new(f)),
        Err(e) => {
            build_error.get_or_insert(format!("cannot write {SAMPLES_FILE}: {e}"));
            None
        }
    };
    // Probes that create objects (pod-schedule) journal their cleanup before sampling: the
    // final rollback and `recover` remove what they left.
    for p in &scenario.probes {
        match p.spec.cleanup(&ctx) {
            Some(action) if build_error.is_none() => {
                let id = format!("{}{}", super::state::PROBE_CLEANUP, p.name);
                if let Err(e) = state.register(&id, vec![action]) {
                    build_error = Some(format!("cannot write the journal: {e}"));
                }
            }
            _ => {}
        }
    }
    for p in scenario.probes.iter().filter(|_| file.is_some()) {
        let file = file.clone().expect("checked above");
        let (interval, timeout) = (p.interval.get(), p.timeout.get());
        let max_in_flight = p
            .max_in_flight
            .unwrap_or_else(|| default_max_in_flight(interval, timeout));
        match p.spec.build(&ctx, timeout) {
            Ok(sampler) => {
                file.declare(DeclaredProbe {
                    name: p.name.clone(),
                    kind: p.spec.kind().into(),
                    target: p.spec.target(),
                    interval_ms: interval.as_secs_f64() * 1000.0,
                    timeout_ms: timeout.as_secs_f64() * 1000.0,
                    max_in_flight,
                });
                tasks.push(spawn_probe(
                    ProbeSchedule {
                        name: p.name.clone(),
                        interval,
                        timeout,
                        max_in_flight,
                        sampler,
                    },
                    ProbeOutputs {
                        clock,
                        changes: changes.clone(),
                        events: opts.events.clone(),
                        file,
                    },
                    stop_rx.clone(),
                ))
            }
            Err(e) => {
                build_error.get_or_insert(format!("probe {}: {e}", p.name));
            }
        }
    }
    if build_error.is_none() && uses_cluster(scenario) {
        match ctx.cluster.connection().await {
            Ok(conn) => {
                let kubeconfig = ctx
                    .cluster
                    .settings
                    .kubeconfig
                    .clone()
                    .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from));
                let _ = state.journal.append(&JournalEntry::ClusterResolved {
                    context: conn.context.clone(),
                    kubeconfig,
                });
            }
            Err(e) => build_error = Some(format!("Kubernetes: {e}")),
        }
    }
    let logs: BTreeMap<String, Arc<ProbeLog>> = tasks
        .iter()
        .map(|t| (t.name.clone(), t.log.clone()))
        .collect();

    let ending = match build_error {
        Some(e) => Ending::SetupFailed(e),
        None => {
            tokio::select! {
                end = run_steps(&state, &scenario.steps, &logs, changes.subscribe()) => Ending::Steps(end),
                reason = watch_aborts(&scenario.abort_if, &logs, &state, changes.subscribe()) => Ending::Aborted(reason),
                sig = signals.next() => Ending::Signal(sig),
            }
        }
    };
    match &ending {
        Ending::Signal(sig) => state.note("abort", None, format!("{sig}: reverting everything")),
        Ending::Aborted(why) => state.note("abort", None, format!("{why}: reverting everything")),
        _ => {}
    }

    let mut ending = ending;
    let rollback_ok = final_rollback(&state, &mut signals, &mut ending).await;
    let left_undone = match rollback_ok {
        None => state.mark_not_run(),
        Some(_) => Vec::new(),
    };
    // Also after an abort or a signal: the rollback ran, so how the system came back is
    // still worth measuring (bounded by recovery-timeout; another signal stops it).
    if rollback_ok == Some(true) && !matches!(ending, Ending::SetupFailed(_)) {
        let announce = matches!(ending, Ending::Signal(_) | Ending::Aborted(_));
        let changes_rx = changes.subscribe();
        let observed =
            observe_recovery(scenario, &logs, &state, changes_rx, &mut signals, announce);
        if let Some(sig) = observed.await {
            state.note(
                "signal",
                None,
                format!("{sig} while observing recovery: stopping"),
            );
            if !matches!(ending, Ending::Signal(_)) {
                ending = Ending::Signal(sig);
            }
        }
    }

    let _ = stop_tx.send(true);
    let mut finished_logs = Vec::new();
    for t in tasks {
        finished_logs.push(t.join().await);
    }
    // What probes created (pod-schedule) goes once they have stopped; a rollback cut
    // short leaves it to `recover`, with the rest.
    let rollback_ok = match rollback_ok {
        Some(ok) => Some(state.revert_probe_cleanups().await && ok),
        None => None,
    };
    if let Some(Err(e)) = file.as_ref().map(|f| f.finish()) {
        state.note(
            "samples-lost",
            None,
            format!("{SAMPLES_FILE} is incomplete ({e}); measurements are not affected"),
        );
    }
    let report = decide(
        scenario,
        &state,
        finished_logs,
        started_at,
        ending,
        rollback_ok,
    );
    let _ = state.journal.append(&JournalEntry::Finished {
        verdict: format!("{:?}", report.verdict).to_lowercase(),
        exit_code: report.exit_code,
    });
    opts.events.send(EngineEvent::Finished);
    ctx.nodes.close_all().await;
    let mut left_undone = left_undone;
    left_undone.extend(
        report
            .reverts
            .iter()
            .filter(|r| r.outcome == "failed")
            .cloned(),
    );
    debug_assert!(report.exit_code != ExitCode::Pass.code() || left_undone.is_empty());
    Ok(RunOutcome {
        report,
        run_dir,
        left_undone,
    })
}

fn build_context_without_nodes(
    s: &Scenario,
    opts: &RunOptions,
    run_dir: &std::path::Path,
) -> super::RunContext {
    super::RunContext {
        nodes: crate::access::NodePool::new(Vec::new()),
        cluster: crate::cluster::Cluster::new(super::setup::cluster_settings(s, &opts.cluster)),
        run_dir: run_dir.to_path_buf(),
        revert_timeout: s.settings.revert_timeout.get(),
    }
}

/// True when any probe or fault talks to the Kubernetes API.
fn uses_cluster(s: &Scenario) -> bool {
    s.probes.iter().any(|p| p.spec.needs_cluster())
        || s.steps.iter().any(|st| matches!(&st.action, crate::scenario::StepAction::Fault { spec, .. } if spec.needs_cluster()))
}

/// Resolves with a reason as soon as an abort condition holds. Looks again only when a
/// probe's state changes or when an outage going on would reach a threshold.
async fn watch_aborts(
    conditions: &[AbortCondition],
    logs: &BTreeMap<String, Arc<ProbeLog>>,
    state: &RunState,
    mut changes: watch::Receiver<u64>,
) -> String {
    if conditions.is_empty() {
        return std::future::pending().await;
    }
    loop {
        let now = state.clock.now_ms();
        let mut next: Option<f64> = None;
        for c in conditions {
            let Some(log) = logs.get(&c.probe) else {
                continue;
            };
            let Some(start) = log.read(|t| t.current_outage_start()) else {
                continue;
            };
            let outage = now - start;
            if c.outage.op.holds(outage, c.outage.value) {
                return format!(
                    "abort-if: probe {} has been down for {} ({})",
                    c.probe,
                    crate::measure::format_ms(outage),
                    c.outage
                );
            }
            // The outage reaches the threshold at start + value (just after, for `>`).
            let at = start + c.outage.value + 1.0;
            if at > now {
                next = Some(next.map_or(at, |n: f64| n.min(at)));
            }
        }
        change_or_time(&mut changes, &state.clock, next, Duration::from_millis(1)).await;
    }
}

/// Runs every remaining revert. The first signal only interrupts when the run was already
/// interrupted (that signal is then the second); otherwise it marks the run interrupted
/// and the rollback goes on. `None` when a second signal cut the rollback short.
async fn final_rollback(
    state: &RunState,
    signals: &mut Signals,
    ending: &mut Ending,
) -> Option<bool> {
    let rollback = state.revert_all();
    tokio::pin!(rollback);
    loop {
        tokio::select! {
            ok = &mut rollback => return Some(ok),
            sig = signals.next() => {
                if matches!(ending, Ending::Signal(_)) {
                    state.note("signal", None, format!("second signal ({sig}): exiting without finishing the rollback"));
                    return None;
                }
                state.note("signal", None, format!("{sig}: already reverting; a second signal exits without finishing"));
                *ending = Ending::Signal(sig);
            }
        }
    }
}

/// After the final rollback, keeps probing until every probe is stable again (or the
/// recovery timeout passes) so recovery is measured even when the steps ended at the heal
/// or were cut short (`announce`: say so on the timeline, after an abort or a signal).
async fn observe_recovery(
    scenario: &Scenario,
    logs: &BTreeMap<String, Arc<ProbeLog>>,
    state: &RunState,
    mut changes: watch::Receiver<u64>,
    signals: &mut Signals,
    announce: bool,
) -> Option<&'static str> {
    let (_, faults, _) = state.finish();
    let heal = faults
        .iter()
        .filter_map(|f| f.reverted_at_ms)
        .reduce(f64::max)?;
    if announce {
        state.note(
            "observing-recovery",
            None,
            format!(
                "observing recovery for up to {} (a second Ctrl-C stops it)",
                scenario.settings.recovery_timeout
            ),
        );
    }
    let stable = scenario.settings.stable_window.get();
    let all: Vec<Arc<ProbeLog>> = logs.values().cloned().collect();
    let recheck = recheck_period(all.iter().map(|l| l.interval));
    let wait = async {
        loop {
            // Probes that recovered once stay recovered; only the others are waited for.
            let waiting: Vec<Arc<ProbeLog>> = all
                .iter()
                .filter(|l| l.read(|t| t.recovery_after(heal, stable)) == Recovery::Never)
                .cloned()
                .collect();
            if waiting.is_empty() {
                return;
            }
            let at = match stability(&waiting, stable, heal) {
                Stability::NotBefore(at) => Some(at),
                Stability::Stable => Some(state.clock.now_ms()),
                Stability::Unhealthy => None,
            };
            change_or_time(&mut changes, &state.clock, at, recheck).await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(scenario.settings.recovery_timeout.get(), wait) => None,
        sig = signals.next() => Some(sig),
    }
}

impl From<StepsEnd> for Ending {
    fn from(e: StepsEnd) -> Self {
        Ending::Steps(e)
    }
}
