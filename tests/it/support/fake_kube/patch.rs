//! The four PATCH content types, applied to a JSON object.
//!
//! Strategic merge is approximated: maps merge as in a JSON merge patch, lists of objects merge
//! by the first of `name`/`type`/`key`/`uid` they carry (honouring `$patch: delete`), other
//! lists are replaced, and other `$` directives are dropped. Server-side apply is treated as a
//! strategic merge of the applied YAML, without field ownership.

use serde_json::{Map, Value};

/// Why a patch could not be applied; the server maps it to 400 or 422.
#[derive(Debug)]
pub enum PatchError {
    Malformed(String),
    Failed(String),
    UnsupportedType,
}

/// Applies `body` to `target` according to `content_type`.
pub fn apply(target: &mut Value, content_type: &str, body: &[u8]) -> Result<(), PatchError> {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    match media_type {
        "application/merge-patch+json" => {
            merge(target, &parse_json(body)?, false);
            Ok(())
        }
        "application/strategic-merge-patch+json" => {
            merge(target, &parse_json(body)?, true);
            Ok(())
        }
        "application/apply-patch+yaml" => {
            let applied: Value = serde_yaml::from_slice(body)
                .map_err(|e| PatchError::Malformed(format!("error decoding YAML: {e}")))?;
            merge(target, &applied, true);
            Ok(())
        }
        "application/json-patch+json" => json_patch(target, &parse_json(body)?),
        _ => Err(PatchError::UnsupportedType),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body)
        .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))
}

/// RFC 7386 merge, with the strategic list handling described above when `strategic`.
fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target_map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch_map {
        if strategic && key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Array(items) if strategic => {
                let merged = merge_list(target_map.get(key), items);
                target_map.insert(key.clone(), merged);
            }
            _ => merge(
                target_map.entry(key.clone()).or_insert(Value::Null),
                value,
                strategic,
            ),
        }
    }
}

const MERGE_KEYS: &[&str] = &["name", "type", "key", "uid"];

fn merge_key(item: &Value) -> Option<(&'static str, &Value)> {
    MERGE_KEYS
        .iter()
        .find_map(|k| item.get(*k).map(|v| (*k, v)))
}

fn merge_list(current: Option<&Value>, patch_items: &[Value]) -> Value {
    let Some(Value::Array(current)) = current else {
        return Value::Array(
            patch_items
                .iter()
                .filter(|i| i["$patch"] != "delete")
                .cloned()
                .collect(),
        );
    };
    if !patch_items
        .iter()
        .all(|i| i.is_object() && merge_key(i).is_some())
    {
        return Value::Array(patch_items.to_vec());
    }
    let mut merged = current.clone();
    for item in patch_items {
        let (key, id) = merge_key(item).expect("checked above");
        let position = merged.iter().position(|m| m.get(key) == Some(id));
        match (position, item["$patch"] == "delete") {
            (Some(i), true) => {
                merged.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => merge(&mut merged[i], item, true),
            (None, false) => {
                let mut new = Value::Null;
                merge(&mut new, item, true);
                merged.push(new);
            }
        }
    }
    Value::Array(merged)
}

/// RFC 6902: add, remove, replace, move, copy, test.
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| PatchError::Malformed("a JSON patch must be a list of operations".into()))?;
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        let from = op["from"].as_str().unwrap_or_default();
        match op["op"].as_str() {
            Some("add") => add(target, path, op["value"].clone())?,
            Some("remove") => drop(remove(target, path)?),
            Some("replace") => {
                remove(target, path)?;
                add(target, path, op["value"].clone())?;
            }
            Some("move") => {
                let value = remove(target, from)?;
                add(target, path, value)?;
            }
            Some("copy") => {
                let value = target.pointer(from).cloned().ok_or_else(|| missing(from))?;
                add(target, path, value)?;
            }
            Some("test") => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(PatchError::Failed(format!(
                        "test operation failed at {path}"
                    )));
                }
            }
            other => {
                return Err(PatchError::Malformed(format!(
                    "unknown JSON patch op {other:?}"
                )))
            }
        }
    }
    Ok(())
}

fn missing(path: &str) -> PatchError {
    PatchError::Failed(format!("doc is missing path: \"{path}\""))
}

/// The parent container of `path` and the (unescaped) last token.
fn parent<'a>(target: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), PatchError> {
    let (parent_path, last) = path.rsplit_once('/').ok_or_else(|| missing(path))?;
    let token = last.replace("~1", "/").replace("~0", "~");
    let parent = target
        .pointer_mut(parent_path)
        .ok_or_else(|| missing(path))?;
    Ok((parent, token))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, token) = parent(target, path)?;
    match parent {
        Value::Object(map) => {
            map.insert(token, value);
        }
        Value::Array(items) if token == "-" => items.push(value),
        Value::Array(items) => {
            let index = token.parse::<usize>().ok().filter(|i| *i <= items.len());
            items.insert(index.ok_or_else(|| missing(path))?, value);
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, token) = parent(target, path)?;
    let removed = match parent {
        Value::Object(map) => map.remove(&token),
        Value::Array(items) => token
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| missing(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(content_type: &str, patch: Value) -> Result<Value, PatchError> {
        let mut node = json!({
            "metadata": {"name": "n", "labels": {"a": "1", "b": "2"}},
            "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]},
        });
        apply(&mut node, content_type, patch.to_string().as_bytes()).map(|()| node)
    }

    #[test]
    fn merge_patch_sets_and_removes_fields() {
        let node = patched(
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        )
        .expect("applies");
        assert_eq!(node["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    }

    #[test]
    fn strategic_merge_patch_merges_lists_by_key() {
        let patch = json!({"spec": {"taints": [{"key": "y", "effect": "NoExecute"}], "$setElementOrder/taints": []}});
        let node = patched("application/strategic-merge-patch+json", patch).expect("applies");
        assert_eq!(node["spec"]["taints"].as_array().map(Vec::len), Some(2));
        let delete = json!({"spec": {"taints": [{"key": "x", "$patch": "delete"}]}});
        let node = patched("application/strategic-merge-patch+json", delete).expect("applies");
        assert_eq!(node["spec"]["taints"], json!([]));
    }

    #[test]
    fn json_patch_applies_operations_in_order_and_fails_tests() {
        let ops = json!([
            {"op": "add", "path": "/spec/unschedulable", "value": true},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
            {"op": "move", "from": "/metadata/labels/b", "path": "/metadata/labels/moved"},
            {"op": "add", "path": "/spec/taints/-", "value": {"key": "z"}},
        ]);
        let node = patched("application/json-patch+json", ops).expect("applies");
        assert_eq!(node["spec"]["unschedulable"], json!(true));
        assert_eq!(node["metadata"]["labels"], json!({"a": "9", "moved": "2"}));
        assert_eq!(node["spec"]["taints"][1]["key"], "z");
        let failing = json!([{"op": "test", "path": "/metadata/name", "value": "other"}]);
        assert!(matches!(
            patched("application/json-patch+json", failing),
            Err(PatchError::Failed(_))
        ));
        assert!(matches!(
            patched("text/plain", json!({})),
            Err(PatchError::UnsupportedType)
        ));
    }
}
