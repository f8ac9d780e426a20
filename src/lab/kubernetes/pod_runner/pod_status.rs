//! The status a kubelet reports for a pod whose process the runner runs: Running with the
//! pod's address, Ready as its readiness check says, one container with its restarts.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

/// What the runner knows of one pod's process.
pub struct Observed {
    pub host_ip: Ipv4Addr,
    pub pod_ip: Ipv4Addr,
    pub pid: Option<u32>,
    pub started_at: DateTime<Utc>,
    pub restarts: u32,
    pub ready: bool,
}

/// The merge patch for `pods/status`, or `None` when the pod already says so.
pub fn patch(pod: &Pod, o: &Observed) -> Option<Value> {
    let status = pod.status.clone().unwrap_or_default();
    let ready_now = condition(pod, "Ready");
    let container_id = o.pid.map(|pid| format!("lab://{pid}"));
    let current = status.container_statuses.as_ref().and_then(|c| c.first());
    let phase = if o.pid.is_some() {
        "Running"
    } else {
        "Pending"
    };
    let same = status.phase.as_deref() == Some(phase)
        && status.pod_ip.as_deref() == Some(o.pod_ip.to_string().as_str())
        && ready_now == Some(o.ready)
        && current.is_some_and(|c| {
            c.ready == o.ready
                && c.restart_count == o.restarts as i32
                && c.container_id == container_id
        });
    if same {
        return None;
    }
    let now = Utc::now().to_rfc3339();
    let flag = |b: bool| if b { "True" } else { "False" };
    // A condition keeps its transition time unless its status changes.
    let since = |kind: &str, value: bool| -> String {
        pod.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
            .filter(|c| c.status == flag(value))
            .and_then(|c| c.last_transition_time.as_ref())
            .map_or(now.clone(), |t| t.0.to_string())
    };
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .unwrap_or_default();
    let started = o.started_at.to_rfc3339();
    let state = match &container_id {
        Some(_) => json!({ "running": { "startedAt": started } }),
        None => json!({ "waiting": { "reason": "ContainerCreating" } }),
    };
    Some(json!({ "status": {
        "phase": phase,
        "hostIP": o.host_ip.to_string(),
        "hostIPs": [{ "ip": o.host_ip.to_string() }],
        "podIP": o.pod_ip.to_string(),
        "podIPs": [{ "ip": o.pod_ip.to_string() }],
        "startTime": status.start_time.map_or(now.clone(), |t| t.0.to_string()),
        "conditions": [
            { "type": "PodScheduled", "status": "True", "lastTransitionTime": since("PodScheduled", true) },
            { "type": "Initialized", "status": "True", "lastTransitionTime": since("Initialized", true) },
            { "type": "ContainersReady", "status": flag(o.ready), "lastTransitionTime": since("ContainersReady", o.ready) },
            { "type": "Ready", "status": flag(o.ready), "lastTransitionTime": since("Ready", o.ready) },
        ],
        "containerStatuses": [{
            "name": container.0,
            "image": container.1,
            "imageID": "",
            "containerID": container_id,
            "ready": o.ready,
            "started": container_id.is_some(),
            "restartCount": o.restarts,
            "state": state,
        }],
    } }))
}

/// The pod's condition `kind` (`None`: not reported).
fn condition(pod: &Pod, kind: &str) -> Option<bool> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_reporting_what_was_observed_needs_no_patch() {
        let o = Observed {
            host_ip: Ipv4Addr::new(10, 214, 0, 13),
            pod_ip: Ipv4Addr::new(10, 214, 0, 184),
            pid: Some(42),
            started_at: Utc::now(),
            restarts: 1,
            ready: true,
        };
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": "nats-0" },
            "spec": { "containers": [{ "name": "nats", "image": "nats:2.11" }] },
        }))
        .unwrap();
        let p = patch(&pod, &o).expect("a new pod needs its status");
        assert_eq!(p["status"]["podIP"], "10.214.0.184");
        assert_eq!(
            p["status"]["containerStatuses"][0]["containerID"],
            "lab://42"
        );
        pod.status = serde_json::from_value(p["status"].clone()).unwrap();
        assert!(patch(&pod, &o).is_none());
        // Not ready any more (the node controller said so, or the check failed): patched.
        let not_ready = Observed { ready: false, ..o };
        let p = patch(&pod, &not_ready).unwrap();
        assert_eq!(p["status"]["conditions"][3]["status"], "False");
    }
}
