//! Builders for the objects a test seeds into the fake, turned into API-shaped JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use super::meta;

/// A node to seed: Ready and schedulable unless told otherwise.
#[derive(Debug, Clone)]
pub struct NodeSeed {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ready: bool,
    pub unschedulable: bool,
    pub control_plane: bool,
}

impl NodeSeed {
    pub fn worker(name: &str) -> Self {
        let labels = [
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
        ];
        Self {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ready: true,
            unschedulable: false,
            control_plane: false,
        }
    }

    /// A control-plane node: the role label plus its `NoSchedule` taint.
    pub fn control_plane(name: &str) -> Self {
        let mut seed = Self::worker(name).label("node-role.kubernetes.io/control-plane", "");
        seed.control_plane = true;
        seed
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn not_ready(mut self) -> Self {
        self.ready = false;
        self
    }

    pub fn cordoned(mut self) -> Self {
        self.unschedulable = true;
        self
    }

    pub(super) fn to_object(&self) -> Value {
        let mut spec = json!({});
        if self.unschedulable {
            spec["unschedulable"] = json!(true);
        }
        if self.control_plane {
            spec["taints"] =
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
        let mut node = json!({
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": spec,
            "status": {
                "conditions": [],
                "addresses": [{"type": "Hostname", "address": self.name}],
                "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "nodeInfo": {
                    "kubeletVersion": "v1.32.4",
                    "containerRuntimeVersion": "containerd://1.7.0",
                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "kernelVersion": "6.1.0",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        });
        meta::set_condition(&mut node, "Ready", self.ready);
        node
    }
}

/// The controller a seeded pod belongs to (its ownerReference with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOwner {
    ReplicaSet(String),
    StatefulSet(String),
    DaemonSet(String),
    /// Mirror pods are owned by their Node.
    Node(String),
}

impl PodOwner {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReplicaSet(_) => "ReplicaSet",
            Self::StatefulSet(_) => "StatefulSet",
            Self::DaemonSet(_) => "DaemonSet",
            Self::Node(_) => "Node",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::ReplicaSet(n) | Self::StatefulSet(n) | Self::DaemonSet(n) | Self::Node(n) => n,
        }
    }
}

/// A pod to seed: Running and Ready on `node`, with no owner, unless told otherwise.
#[derive(Debug, Clone)]
pub struct PodSeed {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub owner: Option<PodOwner>,
    pub mirror: bool,
    pub empty_dir: bool,
    pub phase: String,
    pub ready: bool,
    /// Becomes Ready this long after seeding (overrides `ready`).
    pub ready_after: Option<Duration>,
    pub termination_grace_seconds: i64,
}

