//! `kubedrill plan` (and `run --dry-run`): how each node is reached, each step, the exact
//! commands it runs and how it is undone. Faults resolve their targets with read-only calls;
//! nothing is changed. What `run` would refuse before it starts (inventory, probes, the
//! Kubernetes context, the etcd quorum guard) is refused here too: exit 2.

use std::sync::Arc;
use std::time::Duration;

use super::args::RunArgs;
use super::load::load_all;
use crate::access::{AccessSpec, KnownHostsPolicy, NodeSpec};
use crate::engine::preflight::{refusals, Refusal};
use crate::engine::{
    build_context, check_touched_nodes, describe_step, ClusterOverrides, RunContext,
};
use crate::exit_code::ExitCode;
use crate::faults::{FaultError, FaultSpec};
use crate::scenario::{Scenario, StepAction};

/// Bound of resolving one fault's targets.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Prints the plan of every scenario; exit 2 when a run of one would be refused.
pub async fn plan(a: RunArgs) -> i32 {
    let Some(scenarios) = load_all(&a.files, &a.vars) else {
        return ExitCode::Invalid.code();
    };
    if print_plans(&scenarios, &overrides(&a)).await {
        ExitCode::Pass.code()
    } else {
        ExitCode::Invalid.code()
    }
}

/// Cluster overrides from the command line.
pub fn overrides(a: &RunArgs) -> ClusterOverrides {
    ClusterOverrides {
        kubeconfig: a.kubeconfig.clone(),
        context: a.context.clone(),
        allow_contexts: a.allow_context.clone(),
    }
}

/// Prints each scenario's plan to stdout; `false` when `run` would refuse one of them
/// before it starts (each reason also goes to stderr).
pub async fn print_plans(scenarios: &[Scenario], o: &ClusterOverrides) -> bool {
    let mut runnable = true;
    for s in scenarios {
        let refused = print_plan(s, o).await;
        for why in &refused {
            eprintln!("error: {}: {why}", s.metadata.name);
        }
        runnable &= refused.is_empty();
    }
    runnable
}

/// Prints one plan; returns what `run` would refuse.
async fn print_plan(s: &Scenario, o: &ClusterOverrides) -> Vec<String> {
    println!("scenario {} ({})", s.metadata.name, s.file.display());
    if let Some(d) = &s.metadata.description {
        println!("  {d}");
    }
    let mut refused = Vec::new();
    let ctx = match build_context(s, o, &std::env::temp_dir()) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            refused.push(e);
            None
        }
    };
    if let Some(ctx) = &ctx {
        for n in ctx.nodes.all() {
            println!("  node {:<16} {}", n.spec().name, describe_access(n.spec()));
        }
    }
    for p in &s.probes {
        println!(
            "  probe {:<15} {} {} every {} (timeout {})",
            p.name,
            p.spec.kind(),
            p.spec.target(),
            p.interval,
            p.timeout
        );
        if let Some(Err(e)) = ctx.as_ref().map(|c| p.spec.build(c, p.timeout.get())) {
            refused.push(format!("probe {}: {e}", p.name));
        }
    }
    if let Some(ctx) = ctx.as_ref().filter(|_| uses_cluster(s)) {
        match ctx.cluster.connection().await {
            Ok(conn) => println!("  kubernetes context {}", conn.context),
            Err(e) => refused.push(format!("Kubernetes: {e}")),
        }
    }
    // Every node the run will run commands on must be reachable (host key, user), as
    // `run` checks before its baseline.
    if let Some(ctx) = ctx.as_ref().filter(|_| refused.is_empty()) {
        if let Err(e) = check_touched_nodes(s, ctx).await {
            refused.push(e);
        }
    }
    // Targets are resolved only for a run that would start.
    let pool = ctx.clone();
    let ctx = ctx.filter(|_| refused.is_empty());
    let step_refusals = match &ctx {
        Some(ctx) => refusals(s, ctx).await,
        None => Vec::new(),
    };
    for (i, step) in s.steps.iter().enumerate() {
        println!("  {:>2}. {}", i + 1, describe_step(step));
        let mut refused_here = step_refusals.iter().filter(|r| r.step == i).peekable();
        if refused_here.peek().is_some() {
            for Refusal { why, .. } in refused_here {
                println!("      REFUSED: {why}");
            }
        } else if let StepAction::Fault { spec, .. } = &step.action {
            print_fault_plan(spec, ctx.clone()).await;
        }
    }
    refused.extend(
        step_refusals
            .into_iter()
            .map(|r| format!("step {}: {}", r.step + 1, r.why)),
    );
    if !refused.is_empty() {
        println!("  a run would be refused before it starts (exit 2):");
        for why in &refused {
            println!("    {why}");
        }
    }
    println!();
    if let Some(ctx) = pool {
        ctx.nodes.close_all().await;
    }
    refused
}

/// True when any probe or fault talks to the Kubernetes API (as `run` decides).
fn uses_cluster(s: &Scenario) -> bool {
    s.probes.iter().any(|p| p.spec.needs_cluster())
        || s.steps
            .iter()
            .any(|st| matches!(&st.action, StepAction::Fault { spec, .. } if spec.needs_cluster()))
}

/// How commands reach a node, e.g. `ssh root@10.0.0.12:2222 (strict, known_hosts FILE)`.
pub fn describe_access(n: &NodeSpec) -> String {
    match &n.access {
        AccessSpec::Ssh(a) => {
            let user = a
                .user
                .as_deref()
                .map(|u| format!("{u}@"))
                .unwrap_or_default();
            let port = a.port.map(|p| format!(":{p}")).unwrap_or_default();
            let policy = match a.known_hosts {
                KnownHostsPolicy::Strict => "strict",
                KnownHostsPolicy::AcceptNew => "accept-new",
            };
            let mut how = vec![policy.to_string()];
            how.push(match &a.known_hosts_file {
                Some(f) => format!("known_hosts {}", f.display()),
                None => "the user's known_hosts".into(),
            });
            if let Some(key) = &a.identity_file {
                how.push(format!("key {}", key.display()));
            }
            if a.sudo {
                how.push("sudo -n".into());
            }
            format!("ssh {user}{}{port} ({})", a.host, how.join(", "))
        }
        AccessSpec::Docker(d) => format!("docker exec {}", d.container),
        AccessSpec::Local(l) => match &l.netns {
            Some(ns) => format!("netns {ns} (ip netns exec, this machine)"),
            None => "this machine".into(),
        },
    }
}

async fn print_fault_plan(spec: &FaultSpec, ctx: Option<Arc<RunContext>>) {
    let resolved = match ctx {
        Some(ctx) => tokio::time::timeout(RESOLVE_TIMEOUT, spec.prepare(ctx))
            .await
            .unwrap_or_else(|_| {
                Err(FaultError(format!(
                    "resolving targets timed out after {}s",
                    RESOLVE_TIMEOUT.as_secs()
                )))
            }),
        None => Err(FaultError::new("the run would not start")),
    };
    match resolved {
        Ok(p) => {
            println!("      does: {}", p.describe());
            for c in p.commands() {
                println!("      runs: {c}");
            }
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
