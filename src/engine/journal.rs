//! The run journal: JSON lines appended and synced as the run goes. A revert is written
//! here before its fault is injected, so `kubedrill recover` can undo a crashed run. Each
//! line carries a CRC-32, so one torn by a crash or a full disk is recognised.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::access::{NodeSpec, SshMaster};
use crate::revert::RevertAction;

/// File name of the journal inside the run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// The lock a run (or `recover`) holds on its run directory.
pub const LOCK_FILE: &str = "journal.lock";

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
    /// A registered revert was not run because its fault never reached its node (the
    /// injection failed before any command started there): nothing to undo.
    NotNeeded { seq: u64, reason: String },
    /// An SSH master connection was started (`recover` ends it if the run was killed).
    SshMaster(SshMaster),
    /// The run finished with this verdict.
    Finished { verdict: String, exit_code: i32 },
    /// `kubedrill recover` ran the reverts left pending: what it reverted, what failed.
    Recovered {
        at: chrono::DateTime<chrono::Utc>,
        reverted: Vec<String>,
        failed: Vec<String>,
        /// Every registered revert has now run successfully.
        all_reverted: bool,
    },
}

/// Appends entries, each as one checksummed line written with a single `write` and synced.
/// Clones append to the same file under the same lock.
#[derive(Clone)]
pub struct Journal {
    file: Arc<Mutex<Appender>>,
    _lock: Arc<File>,
}

struct Appender {
    file: File,
    /// Length of the journal up to its last complete line.
    good_len: u64,
    /// The file ends in a torn line that could not be removed: the next entry starts on a
    /// new line, so it is not glued onto it.
    torn: bool,
}

/// Creates (or opens for writing) a file readable by its owner only.
pub(crate) fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.create(true).mode(0o600);
    if append {
        // Readable too: opening checks whether the journal ends in a torn line.
        o.append(true).read(true);
    } else {
        o.write(true).truncate(false);
    }
    o.open(path)
}

impl Journal {
    /// Creates (or appends to) the journal in `run_dir`; fails if another kubedrill process
    /// (a run or a `recover`) holds the run directory, so reverts never run twice at once.
    pub fn open(run_dir: &Path) -> std::io::Result<Self> {
        let lock = open_private(&run_dir.join(LOCK_FILE), false)?;
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
        let file = open_private(&path, true)?;
        let good_len = file.metadata()?.len();
        let torn = good_len > 0 && !ends_with_newline(&file, good_len)?;
        Ok(Self {
            file: Arc::new(Mutex::new(Appender {
                file,
                good_len,
                torn,
            })),
            _lock: Arc::new(lock),
        })
    }

    /// Appends one entry and syncs it to disk. The line goes out in one `write`; when it
    /// cannot be written whole (a full disk), what was written is cut off again, so a
    /// later entry is never glued onto a torn one.
    pub fn append(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let line = encode_line(entry)?;
        let mut a = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let mut buf = Vec::with_capacity(line.len() + 1);
        if a.torn {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line.as_bytes());
        let written = a.file.write(&buf);
        let err = match written {
            Ok(n) if n == buf.len() => None,
            Ok(n) => Some(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!(
                    "journal entry cut short ({n} of {} bytes written)",
                    buf.len()
                ),
            )),
            Err(e) => Some(e),
        };
        if let Some(e) = err {
            let good = a.good_len;
            a.torn = a.file.set_len(good).is_err();
            return Err(e);
        }
        a.good_len += buf.len() as u64;
        a.torn = false;
        a.file.sync_data()
    }

    /// Cuts the journal back to `len` bytes (the torn last line `read_journal` skipped).
    pub fn truncate_to(&self, len: u64) -> std::io::Result<()> {
        let mut a = self.file.lock().unwrap_or_else(|p| p.into_inner());
        a.file.set_len(len)?;
        a.file.sync_data()?;
        a.good_len = len;
        a.torn = len > 0 && !ends_with_newline(&a.file, len)?;
        Ok(())
    }
}

fn ends_with_newline(f: &File, len: u64) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut last = [0u8];
    f.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

/// Prefix of a checksummed line: `{"crc":"xxxxxxxx",` then the rest of the entry's JSON.
const CRC_PREFIX: &str = "{\"crc\":\"";

