//! What the fake remembers about the requests it answered, for tests to assert on.

/// One HTTP request as received, with the code answered (`None`: never answered, e.g. hang).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// Raw query string, still percent-encoded; empty when absent.
    pub query: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub authorization_present: bool,
    pub body: String,
    pub status: Option<u16>,
}

/// One `POST .../pods/NAME/eviction`.
#[derive(Debug, Clone)]
pub struct EvictionRecord {
    pub namespace: String,
    pub pod: String,
    /// Whether the Eviction body had a `deleteOptions` object.
    pub delete_options_present: bool,
    /// `deleteOptions.gracePeriodSeconds`, the only place policy/v1 reads it from.
    pub grace_period_seconds: Option<i64>,
    /// JSON paths of any other key that looks like a grace period (a client bug: ignored
    /// by the real server), e.g. `gracePeriodSeconds` at the top level.
    pub misplaced_grace_keys: Vec<String>,
    /// 201 evicted, 429 refused by a disruption budget, 404 no such pod, ...
    pub code: u16,
}

/// One `DELETE` of a pod.
#[derive(Debug, Clone)]
pub struct DeleteRecord {
    pub namespace: String,
    pub pod: String,
    /// `?gracePeriodSeconds=` from the query string.
    pub query_grace_period_seconds: Option<i64>,
    /// `gracePeriodSeconds` from a DeleteOptions body.
    pub body_grace_period_seconds: Option<i64>,
    /// Whether it came from an eviction rather than a DELETE request.
    pub via_eviction: bool,
}

impl DeleteRecord {
    /// The grace period the server applies: the body wins over the query, as in kube-apiserver.
    pub fn grace_period_seconds(&self) -> Option<i64> {
        self.body_grace_period_seconds
            .or(self.query_grace_period_seconds)
    }
}
