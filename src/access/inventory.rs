//! The inventory file: `nodes: [NodeSpec...]`. It is read through the same guarded path as
//! scenarios (regular files only, size limit, BOM, nesting depth, duplicate keys), and each
//! node is deserialised on its own so every broken node reports, with file:line:column
//! and key path (`nodes[1].access.ssh.prot`). The schema is documented in
//! docs/inventory.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::NodeSpec;
use crate::scenario::{Errors, KeyPath, Location, PositionIndex, ScenarioError};

/// Every node a run may touch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inventory {
    /// The nodes, in file order; names are unique.
    pub nodes: Vec<NodeSpec>,
}

/// Why an inventory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file is missing, not a regular file, too large or not UTF-8.
    #[error("inventory {}: {message}", path.display())]
    Read {
        path: PathBuf,
        message: String,
        /// True when the file does not exist.
        missing: bool,
    },
    /// The file was read but is not a valid inventory; one error per problem.
    #[error("{}", lines(errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<ScenarioError>,
    },
}

fn lines(errors: &[ScenarioError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Keys of a service's `endpoints` that kubedrill reads as URLs, per service.
const URL_ENDPOINTS: &[(&str, &[&str])] = &[
    ("etcd", &["client", "peer"]),
    ("nats", &["client", "monitor"]),
];

/// Where `inventory` (as a scenario's `target.inventory` names it) lives: relative paths
/// are relative to the scenario file's directory.
pub fn inventory_path(inventory: &Path, scenario_file: &Path) -> PathBuf {
    if inventory.is_relative() {
        scenario_file
            .parent()
            .map(|d| d.join(inventory))
            .unwrap_or_else(|| inventory.to_path_buf())
    } else {
        inventory.to_path_buf()
    }
}

/// True when `path` reads as an inventory rather than a scenario: a YAML mapping with a
/// top-level `nodes:` and neither `apiVersion` nor `kind`.
pub fn looks_like_inventory(path: &Path) -> bool {
    let Ok(text) = crate::scenario::read_checked(path) else {
        return false;
    };
    if PositionIndex::build(&text).is_err() {
        return false;
    }
    match serde_yaml::from_str::<Value>(&text) {
        Ok(Value::Mapping(m)) => {
            m.contains_key("nodes") && !m.contains_key("apiVersion") && !m.contains_key("kind")
        }
        _ => false,
    }
}

impl Inventory {
    /// Reads and checks an inventory file; every error names the file, line, column and
    /// key path.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        if let Err(e) = std::fs::symlink_metadata(path) {
            return Err(InventoryError::Read {
                path: path.into(),
                missing: e.kind() == std::io::ErrorKind::NotFound,
                message: format!("cannot read: {e}"),
            });
        }
        let text = crate::scenario::read_checked(path).map_err(|message| InventoryError::Read {
            path: path.into(),
            message,
            missing: false,
        })?;
        Self::parse_file(path, &text).map_err(|errors| InventoryError::Invalid {
            path: path.into(),
            errors,
        })
    }

    /// Parses inventory YAML; errors are returned as one text, without a file name.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_file(Path::new("inventory"), text).map_err(|e| lines(&e))
    }

    /// Parses inventory YAML as if read from `path`, collecting every error with its
    /// line, column and key path.
    pub fn parse_file(path: &Path, text: &str) -> Result<Self, Vec<ScenarioError>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // The event walk refuses deep nesting, duplicate keys and extra documents before
        // any recursive parser sees the text.
        let index = PositionIndex::build(text)
            .map_err(|(loc, msg)| vec![located(path, Some(loc), format!("YAML syntax: {msg}"))])?;
        let doc: Value = serde_yaml::from_str(text).map_err(|e| {
            let loc = e.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            });
            vec![located(path, loc, format!("YAML: {e}"))]
        })?;
        let mut errs = Errors::new(path, &index);
        let nodes = nodes_of(doc, &mut errs);
        check_names(&nodes, &mut errs);
        for (i, node) in &nodes {
            check_endpoints(node, &KeyPath::at("nodes").index(*i), &mut errs);
        }
        if errs.is_empty() {
            Ok(Inventory {
                nodes: nodes.into_iter().map(|(_, n)| n).collect(),
            })
        } else {
            Err(errs.into_vec())
        }
    }

    /// The inventory as YAML, as `load` reads it.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("an inventory always serialises")
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

