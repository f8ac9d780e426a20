//! The lab's pod runner: real processes for the pods that ask for one. kwok simulates
//! every other pod; a pod labelled `lab.kubedrill.io/process: coredns|nats` (kwok's stages
//! leave it alone) gets a real CoreDNS or NATS server on its node, as a kubelet would run
//! its container:
//!
//! - an address of its own (`.160 + 8 × node` onwards in the lab subnet, on the node's
//!   interface), which the pod's status reports, so the apiserver's pod proxy, the
//!   EndpointSlice controller and clients all reach the process;
//! - the process in the node's network namespace, started again (1s later) when it exits,
//!   Ready while its readiness URL answers 200;
//! - deletion as a kubelet does it: SIGTERM, SIGKILL after the grace period, and only
//!   once the process is gone does the object go (delete with grace 0);
//! - nothing at all on a node whose kubelet (kwok) is stopped: its processes keep running
//!   and its pods are not updated, deleted or started until the kubelet is back.
//!
//! One runner serves the whole lab (`kubedrill-kubelet-standin --pods LAB_DIR`, a service of
//! the load balancer's namespace); it also proxies the Services in front of such pods
//! ([`service_proxy`]).

mod pod_status;
mod process;
mod program;
mod service_proxy;

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use serde::{Deserialize, Serialize};

use super::{admin_kubeconfig, up::recorded_bin_dir, CONTEXT};
use crate::lab::config::Layout;
use crate::lab::host::{alive, run};
use crate::lab::LabConfig;
use pod_status::Observed;
use process::PodProcess;
use program::{PodContext, Program};

/// The pod label naming the program the runner runs for it.
pub const PROCESS_LABEL: &str = "lab.kubedrill.io/process";
/// Real pods per node (addresses `.160 + 8 × node` to `+ 7`).
const PODS_PER_NODE: u32 = 8;
const FIRST_POD_OFFSET: u32 = 160;
const TICK: Duration = Duration::from_millis(200);
const PROXY_EVERY: Duration = Duration::from_secs(1);
const RESTART_DELAY: Duration = Duration::from_secs(1);
const READY_TIMEOUT: Duration = Duration::from_millis(500);
/// Failed readiness checks in a row before a Ready pod is not Ready (a kubelet's
/// `failureThreshold` default).
const READY_FAILURES: u32 = 3;
/// How long the process of a pod deleted with grace 0 gets after SIGTERM (a kubelet's
/// minimum for a force deletion).
const FORCED_GRACE_SECONDS: u64 = 2;
/// While a pod is being deleted the runner looks this often, so its object goes within
/// about this long after its process (`nats-leader-kill` times failovers from then).
const TERMINATING_TICK: Duration = Duration::from_millis(50);

/// What a pod's run needs to survive a restart of the runner (`pods/<uid>/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    namespace: String,
    name: String,
    node: usize,
    ip: Ipv4Addr,
    /// The pod's `lab.kubedrill.io/process` label.
    program: String,
    pid: Option<u32>,
    started_at: DateTime<Utc>,
    restarts: u32,
}

struct Local {
    record: Record,
    process: Option<PodProcess>,
    exited_at: Option<Instant>,
    ready: bool,
    /// Readiness checks failed in a row.
    failures: u32,
    /// Deleting: when SIGTERM was sent.
    terminating_since: Option<Instant>,
}

struct Runner {
    l: Layout,
    bin: PathBuf,
    client: kube::Client,
    pods: BTreeMap<String, Local>,
    http: reqwest::Client,
}

/// Runs until killed; `dir` is the Kubernetes lab's directory.
pub async fn run_lab(dir: &Path) -> Result<(), String> {
    let cfg = LabConfig::from_dir(dir)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} holds no lab", dir.display()))?;
    let l = Layout::kubernetes(&cfg).map_err(|e| e.to_string())?;
    let bin = recorded_bin_dir(&l).ok_or("the lab records no binaries")?;
    let client = admin_client(&l).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(READY_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut runner = Runner {
        pods: adopt(&l),
        l,
        bin,
        client,
        http,
    };
    // Adopted processes keep their Ready pods Ready: check before the first status.
    runner.check_readiness().await;
    let mut proxy = service_proxy::ServiceProxy::default();
    let mut proxy_at = Instant::now();
    loop {
        if let Err(e) = runner.reconcile().await {
            eprintln!("pod runner: {e}");
        }
        if Instant::now() >= proxy_at {
            if let Err(e) = proxy.sync(&runner.l, &runner.client).await {
                eprintln!("pod runner: services: {e}");
            }
            proxy_at = Instant::now() + PROXY_EVERY;
        }
        let terminating = runner.pods.values().any(|p| p.terminating_since.is_some());
        tokio::time::sleep(if terminating { TERMINATING_TICK } else { TICK }).await;
    }
}

