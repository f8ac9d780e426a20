//! Nodes held down by live kubedrill runs on this machine, so `max-unavailable` counts the
//! faults of other runs too. One JSON file per run in a private registry directory
//! (`/run/kubedrill/runs`, else `$XDG_RUNTIME_DIR/kubedrill/runs`, else
//! `$TMPDIR/kubedrill-<uid>/runs`); every check-and-record happens under an exclusive
//! `flock` on the directory's lock file. A node is identified by how it is reached (SSH
//! host and port, network namespace, container), so two inventories naming the same
//! machine differently still count it once. An entry whose process is gone (pid dead, or
//! reused by another process: its start time differs) still counts the faults its run's
//! journal has not seen reverted (a killed run: until `kubedrill recover`); once none is
//! left, or the journal cannot be read, the entry is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::access::{AccessSpec, NodeSpec};

/// How a node is reached, as one comparable string.
pub fn node_identity(n: &NodeSpec) -> String {
    match &n.access {
        AccessSpec::Ssh(s) => format!("ssh {}:{}", s.host, s.port.unwrap_or(22)),
        AccessSpec::Local(l) => match &l.netns {
            Some(ns) => format!("netns {ns}"),
            None => "local".into(),
        },
        AccessSpec::Docker(d) => format!("docker {}", d.container),
    }
}

/// One run's entry: who it is and which nodes each of its faults holds down.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Holder {
    pid: u32,
    /// Start time of the process (clock ticks after boot, `/proc/PID/stat` field 22).
    start_ticks: Option<u64>,
    run_dir: PathBuf,
    /// fault id → (node name, identity) it holds down.
    held: BTreeMap<String, Vec<(String, String)>>,
}

/// Nodes of this run's inventory that another run holds down.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldElsewhere {
    pub pid: u32,
    pub run_dir: PathBuf,
    /// Node names as this run's inventory calls them.
    pub nodes: BTreeSet<String>,
    /// The run is gone (killed) and left these faults in place.
    pub gone: bool,
}

impl HeldElsewhere {
    /// `n1 (held down by another kubedrill run: pid 123, run directory /r/x)`.
    pub fn describe(&self) -> String {
        let nodes = self.nodes.iter().cloned().collect::<Vec<_>>().join(", ");
        if self.gone {
            format!(
                "{nodes} (left down by a kubedrill run that is gone: pid {}, run directory {}; run `kubedrill recover {}`)",
                self.pid,
                self.run_dir.display(),
                self.run_dir.display()
            )
        } else {
            format!(
                "{nodes} (held down by another kubedrill run: pid {}, run directory {})",
                self.pid,
                self.run_dir.display()
            )
        }
    }
}

/// Faults of a gone run that its journal has not seen reverted; `None` when the journal
/// cannot be read.
fn still_pending(run_dir: &Path) -> Option<BTreeSet<String>> {
    let read = super::journal::read_journal(&run_dir.join(super::journal::JOURNAL_FILE)).ok()?;
    Some(
        super::journal::pending_reverts(&read.entries)
            .into_iter()
            .map(|(_, fault, _)| fault)
            .collect(),
    )
}

/// This run's view of the registry. Its entry is removed once nothing is held; a run that
/// ends with faults in place (reverts cut short) leaves it for the journal check above.
pub struct RunRegistry {
    dir: PathBuf,
    me: std::sync::Mutex<Holder>,
}

/// The registry directory: the first of the candidates that can be created private.
fn default_dir() -> Result<PathBuf, String> {
    let uid = unsafe { libc::geteuid() };
    let mut candidates = Vec::new();
    if uid == 0 {
        candidates.push(PathBuf::from("/run/kubedrill/runs"));
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(x).join("kubedrill/runs"));
    }
    candidates.push(std::env::temp_dir().join(format!("kubedrill-{uid}/runs")));
    let mut errors = Vec::new();
    for dir in candidates {
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
        {
            Ok(()) => return Ok(dir),
            Err(e) => errors.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(errors.join("; "))
}

/// The start time of `pid`, `None` when it is gone (or a zombie).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command: field 3 is the state, field 22 the start time.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// True while the process that wrote `h` still runs.
fn alive(h: &Holder) -> bool {
    match start_ticks(h.pid) {
        None => false,
        Some(now) => h.start_ticks.is_none_or(|then| then == now),
    }
}

/// The registry lock, released when dropped.
struct Locked {
    _file: File,
}

impl Locked {
    fn take(dir: &Path) -> std::io::Result<Self> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(".lock"))?;
        // SAFETY: flock on a descriptor we own; unlocked when the file is closed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { _file: f })
    }
}

