//! `kubedrill recover RUN_DIR`: run the reverts a crashed or killed run left registered.

use std::path::PathBuf;
use std::time::Duration;

use super::args::RecoverArgs;
use crate::access::{end_master, MasterEnd, NodePool};
use crate::cluster::{Cluster, ClusterSettings, IN_CLUSTER_CONTEXT};
use crate::engine::journal::{
    pending_reverts, read_journal, ssh_masters, Journal, JournalEntry, JOURNAL_FILE,
};
use crate::engine::RunContext;
use crate::exit_code::ExitCode;
use crate::scenario::ReportFormat;

/// Reverts everything the journal says is still pending, newest first.
pub async fn recover(a: RecoverArgs) -> i32 {
    let path = a.run_dir.join(JOURNAL_FILE);
    let read = match read_journal(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Invalid.code();
        }
    };
    if let Some(t) = &read.torn_tail {
        eprintln!("warning: {}", t.warning(&path));
    }
    let entries = read.entries;
    let Some(JournalEntry::Started {
        nodes,
        kubeconfig,
        context,
        ..
    }) = entries.first().cloned()
    else {
        eprintln!(
            "error: {}: no `started` entry; not a kubedrill journal",
            path.display()
        );
        return ExitCode::Invalid.code();
    };
    // The connection the run resolved wins over what it asked for.
    let (kubeconfig, context) = entries
        .iter()
        .rev()
        .find_map(|e| match e {
            JournalEntry::ClusterResolved {
                context,
                kubeconfig,
            } => Some((kubeconfig.clone(), Some(context.clone()))),
            _ => None,
        })
        .unwrap_or((kubeconfig, context));
    let in_cluster = context.as_deref() == Some(IN_CLUSTER_CONTEXT);
    // Holding the run directory's lock: the run (or another recover) is not going on.
    let journal = match Journal::open(&a.run_dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Invalid.code();
        }
    };
    // Entries appended from here on must not be glued onto the torn line.
    if let Some(t) = &read.torn_tail {
        if let Err(e) = journal.truncate_to(t.offset) {
            eprintln!(
                "warning: cannot cut the torn line off {}: {e}",
                path.display()
            );
        }
    }
    write_missing_report(&a.run_dir, &entries);
    end_ssh_masters(&entries).await;
    let pending = pending_reverts(&entries);
    if pending.is_empty() {
        println!(
            "nothing to revert: every registered revert of {} already ran",
            a.run_dir.display()
        );
        return ExitCode::Pass.code();
    }
    let nodes = NodePool::new(nodes);
    // Masters this recover starts are journaled too, in case it is killed as well.
    crate::engine::journal_ssh_masters(&nodes, &journal);
    let ctx = RunContext {
        nodes,
        // Exactly the context the run used is allowed, nothing else.
        cluster: Cluster::new(recovery_settings(kubeconfig, context)),
        run_dir: a.run_dir.clone(),
        revert_timeout: Duration::from_secs(120),
    };
    let total = pending.len();
    let mut failed = Vec::new();
    let (mut done_lines, mut failed_lines) = (Vec::new(), Vec::new());
    for (seq, fault_id, action) in pending {
        let _ = journal.append(&JournalEntry::Reverting { seq, at_ms: None });
        let result = tokio::time::timeout(ctx.revert_timeout, action.run(&ctx))
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
        let _ = journal.append(&JournalEntry::Reverted {
            seq,
            ok: result.is_ok(),
            error: result.clone().err(),
        });
        match result {
            Ok(_) => {
                let line = format!("{fault_id}: {}", action.describe());
                println!("reverted: {line}");
                done_lines.push(line);
            }
            Err(e) => {
                let line = format!("{fault_id}: {}: {e}", action.describe());
                eprintln!("FAILED:   {line}");
                failed_lines.push(line);
                failed.push(action);
            }
        }
    }
    ctx.nodes.close_all().await;
    let outcome = JournalEntry::Recovered {
        at: chrono::Utc::now(),
        reverted: done_lines,
        failed: failed_lines,
        all_reverted: failed.is_empty(),
    };
    if let Err(e) = journal.append(&outcome) {
        eprintln!("warning: cannot journal the outcome: {e}");
    }
    record_in_report(&a.run_dir, &outcome);
    if failed.is_empty() {
        println!(
            "state now: every fault of the run is reverted ({total} revert(s) run by this recover)"
        );
        ExitCode::Pass.code()
    } else {
        println!(
            "state now: DEGRADED: {} of {total} revert(s) failed; the faults below are still in place",
            failed.len()
        );
        eprintln!("\n{} revert(s) failed; undo by hand:", failed.len());
        for a in &failed {
            for m in a.manual(&ctx) {
                eprintln!("    {m}");
            }
        }
        if in_cluster {
            eprintln!(
                "    (the run used its pod's ServiceAccount ({IN_CLUSTER_CONTEXT}): run these in a pod \
                 with that ServiceAccount, or with a kubeconfig for the same cluster)"
            );
        }
        ExitCode::RevertFailed.code()
    }
}

