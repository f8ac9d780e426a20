//! Drills against the local lab: one lab per module, brought up once and kept for all of
//! the module's tests, which take turns (they kill leaders and cut members off, so they
//! must not overlap). The labs are torn down when the test process exits, also after a
//! failed test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

use kubedrill::access::NodePool;
use kubedrill::engine::{EventSink, RunOptions, RunOutcome};
use kubedrill::lab::{self, LabConfig};

use crate::lab_fixture::{block_on, LabFixture, LabKey};
use crate::run_binary::{SpawnedRun, INJECTED};

/// A module's lab and its turn lock.
pub struct DrillLab {
    key: LabKey,
    turn: tokio::sync::Mutex<()>,
    lab: OnceLock<&'static LabFixture>,
}

static TO_TEAR_DOWN: Mutex<Vec<LabConfig>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" fn tear_down_labs() {
    let configs = std::mem::take(&mut *TO_TEAR_DOWN.lock().unwrap_or_else(|e| e.into_inner()));
    for cfg in configs {
        if let Err(e) = block_on(lab::down(&cfg)) {
            eprintln!("lab down {}: {e}", cfg.name_prefix);
        }
        if let Some(tmp) = cfg.dir.parent() {
            let _ = std::fs::remove_dir_all(tmp);
        }
    }
}

impl DrillLab {
    pub const fn new(key: LabKey) -> Self {
        Self {
            key,
            turn: tokio::sync::Mutex::const_new(()),
            lab: OnceLock::new(),
        }
    }

    /// Waits for this module's turn; the lab comes up on first use.
    pub async fn turn(
        &'static self,
    ) -> (tokio::sync::MutexGuard<'static, ()>, &'static LabFixture) {
        let guard = self.turn.lock().await;
        let lab = *self.lab.get_or_init(|| {
            AT_EXIT.call_once(|| {
                // SAFETY: registering a plain extern "C" function without arguments.
                unsafe { libc::atexit(tear_down_labs) };
            });
            let fixture: &'static LabFixture = Box::leak(Box::new(LabFixture::up(self.key, 3)));
            TO_TEAR_DOWN
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fixture.cfg.clone());
            fixture
        });
        (guard, lab)
    }
}

/// A shipped scenario under `scenarios/`.
pub fn shipped(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(rel)
}

/// `--set lab_dir=...` for `lab`.
pub fn lab_vars(lab: &LabFixture) -> BTreeMap<String, String> {
    BTreeMap::from([("lab_dir".to_string(), lab.cfg.dir.display().to_string())])
}

/// Loads `file` with the lab's variables and runs it in-process.
pub async fn run_file(file: &Path, lab: &LabFixture, report_root: &Path) -> RunOutcome {
    let scenario = kubedrill::scenario::load_file(file, &lab_vars(lab))
        .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
    let opts = RunOptions {
        report_root: report_root.to_path_buf(),
        cluster: Default::default(),
        events: EventSink::new(1024),
        handle_signals: false,
    };
    kubedrill::engine::run(&scenario, &opts)
        .await
        .expect("run starts")
}

/// The lab's nodes as a pool, for the library's own clients.
pub fn pool(lab: &LabFixture) -> NodePool {
    NodePool::new(lab.lab.inventory.nodes.clone())
}

/// `iptables-save` inside node `name`'s namespace, normalised (counters, comments and
/// empty built-in tables dropped).
pub fn iptables_state(lab: &LabFixture, name: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.netns(name), "iptables-save"])
        .output()
        .expect("iptables-save");
    assert!(out.status.success(), "iptables-save in {name}: {out:?}");
    kubedrill::etcd::iptables::normalize_dump(&String::from_utf8_lossy(&out.stdout))
}

/// Spawns `kubedrill run` of the shipped scenario `rel` with `--set lab_dir=...` and waits,
/// without blocking the runtime, until its fault is injected (`what` names it on timeout).
pub async fn spawn_shipped_injected(
    rel: &str,
    lab: &LabFixture,
    reports: &Path,
    limit: Duration,
    what: &str,
) -> SpawnedRun {
    let set = format!("lab_dir={}", lab.cfg.dir.display());
    let run = SpawnedRun::start(&shipped(rel), reports, &["--set", &set]);
    until(limit, what, || async {
        run.journal_has(INJECTED).then_some(())
    })
    .await;
    run
}

/// Polls `cond` every 50ms until it returns Some, or panics naming `what` after `limit`.
pub async fn until<T, F, Fut>(limit: Duration, what: &str, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
