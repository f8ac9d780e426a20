//! The cluster state: every stored object plus the fake's bookkeeping, behind one mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::meta;
use super::records::{DeleteRecord, EvictionRecord, RequestRecord};
use super::resources::{self, ResourceType};
use super::status::ApiError;

/// Where an object is stored: kind, namespace (empty when cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: &'static str, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub fn of(kind: &'static str, object: &Value) -> Self {
        Self::new(kind, meta::namespace(object), meta::name(object))
    }
}

/// Delays of the simulated controllers, so tests can measure recovery.
#[derive(Debug, Clone, Copy)]
pub struct ControllerTiming {
    /// From a controller noticing a missing pod to creating its replacement.
    pub recreate_delay: Duration,
    /// From a pod being bound to a node to it becoming Ready.
    pub ready_delay: Duration,
    /// Upper bound on how long a pod deleted with a grace period stays terminating.
    pub deletion_grace_cap: Duration,
}

impl Default for ControllerTiming {
    fn default() -> Self {
        Self {
            recreate_delay: Duration::from_millis(100),
            ready_delay: Duration::from_millis(100),
            deletion_grace_cap: Duration::ZERO,
        }
    }
}

#[derive(Debug, Default)]
pub struct ClusterState {
    objects: BTreeMap<ObjectKey, Value>,
    resource_version: u64,
    pub timing: ControllerTiming,
    pub requests: Vec<RequestRecord>,
    pub evictions: Vec<EvictionRecord>,
    pub deletions: Vec<DeleteRecord>,
    /// Pods (by uid) that turn Ready at the given time.
    pub ready_at: HashMap<String, Instant>,
    /// When the simulated kubelet last turned each pod (`namespace/name`) Ready.
    pub became_ready: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// Terminating pods (by uid) removed at the given time.
    pub remove_at: HashMap<String, (ObjectKey, Instant)>,
    /// Nodes each DaemonSet (namespace, name) runs on.
    pub daemonset_nodes: BTreeMap<(String, String), BTreeSet<String>>,
    /// Since when each workload has had fewer pods than it wants.
    pub shortfall_since: HashMap<ObjectKey, Instant>,
}

impl ClusterState {
    pub fn resource_version(&self) -> String {
        self.resource_version.to_string()
    }

    fn bump(&mut self, object: &mut Value) {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
    }

    /// Objects of `kind`, in `namespace` or all namespaces, in storage (name) order.
    pub fn list(&self, kind: &str, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.kind == kind && namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| v)
            .collect()
    }

    pub fn pods(&self) -> Vec<&Value> {
        self.list("Pod", None)
    }

    /// Stores a new object, filling uid, creationTimestamp, resourceVersion, kind, apiVersion.
    pub fn create(&mut self, kind: &'static str, mut object: Value) -> Result<Value, ApiError> {
        let resource = resources::by_kind(kind);
        let key = ObjectKey::of(kind, &object);
        if key.name.is_empty() {
            let message = "metadata.name: Required value: name is required";
            return Err(ApiError::invalid(resource, "", message));
        }
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(resource, &key.name));
        }
        if resource.namespaced {
            self.ensure_namespace(&key.namespace);
        }
        stamp_identity(&mut object, resource);
        object["metadata"]["generation"] = json!(1);
        self.bump(&mut object);
        self.objects.insert(key, object.clone());
        Ok(object)
    }

    fn ensure_namespace(&mut self, namespace: &str) {
        let key = ObjectKey::new("Namespace", "", namespace);
        if !namespace.is_empty() && !self.objects.contains_key(&key) {
            let object = json!({
                "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            self.create("Namespace", object).expect("namespace is new");
        }
    }

    /// Replaces a stored object, bumping its resourceVersion (and generation if spec changed).
    pub fn update(&mut self, key: &ObjectKey, mut object: Value) -> Value {
        if let Some(old) = self.objects.get(key) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed = old.get("spec") != object.get("spec");
            object["metadata"]["generation"] = json!(generation + i64::from(changed));
        }
        self.bump(&mut object);
        self.objects.insert(key.clone(), object.clone());
        object
    }

    /// Applies `change` to a stored object and stores it only if it changed.
    pub fn modify(&mut self, key: &ObjectKey, change: impl FnOnce(&mut Value)) -> Option<Value> {
        let old = self.objects.get(key)?;
        let mut new = old.clone();
        change(&mut new);
        if &new == old {
            return Some(new);
        }
        Some(self.update(key, new))
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        self.resource_version += 1;
        self.objects.remove(key)
    }
}

/// Fills the fields the API server owns on creation.
fn stamp_identity(object: &mut Value, resource: &ResourceType) {
    object["kind"] = json!(resource.kind);
    object["apiVersion"] = json!(resource.api_version());
    let metadata = &mut object["metadata"];
    metadata["uid"] = json!(meta::new_uid());
    metadata["creationTimestamp"] = json!(meta::now_rfc3339());
    if !resource.namespaced {
        if let Some(m) = metadata.as_object_mut() {
            m.remove("namespace");
        }
    }
}
