//! Reading and writing the parts of stored objects that every module needs.

use std::collections::BTreeMap;

use rand::Rng;
use serde_json::{json, Value};

pub fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub fn name(object: &Value) -> &str {
    str_at(object, "/metadata/name").unwrap_or_default()
}

pub fn namespace(object: &Value) -> &str {
    str_at(object, "/metadata/namespace").unwrap_or_default()
}

pub fn uid(object: &Value) -> &str {
    str_at(object, "/metadata/uid").unwrap_or_default()
}

pub fn node_name(pod: &Value) -> &str {
    str_at(pod, "/spec/nodeName").unwrap_or_default()
}

pub fn labels(object: &Value) -> BTreeMap<String, String> {
    string_map(object.pointer("/metadata/labels"))
}

pub fn string_map(map: Option<&Value>) -> BTreeMap<String, String> {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `(kind, name)` of the ownerReference marked `controller: true`.
pub fn controller_of(object: &Value) -> Option<(&str, &str)> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
            )
        })
}

pub fn is_terminating(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

pub fn is_mirror_pod(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
}

/// Whether the `type` condition under `status.conditions` is `True`.
pub fn condition_true(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// Sets (or adds) the `type` condition to `True`/`False`.
pub fn set_condition(object: &mut Value, kind: &str, value: bool) {
    let status = if value { "True" } else { "False" };
    let conditions = object["status"]
        .as_object_mut()
        .expect("objects with conditions have a status")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    let list = conditions.as_array_mut().expect("conditions is a list");
    let now = now_rfc3339();
    match list.iter_mut().find(|c| c["type"] == kind) {
        Some(c) if c["status"] == status => {}
        Some(c) => {
            c["status"] = json!(status);
            c["lastTransitionTime"] = json!(now);
        }
        None => list.push(json!({"type": kind, "status": status, "lastTransitionTime": now})),
    }
}

pub fn pod_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// A pod counts as healthy for controllers and budgets: Ready and not being deleted.
pub fn pod_healthy(pod: &Value) -> bool {
    pod_ready(pod) && !is_terminating(pod)
}

/// Marks a pod ready or not, in the conditions and container statuses kubectl prints.
pub fn set_pod_ready(pod: &mut Value, ready: bool) {
    set_condition(pod, "Ready", ready);
    set_condition(pod, "ContainersReady", ready);
    if let Some(statuses) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for status in statuses {
            status["ready"] = json!(ready);
            status["started"] = json!(ready);
        }
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The microsecond timestamps Leases carry (`MicroTime`).
pub fn now_micro() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub fn new_uid() -> String {
    let hex = format!("{:032x}", rand::rng().random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A suffix like the ones generated pod names end with (`web-7d4b9c6f5-x2k9p`).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
