//! From a request to a reply: health, version, discovery, then the resource verbs.

use serde_json::Value;

use super::crud;
use super::discovery;
use super::routes::{self, ApiRequest, Route};
use super::state::ClusterState;
use super::status::ApiError;
use super::workloads;

/// What goes back on the wire.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn json(code: u16, value: &Value) -> Self {
        Self {
            code,
            content_type: "application/json",
            body: value.to_string(),
        }
    }

    pub fn error(error: &ApiError) -> Self {
        Self::json(error.code, &error.to_status())
    }
}

pub fn handle(state: &mut ClusterState, request: &ApiRequest) -> Reply {
    let route = routes::parse(&request.path);
    if !matches!(route, Route::Resource(_)) && request.method != "GET" {
        return Reply::error(&ApiError::method_not_allowed());
    }
    let found = |document: Option<Value>| match document {
        Some(document) => Reply::json(200, &document),
        None => Reply::error(&ApiError::path_not_found()),
    };
    match route {
        Route::Version => Reply::json(200, &discovery::version()),
        Route::Health => Reply {
            code: 200,
            content_type: "text/plain; charset=utf-8",
            body: "ok".to_string(),
        },
        Route::CoreVersions => Reply::json(200, &discovery::core_versions()),
        Route::Groups => Reply::json(200, &discovery::groups()),
        Route::Group(group) => found(discovery::group(&group)),
        Route::ResourceList { group, version } => found(discovery::resource_list(&group, &version)),
        Route::Resource(resource) => {
            let answer = crud::handle(state, &resource, request);
            if request.method != "GET" {
                // Derived statuses (budgets, workloads) follow every write at once.
                workloads::refresh_statuses(state);
            }
            match answer {
                Ok((code, body)) => Reply::json(code, &body),
                Err(error) => Reply::error(&error),
            }
        }
        Route::Unknown => Reply::error(&ApiError::path_not_found()),
    }
}
