//! The moment a fault took effect, for faults whose `inject` goes on after it (a failover
//! watch, a verification): the hold (`for`) counts from that moment, not from the end of
//! `inject`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Shared between a prepared fault (which marks) and the engine (which reads after
/// `inject` returned). Marking again keeps the latest instant, so a fault on several nodes
/// is held `for` on every one of them.
#[derive(Debug, Clone, Default)]
pub struct EffectMark(Arc<Mutex<Option<Instant>>>);

impl EffectMark {
    /// Records that the fault is in effect now.
    pub fn mark_now(&self) {
        let now = Instant::now();
        let mut at = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *at = Some(at.map_or(now, |t| t.max(now)));
    }

    /// The latest instant marked, if any.
    pub fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_mark() {
        let m = EffectMark::default();
        assert_eq!(m.get(), None);
        let clone = m.clone();
        clone.mark_now();
        let first = m.get().unwrap();
        m.mark_now();
        assert!(m.get().unwrap() >= first);
    }
}
