//! `FakeKube`: starts the server on its own thread and runtime; seeds, switches and inspects it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use super::kubeconfig;
use super::meta;
use super::records::{DeleteRecord, EvictionRecord, RequestRecord};
use super::resources;
use super::seeds::{LeaseSeed, NodeSeed, PdbSeed, PodOwner, PodSeed, WorkloadKind, WorkloadSeed};
use super::server::{self, Outage, SharedState, Switches};
use super::snapshot::{self, EndState};
use super::state::{ClusterState, ControllerTiming, ObjectKey};
use super::workloads;

/// A running fake API server on `127.0.0.1`; stopped when dropped.
pub struct FakeKube {
    address: SocketAddr,
    state: SharedState,
    switches: watch::Sender<Switches>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeKube {
    /// Starts the fake (for async tests; it does not block).
    pub async fn start() -> Self {
        Self::start_sync()
    }

    /// Starts the fake on its own thread and runtime, so blocking callers (e.g. a test running
    /// `kubectl` through `std::process::Command`) cannot starve it.
    pub fn start_sync() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let address = listener.local_addr().expect("bound address");
        let state = SharedState::default();
        let (switches, switches_rx) = watch::channel(Switches::default());
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let server_state = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-kube-{}", address.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake-kube runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::spawn(server::run_controllers(server_state.clone()));
                    tokio::spawn(server::serve(listener, server_state, switches_rx));
                    let _ = shutdown_rx.await;
                });
                runtime.shutdown_background();
            })
            .expect("spawn fake-kube thread");
        Self {
            address,
            state,
            switches,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Writes `DIR/kubeconfig` (context `fake`, a user without credentials) and returns its path.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        kubeconfig::write(dir, &self.url(), None)
    }

    /// Like `write_kubeconfig`, with a bearer token in the user (to check it is never logged).
    pub fn write_kubeconfig_with_token(&self, dir: &Path, token: &str) -> PathBuf {
        kubeconfig::write(dir, &self.url(), Some(token))
    }

    fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().expect("fake-kube state lock")
    }

    // --- fault switches -------------------------------------------------------------------

    /// Starts (`Some`) or ends (`None`) an outage.
    pub fn set_outage(&self, outage: Option<Outage>) {
        self.switches.send_modify(|s| s.outage = outage);
    }

    /// Shorthand for `set_outage(Some(Outage::ServiceUnavailable))` / `set_outage(None)`.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.set_outage(unavailable.then_some(Outage::ServiceUnavailable));
    }

    /// Accept and read requests but never answer them (requests already waiting stay so).
    pub fn set_hang(&self, hang: bool) {
        self.switches.send_modify(|s| s.hang = hang);
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.switches.send_modify(|s| s.latency = latency);
    }

    /// Sets the simulated controllers' delays.
    pub fn set_timing(&self, timing: ControllerTiming) {
        self.lock().timing = timing;
    }

    // --- seeding ---------------------------------------------------------------------------

    /// Creates `kind` and brings derived statuses up to date; panics if it exists.
    fn seed(&self, kind: &'static str, object: Value) -> Value {
        let mut state = self.lock();
        let created = state
            .create(kind, object)
            .unwrap_or_else(|e| panic!("seeding {kind}: {}", e.message));
        workloads::refresh_statuses(&mut state);
        created
    }

    pub fn add_node(&self, seed: NodeSeed) -> Node {
        typed(self.seed("Node", seed.to_object()))
    }

    /// Adds a pod; its owner, if seeded already, lends its uid to the ownerReference.
    pub fn add_pod(&self, seed: PodSeed) -> Pod {
        let owner_uid = seed.owner.as_ref().and_then(|owner| {
            let namespace = if matches!(owner, PodOwner::Node(_)) {
                ""
            } else {
                &seed.namespace
            };
            let key = ObjectKey::new(
                resources::by_kind(owner.kind()).kind,
                namespace,
                owner.name(),
            );
            self.lock().get(&key).map(|o| meta::uid(o).to_string())
        });
        let pod = self.seed("Pod", seed.to_object(owner_uid.as_deref()));
        let mut state = self.lock();
        if let (Some(PodOwner::DaemonSet(ds)), Some(node)) = (&seed.owner, &seed.node) {
            let key = (seed.namespace.clone(), ds.clone());
            state
                .daemonset_nodes
                .entry(key)
                .or_default()
                .insert(node.clone());
        }
        if let Some(delay) = seed.ready_after {
            state.ready_at.insert(
                meta::uid(&pod).to_string(),
                std::time::Instant::now() + delay,
            );
        }
        typed(pod)
    }

    /// Adds a Deployment (with its ReplicaSet), StatefulSet or DaemonSet, without pods.
    pub fn add_workload(&self, seed: &WorkloadSeed) {
        let (kind, object) = seed.to_object();
        let created = self.seed(kind, object);
        if seed.kind == WorkloadKind::Deployment {
            self.seed("ReplicaSet", seed.replicaset_object(meta::uid(&created)));
        }
    }

    /// Adds a workload and one Ready pod of it on each of `nodes`, named as its controller would.
    pub fn add_workload_with_pods(&self, seed: &WorkloadSeed, nodes: &[&str]) -> Vec<Pod> {
        self.add_workload(seed);
        let pods = nodes.iter().enumerate();
        pods.map(|(i, node)| self.add_pod(seed.pod(&seed.pod_name(i), node)))
            .collect()
    }

    pub fn add_pdb(&self, seed: PdbSeed) {
        self.seed("PodDisruptionBudget", seed.to_object());
    }

    pub fn add_lease(&self, seed: LeaseSeed) {
        self.seed("Lease", seed.to_object());
    }

    // --- changing state behind the API's back ---------------------------------------------

    fn modify(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) {
        let mut state = self.lock();
        let key = ObjectKey::new(kind, namespace, name);
        state
            .modify(&key, change)
            .unwrap_or_else(|| panic!("no {kind} {namespace}/{name} in the fake"));
        workloads::refresh_statuses(&mut state);
    }

    pub fn set_node_ready(&self, name: &str, ready: bool) {
        self.modify("Node", "", name, |node| {
            meta::set_condition(node, "Ready", ready)
        });
    }

    pub fn set_pod_ready(&self, namespace: &str, name: &str, ready: bool) {
        self.modify("Pod", namespace, name, |pod| {
            meta::set_pod_ready(pod, ready)
        });
    }

    /// Hands the Lease to `holder`, as a new leader would (acquire and renew now, one transition).
    pub fn set_lease_holder(&self, namespace: &str, name: &str, holder: &str) {
        self.modify("Lease", namespace, name, |lease| {
            let now = meta::now_micro();
            let spec = &mut lease["spec"];
            let transitions = spec["leaseTransitions"].as_i64().unwrap_or(0);
            spec["holderIdentity"] = json!(holder);
            spec["acquireTime"] = json!(now);
            spec["renewTime"] = json!(now);
            spec["leaseTransitions"] = json!(transitions + 1);
        });
    }

    /// Sets the Lease's renewTime to now, as its holder does periodically.
    pub fn renew_lease(&self, namespace: &str, name: &str) {
        self.modify("Lease", namespace, name, |lease| {
            lease["spec"]["renewTime"] = json!(meta::now_micro())
        });
    }

    /// Sets the Lease's renewTime to now as read on a holder clock `skew` off the test's.
    pub fn renew_lease_skewed(&self, namespace: &str, name: &str, skew: chrono::Duration) {
        let at = (chrono::Utc::now() + skew).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.modify("Lease", namespace, name, |lease| {
            lease["spec"]["renewTime"] = json!(at)
        });
    }

    // --- reading state ----------------------------------------------------------------------

    /// The stored object of type `K`; `namespace` is ignored for cluster-scoped kinds.
    pub fn get<K: Resource + DeserializeOwned>(&self, namespace: &str, name: &str) -> Option<K> {
        let resource = resources::by_kind(K::KIND);
        let namespace = if resource.namespaced { namespace } else { "" };
        let key = ObjectKey::new(resource.kind, namespace, name);
        self.lock().get(&key).cloned().map(typed)
    }

    /// All stored objects of type `K`, in every namespace.
    pub fn list<K: Resource + DeserializeOwned>(&self) -> Vec<K> {
        let kind = resources::by_kind(K::KIND).kind;
        self.lock()
            .list(kind, None)
            .into_iter()
            .cloned()
            .map(typed)
            .collect()
    }

    pub fn node(&self, name: &str) -> Option<Node> {
        self.get("", name)
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.get(namespace, name)
    }

    pub fn pods(&self) -> Vec<Pod> {
        self.list()
    }

    /// Pods bound to `node`, terminating ones included.
    pub fn pods_on_node(&self, node: &str) -> Vec<Pod> {
        let on_node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node);
        self.pods().into_iter().filter(on_node).collect()
    }

    /// When the simulated kubelet last turned pod `namespace/name` Ready (ground truth).
    pub fn became_ready(&self, full_name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.lock().became_ready.get(full_name).copied()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    pub fn evictions(&self) -> Vec<EvictionRecord> {
        self.lock().evictions.clone()
    }

    pub fn deletions(&self) -> Vec<DeleteRecord> {
        self.lock().deletions.clone()
    }

    /// Cordon flags and pods per node by owner, for comparing two drains.
    pub fn end_state(&self) -> EndState {
        snapshot::end_state(&self.lock())
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn typed<K: DeserializeOwned>(object: Value) -> K {
    serde_json::from_value(object)
        .unwrap_or_else(|e| panic!("fake object does not deserialize: {e}"))
}
