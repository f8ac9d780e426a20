//! `Status` failures shaped like kube-apiserver's (kind Status, apiVersion v1, status Failure).

use serde_json::{json, Value};

use super::resources::ResourceType;

/// An API failure, answered as a `Status` object with the HTTP code it carries.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>, details: Value) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details,
        }
    }

    /// The `details` kube-apiserver attaches for one named object.
    fn object_details(resource: &ResourceType, name: &str) -> Value {
        let mut details = json!({"name": name, "kind": resource.plural});
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        details
    }

    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", resource.qualified_plural());
        Self::new(
            404,
            "NotFound",
            message,
            Self::object_details(resource, name),
        )
    }

    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", resource.qualified_plural());
        Self::new(
            409,
            "AlreadyExists",
            message,
            Self::object_details(resource, name),
        )
    }

    pub fn conflict(resource: &ResourceType, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified_plural()
        );
        Self::new(
            409,
            "Conflict",
            message,
            Self::object_details(resource, name),
        )
    }

    /// A path that names no served resource.
    pub fn path_not_found() -> Self {
        let message = "the server could not find the requested resource";
        Self::new(404, "NotFound", message, json!({}))
    }

    pub fn method_not_allowed() -> Self {
        let message = "the server does not allow this method on the requested resource";
        Self::new(405, "MethodNotAllowed", message, json!({}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message, json!({}))
    }

    pub fn invalid(resource: &ResourceType, name: &str, message: impl Into<String>) -> Self {
        let details = Self::object_details(resource, name);
        Self::new(422, "Invalid", message, details)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        let message = format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, \
             application/apply-patch+yaml, application/strategic-merge-patch+json \
             (got {content_type:?})"
        );
        Self::new(415, "UnsupportedMediaType", message, json!({}))
    }

    /// The eviction refusal of kube-apiserver when a PodDisruptionBudget would be violated.
    pub fn disruption_budget(pdb_name: &str, desired: i64, healthy: i64) -> Self {
        let cause = format!(
            "The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently"
        );
        Self::new(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]}),
        )
    }

    pub fn service_unavailable() -> Self {
        let message = "the fake API server is switched to an outage";
        Self::new(503, "ServiceUnavailable", message, json!({}))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message, json!({}))
    }

    /// The `Status` body for this failure.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        })
    }
}

/// The `Status` kube-apiserver answers for a successful eviction (HTTP 201).
pub fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}
