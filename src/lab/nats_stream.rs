//! The lab's JetStream stream: `up` creates [`STREAM`] on [`SUBJECTS`] once NATS answers,
//! replicated on up to three servers, so drills can measure publishing (`vars.yaml`:
//! `nats_stream`, `nats_publish_subject`). Limits in `crate::nats::ensure_stream`.

use std::time::Duration;

use crate::nats::{ensure_stream, stream_status, StreamStatus};

use super::config::Layout;
use super::inventory::nats_client;
use super::LabError;

/// The stream's name.
pub const STREAM: &str = "DRILL";
/// The subjects it takes.
pub const SUBJECTS: &str = "drill.>";
/// The subject scenarios publish to (`${nats_publish_subject}`).
pub const PUBLISH_SUBJECT: &str = "drill.probe";
/// Replicas: a raft group of three, fewer on a smaller lab.
const MAX_REPLICAS: usize = 3;
/// How long `lab status` waits for the stream's leader.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);

/// Every NATS server's client URL.
fn urls(l: &Layout) -> Vec<String> {
    (0..l.nodes).map(|i| nats_client(l, i)).collect()
}

/// Creates (or keeps) the stream with `replicas` replicas through any of `urls`; a lab
/// whose stream cannot be created within `timeout` is not ready.
pub(crate) async fn ensure(
    urls: &[String],
    replicas: usize,
    timeout: Duration,
) -> Result<StreamStatus, LabError> {
    ensure_stream(urls, STREAM, &[SUBJECTS.to_string()], replicas, timeout)
        .await
        .map_err(|details| LabError::NotReady {
            after: timeout,
            details: format!("NATS {details}"),
        })
}

/// The plain lab's stream, replicated on up to three of its servers.
pub(super) async fn ensure_plain(l: &Layout, timeout: Duration) -> Result<StreamStatus, LabError> {
    ensure(&urls(l), l.nodes.min(MAX_REPLICAS), timeout).await
}

/// The plain lab's stream as its leader reports it.
pub(super) async fn status(l: &Layout) -> Result<StreamStatus, String> {
    stream_status(&urls(l), STREAM, STATUS_TIMEOUT).await
}

/// `nats_stream` and `nats_publish_subject` for `vars.yaml`.
pub(super) fn vars() -> [(String, String); 2] {
    [
        ("nats_stream".into(), STREAM.into()),
        ("nats_publish_subject".into(), PUBLISH_SUBJECT.into()),
    ]
}
