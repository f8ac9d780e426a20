//! Turning a request path and query string into what it addresses.

use std::collections::HashMap;

use super::resources::{self, ResourceType};

/// A request as the API layer sees it (already read off the connection).
#[derive(Debug)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: Query,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What a path addresses.
#[derive(Debug)]
pub enum Route {
    Version,
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/GROUP`
    Group(String),
    /// `/api/v1` or `/apis/GROUP/VERSION`
    ResourceList {
        group: String,
        version: String,
    },
    Resource(ResourceRoute),
    Unknown,
}

/// A path under a served resource type.
#[derive(Debug)]
pub struct ResourceRoute {
    pub resource: &'static ResourceType,
    /// `None`: cluster-scoped, or all namespaces for a namespaced type.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments[..] {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version] => resource_list("", version),
        ["apis", group, version] => resource_list(group, version),
        ["api", version, ref rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, ref rest @ ..] => resource_route(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource_list(group: &str, version: &str) -> Route {
    Route::ResourceList {
        group: group.to_string(),
        version: version.to_string(),
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (namespace, rest) = match rest {
        ["namespaces", namespace, resource, tail @ ..]
            if !(group.is_empty() && *resource == "status") =>
        {
            (
                Some(namespace.to_string()),
                [&[*resource][..], tail].concat(),
            )
        }
        _ => (None, rest.to_vec()),
    };
    let Some(resource) = rest
        .first()
        .and_then(|plural| resources::find(group, version, plural))
    else {
        return Route::Unknown;
    };
    if namespace.is_some() && !resource.namespaced || rest.len() > 3 {
        return Route::Unknown;
    }
    Route::Resource(ResourceRoute {
        resource,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()),
    })
}

/// Decoded query parameters (the last value wins).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        let pairs = raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        });
        Self(pairs.collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
