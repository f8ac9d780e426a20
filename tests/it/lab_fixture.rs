//! A lab for tests: unique names and subnet per test process and module, torn down on
//! Drop (also when the test panics). Tests running at the same time share one lab.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use kubedrill::access::{NodeAccess, NodeSpec};
use kubedrill::lab::{self, Lab, LabConfig};

/// Which lab a test module uses; each key gets its own prefix and subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LabKey {
    Access = 0,
    Lifecycle = 1,
    Nats = 2,
    Etcd = 3,
    Kubelet = 4,
    Shipped = 5,
}

/// How many keys there are: each test process gets this many consecutive subnets.
const KEYS: u32 = 6;

pub struct LabFixture {
    pub cfg: LabConfig,
    pub lab: Lab,
    _tmp: tempfile::TempDir,
}

static SHARED: Mutex<BTreeMap<LabKey, Weak<LabFixture>>> = Mutex::new(BTreeMap::new());

/// The config for `key`: prefix `kt<pid><key>`, subnet `10.213.<x>.0/24` claimed by this
/// process (see [`claim_subnet`]), so no two labs of concurrent tests share one.
pub fn config(key: LabKey, nodes: usize, dir: &std::path::Path) -> LabConfig {
    let pid = std::process::id();
    let k = key as u32;
    LabConfig {
        dir: dir.to_path_buf(),
        name_prefix: format!("kt{pid}{k}"),
        subnet: format!(
            "10.213.{}.0/24",
            claim_subnet((pid % (250 / KEYS)) * KEYS + k)
        ),
        nodes,
        kubelet_standin: vec![env!("CARGO_BIN_EXE_kubedrill-kubelet-standin").to_string()],
        ready_timeout: Duration::from_secs(120),
    }
}

/// The third octet of a free `10.213.x.0/24` for a lab of this process: 1 to 240 (0 is
/// the default lab's; 244 and 248 are fixed test networks), starting from `hint`, held by
/// an exclusive `flock` on `/run/kubedrill-test-subnets/<x>` until the process exits (a
/// crashed test's is released by the kernel).
fn claim_subnet(hint: u32) -> u32 {
    use std::os::fd::AsRawFd;
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    const LAST: u32 = 240;
    let dir = std::path::Path::new("/run/kubedrill-test-subnets");
    std::fs::create_dir_all(dir).expect("create the subnet claims dir");
    for off in 0..LAST {
        let x = (hint + off) % LAST + 1;
        let file = std::fs::File::create(dir.join(x.to_string())).expect("a claim file");
        // SAFETY: flock on a descriptor we own; it stays open (and locked) in HELD.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            HELD.lock().unwrap().push(file);
            return x;
        }
    }
    panic!("all {LAST} test lab subnets are claimed by running tests");
}

impl LabFixture {
    /// The lab of `key`, brought up by the first test that asks while none is running.
    pub fn shared(key: LabKey) -> Arc<LabFixture> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lab) = shared.get(&key).and_then(Weak::upgrade) {
            return lab;
        }
        let lab = Arc::new(Self::up(key, 3));
        shared.insert(key, Arc::downgrade(&lab));
        lab
    }

    /// A fresh lab with `nodes` nodes; leftovers of an earlier crashed run are removed first.
    pub fn up(key: LabKey, nodes: usize) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("kubedrill-lab-")
            .tempdir()
            .unwrap();
        let cfg = config(key, nodes, &tmp.path().join("lab"));
        block_on(lab::down(&cfg)).expect("clean up leftovers");
        match block_on(lab::up(&cfg)) {
            Ok(lab) => Self {
                cfg,
                lab,
                _tmp: tmp,
            },
            Err(e) => {
                let logs = collect_logs(&cfg.dir);
                let _ = block_on(lab::down(&cfg));
                panic!("lab up failed: {e}\n{logs}");
            }
        }
    }

    pub fn node(&self, name: &str) -> NodeSpec {
        self.lab.inventory.node(name).expect("lab node").clone()
    }

    pub fn access(&self, name: &str) -> NodeAccess {
        NodeAccess::new(self.node(name))
    }

    pub fn netns(&self, name: &str) -> String {
        format!("{}-{name}", self.cfg.name_prefix)
    }
}

impl Drop for LabFixture {
    fn drop(&mut self) {
        if let Err(e) = block_on(lab::down(&self.cfg)) {
            eprintln!("lab down {}: {e}", self.cfg.name_prefix);
        }
    }
}

/// Runs a future to completion on its own runtime (works inside and outside tokio tests).
pub fn block_on<F: std::future::Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pids in namespace `ns` whose command line is exactly `argv`.
pub fn pids_in_netns_running(ns: &str, argv: &[&str]) -> Vec<i32> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|p| p.trim().parse().ok())
        .filter(|pid: &i32| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

fn collect_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let Ok(nodes) = std::fs::read_dir(dir.join("nodes")) else {
        return out;
    };
    for node in nodes.flatten() {
        for log in std::fs::read_dir(node.path().join("log"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            out.push_str(&format!("== {}\n", log.path().display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
