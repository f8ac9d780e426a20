//! What a drain waits for, from one list + watch per namespace instead of a request per
//! pod per poll: each evicted pod being gone (its uid deleted) and its replacement turning
//! Ready (a pod of the same controller, first seen after the eviction was accepted, that
//! no other evicted pod took). The watch task resolves the waiters itself, so each event
//! costs a lookup of the pod's uid and its controller's waiters, not a scan per waiting pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use tokio::sync::oneshot;

use crate::cluster::pods;

/// Pause after a failed list or watch before the next try.
const RETRY: Duration = Duration::from_millis(500);

/// A Ready pod that replaced an evicted one.
#[derive(Debug, Clone)]
pub struct Ready {
    pub pod: String,
    pub node: String,
    /// The Ready condition's `lastTransitionTime`, kept within what the watch saw (not
    /// Ready at one event, Ready at the next); `seen_at` without one.
    pub ready_at: DateTime<Utc>,
    /// When the watch delivered it Ready.
    pub seen_at: DateTime<Utc>,
}

/// One pod as the watch last saw it.
struct Seen {
    pod: Pod,
    /// When the watch first delivered it.
    first_seen: Instant,
    /// The last time the watch saw it not Ready (its first sighting if it never was).
    not_ready_at: DateTime<Utc>,
    /// When the watch first saw it Ready.
    ready_seen_at: Option<DateTime<Utc>>,
    /// Taken as some evicted pod's replacement.
    claimed: bool,
}

struct ReplacementWaiter {
    after: Instant,
    tx: oneshot::Sender<Ready>,
}

#[derive(Default)]
struct State {
    pods: HashMap<String, Seen>,
    gone_waiters: HashMap<String, oneshot::Sender<DateTime<Utc>>>,
    /// By controller uid, oldest first.
    replacement_waiters: HashMap<String, Vec<ReplacementWaiter>>,
    /// The last list or watch failure, for timeout messages.
    last_error: Option<String>,
}

