//! The moment a fault took effect, for faults whose `inject` goes on after it (a failover
//! watch, a verification): the hold (`for`) counts from that moment, not from the end of
//! `inject`.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

/// What `inject` has said so far: when the fault took effect, and whether what is left of
/// `inject` only observes (the revert may then start while it goes on).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Marked {
    at: Instant,
    only_observing: bool,
}

/// Shared between a prepared fault (which marks) and the engine (which waits for or reads
/// the mark). Marking again keeps the latest instant, so a fault on several nodes is held
/// `for` on every one of them.
#[derive(Debug, Clone)]
pub struct EffectMark(Arc<watch::Sender<Option<Marked>>>);

impl Default for EffectMark {
    fn default() -> Self {
        Self(Arc::new(watch::channel(None).0))
    }
}

impl EffectMark {
    fn mark(&self, only_observing: bool) {
        let now = Instant::now();
        self.0.send_modify(|m| {
            let at = m.map_or(now, |m| m.at.max(now));
            *m = Some(Marked { at, only_observing });
        });
    }

    /// The fault is in effect now; `inject` still has to finish (a verification) before
    /// the fault may be reverted.
    pub fn mark_now(&self) {
        self.mark(false);
    }

    /// The fault is in effect now and the rest of `inject` only observes (a failover
    /// watch): the revert may start when the hold is over, while `inject` goes on.
    pub fn mark_now_observing(&self) {
        self.mark(true);
    }

    /// The latest instant marked, if any.
    pub fn get(&self) -> Option<Instant> {
        self.0.borrow().map(|m| m.at)
    }

    /// Resolves with the effect instant once `inject` only observes (never otherwise).
    pub async fn only_observing_since(&self) -> Instant {
        let mut rx = self.0.subscribe();
        let seen = rx
            .wait_for(|m| m.is_some_and(|m| m.only_observing))
            .await
            .map(|m| *m);
        match seen {
            Ok(Some(m)) => m.at,
            _ => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_latest_mark_and_says_when_inject_only_observes() {
        let m = EffectMark::default();
        assert_eq!(m.get(), None);
        let clone = m.clone();
        clone.mark_now();
        let first = m.get().unwrap();
        m.mark_now();
        assert!(m.get().unwrap() >= first);
        let waiting = tokio::spawn({
            let m = m.clone();
            async move { m.only_observing_since().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a verification is not observing");
        clone.mark_now_observing();
        let at = waiting.await.unwrap();
        assert_eq!(Some(at), m.get());
    }
}