/// One journal line: the entry's JSON with a CRC-32 of it as its first field, and `\n`.
fn encode_line(entry: &JournalEntry) -> std::io::Result<String> {
    let json = serde_json::to_string(entry).map_err(std::io::Error::other)?;
    let crc = crc32(json.as_bytes());
    Ok(format!("{CRC_PREFIX}{crc:08x}\",{}\n", &json[1..]))
}

/// Decodes one line; lines without a checksum (older journals) are taken as they are.
fn decode_line(line: &str) -> Result<JournalEntry, String> {
    let json = match line.strip_prefix(CRC_PREFIX) {
        Some(rest) => {
            let (crc, rest) = rest
                .split_at_checked(8)
                .ok_or_else(|| "torn checksum".to_string())?;
            let rest = rest
                .strip_prefix("\",")
                .ok_or_else(|| "malformed checksum".to_string())?;
            let json = format!("{{{rest}");
            let want = u32::from_str_radix(crc, 16).map_err(|_| "malformed checksum")?;
            if crc32(json.as_bytes()) != want {
                return Err("checksum mismatch (a torn or damaged entry)".into());
            }
            json
        }
        None => line.to_string(),
    };
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// CRC-32 (IEEE), bit by bit: journal lines are short.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A journal as read back.
#[derive(Debug)]
pub struct JournalRead {
    pub entries: Vec<JournalEntry>,
    /// The last line was torn (a crash or a full disk while it was written) and skipped.
    pub torn_tail: Option<TornTail>,
}

/// A torn last line that `read_journal` skipped.
#[derive(Debug)]
pub struct TornTail {
    /// 1-based line number.
    pub line: usize,
    /// Byte offset where the line starts (the journal's length without it).
    pub offset: u64,
    pub error: String,
}

impl TornTail {
    /// The warning to show.
    pub fn warning(&self, path: &Path) -> String {
        format!(
            "{}:{}: skipped the torn last line ({}); the entries before it are intact",
            path.display(),
            self.line,
            self.error
        )
    }
}

/// Reads every entry of a journal file. A last line that is torn (unterminated, damaged
/// or cut short) is skipped and reported; a bad line anywhere else is an error.
pub fn read_journal(path: &Path) -> Result<JournalRead, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut entries = Vec::new();
    let mut offset = 0usize;
    let mut lines: Vec<(usize, usize, &[u8])> = Vec::new();
    for (i, l) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        lines.push((i + 1, offset, l));
        offset += l.len();
    }
    let last = lines
        .iter()
        .rposition(|(_, _, l)| !l.trim_ascii().is_empty());
    for (idx, (n, start, raw)) in lines.iter().enumerate() {
        let text = raw.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let parsed = std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(decode_line);
        match parsed {
            // Unterminated but whole (its checksum holds): the entry was written.
            Ok(e) => entries.push(e),
            Err(error) if Some(idx) == last => {
                return Ok(JournalRead {
                    entries,
                    torn_tail: Some(TornTail {
                        line: *n,
                        offset: *start as u64,
                        error,
                    }),
                })
            }
            Err(e) => return Err(format!("{}:{n}: {e}", path.display())),
        }
    }
    Ok(JournalRead {
        entries,
        torn_tail: None,
    })
}