/// The run's connection, only that one allowed. A run in a pod used the in-cluster
/// ServiceAccount, which kubectl knows by no context name: the context is left unnamed (the
/// in-cluster config is still the only one allowed), so the manual hints print plain
/// `kubectl`, never `--context in-cluster`.
fn recovery_settings(kubeconfig: Option<PathBuf>, context: Option<String>) -> ClusterSettings {
    let mut s = ClusterSettings::for_recovery(kubeconfig, context);
    if s.context.as_deref() == Some(IN_CLUSTER_CONTEXT) {
        s.context = None;
    }
    s
}

/// Ends the SSH masters the killed run (or an earlier recover) started and left running:
/// only those the journal records, each only while its pid still is an `ssh` master of
/// the recorded control socket.
async fn end_ssh_masters(entries: &[JournalEntry]) {
    for m in ssh_masters(entries) {
        let pid = m.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
        match end_master(&m).await {
            MasterEnd::Ended => println!(
                "ended the run's ssh master connection to node {} (pid {pid})",
                m.node
            ),
            MasterEnd::AlreadyGone => {}
            MasterEnd::Unknown => eprintln!(
                "warning: the ssh master to node {} recorded no pid; left alone (control socket {})",
                m.node,
                m.control_socket.display()
            ),
            MasterEnd::Failed(e) => eprintln!(
                "warning: cannot end the ssh master to node {}: {e}",
                m.node
            ),
        }
    }
}

/// Adds what `recover` did to the run's report (when it has one) as timeline entries
/// (`recover-reverted`, `recover-failed`, `recovered`), and renders the other formats the
/// run wrote again.
fn record_in_report(run_dir: &std::path::Path, outcome: &JournalEntry) {
    let JournalEntry::Recovered {
        at,
        reverted,
        failed,
        all_reverted,
    } = outcome
    else {
        return;
    };
    let path = run_dir.join(crate::report::file_name(ReportFormat::Json));
    if !path.exists() {
        return;
    }
    let mut report = match crate::report::read_report(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warning: cannot add the outcome to the report: {e}");
            return;
        }
    };
    let offset_ms = (*at - report.started_at).num_milliseconds() as f64;
    let event = |kind: &str, message: String| crate::report::TimelineEvent {
        at: *at,
        offset_ms,
        kind: kind.into(),
        step: None,
        message,
    };
    for r in reverted {
        report
            .timeline
            .push(event("recover-reverted", format!("kubedrill recover: {r}")));
    }
    for f in failed {
        report
            .timeline
            .push(event("recover-failed", format!("kubedrill recover: {f}")));
    }
    report.timeline.push(event(
        "recovered",
        if *all_reverted {
            "kubedrill recover: every fault of the run is reverted".into()
        } else {
            format!(
                "kubedrill recover: {} revert(s) failed; the system may be degraded",
                failed.len()
            )
        },
    ));
    let formats: Vec<ReportFormat> = [ReportFormat::Junit, ReportFormat::Md, ReportFormat::Html]
        .into_iter()
        .filter(|f| run_dir.join(crate::report::file_name(*f)).exists())
        .collect();
    match crate::report::write_reports(&report, run_dir, &formats) {
        Ok(_) => println!("recorded the outcome in {}", path.display()),
        Err(e) => eprintln!("warning: cannot add the outcome to the report: {e}"),
    }
}

/// A killed run wrote no report: rebuild one from its journal and samples.
fn write_missing_report(run_dir: &std::path::Path, entries: &[JournalEntry]) {
    if run_dir
        .join(crate::report::file_name(ReportFormat::Json))
        .exists()
    {
        return;
    }
    let Some(report) = crate::engine::recovered_report(run_dir, entries) else {
        return;
    };
    match crate::report::write_reports(
        &report,
        run_dir,
        &[ReportFormat::Junit, ReportFormat::Md, ReportFormat::Html],
    ) {
        Ok(_) => println!(
            "wrote the report the run could not ({} probes, from samples.jsonl): {}",
            report.probes.len(),
            run_dir.display()
        ),
        Err(e) => eprintln!("warning: cannot write the rebuilt report: {e}"),
    }
}
