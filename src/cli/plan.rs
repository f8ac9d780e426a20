//! `kubedrill plan` (and `run --dry-run`): each step, what it touches and how it is undone.
//! Faults resolve their targets with read-only calls; nothing is changed.

use std::sync::Arc;
use std::time::Duration;

use super::args::RunArgs;
use super::load::load_all;
use crate::engine::{build_context, describe_step, ClusterOverrides};
use crate::exit_code::ExitCode;
use crate::scenario::{Scenario, StepAction};

/// Prints the plan of every scenario.
pub async fn plan(a: RunArgs) -> i32 {
    let Some(scenarios) = load_all(&a.files, &a.vars) else {
        return ExitCode::Invalid.code();
    };
    print_plans(&scenarios, &overrides(&a)).await;
    ExitCode::Pass.code()
}

/// Cluster overrides from the command line.
pub fn overrides(a: &RunArgs) -> ClusterOverrides {
    ClusterOverrides {
        kubeconfig: a.kubeconfig.clone(),
        context: a.context.clone(),
        allow_contexts: a.allow_context.clone(),
    }
}

/// Prints each scenario's plan to stdout.
pub async fn print_plans(scenarios: &[Scenario], o: &ClusterOverrides) {
    for s in scenarios {
        println!("scenario {} ({})", s.metadata.name, s.file.display());
        if let Some(d) = &s.metadata.description {
            println!("  {d}");
        }
        for p in &s.probes {
            println!(
                "  probe {:<16} {} {} every {} (timeout {})",
                p.name,
                p.spec.kind(),
                p.spec.target(),
                p.interval,
                p.timeout
            );
        }
        let ctx = match build_context(s, o, &std::env::temp_dir()) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                println!("  (targets not resolved: {e})");
                None
            }
        };
        for (i, step) in s.steps.iter().enumerate() {
            println!("  {:>2}. {}", i + 1, describe_step(step));
            if let StepAction::Fault { spec, .. } = &step.action {
                print_fault_plan(spec, ctx.clone()).await;
            }
        }
        println!();
    }
}

async fn print_fault_plan(
    spec: &crate::faults::FaultSpec,
    ctx: Option<Arc<crate::engine::RunContext>>,
) {
    let resolved = match ctx {
        Some(ctx) => tokio::time::timeout(Duration::from_secs(30), spec.prepare(ctx))
            .await
            .unwrap_or_else(|_| {
                Err(crate::faults::FaultError::new(
                    "resolving targets timed out after 30s",
                ))
            }),
        None => Err(crate::faults::FaultError::new("no context")),
    };
    match resolved {
        Ok(p) => {
            println!("      does: {}", p.describe());
            for r in p.reverts() {
                println!("      undo: {}", r.describe());
            }
        }
        Err(e) => {
            println!("      undo: {}", spec.undo());
            println!("      (targets not resolved: {e})");
        }
    }
}
