//! The fault of `kubedrill inject`: its spec map from `--set key=value` (YAML values,
//! dotted keys) and `--node`/`--nodes`, written into whichever node field the kind has.

use serde_yaml::{Mapping, Value};

use crate::faults::{catalogue, FaultSpec};

/// A fault spec and, for each key path inside it, the flag that set it.
pub struct FaultItem {
    pub spec: Mapping,
    /// (key path inside the spec, e.g. `nodes` or `tls.ca`, flag as typed).
    pub origins: Vec<(String, String)>,
}

/// The kind must be one `kubedrill list` shows.
pub fn check_kind(kind: &str) -> Result<(), String> {
    let known: Vec<&str> = catalogue().iter().map(|c| c.0).collect();
    if known.contains(&kind) {
        Ok(())
    } else {
        Err(format!(
            "unknown fault kind `{kind}`; use one of {} (`kubedrill list`)",
            known.join(", ")
        ))
    }
}

/// Builds the spec: every `--set` merged in order, then the nodes.
pub fn fault_item(kind: &str, sets: &[String], nodes: &[String]) -> Result<FaultItem, String> {
    let mut spec = Mapping::new();
    let mut origins = Vec::new();
    for text in sets {
        let flag = format!("--set {text}");
        let (key, value) = parse_set(text).map_err(|e| format!("{flag}: {e}"))?;
        insert_dotted(&mut spec, &key, value).map_err(|e| format!("{flag}: {e}"))?;
        origins.push((key, flag));
    }
    if !nodes.is_empty() {
        let flag = if nodes.len() == 1 {
            format!("--node {}", nodes[0])
        } else {
            format!("--nodes {}", nodes.join(","))
        };
        let (field, value) = node_field(kind, nodes).map_err(|e| format!("{flag}: {e}"))?;
        if spec.contains_key(field) {
            return Err(format!(
                "{flag}: `{field}` is also given with --set; use one of them"
            ));
        }
        spec.insert(field.into(), value);
        origins.push((field.to_string(), flag));
    }
    Ok(FaultItem { spec, origins })
}

/// `key=value`: the value is read as YAML (`2`, `true`, `[a, b]`, `{x: 1}`); the key may be
/// dotted (`tls.ca=/etc/ca.pem`).
fn parse_set(text: &str) -> Result<(String, Value), String> {
    let Some((key, raw)) = text.split_once('=') else {
        return Err("write KEY=VALUE (the key of the fault's spec, e.g. service=kubelet)".into());
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|k| k.trim().is_empty()) {
        return Err(format!(
            "`{key}` is not a key; write e.g. service=kubelet or tls.ca=FILE"
        ));
    }
    let value =
        serde_yaml::from_str::<Value>(raw).map_err(|e| format!("the value is not YAML: {e}"))?;
    Ok((key.to_string(), value))
}

fn insert_dotted(spec: &mut Mapping, key: &str, value: Value) -> Result<(), String> {
    let (head, rest) = match key.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (key, None),
    };
    match rest {
        None => {
            spec.insert(head.into(), value);
            Ok(())
        }
        Some(rest) => {
            let entry = spec
                .entry(head.into())
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            match entry {
                Value::Mapping(inner) => insert_dotted(inner, rest, value),
                _ => Err(format!(
                    "`{head}` is already set to a value that is not a mapping"
                )),
            }
        }
    }
}

