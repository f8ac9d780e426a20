//! A JetStream stream for drills to publish to: created (or brought to this config) by
//! [`ensure_stream`], looked at by [`stream_status`]. Bounded so a long-running lab or a
//! publishing probe cannot fill a disk: at most [`MAX_MSGS`] messages, none older than
//! [`MAX_AGE`], file storage, the oldest discarded first.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use serde::Serialize;

use super::poll_until;

/// At most this many messages are kept (the oldest go first).
pub const MAX_MSGS: i64 = 100_000;
/// Messages older than this are dropped.
pub const MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// At most this many bytes are kept.
pub const MAX_BYTES: i64 = 64 * 1024 * 1024;

/// How long one attempt (connect, then one JetStream API request) may take.
const ATTEMPT: Duration = Duration::from_secs(5);
/// Pause between attempts while the cluster has no meta leader (or a server is down).
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// A stream as its leader reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamStatus {
    pub name: String,
    pub subjects: Vec<String>,
    /// Configured replicas.
    pub replicas: usize,
    /// The server leading the stream's raft group.
    pub leader: Option<String>,
    /// Replicas the leader counts as current, itself included.
    pub current: usize,
    pub messages: u64,
    /// The sequence number of the last message stored (never goes back, unlike
    /// `messages` under the limits).
    pub last_seq: u64,
    /// The stream's limits: messages kept, and their age.
    pub max_msgs: i64,
    pub max_age: Duration,
}

impl std::fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stream {} ({}): {}/{} replicas current, leader {}, {} messages (at most {}, {} old)",
            self.name,
            self.subjects.join(", "),
            self.current,
            self.replicas,
            self.leader.as_deref().unwrap_or("none"),
            self.messages,
            self.max_msgs,
            humantime::format_duration(self.max_age)
        )
    }
}

/// Creates stream `name` on `subjects` with `replicas` replicas (file storage, the limits
/// above, discard old) through any of the client `urls`, or brings an existing one to that
/// config: idempotent. Retries every 250 ms while the cluster cannot answer (no meta leader
/// yet, a server still starting) until `timeout`; then the last error.
pub async fn ensure_stream(
    urls: &[String],
    name: &str,
    subjects: &[String],
    replicas: usize,
    timeout: Duration,
) -> Result<StreamStatus, String> {
    let config = stream::Config {
        name: name.to_string(),
        subjects: subjects.to_vec(),
        num_replicas: replicas,
        storage: stream::StorageType::File,
        max_messages: MAX_MSGS,
        max_age: MAX_AGE,
        max_bytes: MAX_BYTES,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    };
    retrying(timeout, || async {
        let js = context(urls, timeout).await?;
        let info = js
            .create_or_update_stream(config.clone())
            .await
            .map_err(|e| format!("stream {name}: {e}"))?;
        Ok(status_of(&info))
    })
    .await
}

/// Stream `name` as its leader reports it, through any of the client `urls`.
pub async fn stream_status(
    urls: &[String],
    name: &str,
    timeout: Duration,
) -> Result<StreamStatus, String> {
    let attempt = async {
        let js = context(urls, timeout).await?;
        let s = js
            .get_stream(name)
            .await
            .map_err(|e| format!("stream {name}: {e}"))?;
        Ok(status_of(s.cached_info()))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("stream {name}: no answer within {timeout:?}")))
}

/// `f` until it succeeds, each attempt and the whole bounded by `timeout`.
async fn retrying<T, F, Fut>(timeout: Duration, f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut f = f;
    let bounded = poll_until(timeout, RETRY_EVERY, || {
        let attempt = f();
        async move {
            tokio::time::timeout(ATTEMPT.min(timeout), attempt)
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {:?}", ATTEMPT.min(timeout))))
        }
    });
    tokio::time::timeout(timeout + RETRY_EVERY, bounded)
        .await
        .unwrap_or_else(|_| Err(format!("not done within {timeout:?}")))
}

/// A JetStream context on a new connection to any of `urls`, requests bounded.
async fn context(urls: &[String], timeout: Duration) -> Result<jetstream::Context, String> {
    let per_request = ATTEMPT.min(timeout);
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(per_request)
        .request_timeout(Some(per_request))
        .connect(urls)
        .await
        .map_err(|e| format!("connect to {}: {e}", urls.join(", ")))?;
    let mut js = jetstream::new(client);
    js.set_timeout(per_request);
    Ok(js)
}

fn status_of(info: &stream::Info) -> StreamStatus {
    let cluster = info.cluster.as_ref();
    let leader = cluster.and_then(|c| c.leader.clone());
    let current_followers = cluster.map_or(0, |c| c.replicas.iter().filter(|p| p.current).count());
    StreamStatus {
        name: info.config.name.clone(),
        subjects: info.config.subjects.clone(),
        replicas: info.config.num_replicas,
        current: current_followers + usize::from(leader.is_some()),
        leader,
        messages: info.state.messages,
        last_seq: info.state.last_sequence,
        max_msgs: info.config.max_messages,
        max_age: info.config.max_age,
    }
}
