//! Inventory entries: a node, its access method and the services the lab (or the user)
//! says run on it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::scenario::duration::HumanDuration;

/// One node of the inventory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique node name used by faults and probes.
    pub name: String,
    /// Free-form roles such as `control-plane` or `etcd`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Free-form labels used for selection.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The node's address, when known (informational; access has its own host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// How commands reach the node, written `access: { ssh: {...} }` (one key).
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub access: AccessSpec,
    /// Services on this node by name (`etcd`, `nats`, `dns`, `kubelet`, ...).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
}

/// A service on a node: where it answers and how it is started, stopped and checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service's own name (etcd member name, NATS server_name, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Named endpoints, e.g. `client: http://10.0.0.1:2379`, `monitor: http://...:8222`.
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
    /// argv that starts the service on the node.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::scenario::argv::lenient_opt"
    )]
    pub start: Option<Vec<String>>,
    /// argv that stops the service on the node.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::scenario::argv::lenient_opt"
    )]
    pub stop: Option<Vec<String>>,
    /// argv that exits 0 while the service runs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::scenario::argv::lenient_opt"
    )]
    pub status: Option<Vec<String>>,
}

/// Exactly one way to reach a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum AccessSpec {
    /// Over SSH with one multiplexed master connection per node.
    Ssh(SshAccess),
    /// `docker exec` into a container (kind nodes).
    Docker(DockerAccess),
    /// This machine, optionally inside a network namespace.
    Local(LocalAccess),
}

/// How strictly the SSH host key is checked.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KnownHostsPolicy {
    /// An unknown or changed host key is an error.
    #[default]
    Strict,
    /// Unknown keys are added; a changed key is an error.
    AcceptNew,
}

/// SSH access to a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SshAccess {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    #[serde(default)]
    pub known_hosts: KnownHostsPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
    /// Prefix every command with `sudo -n`.
    #[serde(default)]
    pub sudo: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<HumanDuration>,
}

/// `docker exec` access.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DockerAccess {
    pub container: String,
}

/// This machine, optionally inside `ip netns exec NAME`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LocalAccess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
}