/// The field that names target nodes in `kind`'s spec, found by asking the spec itself:
/// the first shape it accepts among `nodes: [..]`, `nodes: {names: [..]}`, `node: N`,
/// `members: [..]`, `member: N`.
fn node_field(kind: &str, nodes: &[String]) -> Result<(&'static str, Value), String> {
    let list = Value::Sequence(nodes.iter().map(|n| Value::String(n.clone())).collect());
    let mut names = Mapping::new();
    names.insert("names".into(), list.clone());
    let mut candidates = vec![("nodes", list.clone()), ("nodes", Value::Mapping(names))];
    if nodes.len() == 1 {
        candidates.push(("node", nodes[0].clone().into()));
    }
    candidates.push(("members", list));
    if nodes.len() == 1 {
        candidates.push(("member", nodes[0].clone().into()));
    }
    candidates
        .into_iter()
        .find(|(field, value)| accepts(kind, field, value))
        .ok_or_else(|| {
            let single = if nodes.len() > 1 && accepts(kind, "node", &nodes[0].clone().into()) {
                "; it takes one node: use --node"
            } else {
                ""
            };
            format!(
                "fault `{kind}` does not choose nodes by name (no nodes, node or members field){single}; see `kubedrill list`"
            )
        })
}

/// True when `kind`'s spec takes `field: value` (other fields may still be missing).
fn accepts(kind: &str, field: &str, value: &Value) -> bool {
    let mut inner = Mapping::new();
    inner.insert(field.into(), value.clone());
    let mut outer = Mapping::new();
    outer.insert(kind.into(), Value::Mapping(inner));
    let Ok(json) = serde_json::to_value(Value::Mapping(outer)) else {
        return false;
    };
    match serde_path_to_error::deserialize::<_, FaultSpec>(json) {
        Ok(_) => true,
        Err(e) => {
            let at_field = e.path().iter().any(
                |seg| matches!(seg, serde_path_to_error::Segment::Map { key } if key == field),
            );
            let unknown = e
                .inner()
                .to_string()
                .starts_with(&format!("unknown field `{field}`"));
            !(at_field || unknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(item: &FaultItem) -> String {
        serde_yaml::to_string(&item.spec).unwrap()
    }

    #[test]
    fn nodes_go_into_the_field_each_kind_has() {
        let n1 = ["n1".to_string()];
        let stop = fault_item("stop-service", &["service=kubelet".into()], &n1).unwrap();
        assert_eq!(text(&stop), "service: kubelet\nnodes:\n- n1\n");
        let cordon = fault_item("cordon", &[], &n1).unwrap();
        assert_eq!(text(&cordon), "nodes:\n  names:\n  - n1\n");
        let etcd = fault_item("etcd-partition", &[], &n1).unwrap();
        assert_eq!(text(&etcd), "members:\n- n1\n");
        assert_eq!(
            etcd.origins,
            [("members".to_string(), "--node n1".to_string())]
        );
        let err = fault_item("pod-delete", &[], &n1).err().unwrap();
        assert!(
            err.starts_with("--node n1: fault `pod-delete` does not choose nodes"),
            "{err}"
        );
    }

    #[test]
    fn set_reads_yaml_values_and_dotted_keys() {
        let item = fault_item(
            "etcd-partition",
            &[
                "member=leader".into(),
                "tls.ca=/ca.pem".into(),
                "tls.cert=/c.pem".into(),
                "client-traffic=true".into(),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            text(&item),
            "member: leader\ntls:\n  ca: /ca.pem\n  cert: /c.pem\nclient-traffic: true\n"
        );
        assert_eq!(
            item.origins[1],
            ("tls.ca".to_string(), "--set tls.ca=/ca.pem".to_string())
        );
    }

    #[test]
    fn bad_set_names_the_flag() {
        let err = fault_item("stop-service", &["service".into()], &[])
            .err()
            .unwrap();
        assert!(err.starts_with("--set service: write KEY=VALUE"), "{err}");
        let err = fault_item("stop-service", &["a=1".into(), "a.b=2".into()], &[])
            .err()
            .unwrap();
        assert!(err.starts_with("--set a.b=2: "), "{err}");
        let err = fault_item("stop-service", &["nodes=[n2]".into()], &["n1".into()])
            .err()
            .unwrap();
        assert!(err.contains("also given with --set"), "{err}");
        assert!(check_kind("stop-everything").is_err());
    }
}
