//! Running the timeline: one step after another. Faults register their reverts (journal
//! first) before injection; `for` and `heal` revert them early.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::conditions::{change_or_time, recheck_period, stability, Stability};
use super::events::EngineEvent;
use super::journal::JournalEntry;
use super::sampling::ProbeLog;
use super::state::RunState;
use crate::faults::FaultSpec;
use crate::report::FaultRecord;
use crate::scenario::{Step, StepAction, WaitUntil};

/// How the timeline ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepsEnd {
    /// Every step ran.
    Completed,
    /// A step did not reach its goal (wait-until timed out).
    StepFailed(String),
    /// A fault could not be prepared or injected, or a revert during the steps failed.
    InjectFailed(String),
    /// A guard refused a fault before it was injected (blast radius, also across runs).
    Refused(String),
}

/// Describes a step for the plan, progress and timeline.
pub fn describe_step(step: &Step) -> String {
    let body = match &step.action {
        StepAction::Wait(d) => format!("wait {d}"),
        StepAction::Fault { id, spec, hold } => match hold {
            Some(h) => format!(
                "fault {id}: {} for {h} (from when it takes effect)",
                spec.describe()
            ),
            None => format!("fault {id}: {}", spec.describe()),
        },
        StepAction::Heal(id) => format!("heal {id}"),
        StepAction::WaitUntil(w) => {
            let which = w.which();
            format!(
                "wait until {which} healthy for {} (timeout {})",
                w.stable_for, w.timeout
            )
        }
    };
    match &step.name {
        Some(n) => format!("{n}: {body}"),
        None => body,
    }
}

/// Runs every step in order.
pub async fn run_steps(
    state: &RunState,
    steps: &[Step],
    logs: &BTreeMap<String, Arc<ProbeLog>>,
    changes: watch::Receiver<u64>,
) -> StepsEnd {
    for (i, step) in steps.iter().enumerate() {
        let description = describe_step(step);
        state.events.send(EngineEvent::StepStarted {
            index: i,
            total: steps.len(),
            description: description.clone(),
        });
        state.note("step-started", Some(i), description.clone());
        let end = match &step.action {
            StepAction::Wait(d) => {
                tokio::time::sleep(d.get()).await;
                None
            }
            StepAction::Fault { id, spec, hold } => {
                run_fault(state, i, id, spec, hold.map(|h| h.get())).await
            }
            StepAction::Heal(id) => (!state.revert_fault(id, Some(i)).await)
                .then(|| StepsEnd::InjectFailed(format!("revert of {id} failed"))),
            StepAction::WaitUntil(w) => wait_until(w, logs, changes.clone(), state)
                .await
                .err()
                .map(StepsEnd::StepFailed),
        };
        if let Some(end) = end {
            let msg = match &end {
                StepsEnd::StepFailed(m) | StepsEnd::InjectFailed(m) | StepsEnd::Refused(m) => {
                    m.clone()
                }
                StepsEnd::Completed => String::new(),
            };
            state.note("step-failed", Some(i), msg);
            return end;
        }
        state.note("step-finished", Some(i), description);
    }
    StepsEnd::Completed
}