/// The SSH masters the journal records, oldest first.
pub fn ssh_masters(entries: &[JournalEntry]) -> Vec<SshMaster> {
    entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::SshMaster(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Reverts registered but not successfully run (nor found not needed), newest first.
pub fn pending_reverts(entries: &[JournalEntry]) -> Vec<(u64, String, RevertAction)> {
    let done: std::collections::BTreeSet<u64> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Reverted { seq, ok: true, .. } | JournalEntry::NotNeeded { seq, .. } => {
                Some(*seq)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(code: i32) -> JournalEntry {
        JournalEntry::Finished {
            verdict: "pass".into(),
            exit_code: code,
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_cut_off_before_the_next_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        {
            let j = Journal::open(dir.path()).unwrap();
            j.append(&finished(0)).unwrap();
            j.append(&finished(1)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"crc\":\""), "{text}");
        let good_len = text.len() as u64;
        // A full disk cut the third entry short.
        let third = encode_line(&finished(2)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&third.as_bytes()[..third.len() / 2]).unwrap();
        drop(f);
        let read = read_journal(&path).unwrap();
        assert_eq!(read.entries, vec![finished(0), finished(1)]);
        let torn = read.torn_tail.expect("torn tail reported");
        assert_eq!((torn.line, torn.offset), (3, good_len));
        // An entry appended later starts on its own line, not glued onto the torn one.
        let j = Journal::open(dir.path()).unwrap();
        j.append(&finished(3)).unwrap();
        drop(j);
        let err = read_journal(&path).unwrap_err();
        assert!(
            err.contains(":3:"),
            "the torn line is now in the middle: {err}"
        );
        // `recover` cuts it off first.
        let j = Journal::open(dir.path()).unwrap();
        j.truncate_to(good_len).unwrap();
        j.append(&finished(3)).unwrap();
        let read = read_journal(&path).unwrap();
        assert_eq!(read.entries, vec![finished(0), finished(1), finished(3)]);
        assert!(read.torn_tail.is_none());
    }

    #[test]
    fn a_damaged_line_fails_its_checksum_and_old_lines_without_one_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let good = encode_line(&finished(0)).unwrap();
        let damaged = good.replace("\"exit_code\":0", "\"exit_code\":7");
        let old = serde_json::to_string(&finished(5)).unwrap();
        std::fs::write(&path, format!("{old}\n{good}{damaged}")).unwrap();
        let read = read_journal(&path).unwrap();
        assert_eq!(read.entries, vec![finished(5), finished(0)]);
        assert!(read.torn_tail.unwrap().error.contains("checksum"));
        std::fs::write(&path, format!("{damaged}{good}")).unwrap();
        assert!(read_journal(&path).unwrap_err().contains(":1: checksum"));
    }

    /// A tiny tmpfs mounted in a temporary directory (root only), unmounted on drop.
    struct TinyTmpfs(tempfile::TempDir);

    impl TinyTmpfs {
        fn mount(size: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "mount a tmpfs (the suite runs as root)");
            Self(dir)
        }
    }

    impl Drop for TinyTmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.0.path())
                .status();
        }
    }

    #[test]
    fn a_full_disk_leaves_no_torn_line_and_later_entries_read_back() {
        let fs = TinyTmpfs::mount("8k");
        let dir = fs.0.path();
        // A filler that is deleted later, as space freed on the disk.
        std::fs::write(dir.join("filler"), vec![0u8; 4096]).unwrap();
        let j = Journal::open(dir).unwrap();
        let mut written = 0;
        let err = loop {
            match j.append(&finished(written)) {
                Ok(()) => written += 1,
                Err(e) => break e,
            }
            assert!(written < 10_000, "the disk never filled");
        };
        assert!(written > 0, "{err}");
        let path = dir.join(JOURNAL_FILE);
        let read = read_journal(&path).unwrap();
        assert!(read.torn_tail.is_none(), "{:?}", read.torn_tail);
        assert_eq!(read.entries.len(), written as usize);
        std::fs::remove_file(dir.join("filler")).unwrap();
        j.append(&finished(-1)).unwrap();
        let read = read_journal(&path).unwrap();
        assert!(read.torn_tail.is_none());
        assert_eq!(read.entries.last(), Some(&finished(-1)));
        assert_eq!(read.entries.len(), written as usize + 1);
    }

    #[test]
    fn ssh_masters_and_reverts_not_needed_read_back() {
        let master = SshMaster {
            node: "n1".into(),
            pid: Some(42),
            control_socket: "/s/.ssh-connectionX/master".into(),
        };
        let entries = vec![
            JournalEntry::SshMaster(master.clone()),
            JournalEntry::NotNeeded {
                seq: 1,
                reason: "never reached".into(),
            },
        ];
        let decoded: Vec<JournalEntry> = entries
            .iter()
            .map(|e| decode_line(encode_line(e).unwrap().trim_end()).unwrap())
            .collect();
        assert_eq!(decoded, entries);
        assert_eq!(ssh_masters(&decoded), vec![master]);
        let registered = JournalEntry::Registered {
            seq: 1,
            fault_id: "f".into(),
            description: "d".into(),
            action: RevertAction::LocalCommand(crate::revert::LocalCommand {
                argv: vec!["true".into()],
                timeout: crate::scenario::duration::HumanDuration(std::time::Duration::from_secs(
                    1,
                )),
            }),
        };
        assert_eq!(pending_reverts(std::slice::from_ref(&registered)).len(), 1);
        let mut with_not_needed = vec![registered];
        with_not_needed.extend(decoded);
        assert!(
            pending_reverts(&with_not_needed).is_empty(),
            "not needed is done"
        );
    }

    #[test]
    fn journal_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(&finished(0)).unwrap();
        for f in [JOURNAL_FILE, LOCK_FILE] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
}