async fn admin_client(l: &Layout) -> Result<kube::Client, String> {
    let file = admin_kubeconfig(l);
    let kc = kube::config::Kubeconfig::read_from(&file).map_err(|e| e.to_string())?;
    let opts = kube::config::KubeConfigOptions {
        context: Some(CONTEXT.into()),
        ..Default::default()
    };
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| e.to_string())?;
    cfg.connect_timeout = Some(Duration::from_secs(2));
    cfg.read_timeout = Some(Duration::from_secs(5));
    cfg.write_timeout = Some(Duration::from_secs(5));
    kube::Client::try_from(cfg).map_err(|e| e.to_string())
}

fn pods_dir(l: &Layout) -> PathBuf {
    l.dir.join("pods")
}

/// The runs recorded by an earlier runner, with their processes if they still run.
fn adopt(l: &Layout) -> BTreeMap<String, Local> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(pods_dir(l)) else {
        return out;
    };
    for entry in entries.flatten() {
        let uid = entry.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(entry.path().join("state.json")) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<Record>(&text) else {
            continue;
        };
        let process = record.pid.and_then(|pid| PodProcess::adopt(pid, &uid));
        out.insert(
            uid,
            Local {
                record,
                process,
                exited_at: None,
                ready: false,
                failures: 0,
                terminating_since: None,
            },
        );
    }
    out
}

