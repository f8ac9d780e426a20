//! `/version` and the unaggregated discovery documents, built from the resource table.
//!
//! kubectl asks for aggregated discovery (apidiscovery.k8s.io/v2) first; answering plain
//! `application/json` makes it fall back to these documents.

use serde_json::{json, Value};

use super::resources::{ResourceType, GROUPS, RESOURCES};

/// The verbs the fake implements (no watch, no deletecollection).
const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update"];

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.4-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
}

fn group_entry(group: &str) -> Value {
    let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [version], "preferredVersion": version})
}

pub fn groups() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|g| group_entry(g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(name: &str) -> Option<Value> {
    GROUPS.contains(&name).then(|| {
        let mut entry = group_entry(name);
        entry["kind"] = json!("APIGroup");
        entry["apiVersion"] = json!("v1");
        entry
    })
}

/// The APIResourceList of `group`/`version`, or `None` if the fake does not serve it.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let first = served.first()?;
    let resources: Vec<Value> = served.iter().flat_map(|r| resource_entries(r)).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": first.api_version(),
        "resources": resources,
    }))
}

fn resource_entries(resource: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": VERBS,
    });
    if !resource.short_names.is_empty() {
        main["shortNames"] = json!(resource.short_names);
    }
    let subresources = resource.subresources.iter().map(|sub| match *sub {
        // Listing the policy/v1 group makes `kubectl drain` use the Eviction API.
        "eviction" => json!({
            "name": format!("{}/eviction", resource.plural), "singularName": "",
            "namespaced": resource.namespaced, "group": "policy", "version": "v1",
            "kind": "Eviction", "verbs": ["create"],
        }),
        _ => json!({
            "name": format!("{}/{sub}", resource.plural), "singularName": "",
            "namespaced": resource.namespaced, "kind": resource.kind,
            "verbs": ["get", "patch", "update"],
        }),
    });
    std::iter::once(main).chain(subresources).collect()
}
