//! Guards checked before a run starts, read-only, and shown by `plan`: a run they refuse
//! ends with exit 2 before any probe baseline or injection. Today: the etcd quorum guard
//! (with the nodes earlier partition steps leave isolated), the machine kubedrill runs
//! on, and a partition chain already in place.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::context::RunContext;
use crate::scenario::{Scenario, StepAction};

/// Bound of one fault's check; one that takes longer is left to its step.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// A step the run would refuse, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// 0-based step index.
    pub step: usize,
    pub why: String,
}

/// Every refusal, in step order.
pub async fn refusals(s: &Scenario, ctx: &Arc<RunContext>) -> Vec<Refusal> {
    let mut out = Vec::new();
    // Fault id → (node, why) it leaves isolated until its heal.
    let mut in_place: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (i, step) in s.steps.iter().enumerate() {
        match &step.action {
            StepAction::Fault { id, spec, hold } => {
                let Some(f) = spec.as_etcd_partition() else {
                    continue;
                };
                let earlier: Vec<(String, String)> = in_place.values().flatten().cloned().collect();
                let check = f.plan_refusal(ctx, &earlier);
                if let Ok(Some(why)) = tokio::time::timeout(CHECK_TIMEOUT, check).await {
                    out.push(Refusal {
                        step: i,
                        why: format!("fault {id}: {why}"),
                    });
                }
                if hold.is_none() {
                    let why = format!("left isolated by fault {id} (step {})", i + 1);
                    let nodes = f.named_nodes().into_iter().map(|n| (n, why.clone()));
                    in_place.insert(id.clone(), nodes.collect());
                }
            }
            StepAction::Heal(id) => {
                in_place.remove(id);
            }
            StepAction::Wait(_) | StepAction::WaitUntil(_) => {}
        }
    }
    out
}

/// The first refusal as a run's setup error.
pub async fn first_refusal(s: &Scenario, ctx: &Arc<RunContext>) -> Option<String> {
    let r = refusals(s, ctx).await.into_iter().next()?;
    Some(format!(
        "step {} refused before the run started: {}",
        r.step + 1,
        r.why
    ))
}