impl Runner {
    async fn reconcile(&mut self) -> Result<(), String> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(PROCESS_LABEL);
        let pods = api.list(&lp).await.map_err(|e| e.to_string())?.items;
        let listed: HashSet<String> = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        // First the pods gone without us (force-deleted): their processes go before a
        // replacement of the same name may start (a kubelet gives them 2s).
        let gone: Vec<String> = self
            .pods
            .iter()
            .filter(|(uid, p)| !listed.contains(*uid) && self.kubelet_runs(p.record.node))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in gone {
            if self.stop(&uid, FORCED_GRACE_SECONDS).await? {
                self.forget(&uid).await?;
            }
        }
        for pod in &pods {
            if let Err(e) = self.sync_pod(pod, &pods).await {
                let name = pod.metadata.name.clone().unwrap_or_default();
                eprintln!("pod runner: {name}: {e}");
            }
        }
        self.check_readiness().await;
        Ok(())
    }

    /// True while an earlier pod of the same name (another UID) still has its record: a
    /// StatefulSet's replacement waits until the old server is stopped and forgotten.
    fn predecessor_running(&self, uid: &str, ns: &str, name: &str) -> bool {
        self.pods
            .iter()
            .any(|(u, p)| u != uid && p.record.namespace == ns && p.record.name == name)
    }

    /// Is node `i`'s kubelet (its kwok) running? The runner acts for it only then.
    fn kubelet_runs(&self, i: usize) -> bool {
        std::fs::read_to_string(self.l.node_dir(i).join("run/kubelet.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .is_some_and(alive)
    }

    async fn sync_pod(&mut self, pod: &Pod, all: &[Pod]) -> Result<(), String> {
        let (Some(uid), Some(name), Some(ns)) = (
            pod.metadata.uid.clone(),
            pod.metadata.name.clone(),
            pod.metadata.namespace.clone(),
        ) else {
            return Ok(());
        };
        let spec = pod.spec.clone().unwrap_or_default();
        let Some(node) = spec
            .node_name
            .as_ref()
            .and_then(|n| (0..self.l.nodes).find(|i| self.l.node_name(*i) == *n))
        else {
            return Ok(());
        };
        if !self.kubelet_runs(node) {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30);
            if self.stop(&uid, grace.max(0) as u64).await? {
                self.forget(&uid).await?;
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&name, &dp).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                    Err(e) => return Err(format!("delete: {e}")),
                }
            }
            return Ok(());
        }
        let label = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(PROCESS_LABEL))
            .cloned()
            .unwrap_or_default();
        let Some(program) = Program::from_label(&label) else {
            return Err(format!(
                "{PROCESS_LABEL}={label}: the lab runs coredns or nats"
            ));
        };
        if !self.pods.contains_key(&uid) {
            if self.predecessor_running(&uid, &ns, &name) {
                return Ok(());
            }
            let ip = self.free_addr(node, &ns, &name, stateful(pod))?;
            add_addr(&self.l, node, ip).await?;
            let record = Record {
                namespace: ns.clone(),
                name: name.clone(),
                node,
                ip,
                program: label.clone(),
                pid: None,
                started_at: Utc::now(),
                restarts: 0,
            };
            self.pods.insert(
                uid.clone(),
                Local {
                    record,
                    process: None,
                    exited_at: None,
                    ready: false,
                    failures: 0,
                    terminating_since: None,
                },
            );
            self.save(&uid)?;
        }
        self.ensure_process(&uid, pod, all, program)?;
        let local = &self.pods[&uid];
        let observed = Observed {
            host_ip: self.l.node_addr(node),
            pod_ip: local.record.ip,
            pid: local.process.as_ref().map(|p| p.pid),
            started_at: local.record.started_at,
            restarts: local.record.restarts,
            ready: local.ready,
        };
        if let Some(patch) = pod_status::patch(pod, &observed) {
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| format!("status: {e}"))?;
        }
        Ok(())
    }

    /// Starts the pod's process unless it runs (again 1s after it exited).
    fn ensure_process(
        &mut self,
        uid: &str,
        pod: &Pod,
        all: &[Pod],
        program: Program,
    ) -> Result<(), String> {
        let local = self.pods.get_mut(uid).expect("recorded above");
        if local.process.as_mut().is_some_and(|p| p.alive()) {
            return Ok(());
        }
        if local.process.take().is_some() {
            local.ready = false;
            local.exited_at = Some(Instant::now());
        }
        if local.exited_at.is_some_and(|t| t.elapsed() < RESTART_DELAY) {
            return Ok(());
        }
        let restart = local.exited_at.is_some();
        let r = &local.record;
        let owner = |p: &Pod| {
            p.metadata
                .owner_references
                .as_ref()
                .and_then(|o| o.first())
                .map(|o| (o.uid.clone(), o.name.clone()))
        };
        let group = owner(pod).map_or(r.name.clone(), |(_, name)| name);
        let peers = all
            .iter()
            .filter(|p| {
                p.metadata.uid.as_deref() != Some(uid)
                    && p.metadata.deletion_timestamp.is_none()
                    && owner(p).is_some()
                    && owner(p) == owner(pod)
            })
            .filter_map(|p| p.status.as_ref()?.pod_ip.as_ref()?.parse().ok())
            .collect();
        let run_dir = pods_dir(&self.l).join(uid);
        let volume = program::volume_dir(&self.l, &r.namespace, &r.name);
        let ctx = PodContext {
            name: &r.name,
            ip: r.ip,
            group: &group,
            peers,
            run_dir: &run_dir,
            volume: &volume,
        };
        let argv = program.prepare(&self.l, &self.bin, &ctx)?;
        let log = pods_dir(&self.l).join(format!("{}_{}.log", r.namespace, r.name));
        let process = PodProcess::spawn(
            &self.l.netns(r.node),
            &self.l.node_name(r.node),
            &argv,
            uid,
            &self.l.process_marker(),
            &log,
        )?;
        let local = self.pods.get_mut(uid).expect("recorded above");
        local.record.pid = Some(process.pid);
        local.record.started_at = Utc::now();
        if restart {
            local.record.restarts += 1;
        }
        local.process = Some(process);
        local.exited_at = None;
        self.save(uid)
    }

    /// Checks every running process's readiness URL at once.
    async fn check_readiness(&mut self) {
        let checks = self.pods.iter().map(|(uid, p)| {
            let url = p
                .process
                .as_ref()
                .and(Program::from_label(&p.record.program))
                .map(|prog| prog.readiness_url(p.record.ip));
            let http = self.http.clone();
            let uid = uid.clone();
            async move {
                let ok = match url {
                    Some(url) => http
                        .get(&url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success()),
                    None => false,
                };
                (uid, ok)
            }
        });
        for (uid, ok) in futures::future::join_all(checks).await {
            if let Some(p) = self.pods.get_mut(&uid) {
                p.failures = if ok { 0 } else { p.failures + 1 };
                p.ready = p.terminating_since.is_none()
                    && p.process.is_some()
                    && (ok || (p.ready && p.failures < READY_FAILURES));
            }
        }
    }

    /// Ends the pod's process: SIGTERM now, SIGKILL after `grace` seconds. True once it is
    /// gone (or there was none).
    async fn stop(&mut self, uid: &str, grace: u64) -> Result<bool, String> {
        let Some(local) = self.pods.get_mut(uid) else {
            return Ok(true);
        };
        if !local.process.as_mut().is_some_and(|p| p.alive()) {
            local.process = None;
            return Ok(true);
        }
        let process = local.process.as_mut().expect("checked above");
        // SIGTERM once; SIGKILL when the grace period (as the pod says now: a second
        // deletion may shorten it) has passed since.
        let since = *local.terminating_since.get_or_insert_with(|| {
            process.signal(libc::SIGTERM);
            Instant::now()
        });
        if since.elapsed() >= Duration::from_secs(grace) {
            process.signal(libc::SIGKILL);
        }
        local.ready = false;
        Ok(!process.alive())
    }

    /// Removes the pod's address and files; its volume stays.
    async fn forget(&mut self, uid: &str) -> Result<(), String> {
        if let Some(local) = self.pods.remove(uid) {
            del_addr(&self.l, local.record.node, local.record.ip).await;
        }
        let dir = pods_dir(&self.l).join(uid);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("{}: {e}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    fn save(&self, uid: &str) -> Result<(), String> {
        let dir = pods_dir(&self.l).join(uid);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let text = serde_json::to_string_pretty(&self.pods[uid].record).expect("serialises");
        std::fs::write(dir.join("state.json"), text).map_err(|e| format!("{}: {e}", dir.display()))
    }

    /// An address of node `node`'s range no pod of the runner holds: for a StatefulSet's
    /// pod the one its name had last time on this node if it is free (it comes back at its
    /// old address, so clients given addresses find it again), else the first free one.
    fn free_addr(
        &self,
        node: usize,
        ns: &str,
        name: &str,
        sticky: bool,
    ) -> Result<Ipv4Addr, String> {
        let used: HashSet<Ipv4Addr> = self.pods.values().map(|p| p.record.ip).collect();
        // Below the subnet's broadcast address.
        let last_offset = (1u32 << (32 - u32::from(self.l.prefix_len))) - 2;
        let range: Vec<Ipv4Addr> = (0..PODS_PER_NODE)
            .map(|k| FIRST_POD_OFFSET + PODS_PER_NODE * node as u32 + k)
            .filter(|offset| *offset <= last_offset)
            .map(|offset| self.l.host_addr(offset))
            .collect();
        let file = program::volume_dir(&self.l, ns, name).join("address");
        let last = sticky
            .then(|| std::fs::read_to_string(&file).ok())
            .flatten()
            .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
            .filter(|ip| range.contains(ip) && !used.contains(ip));
        let ip = last
            .or_else(|| range.iter().copied().find(|ip| !used.contains(ip)))
            .ok_or_else(|| {
                format!(
                    "node {} has no free address for a real pod ({PODS_PER_NODE} per node from .{FIRST_POD_OFFSET} of the lab subnet)",
                    self.l.node_name(node)
                )
            })?;
        if sticky {
            std::fs::create_dir_all(file.parent().expect("in a volume dir"))
                .and_then(|()| std::fs::write(&file, ip.to_string()))
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        Ok(ip)
    }
}

/// Owned by a StatefulSet (a stable identity: its volume, its address).
fn stateful(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "StatefulSet")
}

async fn add_addr(l: &Layout, node: usize, ip: Ipv4Addr) -> Result<(), String> {
    let addr = format!("{ip}/32");
    run(&[
        "ip",
        "-n",
        &l.netns(node),
        "addr",
        "replace",
        &addr,
        "dev",
        "eth0",
    ])
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

async fn del_addr(l: &Layout, node: usize, ip: Ipv4Addr) {
    let addr = format!("{ip}/32");
    let _ = crate::lab::host::try_run(&[
        "ip",
        "-n",
        &l.netns(node),
        "addr",
        "del",
        &addr,
        "dev",
        "eth0",
    ])
    .await;
}
