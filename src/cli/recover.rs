//! `kubedrill recover RUN_DIR`: run the reverts a crashed or killed run left registered.

use std::time::Duration;

use super::args::RecoverArgs;
use crate::access::NodePool;
use crate::cluster::{Cluster, ClusterSettings};
use crate::engine::journal::{pending_reverts, read_journal, Journal, JournalEntry, JOURNAL_FILE};
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
    let pending = pending_reverts(&entries);
    if pending.is_empty() {
        println!(
            "nothing to revert: every registered revert of {} already ran",
            a.run_dir.display()
        );
        return ExitCode::Pass.code();
    }
    let ctx = RunContext {
        nodes: NodePool::new(nodes),
        // Exactly the context the run used is allowed, nothing else.
        cluster: Cluster::new(ClusterSettings::for_recovery(kubeconfig, context)),
        run_dir: a.run_dir.clone(),
        revert_timeout: Duration::from_secs(120),
    };
    let mut failed = Vec::new();
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
            Ok(_) => println!("reverted: {fault_id}: {}", action.describe()),
            Err(e) => {
                eprintln!("FAILED:   {fault_id}: {}: {e}", action.describe());
                failed.push(action);
            }
        }
    }
    ctx.nodes.close_all().await;
    if failed.is_empty() {
        ExitCode::Pass.code()
    } else {
        eprintln!("\n{} revert(s) failed; undo by hand:", failed.len());
        for a in &failed {
            for m in a.manual(&ctx) {
                eprintln!("    {m}");
            }
        }
        ExitCode::RevertFailed.code()
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