async fn run_fault(
    state: &RunState,
    step: usize,
    id: &str,
    spec: &FaultSpec,
    hold: Option<std::time::Duration>,
) -> Option<StepsEnd> {
    let prepared = match spec.prepare(state.ctx.clone()).await {
        Ok(p) => p,
        Err(e) => {
            return Some(StepsEnd::InjectFailed(format!(
                "fault {id}: cannot prepare: {e}"
            )))
        }
    };
    let description = prepared.describe();
    let reverts = prepared.reverts();
    state.record_resolution(
        step,
        description.clone(),
        reverts.iter().map(|r| r.describe()).collect(),
    );
    if let Some(b) = prepared.blast_radius() {
        if let Err(e) = state.claim_nodes(id, &b) {
            return Some(StepsEnd::Refused(e));
        }
    }
    if let Err(e) = state.register(id, reverts) {
        return Some(StepsEnd::InjectFailed(format!(
            "fault {id}: journal not writable, not injecting: {e}"
        )));
    }
    let started = state.clock.now_ms();
    let _ = state.journal.append(&JournalEntry::Injecting {
        fault_id: id.to_string(),
        at_ms: Some(started),
    });
    state.record_fault(FaultRecord {
        id: id.to_string(),
        kind: spec.kind().to_string(),
        description: description.clone(),
        step,
        injected_at_ms: Some(started),
        reverted_at_ms: None,
        in_effect_at_ms: None,
        hold_ms: hold.map(|h| h.as_secs_f64() * 1000.0),
        injection: "interrupted".into(),
        error: None,
        revert: String::new(),
        details: serde_json::Value::Null,
    });
    let mark = prepared.effect_mark();
    let inject = prepared.inject();
    tokio::pin!(inject);
    // A hold that ends while `inject` only observes (a failover watch) starts the revert
    // then, and `inject` finishes beside it.
    let hold_over_while_observing = async {
        match (&mark, hold) {
            (Some(m), Some(h)) => {
                let at = m.only_observing_since().await;
                tokio::time::sleep_until(tokio::time::Instant::from_std(at) + h).await
            }
            _ => std::future::pending().await,
        }
    };
    let (result, healed_early) = tokio::select! {
        r = &mut inject => (r, None),
        _ = hold_over_while_observing => {
            let (r, ok) = tokio::join!(&mut inject, state.revert_fault(id, Some(step)));
            (r, Some(ok))
        }
    };
    // The hold counts from the moment the fault took effect (the kill, the stop), not
    // from the end of whatever `inject` watched or verified after it.
    let in_effect = mark
        .and_then(|m| m.get())
        .map(tokio::time::Instant::from_std)
        .unwrap_or_else(tokio::time::Instant::now);
    let error = result.as_ref().err().map(|e| e.to_string());
    let _ = state.journal.append(&JournalEntry::Injected {
        fault_id: id.to_string(),
        ok: error.is_none(),
        error: error.clone(),
    });
    match result {
        Ok(details) => {
            let at_ms = state.clock.offset_ms(in_effect);
            state.update_fault(id, |f| {
                f.details = details;
                f.injection = "injected".into();
                f.in_effect_at_ms = Some(at_ms);
            });
            state.note("fault-injected", Some(step), format!("{id}: {description}"));
        }
        Err(e) => {
            state.update_fault(id, |f| {
                f.injection = "failed".into();
                f.error = Some(e.to_string());
            });
            return Some(StepsEnd::InjectFailed(format!(
                "fault {id}: injection failed: {e}"
            )));
        }
    }
    if let Some(ok) = healed_early {
        return (!ok).then(|| StepsEnd::InjectFailed(format!("revert of {id} failed")));
    }
    let hold = hold?;
    tokio::time::sleep_until(in_effect + hold).await;
    (!state.revert_fault(id, Some(step)).await)
        .then(|| StepsEnd::InjectFailed(format!("revert of {id} failed")))
}

/// Waits until the chosen probes are healthy for the stable window, or fails at timeout.
/// Looks again only when a probe's state changes or when the window could be complete.
async fn wait_until(
    w: &WaitUntil,
    logs: &BTreeMap<String, Arc<ProbeLog>>,
    mut changes: watch::Receiver<u64>,
    state: &RunState,
) -> Result<(), String> {
    let since_ms = state.clock.now_ms();
    let chosen: Vec<Arc<ProbeLog>> = if w.healthy.is_empty() {
        logs.values().cloned().collect()
    } else {
        w.healthy
            .iter()
            .filter_map(|n| logs.get(n).cloned())
            .collect()
    };
    let recheck = recheck_period(chosen.iter().map(|l| l.interval));
    let wait = async {
        loop {
            let at = match stability(&chosen, w.stable_for.get(), since_ms) {
                Stability::Stable => return,
                Stability::NotBefore(at) => Some(at),
                Stability::Unhealthy => None,
            };
            change_or_time(&mut changes, &state.clock, at, recheck).await;
        }
    };
    tokio::time::timeout(w.timeout.get(), wait)
        .await
        .map_err(|_| {
            let which = w.which();
            format!(
                "{which} not healthy for {} within {}",
                w.stable_for, w.timeout
            )
        })
}