fn located(path: &Path, location: Option<Location>, message: String) -> ScenarioError {
    ScenarioError {
        file: path.into(),
        location,
        path: String::new(),
        message,
    }
}

/// The nodes that deserialise, with their index in the file; the others are reported.
fn nodes_of(doc: Value, errs: &mut Errors) -> Vec<(usize, NodeSpec)> {
    let Value::Mapping(mut top) = doc else {
        errs.add(
            "",
            "an inventory is a YAML mapping with one key, `nodes` (a list of nodes)",
        );
        return Vec::new();
    };
    for key in top.keys() {
        let name = key.as_str().unwrap_or("?");
        if name != "nodes" {
            let hint = if matches!(name, "apiVersion" | "kind" | "steps" | "probes") {
                "; this looks like a scenario: validate it without `--inventory`"
            } else {
                ""
            };
            errs.add(
                name,
                format!("unknown key `{name}`; an inventory has only `nodes`{hint}"),
            );
        }
    }
    let items = match top.remove("nodes") {
        Some(Value::Sequence(items)) => items,
        Some(Value::Null) | None => {
            errs.add("", "missing `nodes` (a list of nodes)");
            return Vec::new();
        }
        Some(_) => {
            errs.add("nodes", "`nodes` must be a list of nodes");
            return Vec::new();
        }
    };
    let at = KeyPath::at("nodes");
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| node_of(v, &at.index(i), errs).map(|n| (i, n)))
        .collect()
}

/// One node, through JSON values (as scenario sections are) so the error carries the
/// path inside the node.
fn node_of(value: Value, at: &KeyPath, errs: &mut Errors) -> Option<NodeSpec> {
    let json = match serde_json::to_value(&value) {
        Ok(j) => j,
        Err(e) => {
            errs.add(at, format!("cannot be read: {e} (keys must be strings)"));
            return None;
        }
    };
    match serde_path_to_error::deserialize::<_, NodeSpec>(json) {
        Ok(n) => Some(n),
        Err(e) => {
            let inner = e.path().to_string();
            let mut path = if inner == "." || inner.is_empty() {
                at.to_string()
            } else if inner.starts_with('[') {
                format!("{at}{inner}")
            } else {
                at.key(&inner).to_string()
            };
            let message = e.into_inner().to_string();
            // `unknown variant `sssh`` points at the variant's key, not at `access`.
            if let Some(v) = message
                .strip_prefix("unknown variant `")
                .and_then(|m| m.split('`').next())
            {
                if !path.ends_with(&format!(".{v}")) {
                    path = format!("{path}.{v}");
                }
            }
            errs.add(path, message);
            None
        }
    }
}

/// Node names are unique and not empty.
fn check_names(nodes: &[(usize, NodeSpec)], errs: &mut Errors) {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in nodes {
        let at = KeyPath::at("nodes").index(*i).key("name");
        if n.name.trim().is_empty() {
            errs.add(&at, "a node name is empty");
        } else if let Some(j) = first.get(n.name.as_str()) {
            errs.add(
                &at,
                format!("node `{}` is listed twice (first as nodes[{j}])", n.name),
            );
        } else {
            first.insert(&n.name, *i);
        }
    }
}

/// The endpoints kubedrill reads (etcd `client`/`peer`, NATS `client`/`monitor`) are
/// URLs with a host and an explicit port: a missing port would silently become 80/443.
fn check_endpoints(node: &NodeSpec, at: &KeyPath, errs: &mut Errors) {
    for (service, keys) in URL_ENDPOINTS {
        let Some(spec) = node.services.get(*service) else {
            continue;
        };
        for key in *keys {
            let Some(url) = spec.endpoints.get(*key) else {
                continue;
            };
            let here = at.key("services").key(service).key("endpoints").key(key);
            if let Err(why) = check_url(url) {
                errs.add(&here, format!("`{url}` {why}"));
            }
        }
    }
}