impl PodSeed {
    pub fn new(namespace: &str, name: &str, node: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            node: Some(node.to_string()),
            labels: BTreeMap::new(),
            owner: None,
            mirror: false,
            empty_dir: false,
            phase: "Running".to_string(),
            ready: true,
            ready_after: None,
            termination_grace_seconds: 30,
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn owned_by(mut self, owner: PodOwner) -> Self {
        self.owner = Some(owner);
        self
    }

    /// A static pod's mirror: the `kubernetes.io/config.mirror` annotation, owned by its node.
    pub fn mirror(mut self) -> Self {
        self.mirror = true;
        self.owner = self.node.clone().map(PodOwner::Node);
        self
    }

    pub fn empty_dir(mut self) -> Self {
        self.empty_dir = true;
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = phase.to_string();
        self
    }

    pub fn not_ready(mut self) -> Self {
        self.ready = false;
        self
    }

    pub fn ready_after(mut self, delay: Duration) -> Self {
        self.ready = false;
        self.ready_after = Some(delay);
        self
    }

    /// The object; `owner_uid` is the uid of the owner if it is seeded.
    pub(super) fn to_object(&self, owner_uid: Option<&str>) -> Value {
        let mut spec = pod_spec(self.termination_grace_seconds);
        if let Some(node) = &self.node {
            spec["nodeName"] = json!(node);
        }
        if self.empty_dir {
            spec["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
            spec["containers"][0]["volumeMounts"] =
                json!([{"name": "scratch", "mountPath": "/scratch"}]);
        }
        let mut metadata =
            json!({"name": self.name, "namespace": self.namespace, "labels": self.labels});
        if self.mirror {
            metadata["annotations"] = json!({
                "kubernetes.io/config.mirror": "0123456789abcdef0123456789abcdef",
                "kubernetes.io/config.source": "file",
            });
        }
        if let Some(owner) = &self.owner {
            let uid = owner_uid.map_or_else(meta::new_uid, str::to_string);
            metadata["ownerReferences"] =
                json!([owner_reference(owner.kind(), owner.name(), &uid)]);
        }
        let mut pod =
            json!({"metadata": metadata, "spec": spec, "status": pod_status(&self.phase)});
        meta::set_pod_ready(&mut pod, self.ready);
        pod
    }
}

/// The spec of every pod the fake makes: one container that does nothing.
pub(super) fn pod_spec(termination_grace_seconds: i64) -> Value {
    json!({
        "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": termination_grace_seconds,
        "schedulerName": "default-scheduler",
    })
}

/// A pod status in `phase`, not Ready yet.
pub(super) fn pod_status(phase: &str) -> Value {
    let mut pod = json!({"status": {
        "phase": phase,
        "conditions": [],
        "containerStatuses": [{
            "name": "main", "image": "registry.k8s.io/pause:3.10", "ready": false,
            "restartCount": 0, "started": false,
            "state": {"running": {"startedAt": meta::now_rfc3339()}},
        }],
        "startTime": meta::now_rfc3339(),
    }});
    meta::set_condition(&mut pod, "PodScheduled", true);
    meta::set_condition(&mut pod, "Initialized", true);
    pod["status"].take()
}

pub(super) fn owner_reference(kind: &str, name: &str, uid: &str) -> Value {
    let api_version = if kind == "Node" { "v1" } else { "apps/v1" };
    json!({
        "apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// The kinds of workload whose pods the simulated controllers keep alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// A Deployment (with its one ReplicaSet), StatefulSet or DaemonSet to seed.
#[derive(Debug, Clone)]
pub struct WorkloadSeed {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub replicas: i32,
    /// Both the selector and the pod template labels.
    pub labels: BTreeMap<String, String>,
}

/// The `pod-template-hash` every seeded Deployment's ReplicaSet carries.
const TEMPLATE_HASH: &str = "6b7f9c5d4";

impl WorkloadSeed {
    fn new(kind: WorkloadKind, namespace: &str, name: &str, replicas: i32) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            replicas,
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
        }
    }

    pub fn deployment(namespace: &str, name: &str, replicas: i32) -> Self {
        Self::new(WorkloadKind::Deployment, namespace, name, replicas)
    }

    pub fn statefulset(namespace: &str, name: &str, replicas: i32) -> Self {
        Self::new(WorkloadKind::StatefulSet, namespace, name, replicas)
    }

    /// A DaemonSet; its desired nodes are those its seeded pods run on.
    pub fn daemonset(namespace: &str, name: &str) -> Self {
        Self::new(WorkloadKind::DaemonSet, namespace, name, 0)
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn replicaset_name(&self) -> String {
        format!("{}-{TEMPLATE_HASH}", self.name)
    }

    /// The controller of this workload's pods.
    pub fn pod_owner(&self) -> PodOwner {
        match self.kind {
            WorkloadKind::Deployment => PodOwner::ReplicaSet(self.replicaset_name()),
            WorkloadKind::StatefulSet => PodOwner::StatefulSet(self.name.clone()),
            WorkloadKind::DaemonSet => PodOwner::DaemonSet(self.name.clone()),
        }
    }

    /// The name the `index`-th seeded pod gets, as its controller would name it.
    pub fn pod_name(&self, index: usize) -> String {
        match self.kind {
            WorkloadKind::StatefulSet => format!("{}-{index}", self.name),
            WorkloadKind::Deployment => {
                format!("{}-{}", self.replicaset_name(), meta::random_suffix())
            }
            WorkloadKind::DaemonSet => format!("{}-{}", self.name, meta::random_suffix()),
        }
    }

    /// A pod of this workload on `node`, with its labels and owner.
    pub fn pod(&self, name: &str, node: &str) -> PodSeed {
        let mut seed = PodSeed::new(&self.namespace, name, node).owned_by(self.pod_owner());
        seed.labels = self.template_labels();
        seed
    }

    fn template_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        if self.kind == WorkloadKind::Deployment {
            labels.insert("pod-template-hash".to_string(), TEMPLATE_HASH.to_string());
        }
        labels
    }

    /// The workload object as `(kind, object)`; a Deployment's ReplicaSet is separate.
    pub(super) fn to_object(&self) -> (&'static str, Value) {
        let (kind, mut spec) = match self.kind {
            WorkloadKind::Deployment => ("Deployment", json!({"replicas": self.replicas})),
            WorkloadKind::StatefulSet => (
                "StatefulSet",
                json!({"replicas": self.replicas, "serviceName": self.name}),
            ),
            WorkloadKind::DaemonSet => ("DaemonSet", json!({})),
        };
        spec["selector"] = json!({"matchLabels": self.labels});
        spec["template"] = self.template(&self.labels);
        (
            kind,
            json!({"metadata": self.metadata(&self.name, &self.labels), "spec": spec, "status": {}}),
        )
    }

    /// The ReplicaSet a seeded Deployment owns (`deployment_uid` is the Deployment's).
    pub(super) fn replicaset_object(&self, deployment_uid: &str) -> Value {
        let labels = self.template_labels();
        let mut metadata = self.metadata(&self.replicaset_name(), &labels);
        metadata["ownerReferences"] =
            json!([owner_reference("Deployment", &self.name, deployment_uid)]);
        json!({
            "metadata": metadata,
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": labels}, "template": self.template(&labels)},
            "status": {},
        })
    }

    fn metadata(&self, name: &str, labels: &BTreeMap<String, String>) -> Value {
        json!({"name": name, "namespace": self.namespace, "labels": labels})
    }

    fn template(&self, labels: &BTreeMap<String, String>) -> Value {
        json!({"metadata": {"labels": labels}, "spec": pod_spec(30)})
    }
}

/// A policy/v1 PodDisruptionBudget selecting pods by labels.
#[derive(Debug, Clone)]
pub struct PdbSeed {
    pub namespace: String,
    pub name: String,
    pub match_labels: BTreeMap<String, String>,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
}

impl PdbSeed {
    fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            match_labels: BTreeMap::new(),
            min_available: None,
            max_unavailable: None,
        }
    }

    pub fn min_available(namespace: &str, name: &str, value: IntOrString) -> Self {
        Self {
            min_available: Some(value),
            ..Self::new(namespace, name)
        }
    }

    pub fn max_unavailable(namespace: &str, name: &str, value: IntOrString) -> Self {
        Self {
            max_unavailable: Some(value),
            ..Self::new(namespace, name)
        }
    }

    pub fn selector(mut self, key: &str, value: &str) -> Self {
        self.match_labels.insert(key.to_string(), value.to_string());
        self
    }

    pub(super) fn to_object(&self) -> Value {
        let mut spec = json!({"selector": {"matchLabels": self.match_labels}});
        if let Some(v) = &self.min_available {
            spec["minAvailable"] = json!(v);
        }
        if let Some(v) = &self.max_unavailable {
            spec["maxUnavailable"] = json!(v);
        }
        json!({"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec, "status": {}})
    }
}

/// A coordination.k8s.io/v1 Lease, as leader election writes it.
#[derive(Debug, Clone)]
pub struct LeaseSeed {
    pub namespace: String,
    pub name: String,
    pub holder: String,
    pub duration_seconds: i32,
}

impl LeaseSeed {
    pub fn new(namespace: &str, name: &str, holder: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            holder: holder.to_string(),
            duration_seconds: 15,
        }
    }

    pub(super) fn to_object(&self) -> Value {
        let now = meta::now_micro();
        json!({
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": self.duration_seconds,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        })
    }
}
