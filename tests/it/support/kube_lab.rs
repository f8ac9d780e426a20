//! One real Kubernetes lab (`lab up --kubernetes`) shared by every test of one test run,
//! across processes: nextest runs each test in its own process, so the lab is keyed by the
//! runner's PID (the test process's parent). The first test that needs it boots it under a
//! file lock and starts a reaper, outside the test's process group, that brings it down
//! when the runner exits, however the tests ended. Tests sharing it keep to their own
//! namespace and their own nodes (`OwnNodes`: Node objects a kwok started by the test
//! manages), so they never see each other's objects.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use kubedrill::lab::{self, LabConfig};

use crate::lab_fixture::block_on;

/// The shared lab as the tests see it: its config and `vars.yaml`.
pub struct SharedLab {
    pub cfg: LabConfig,
    pub vars: BTreeMap<String, String>,
}

impl SharedLab {
    pub fn kubeconfig(&self) -> PathBuf {
        PathBuf::from(&self.vars["kubeconfig"])
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("lab var {key} missing"))
    }

    /// The lab's built kubectl (the server's version).
    pub fn built_kubectl(&self) -> String {
        format!("{}/kubectl", self.var("kube_bin_dir"))
    }

    /// `kubectl` (the given binary) against the lab with the admin kubeconfig; the
    /// discovery cache stays in the lab dir.
    pub fn kubectl_with(&self, kubectl: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl);
        cmd.arg(format!("--kubeconfig={}", self.var("kubeconfig")))
            .arg("--context=kubedrill-lab")
            .arg(format!("--cache-dir={}/kubectl-cache", self.var("lab_dir")))
            .args(args);
        cmd
    }

    /// Runs the built kubectl for cleanup: whatever it answers (a Drop must not panic).
    pub fn kubectl_best_effort(&self, args: &[&str]) {
        let _ = self.kubectl_with(&self.built_kubectl(), args).output();
    }

    /// Runs the built kubectl; panics unless it succeeds; returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self
            .kubectl_with(&self.built_kubectl(), args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`.
    pub fn apply(&self, yaml: &str) {
        use std::io::Write;
        let mut child = self
            .kubectl_with(&self.built_kubectl(), &["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The lab of this test run, booted by the first test that asks.
pub fn shared() -> &'static SharedLab {
    static SHARED: OnceLock<SharedLab> = OnceLock::new();
    SHARED.get_or_init(boot_or_join)
}

fn boot_or_join() -> SharedLab {
    let runner = std::os::unix::process::parent_id();
    let base = PathBuf::from(format!("/tmp/kubedrill-k8s-shared-{runner}"));
    std::fs::create_dir_all(&base).unwrap();
    let lock = std::fs::File::create(base.join("lock")).unwrap();
    // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let cfg = LabConfig {
        dir: base.join("lab"),
        name_prefix: format!("kks{}", runner % 10_000_000),
        subnet: format!("10.214.{}.0/24", 242 + runner % 13),
        // The pod runner (`--pods`) of the real CoreDNS and NATS pods.
        kubelet_standin: vec![env!("CARGO_BIN_EXE_kubedrill-kubelet-standin").to_string()],
        ..LabConfig::kubernetes_default()
    };
    let ready = base.join("ready");
    if !ready.exists() {
        block_on(lab::down(&cfg)).expect("clean up leftovers");
        start_reaper(runner, &base, &cfg);
        if let Err(e) = block_on(lab::up_kubernetes(&cfg)) {
            let _ = block_on(lab::down(&cfg));
            panic!("lab up --kubernetes failed: {e}");
        }
        std::fs::write(&ready, b"").unwrap();
    }
    let text = std::fs::read_to_string(cfg.dir.join("vars.yaml")).expect("vars.yaml");
    let vars = serde_yaml::from_str(&text).expect("vars.yaml parses");
    SharedLab { cfg, vars }
}

/// A shell in its own session (so the runner does not wait for it, nor kill it with the
/// test) that waits for the runner to exit, then takes the lab down.
fn start_reaper(runner: u32, base: &Path, cfg: &LabConfig) {
    let script = format!(
        "while kill -0 {runner} 2>/dev/null; do sleep 1; done; \
         '{bin}' lab down --kubernetes -q --dir '{dir}' --prefix '{prefix}' --subnet '{subnet}'; \
         rm -rf '{base}'",
        bin = env!("CARGO_BIN_EXE_kubedrill"),
        dir = cfg.dir.display(),
        prefix = cfg.name_prefix,
        subnet = cfg.subnet,
        base = base.display(),
    );
    let log = std::fs::File::create(base.join("reaper.log")).unwrap();
    // `--fork`: setsid returns at once, leaving the shell to init.
    let started = Command::new("setsid")
        .args(["--fork", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .expect("setsid sh");
    assert!(started.success(), "the reaper started");
}

/// Nodes only this test uses, each managed by its own kwok the test started (with the
/// admin kubeconfig, `--manage-single-node` as the lab's kubelets), plus the test's own namespace. Each node is
/// tainted `kubedrill.io/owner=ID:NoSchedule`, so only the test's pods (which tolerate it
/// and select `kubedrill.io/owner: ID`) land there. Dropping it deletes them all.
pub struct OwnNodes {
    pub lab: &'static SharedLab,
    /// Namespace and owner label value.
    pub id: String,
    pub nodes: Vec<String>,
    /// Each node's "kubelet": one kwok per node, as in the lab.
    kwoks: Vec<Option<Child>>,
    /// kwok's stages file.
    stages: PathBuf,
}

impl OwnNodes {
    /// `count` Ready nodes `ID-0..` and namespace `ID`, for test `name`.
    pub fn new(name: &str, count: usize) -> Self {
        Self::with_ready_delay(name, count, None)
    }

    /// Like `new`, with kwok making pods Ready only `delay` after they start (the lab's
    /// stages make them Ready at once), so an outage of a workload has a known length.
    pub fn with_ready_delay(name: &str, count: usize, delay: Option<Duration>) -> Self {
        let lab = shared();
        let id = format!("{name}-{}", std::process::id());
        let nodes: Vec<String> = (0..count).map(|i| format!("{id}-{i}")).collect();
        let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {id} }}\n");
        for n in &nodes {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n  labels: {{ kubedrill.io/owner: {id}, kubernetes.io/hostname: {n}, type: kwok }}\n  annotations: {{ kwok.x-k8s.io/node: fake }}\nspec:\n  taints: [{{ key: kubedrill.io/owner, value: {id}, effect: NoSchedule }}]\n"
            ));
        }
        lab.apply(&yaml);
        let mut me = Self {
            lab,
            id,
            nodes,
            kwoks: Vec::new(),
            stages: PathBuf::from(format!("{}/kwok-stages.yaml", lab.var("kube_bin_dir"))),
        };
        if let Some(delay) = delay {
            let text = std::fs::read_to_string(&me.stages).expect("kwok stages");
            let delayed = text.replace(
                "  name: pod-ready\nspec:\n",
                &format!(
                    "  name: pod-ready\nspec:\n  delay:\n    durationMilliseconds: {}\n",
                    delay.as_millis()
                ),
            );
            assert_ne!(text, delayed, "the pod-ready stage is in the lab's stages");
            me.stages = PathBuf::from(format!("/tmp/kwok-stages-{}.yaml", me.id));
            std::fs::write(&me.stages, delayed).unwrap();
        }
        me.kwoks = (0..count).map(|i| Some(me.start_kwok(i))).collect();
        let ready = r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#;
        let selector = format!("kubedrill.io/owner={}", me.id);
        let all_ready = crate::support::poll_until(Duration::from_secs(30), || {
            let out = lab.kubectl(&["get", "nodes", "-l", &selector, "-o", ready]);
            out.split_whitespace().filter(|s| *s == "True").count() == count
        });
        assert!(all_ready, "kwok made the test's nodes Ready");
        me
    }

    fn start_kwok(&self, i: usize) -> Child {
        let bin = self.lab.var("kube_bin_dir");
        let log = std::fs::File::create(format!("/tmp/kwok-{}.log", self.nodes[i])).unwrap();
        Command::new(format!("{bin}/kwok"))
            .arg(format!("--kubeconfig={}", self.lab.var("kubeconfig")))
            .arg(format!("--config={}", self.stages.display()))
            .arg(format!("--manage-single-node={}", self.nodes[i]))
            .arg("--node-lease-duration-seconds=40")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("kwok starts")
    }

    /// Stops node `i`'s kubelet (its kwok): no more heartbeats from it.
    pub fn stop_kubelet(&mut self, i: usize) {
        if let Some(mut k) = self.kwoks[i].take() {
            let _ = k.kill();
            let _ = k.wait();
        }
    }

    /// Starts node `i`'s kubelet again.
    pub fn start_kubelet(&mut self, i: usize) {
        if self.kwoks[i].is_none() {
            self.kwoks[i] = Some(self.start_kwok(i));
        }
    }

    /// The scheduling terms that put a pod on these nodes: nodeSelector and toleration.
    pub fn placement(&self) -> String {
        format!(
            "nodeSelector: {{ kubedrill.io/owner: {id} }}\n      tolerations: [{{ key: kubedrill.io/owner, operator: Exists }}]",
            id = self.id
        )
    }

    /// Runs the built kubectl in the test's namespace.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.id];
        all.extend(args);
        self.lab.kubectl(&all)
    }

    /// Is node `name` unschedulable on the server?
    pub fn cordoned(&self, name: &str) -> bool {
        self.lab
            .kubectl(&["get", "node", name, "-o", "jsonpath={.spec.unschedulable}"])
            .trim()
            == "true"
    }
}

impl Drop for OwnNodes {
    fn drop(&mut self) {
        for i in 0..self.kwoks.len() {
            self.stop_kubelet(i);
        }
        let k = |args: &[&str]| self.lab.kubectl_best_effort(args);
        k(&[
            "delete",
            "pods",
            "--all",
            "-n",
            &self.id,
            "--force",
            "--grace-period=0",
            "--wait=false",
        ]);
        k(&["delete", "namespace", &self.id, "--wait=false"]);
        let selector = format!("kubedrill.io/owner={}", self.id);
        k(&["delete", "nodes", "-l", &selector, "--wait=false"]);
        for n in &self.nodes {
            let _ = std::fs::remove_file(format!("/tmp/kwok-{n}.log"));
        }
        let _ = std::fs::remove_file(format!("/tmp/kwok-stages-{}.yaml", self.id));
    }
}

impl OwnNodes {
    /// The live (not terminating) pods of the test's namespace on `node`, as
    /// `OwnerKind/owner-name` for controlled pods and `Pod/name` otherwise, sorted.
    pub fn pods_on(&self, node: &str) -> Vec<String> {
        let field = format!("spec.nodeName={node}");
        let out = self.kubectl(&["get", "pods", "--field-selector", &field, "-o", "json"]);
        let list: serde_json::Value = serde_json::from_str(&out).expect("pod list");
        let mut pods: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                let meta = &p["metadata"];
                if meta["annotations"]["kubernetes.io/config.mirror"].is_string() {
                    return format!("Mirror/{}", meta["name"].as_str().unwrap());
                }
                match meta["ownerReferences"].as_array().and_then(|o| o.first()) {
                    Some(o) => {
                        let kind = o["kind"].as_str().unwrap();
                        let name = o["name"].as_str().unwrap();
                        // A ReplicaSet's pods by their Deployment (name minus the hash).
                        match (kind, name.rsplit_once('-')) {
                            ("ReplicaSet", Some((deploy, _))) => format!("Deployment/{deploy}"),
                            _ => format!("{kind}/{name}"),
                        }
                    }
                    None => format!("Pod/{}", meta["name"].as_str().unwrap()),
                }
            })
            .collect();
        pods.sort();
        pods
    }

    /// Every live pod of the namespace Running and Ready.
    pub fn all_ready(&self) -> bool {
        let out = self.kubectl(&[
            "get",
            "pods",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#,
        ]);
        out.split_whitespace().all(|p| p.ends_with("=True"))
    }
}