/// The pods of one namespace, kept current by a background list + watch (ended on drop).
pub struct NamespaceWatch {
    namespace: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for NamespaceWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One watch per namespace, started when a namespace is first needed.
pub struct Watches {
    client: kube::Client,
    /// Server-side timeout of each watch request, below the client's read timeout so a
    /// quiet watch ends cleanly and is resumed from its resourceVersion (no new list).
    watch_timeout: Duration,
    by_namespace: tokio::sync::Mutex<BTreeMap<String, Arc<NamespaceWatch>>>,
}

impl Watches {
    pub fn new(client: kube::Client, request_timeout: Duration) -> Self {
        let watch_timeout = request_timeout
            .saturating_sub(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        Self {
            client,
            watch_timeout,
            by_namespace: Default::default(),
        }
    }

    /// The watch of `namespace`, listing it first when new.
    pub async fn of(&self, namespace: &str) -> Result<Arc<NamespaceWatch>, String> {
        let mut all = self.by_namespace.lock().await;
        if let Some(w) = all.get(namespace) {
            return Ok(w.clone());
        }
        let w = Arc::new(NamespaceWatch::start(&self.client, namespace, self.watch_timeout).await?);
        all.insert(namespace.to_string(), w.clone());
        Ok(w)
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl NamespaceWatch {
    async fn start(
        client: &kube::Client,
        namespace: &str,
        watch_timeout: Duration,
    ) -> Result<Self, String> {
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("cannot list pods in {namespace}: {e}"))?;
        let state = Arc::new(Mutex::new(State::default()));
        apply_list(&mut lock(&state), list.items);
        let rv = list.metadata.resource_version.unwrap_or_default();
        let task = tokio::spawn(follow(api, state.clone(), rv, watch_timeout));
        Ok(Self {
            namespace: namespace.to_string(),
            state,
            task,
        })
    }

    /// Resolves when the pod with `uid` is deleted (at once if it is not there), with the
    /// moment the watch saw it go.
    pub fn gone(&self, uid: &str) -> oneshot::Receiver<DateTime<Utc>> {
        let (tx, rx) = oneshot::channel();
        let mut s = lock(&self.state);
        if s.pods.contains_key(uid) {
            s.gone_waiters.insert(uid.to_string(), tx);
        } else {
            let _ = tx.send(Utc::now());
        }
        rx
    }

    /// Resolves with the first Ready pod of controller `owner_uid` first seen after
    /// `after` that no other waiter took.
    pub fn replacement(&self, owner_uid: &str, after: Instant) -> oneshot::Receiver<Ready> {
        let (tx, rx) = oneshot::channel();
        let mut s = lock(&self.state);
        let waiters = s
            .replacement_waiters
            .entry(owner_uid.to_string())
            .or_default();
        waiters.push(ReplacementWaiter { after, tx });
        let uids: Vec<String> = s.pods.keys().cloned().collect();
        let now = Utc::now();
        for uid in uids {
            match_pod(&mut s, &uid, now);
        }
        rx
    }

    /// `watching pods in NS: last error ...` when the watch failed lately.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.state)
            .last_error
            .as_ref()
            .map(|e| format!("watching pods in {}: {e}", self.namespace))
    }
}

/// Replaces what the state knows with a fresh list: pods missing from it are gone now.
fn apply_list(s: &mut State, items: Vec<Pod>) {
    let now = Utc::now();
    let listed: HashMap<String, Pod> = items
        .into_iter()
        .map(|p| (pods::uid(&p).to_string(), p))
        .collect();
    let vanished: Vec<String> = s
        .pods
        .keys()
        .filter(|uid| !listed.contains_key(*uid))
        .cloned()
        .collect();
    for uid in vanished {
        deleted(s, &uid, now);
    }
    for (_, pod) in listed {
        upsert(s, pod, now);
    }
}

fn upsert(s: &mut State, pod: Pod, now: DateTime<Utc>) {
    let uid = pods::uid(&pod).to_string();
    let ready = pods::is_ready(&pod);
    match s.pods.get_mut(&uid) {
        Some(seen) => {
            if !ready {
                seen.not_ready_at = now;
                seen.ready_seen_at = None;
            } else if seen.ready_seen_at.is_none() {
                seen.ready_seen_at = Some(now);
            }
            seen.pod = pod;
        }
        None => {
            s.pods.insert(
                uid.clone(),
                Seen {
                    pod,
                    first_seen: Instant::now(),
                    not_ready_at: now,
                    ready_seen_at: ready.then_some(now),
                    claimed: false,
                },
            );
        }
    }
    match_pod(s, &uid, now);
}

fn deleted(s: &mut State, uid: &str, now: DateTime<Utc>) {
    s.pods.remove(uid);
    if let Some(tx) = s.gone_waiters.remove(uid) {
        let _ = tx.send(now);
    }
}

/// Gives pod `uid`, when Ready and unclaimed, to the oldest waiter of its controller that
/// started waiting before the watch first saw it.
fn match_pod(s: &mut State, uid: &str, now: DateTime<Utc>) {
    let Some(c) = s.pods.get_mut(uid) else {
        return;
    };
    if c.claimed || !pods::is_ready(&c.pod) {
        return;
    }
    let Some(owner) = pods::controller(&c.pod) else {
        return;
    };
    let Some(waiters) = s.replacement_waiters.get_mut(&owner.uid) else {
        return;
    };
    waiters.retain(|w| !w.tx.is_closed());
    let Some(i) = waiters.iter().position(|w| w.after <= c.first_seen) else {
        return;
    };
    let w = waiters.remove(i);
    c.claimed = true;
    let seen_at = c.ready_seen_at.unwrap_or(now);
    let _ = w.tx.send(Ready {
        pod: pods::full_name(&c.pod),
        node: pods::node_of(&c.pod).to_string(),
        ready_at: ready_time(&c.pod, c.not_ready_at, seen_at),
        seen_at,
    });
}

/// When `pod` turned Ready: its Ready condition's `lastTransitionTime` when the server gives
/// one, kept within what the watch saw (not Ready at `after`, Ready at `seen_at`), since
/// the server's clock may be skewed and real servers give whole seconds; else `seen_at`.
fn ready_time(pod: &Pod, after: DateTime<Utc>, seen_at: DateTime<Utc>) -> DateTime<Utc> {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    let transition = conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond() as u32));
    match transition {
        Some(t) if after <= seen_at => t.clamp(after, seen_at),
        Some(_) | None => seen_at,
    }
}

