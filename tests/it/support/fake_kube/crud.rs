//! The verbs every served resource answers: list, get, create, update, patch, delete.

use serde_json::{json, Value};

use super::eviction;
use super::meta;
use super::patch::{self, PatchError};
use super::pods;
use super::records::DeleteRecord;
use super::routes::{ApiRequest, ResourceRoute};
use super::selectors::{FieldSelector, LabelSelector};
use super::state::{ClusterState, ObjectKey};
use super::status::ApiError;

/// A successful answer: HTTP code and JSON body.
pub type Answer = (u16, Value);

pub fn handle(
    state: &mut ClusterState,
    route: &ResourceRoute,
    request: &ApiRequest,
) -> Result<Answer, ApiError> {
    let method = request.method.as_str();
    let Some(name) = &route.name else {
        return match method {
            "GET" => list(state, route, request),
            "POST" => create(state, route, request),
            _ => Err(ApiError::method_not_allowed()),
        };
    };
    if route.resource.namespaced && route.namespace.is_none() {
        return Err(ApiError::path_not_found());
    }
    let key = ObjectKey::new(
        route.resource.kind,
        route.namespace.as_deref().unwrap_or_default(),
        name,
    );
    match (method, route.subresource.as_deref()) {
        ("POST", Some("eviction")) if route.resource.kind == "Pod" => {
            eviction::evict(state, &key, &request.body)
        }
        (_, Some("eviction")) if route.resource.kind == "Pod" => {
            Err(ApiError::method_not_allowed())
        }
        (_, Some(sub)) if sub != "status" || !route.resource.subresources.contains(&sub) => {
            Err(ApiError::path_not_found())
        }
        ("GET", _) => stored(state, route, &key).map(|object| (200, object.clone())),
        ("PUT", sub) => replace(state, route, &key, sub, request),
        ("PATCH", sub) => patch(state, route, &key, sub, request),
        ("DELETE", None) => delete(state, route, &key, request),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn stored<'a>(
    state: &'a ClusterState,
    route: &ResourceRoute,
    key: &ObjectKey,
) -> Result<&'a Value, ApiError> {
    state
        .get(key)
        .ok_or_else(|| ApiError::not_found(route.resource, &key.name))
}

fn list(
    state: &ClusterState,
    route: &ResourceRoute,
    request: &ApiRequest,
) -> Result<Answer, ApiError> {
    let query = &request.query;
    if matches!(query.get("watch"), Some("true" | "1")) {
        return Err(ApiError::method_not_allowed());
    }
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let matching: Vec<&Value> = state
        .list(route.resource.kind, route.namespace.as_deref())
        .into_iter()
        .filter(|o| labels.matches(&meta::labels(o)) && fields.matches(o))
        .collect();
    let start: usize = query
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let items: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|o| without_type_meta(o))
        .collect();
    let mut metadata = json!({"resourceVersion": state.resource_version()});
    let next = start + items.len();
    if next < matching.len() {
        metadata["continue"] = json!(next.to_string());
        metadata["remainingItemCount"] = json!(matching.len() - next);
    }
    let list = json!({
        "kind": format!("{}List", route.resource.kind),
        "apiVersion": route.resource.api_version(),
        "metadata": metadata,
        "items": items,
    });
    Ok((200, list))
}

/// kube-apiserver leaves kind and apiVersion out of list items.
fn without_type_meta(object: &Value) -> Value {
    let mut item = object.clone();
    if let Some(map) = item.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    item
}