impl RunRegistry {
    /// The registry in its default directory, for the run in `run_dir`.
    pub fn open(run_dir: &Path) -> Result<Self, String> {
        Ok(Self::at(default_dir()?, run_dir))
    }

    /// The registry in `dir` (tests).
    pub fn at(dir: PathBuf, run_dir: &Path) -> Self {
        let pid = std::process::id();
        Self {
            dir,
            me: std::sync::Mutex::new(Holder {
                pid,
                start_ticks: start_ticks(pid),
                run_dir: run_dir.to_path_buf(),
                held: BTreeMap::new(),
            }),
        }
    }

    fn entry(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("{pid}.json"))
    }

    /// Under the lock: `check` sees what other live runs hold of `inventory`; when it
    /// agrees, `fault_id`'s `nodes` are recorded for this run. Unreadable or stale entries
    /// are skipped (stale ones removed).
    pub fn claim(
        &self,
        fault_id: &str,
        nodes: &[NodeSpec],
        inventory: &[NodeSpec],
        check: impl FnOnce(&[HeldElsewhere]) -> Result<(), String>,
    ) -> Result<(), String> {
        let fail = |e: std::io::Error| {
            format!(
                "cannot use the run registry {} (which counts nodes other kubedrill runs hold down): {e}; not injecting",
                self.dir.display()
            )
        };
        let _lock = Locked::take(&self.dir).map_err(fail)?;
        let others = self.others(inventory);
        check(&others)?;
        let mut me = self.me.lock().unwrap_or_else(|p| p.into_inner());
        me.held.insert(
            fault_id.to_string(),
            nodes
                .iter()
                .map(|n| (n.name.clone(), node_identity(n)))
                .collect(),
        );
        self.write(&me).map_err(fail)
    }

    /// Forgets `fault_id` once its reverts have run.
    pub fn release(&self, fault_id: &str) {
        let Ok(_lock) = Locked::take(&self.dir) else {
            return;
        };
        let mut me = self.me.lock().unwrap_or_else(|p| p.into_inner());
        if me.held.remove(fault_id).is_some() {
            let _ = self.write(&me);
        }
    }

    fn write(&self, me: &Holder) -> std::io::Result<()> {
        let path = self.entry(me.pid);
        if me.held.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let tmp = self.dir.join(format!(".{}.tmp", me.pid));
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec(me).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    /// What other live runs hold of `inventory`, by node identity.
    fn others(&self, inventory: &[NodeSpec]) -> Vec<HeldElsewhere> {
        let me = std::process::id();
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return found;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let Ok(h) = std::fs::read(&path)
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<Holder>(&b).map_err(|_| ()))
            else {
                continue;
            };
            if h.pid == me {
                continue;
            }
            let gone = !alive(&h);
            let mut held = h.held.clone();
            if gone {
                let pending = still_pending(&h.run_dir).unwrap_or_default();
                held.retain(|fault, _| pending.contains(fault));
                if held.is_empty() {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
            }
            let ids: BTreeSet<&str> = held.values().flatten().map(|(_, id)| id.as_str()).collect();
            let nodes: BTreeSet<String> = inventory
                .iter()
                .filter(|n| ids.contains(node_identity(n).as_str()))
                .map(|n| n.name.clone())
                .collect();
            if !nodes.is_empty() {
                found.push(HeldElsewhere {
                    pid: h.pid,
                    run_dir: h.run_dir,
                    nodes,
                    gone,
                });
            }
        }
        found.sort_by_key(|h| h.pid);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::LocalAccess;

    fn node(name: &str, netns: &str) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            roles: vec![],
            labels: Default::default(),
            address: None,
            access: AccessSpec::Local(LocalAccess {
                netns: Some(netns.into()),
            }),
            services: Default::default(),
        }
    }

    fn write_holder(dir: &Path, h: &Holder) {
        std::fs::write(
            dir.join(format!("{}.json", h.pid)),
            serde_json::to_vec(h).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn counts_live_runs_by_node_identity_and_drops_dead_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let inventory = [node("n0", "ns-a"), node("n1", "ns-b")];
        // A live process (our parent test harness stays up) holding ns-b under another name.
        let parent = std::os::unix::process::parent_id();
        let live = Holder {
            pid: parent,
            start_ticks: start_ticks(parent),
            run_dir: "/reports/a".into(),
            held: BTreeMap::from([(
                "kill".into(),
                vec![("other-name".into(), "netns ns-b".into())],
            )]),
        };
        write_holder(&dir, &live);
        // A dead one: a pid whose start time does not match.
        let dead = Holder {
            pid: 1,
            start_ticks: Some(u64::MAX),
            run_dir: "/reports/dead".into(),
            held: BTreeMap::from([("x".into(), vec![("n0".into(), "netns ns-a".into())])]),
        };
        write_holder(&dir, &dead);
        let reg = RunRegistry::at(dir.clone(), Path::new("/reports/b"));
        let mut seen = Vec::new();
        reg.claim("mine", &inventory[..1], &inventory, |o| {
            seen = o.to_vec();
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![HeldElsewhere {
                pid: parent,
                run_dir: "/reports/a".into(),
                nodes: BTreeSet::from(["n1".to_string()]),
                gone: false,
            }]
        );
        assert!(!dir.join("1.json").exists(), "the dead entry is removed");
        let mine = dir.join(format!("{}.json", std::process::id()));
        assert!(mine.exists());
        // A refusal records nothing.
        let err = reg
            .claim("again", &inventory[1..], &inventory, |_| Err("no".into()))
            .unwrap_err();
        assert_eq!(err, "no");
        let text = std::fs::read_to_string(&mine).unwrap();
        assert!(!text.contains("again"), "{text}");
        reg.release("mine");
        assert!(!mine.exists(), "nothing held, no entry");
    }

    #[test]
    fn a_gone_run_counts_until_its_journal_has_the_faults_reverted() {
        use crate::engine::journal::{Journal, JournalEntry};
        use crate::revert::{NodeCommand, RevertAction};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("registry");
        std::fs::create_dir(&dir).unwrap();
        let killed_run = tmp.path().join("killed-run");
        std::fs::create_dir(&killed_run).unwrap();
        let journal = Journal::open(&killed_run).unwrap();
        journal
            .append(&JournalEntry::Registered {
                seq: 1,
                fault_id: "stop".into(),
                description: "start it".into(),
                action: RevertAction::NodeCommand(NodeCommand {
                    node: "n1".into(),
                    argv: vec!["true".into()],
                    verify: None,
                    timeout: crate::scenario::duration::HumanDuration(
                        std::time::Duration::from_secs(1),
                    ),
                }),
            })
            .unwrap();
        write_holder(
            &dir,
            &Holder {
                pid: 1,
                start_ticks: Some(u64::MAX),
                run_dir: killed_run.clone(),
                held: BTreeMap::from([("stop".into(), vec![("n1".into(), "netns ns-b".into())])]),
            },
        );
        let inventory = [node("n0", "ns-a"), node("n1", "ns-b")];
        let reg = RunRegistry::at(dir.clone(), Path::new("/reports/b"));
        let seen = |reg: &RunRegistry| {
            let mut seen = Vec::new();
            reg.claim("probe", &[], &inventory, |o| {
                seen = o.to_vec();
                Err("only looking".into())
            })
            .unwrap_err();
            seen
        };
        let held = seen(&reg);
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(held[0].gone);
        assert!(
            held[0].describe().contains("kubedrill recover"),
            "{}",
            held[0].describe()
        );
        // `recover` ran the revert: the entry no longer counts and is removed.
        journal
            .append(&JournalEntry::Reverted {
                seq: 1,
                ok: true,
                error: None,
            })
            .unwrap();
        assert!(seen(&reg).is_empty());
        assert!(!dir.join("1.json").exists());
    }
}