/// Watches from `rv` for as long as the drain needs: a watch that ends is resumed from the
/// last resourceVersion; an expired one (410) or a failure is followed by a new list.
async fn follow(api: Api<Pod>, state: Arc<Mutex<State>>, mut rv: String, watch_timeout: Duration) {
    let wp = WatchParams::default().timeout(watch_timeout.as_secs().clamp(1, 290) as u32);
    loop {
        if rv.is_empty() {
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    rv = list.metadata.resource_version.unwrap_or_default();
                    apply_list(&mut lock(&state), list.items);
                }
                Err(e) => {
                    lock(&state).last_error = Some(format!("list: {e}"));
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let stream = match api.watch(&wp, &rv).await {
            Ok(s) => s,
            Err(e) => {
                lock(&state).last_error = Some(format!("watch: {e}"));
                rv.clear();
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let mut stream = stream.boxed();
        loop {
            match stream.try_next().await {
                Ok(Some(event)) => {
                    if !apply_event(&state, event, &mut rv) {
                        rv.clear();
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    lock(&state).last_error = Some(format!("watch: {e}"));
                    rv.clear();
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}

/// Applies one event; false when the watch must start over from a list (410 Gone, or an
/// error event).
fn apply_event(state: &Mutex<State>, event: WatchEvent<Pod>, rv: &mut String) -> bool {
    let now = Utc::now();
    let mut s = lock(state);
    let mut keep_rv = |p: &Pod| {
        if let Some(v) = &p.metadata.resource_version {
            rv.clone_from(v);
        }
    };
    match event {
        WatchEvent::Added(p) | WatchEvent::Modified(p) => {
            keep_rv(&p);
            upsert(&mut s, p, now);
        }
        WatchEvent::Deleted(p) => {
            keep_rv(&p);
            deleted(&mut s, pods::uid(&p), now);
        }
        WatchEvent::Bookmark(b) => rv.clone_from(&b.metadata.resource_version),
        WatchEvent::Error(e) => {
            s.last_error = Some(format!("watch: {} ({})", e.message, e.code));
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn pod(uid: &str, owner: &str, ready: bool) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(uid.into());
        p.metadata.namespace = Some("ns".into());
        p.metadata.uid = Some(uid.into());
        p.metadata.owner_references = Some(vec![OwnerReference {
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: owner.into(),
            controller: Some(true),
            ..Default::default()
        }]);
        p.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    fn watch(state: State) -> NamespaceWatch {
        NamespaceWatch {
            namespace: "ns".into(),
            state: Arc::new(Mutex::new(state)),
            task: tokio::spawn(async {}),
        }
    }

    #[tokio::test]
    async fn a_replacement_is_a_new_ready_pod_of_the_controller_taken_once() {
        let mut s = State::default();
        // A sibling that existed before the eviction is never a replacement.
        apply_list(
            &mut s,
            vec![pod("old", "rs1", true), pod("sibling", "rs1", true)],
        );
        let w = watch(s);
        let mut gone = w.gone("old");
        let mut first = w.replacement("rs1", Instant::now());
        let mut second = w.replacement("rs1", Instant::now());
        assert!(first.try_recv().is_err() && gone.try_recv().is_err());
        let mut rv = String::new();
        let t0 = Utc::now();
        assert!(apply_event(
            &w.state,
            WatchEvent::Added(pod("new", "rs1", false)),
            &mut rv
        ));
        assert!(first.try_recv().is_err(), "not Ready yet");
        assert!(apply_event(
            &w.state,
            WatchEvent::Added(pod("other", "rs2", true)),
            &mut rv
        ));
        assert!(first.try_recv().is_err(), "another controller's pod");
        assert!(apply_event(
            &w.state,
            WatchEvent::Modified(pod("new", "rs1", true)),
            &mut rv
        ));
        let ready = first.try_recv().expect("the new Ready pod");
        assert_eq!(ready.pod, "ns/new");
        assert!(ready.seen_at >= t0 && ready.ready_at <= ready.seen_at);
        assert!(second.try_recv().is_err(), "taken once");
        // The old pod goes after its replacement was Ready: seen, with its time.
        assert!(apply_event(
            &w.state,
            WatchEvent::Deleted(pod("old", "rs1", true)),
            &mut rv
        ));
        assert!(gone.try_recv().expect("gone") >= ready.seen_at);
        // A pod no longer there is gone at once.
        assert!(w.gone("never-there").try_recv().is_ok());
    }
}
