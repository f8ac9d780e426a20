//! The run journal: JSON lines appended and flushed as the run goes. A revert is written
//! here before its fault is injected, so `kubedrill recover` can undo a crashed run.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::access::NodeSpec;
use crate::revert::RevertAction;

/// File name of the journal inside the run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum JournalEntry {
    /// Written first: enough to rebuild the context for `recover`.
    Started {
        scenario: String,
        file: String,
        nodes: Vec<NodeSpec>,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        pid: u32,
        /// Wall clock at the run's time origin (offsets below count from it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A revert registered before its fault is injected.
    Registered {
        seq: u64,
        fault_id: String,
        description: String,
        action: RevertAction,
    },
    /// The fault is about to be injected.
    Injecting {
        fault_id: String,
        /// Milliseconds since the run started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<f64>,
    },
    /// The fault was injected (or failed to be).
    Injected {
        fault_id: String,
        ok: bool,
        error: Option<String>,
    },
    /// The Kubernetes connection the run actually uses (context after defaults), so
    /// `recover` talks to the same cluster and allows exactly this context.
    ClusterResolved {
        context: String,
        kubeconfig: Option<PathBuf>,
    },
    /// A registered revert is about to run (if no `reverted` follows, it was cut short and
    /// `recover` runs it again: reverts must be safe to repeat).
    Reverting {
        seq: u64,
        /// Milliseconds since the run started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<f64>,
    },
    /// A registered revert ran.
    Reverted {
        seq: u64,
        ok: bool,
        error: Option<String>,
    },
    /// The run finished with this verdict.
    Finished { verdict: String, exit_code: i32 },
}

/// Appends entries, flushing each to disk.
pub struct Journal {
    file: Mutex<File>,
    _lock: File,
}

impl Journal {
    /// Creates (or appends to) the journal in `run_dir`; fails if another kubedrill process
    /// (a run or a `recover`) holds the run directory, so reverts never run twice at once.
    pub fn open(run_dir: &Path) -> std::io::Result<Self> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(run_dir.join("journal.lock"))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
        // SAFETY: flock on a descriptor we own; the lock lives as long as `_lock`.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "another kubedrill process (a run or a recover) is using {}",
                    run_dir.display()
                ),
            ));
        }
        let path = run_dir.join(JOURNAL_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            file: Mutex::new(file),
            _lock: lock,
        })
    }

    /// Appends one entry and syncs it to disk.
    pub fn append(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }
}

/// Reads every entry of a journal file.
pub fn read_journal(path: &Path) -> Result<Vec<JournalEntry>, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    BufReader::new(f)
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map(|l| !l.trim().is_empty()).unwrap_or(true))
        .map(|(i, l)| {
            let l = l.map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Reverts registered but not successfully run, newest first.
pub fn pending_reverts(entries: &[JournalEntry]) -> Vec<(u64, String, RevertAction)> {
    let done: std::collections::BTreeSet<u64> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Reverted { seq, ok: true, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    let mut pending: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Registered {
                seq,
                fault_id,
                action,
                ..
            } if !done.contains(seq) => Some((*seq, fault_id.clone(), action.clone())),
            _ => None,
        })
        .collect();
    pending.sort_by_key(|p| std::cmp::Reverse(p.0));
    pending
}