fn parse_body(request: &ApiRequest) -> Result<Value, ApiError> {
    serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn create(
    state: &mut ClusterState,
    route: &ResourceRoute,
    request: &ApiRequest,
) -> Result<Answer, ApiError> {
    if route.resource.namespaced && route.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let object = parse_body(request)?;
    create_object(state, route, object).map(|created| (201, created))
}

fn create_object(
    state: &mut ClusterState,
    route: &ResourceRoute,
    mut object: Value,
) -> Result<Value, ApiError> {
    if let Some(namespace) = &route.namespace {
        match meta::namespace(&object) {
            "" => object["metadata"]["namespace"] = json!(namespace),
            given if given != namespace => {
                let message = "the namespace of the provided object does not match the namespace sent on the request";
                return Err(ApiError::bad_request(message));
            }
            _ => {}
        }
    }
    let generate_name = meta::str_at(&object, "/metadata/generateName").map(str::to_string);
    if let (Some(prefix), "") = (generate_name, meta::name(&object)) {
        object["metadata"]["name"] = json!(format!("{prefix}{}", meta::random_suffix()));
    }
    let fresh_pod = route.resource.kind == "Pod" && object.get("status").is_none();
    if fresh_pod {
        object["status"] = pods::unbound_status();
    }
    let created = state.create(route.resource.kind, object)?;
    let node = meta::node_name(&created).to_string();
    if !fresh_pod || node.is_empty() {
        return Ok(created);
    }
    let key = ObjectKey::of("Pod", &created);
    pods::bind(state, &key, &node);
    Ok(state.get(&key).expect("just created").clone())
}

/// Keeps what a write to the main resource or to `/status` may not change.
fn confine(old: &Value, mut new: Value, subresource: Option<&str>) -> Value {
    if subresource == Some("status") {
        let mut kept = old.clone();
        kept["status"] = new["status"].take();
        return kept;
    }
    if let Some(status) = old.get("status") {
        new["status"] = status.clone();
    }
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "name",
        "namespace",
    ] {
        match old["metadata"].get(field) {
            Some(value) => new["metadata"][field] = value.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    new
}

/// Stores `new` over `old` unless it names a stale resourceVersion.
fn write(
    state: &mut ClusterState,
    route: &ResourceRoute,
    key: &ObjectKey,
    new: Value,
) -> Result<Answer, ApiError> {
    let old = stored(state, route, key)?;
    let wanted = meta::str_at(&new, "/metadata/resourceVersion").unwrap_or_default();
    if !wanted.is_empty() && Some(wanted) != meta::str_at(old, "/metadata/resourceVersion") {
        return Err(ApiError::conflict(route.resource, &key.name));
    }
    Ok((200, state.update(key, new)))
}

fn replace(
    state: &mut ClusterState,
    route: &ResourceRoute,
    key: &ObjectKey,
    subresource: Option<&str>,
    request: &ApiRequest,
) -> Result<Answer, ApiError> {
    let body = parse_body(request)?;
    if meta::name(&body) != key.name {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    let new = confine(stored(state, route, key)?, body, subresource);
    write(state, route, key, new)
}

fn patch(
    state: &mut ClusterState,
    route: &ResourceRoute,
    key: &ObjectKey,
    subresource: Option<&str>,
    request: &ApiRequest,
) -> Result<Answer, ApiError> {
    let content_type = request.content_type.as_str();
    let applying = content_type.starts_with("application/apply-patch+yaml");
    if applying && request.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "fieldManager: Required value: is required for apply patch",
        ));
    }
    let fail = |error| patch_error(route, key, content_type, error);
    let Some(old) = state.get(key) else {
        if applying && subresource.is_none() {
            let mut object = Value::Null;
            patch::apply(&mut object, content_type, &request.body).map_err(fail)?;
            return create_object(state, route, object).map(|created| (201, created));
        }
        return Err(ApiError::not_found(route.resource, &key.name));
    };
    let mut new = old.clone();
    patch::apply(&mut new, content_type, &request.body).map_err(fail)?;
    let new = confine(old, new, subresource);
    write(state, route, key, new)
}

fn patch_error(
    route: &ResourceRoute,
    key: &ObjectKey,
    content_type: &str,
    error: PatchError,
) -> ApiError {
    match error {
        PatchError::Malformed(message) => ApiError::bad_request(message),
        PatchError::Failed(message) => ApiError::invalid(route.resource, &key.name, message),
        PatchError::UnsupportedType => ApiError::unsupported_media_type(content_type),
    }
}

fn delete(
    state: &mut ClusterState,
    route: &ResourceRoute,
    key: &ObjectKey,
    request: &ApiRequest,
) -> Result<Answer, ApiError> {
    stored(state, route, key)?;
    if key.kind != "Pod" {
        return Ok((200, state.remove(key).expect("checked above")));
    }
    let query_grace = request
        .query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse().ok());
    let body_grace = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|options| options["gracePeriodSeconds"].as_i64());
    let record = DeleteRecord {
        namespace: key.namespace.clone(),
        pod: key.name.clone(),
        query_grace_period_seconds: query_grace,
        body_grace_period_seconds: body_grace,
        via_eviction: false,
    };
    let grace = record.grace_period_seconds();
    state.deletions.push(record);
    pods::delete_pod(state, key, grace).map(|pod| (200, pod))
}