fn check_url(url: &str) -> Result<(), &'static str> {
    let u = reqwest::Url::parse(url)
        .map_err(|_| "is not a URL (write it like http://10.0.0.1:2379)")?;
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if u.port().is_none() {
        return Err("has no port (write it like http://10.0.0.1:2379)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        Inventory::parse_file(Path::new("inv.yaml"), yaml)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn parses_and_refuses_duplicates_naming_the_file() {
        let yaml = "nodes:\n  - name: a\n    access: { local: {} }\n";
        let inv = Inventory::parse(yaml).unwrap();
        assert_eq!(inv.nodes[0].name, "a");
        assert_eq!(Inventory::parse(&inv.to_yaml()).unwrap(), inv);
        let dup = format!("{yaml}  - name: a\n    access: {{ local: {{}} }}\n");
        assert_eq!(
            errors(&dup),
            ["inv.yaml:4:5: nodes[1].name: node `a` is listed twice (first as nodes[0])"]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, "nodes:\n  - name: a\n    acces: {}\n").unwrap();
        let err = Inventory::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("inv.yaml:3:5: nodes[0].acces: unknown field `acces`"),
            "{err}"
        );
    }

    #[test]
    fn every_broken_node_is_located_by_key_path() {
        let yaml = "\
nodes:
  - name: a
    access: { ssh: { host: 10.0.0.1, prot: 22 } }
  - name: b
    access: { sssh: { host: 10.0.0.2 } }
  - name: c
    access: { ssh: { host: 10.0.0.3, port: twenty-two } }
  - name: d
    access: { local: {} }
    services:
      etcd: { endpoints: { client: \"http://10.0.0.4\", peer: \"not a url\" } }
";
        let errs = errors(yaml);
        let want = [
            "inv.yaml:3:38: nodes[0].access.ssh.prot: unknown field `prot`",
            "inv.yaml:5:15: nodes[1].access.sssh: unknown variant `sssh`",
            "inv.yaml:7:38: nodes[2].access.ssh.port: invalid type: string \"twenty-two\"",
            "inv.yaml:11:28: nodes[3].services.etcd.endpoints.client: `http://10.0.0.4` has no port",
            "inv.yaml:11:55: nodes[3].services.etcd.endpoints.peer: `not a url` is not a URL",
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for (e, w) in errs.iter().zip(want) {
            assert!(e.starts_with(w), "`{e}` does not start with `{w}`");
        }
    }

    #[test]
    fn the_top_level_is_nodes_only() {
        assert_eq!(
            errors("nodes: []\nnode: []\n"),
            ["inv.yaml:2:1: node: unknown key `node`; an inventory has only `nodes`"]
        );
        assert_eq!(
            errors("apiVersion: kubedrill/v1\n"),
            [
                "inv.yaml:1:1: apiVersion: unknown key `apiVersion`; an inventory has only `nodes`; this looks like a scenario: validate it without `--inventory`",
                "inv.yaml: missing `nodes` (a list of nodes)"
            ]
        );
        assert_eq!(
            errors("nodes: {a: 1}\n"),
            ["inv.yaml:1:1: nodes: `nodes` must be a list of nodes"]
        );
    }

    #[test]
    fn hardened_like_scenarios_bom_depth_and_duplicate_keys() {
        let bom = "\u{feff}nodes:\n  - name: a\n    access: { local: {} }\n";
        assert_eq!(Inventory::parse(bom).unwrap().nodes.len(), 1);
        let deep = format!("nodes:\n{}\n", "- ".repeat(30_000));
        let e = errors(&deep);
        assert!(e[0].contains("nesting deeper than"), "{e:?}");
        let dup_key = "nodes:\n  - name: a\n    name: b\n    access: { local: {} }\n";
        let e = errors(dup_key);
        assert!(
            e[0].starts_with("inv.yaml:3:5:") && e[0].contains("duplicate key `name`"),
            "{e:?}"
        );
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = Inventory::load(&fifo).unwrap_err().to_string();
        assert!(err.contains("FIFO"), "{err}");
        let missing = Inventory::load(&dir.path().join("none.yaml")).unwrap_err();
        assert!(matches!(
            missing,
            InventoryError::Read { missing: true, .. }
        ));
    }

    #[test]
    fn an_inventory_is_told_from_a_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inv.yaml");
        std::fs::write(&inv, "nodes: []\n").unwrap();
        assert!(looks_like_inventory(&inv));
        let sc = dir.path().join("sc.yaml");
        std::fs::write(&sc, "apiVersion: kubedrill/v1\nkind: Scenario\nnodes: []\n").unwrap();
        assert!(!looks_like_inventory(&sc));
        assert_eq!(
            inventory_path(Path::new("inv.yaml"), Path::new("/s/sc.yaml")),
            Path::new("/s/inv.yaml")
        );
    }
}
