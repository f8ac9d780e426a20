//! Mutable state of one run: timeline, fault records, the rollback stack and the revert
//! records. Shared by the step runner, the abort watcher and the final rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::clock::RunClock;
use super::context::RunContext;
use super::events::{EngineEvent, EventSink};
use super::journal::{Journal, JournalEntry};
use super::run_registry::RunRegistry;
use crate::report::{FaultRecord, RevertRecord, TimelineEvent};
use crate::revert::RevertAction;

/// The fault id prefix of a probe's cleanup revert (`probe:NAME`).
pub const PROBE_CLEANUP: &str = "probe:";

/// A revert waiting on the rollback stack.
#[derive(Debug, Clone)]
pub struct Registered {
    pub seq: u64,
    pub fault_id: String,
    pub action: RevertAction,
    /// Commands started on the revert's node when it was registered.
    pub mark: Option<super::revert_need::ReachMark>,
}

/// Shared run state.
pub struct RunState {
    pub clock: RunClock,
    pub ctx: Arc<RunContext>,
    pub journal: Journal,
    pub events: EventSink,
    timeline: Mutex<Vec<TimelineEvent>>,
    faults: Mutex<Vec<FaultRecord>>,
    stack: Mutex<Vec<Registered>>,
    reverts: Mutex<Vec<RevertRecord>>,
    /// step → (what the fault resolved to, its reverts), as prepared at run time.
    resolved: Mutex<BTreeMap<usize, (String, Vec<String>)>>,
    /// fault id → inventory nodes it has taken down, while it is in place.
    unavailable: Mutex<BTreeMap<String, Vec<String>>>,
    /// Nodes other live runs hold down (`Err`: the registry could not be opened).
    registry: Result<RunRegistry, String>,
    next_seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RunState {
    /// Fresh state for a run.
    pub fn new(clock: RunClock, ctx: Arc<RunContext>, journal: Journal, events: EventSink) -> Self {
        Self {
            clock,
            journal,
            events,
            timeline: Mutex::default(),
            faults: Mutex::default(),
            stack: Mutex::default(),
            reverts: Mutex::default(),
            resolved: Mutex::default(),
            unavailable: Mutex::default(),
            registry: RunRegistry::open(&ctx.run_dir),
            next_seq: AtomicU64::new(1),
            ctx,
        }
    }

    /// Adds a timeline entry and publishes it.
    pub fn note(&self, kind: &str, step: Option<usize>, message: impl Into<String>) {
        let event = TimelineEvent {
            at: Utc::now(),
            offset_ms: self.clock.now_ms(),
            kind: kind.to_string(),
            step,
            message: message.into(),
        };
        tracing::info!(kind, step, message = %event.message, "timeline");
        self.events.send(EngineEvent::Timeline(event.clone()));
        lock(&self.timeline).push(event);
    }

    /// Journals the reverts, then puts them on the stack. Fails if the journal cannot be
    /// written: a fault whose revert is not on disk must not be injected.
    pub fn register(&self, fault_id: &str, actions: Vec<RevertAction>) -> std::io::Result<()> {
        for action in actions {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            self.journal.append(&JournalEntry::Registered {
                seq,
                fault_id: fault_id.to_string(),
                description: action.describe(),
                action: action.clone(),
            })?;
            lock(&self.stack).push(Registered {
                seq,
                fault_id: fault_id.to_string(),
                mark: super::revert_need::ReachMark::take(&self.ctx, &action),
                action,
            });
        }
        Ok(())
    }

    /// Records what a fault step resolved to (for the report's plan).
    pub fn record_resolution(&self, step: usize, description: String, reverts: Vec<String>) {
        lock(&self.resolved).insert(step, (description, reverts));
    }

    /// The static plan with what each fault step resolved to when it ran.
    pub fn resolve_plan(
        &self,
        mut plan: Vec<crate::report::PlannedStep>,
    ) -> Vec<crate::report::PlannedStep> {
        let resolved = lock(&self.resolved);
        for p in &mut plan {
            if let Some((d, r)) = resolved.get(&p.index) {
                p.resolved = Some(d.clone());
                p.reverts = r.clone();
            }
        }
        plan
    }

    /// Checks the blast radius before `fault_id` takes `b.nodes` down, and records them.
    /// Nodes taken down by this run's faults still in place count, and so do nodes of this
    /// inventory that other live kubedrill runs hold down (see [`RunRegistry`]).
    pub fn claim_nodes(
        &self,
        fault_id: &str,
        b: &crate::faults::BlastRadius,
    ) -> Result<(), String> {
        let registry = self.registry.as_ref().map_err(|e| {
            format!("fault {fault_id}: cannot open the run registry ({e}); not injecting")
        })?;
        let mut map = lock(&self.unavailable);
        let inventory: Vec<crate::access::NodeSpec> =
            self.ctx.nodes.all().map(|n| n.spec().clone()).collect();
        let targets: Vec<crate::access::NodeSpec> = inventory
            .iter()
            .filter(|n| b.nodes.contains(&n.name))
            .cloned()
            .collect();
        registry.claim(fault_id, &targets, &inventory, |elsewhere| {
            let mine: BTreeSet<&str> = map.values().flatten().map(String::as_str).collect();
            let mut all = mine.clone();
            for e in elsewhere {
                all.extend(e.nodes.iter().map(String::as_str));
            }
            let before: Vec<String> = all.iter().map(|s| s.to_string()).collect();
            all.extend(b.nodes.iter().map(String::as_str));
            if all.len() <= b.max_unavailable {
                return Ok(());
            }
            let mut why = format!(
                "fault {fault_id} would make {} node(s) unavailable at once ({}; already down: {}) but max-unavailable is {}",
                all.len(),
                b.nodes.join(", "),
                if before.is_empty() { "none".to_string() } else { before.join(", ") },
                b.max_unavailable
            );
            for e in elsewhere {
                why.push_str(&format!("; {}", e.describe()));
            }
            Err(why)
        })?;
        map.insert(fault_id.to_string(), b.nodes.clone());
        Ok(())
    }

    /// Records a fault as injected (or attempted).
    pub fn record_fault(&self, record: FaultRecord) {
        lock(&self.faults).push(record);
    }

    /// Adds details to a fault record.
    pub fn update_fault(&self, id: &str, f: impl FnOnce(&mut FaultRecord)) {
        if let Some(r) = lock(&self.faults).iter_mut().rev().find(|r| r.id == id) {
            f(r);
        }
    }

    /// Reverts of `fault_id` still on the stack, newest first (they stay on the stack).
    fn of_fault(&self, fault_id: &str) -> Vec<Registered> {
        lock(&self.stack)
            .iter()
            .rev()
            .filter(|r| r.fault_id == fault_id)
            .cloned()
            .collect()
    }

    /// The newest revert (it stays on the stack until it has run).
    fn top(&self) -> Option<Registered> {
        lock(&self.stack).last().cloned()
    }

    /// Takes a revert off the stack once it has run (successfully or not).
    fn remove(&self, seq: u64) {
        let mut stack = lock(&self.stack);
        let fault = stack
            .iter()
            .find(|r| r.seq == seq)
            .map(|r| r.fault_id.clone());
        stack.retain(|r| r.seq != seq);
        if let Some(f) = fault.filter(|f| !stack.iter().any(|r| &r.fault_id == f)) {
            if lock(&self.unavailable).remove(&f).is_some() {
                if let Ok(r) = &self.registry {
                    r.release(&f);
                }
            }
        }
    }

    /// Reverts still on the stack (newest first).
    pub fn pending(&self) -> Vec<Registered> {
        lock(&self.stack).iter().rev().cloned().collect()
    }

    /// Heals one fault now. Returns false if any of its reverts failed.
    pub async fn revert_fault(&self, fault_id: &str, step: Option<usize>) -> bool {
        let mut all_ok = true;
        self.mark_healing(fault_id);
        // A revert leaves the stack only after it ran: if this future is dropped (signal,
        // abort), the final rollback still finds it.
        for r in self.of_fault(fault_id) {
            let seq = r.seq;
            all_ok &= self.run_revert(r, step).await;
            self.remove(seq);
        }
        all_ok
    }

    /// Runs every remaining revert of the faults, newest first. Returns false if any
    /// failed. Probe cleanups (registered first, so at the bottom) stay for
    /// [`RunState::revert_probe_cleanups`]: their probes still sample until the end.
    pub async fn revert_all(&self) -> bool {
        self.revert_while(|r| !r.fault_id.starts_with(PROBE_CLEANUP))
            .await
    }

    /// Runs the probe cleanups, once the probes have stopped.
    pub async fn revert_probe_cleanups(&self) -> bool {
        self.revert_while(|_| true).await
    }

    async fn revert_while(&self, take: impl Fn(&Registered) -> bool) -> bool {
        let mut all_ok = true;
        while let Some(r) = self.top().filter(&take) {
            let seq = r.seq;
            self.mark_healing(&r.fault_id);
            all_ok &= self.run_revert(r, None).await;
            self.remove(seq);
        }
        all_ok
    }

    /// The heal moment of a fault is when its first revert starts: recovery time then
    /// includes how long the system takes to come back after being told to.
    fn mark_healing(&self, fault_id: &str) {
        let now = self.clock.now_ms();
        self.update_fault(fault_id, |f| {
            f.reverted_at_ms.get_or_insert(now);
        });
    }

    async fn run_revert(&self, r: Registered, step: Option<usize>) -> bool {
        if let Some(reason) = self.revert_not_needed(&r) {
            self.skip_revert(r, step, reason);
            return true;
        }
        let timeout = self.ctx.revert_timeout;
        let _ = self.journal.append(&JournalEntry::Reverting {
            seq: r.seq,
            at_ms: Some(self.clock.now_ms()),
        });
        let result = match tokio::time::timeout(timeout, r.action.run(&self.ctx)).await {
            Ok(res) => res,
            Err(_) => Err(format!(
                "did not finish within {}",
                humantime::format_duration(timeout)
            )),
        };
        let ok = result.is_ok();
        let (details, error) = match result {
            Ok(d) => (d, None),
            Err(e) => (serde_json::Value::Null, Some(e)),
        };
        let _ = self.journal.append(&JournalEntry::Reverted {
            seq: r.seq,
            ok,
            error: error.clone(),
        });
        let description = r.action.describe();
        if ok {
            self.note(
                "fault-reverted",
                step,
                format!("{}: {description}", r.fault_id),
            );
        } else {
            self.note(
                "revert-failed",
                step,
                format!(
                    "{}: {description}: {}",
                    r.fault_id,
                    error.clone().unwrap_or_default()
                ),
            );
        }
        lock(&self.reverts).push(RevertRecord {
            fault_id: r.fault_id.clone(),
            description,
            outcome: if ok { "reverted" } else { "failed" }.into(),
            manual: if ok {
                Vec::new()
            } else {
                r.action.manual(&self.ctx)
            },
            error,
            at_ms: Some(self.clock.now_ms()),
            details,
        });
        ok
    }

    /// Why `r` has nothing to undo, when its fault never reached its node.
    fn revert_not_needed(&self, r: &Registered) -> Option<String> {
        let injection = lock(&self.faults)
            .iter()
            .rev()
            .find(|f| f.id == r.fault_id)
            .map(|f| f.injection.clone());
        r.mark.as_ref()?.not_needed(&self.ctx, injection.as_deref())
    }

    /// Records a revert that is not run because it is not needed (journal, timeline, report).
    fn skip_revert(&self, r: Registered, step: Option<usize>, reason: String) {
        let _ = self.journal.append(&JournalEntry::NotNeeded {
            seq: r.seq,
            reason: reason.clone(),
        });
        let description = r.action.describe();
        self.note(
            "revert-not-needed",
            step,
            format!("{}: {description}: {reason}", r.fault_id),
        );
        lock(&self.reverts).push(RevertRecord {
            fault_id: r.fault_id,
            description,
            outcome: "not-needed".into(),
            manual: Vec::new(),
            error: None,
            at_ms: Some(self.clock.now_ms()),
            details: serde_json::json!({ "reason": reason }),
        });
    }

    /// Marks what is still on the stack as not run (after a forced exit).
    pub fn mark_not_run(&self) -> Vec<RevertRecord> {
        let pending = self.pending();
        let records: Vec<RevertRecord> = pending
            .into_iter()
            .map(|r| RevertRecord {
                fault_id: r.fault_id,
                description: r.action.describe(),
                outcome: "not-run".into(),
                error: None,
                manual: r.action.manual(&self.ctx),
                at_ms: None,
                details: serde_json::Value::Null,
            })
            .collect();
        lock(&self.reverts).extend(records.clone());
        records
    }

    /// Timeline, fault records and revert records, for the report.
    pub fn finish(&self) -> (Vec<TimelineEvent>, Vec<FaultRecord>, Vec<RevertRecord>) {
        (
            lock(&self.timeline).clone(),
            lock(&self.faults).clone(),
            lock(&self.reverts).clone(),
        )
    }
}
