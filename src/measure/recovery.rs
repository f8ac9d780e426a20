//! Recovery time: heal → start of the first healthy streak that lasts the stable window.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::report::Sample;

/// How (and whether) a probe recovered after the last heal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Recovery {
    /// No fault was healed during the run.
    NotApplicable,
    /// Healthy for the stable window, starting `after_ms` after the heal.
    Recovered { after_ms: f64 },
    /// No healthy streak of the stable window's length after the heal.
    Never,
}

impl Recovery {
    /// Recovery time in milliseconds when recovered.
    pub fn millis(&self) -> Option<f64> {
        match self {
            Recovery::Recovered { after_ms } => Some(*after_ms),
            _ => None,
        }
    }

    /// The worse of two recoveries (never > longer > shorter > not applicable).
    pub fn worst(self, other: Recovery) -> Recovery {
        match (self, other) {
            (Recovery::Never, _) | (_, Recovery::Never) => Recovery::Never,
            (Recovery::NotApplicable, x) | (x, Recovery::NotApplicable) => x,
            (Recovery::Recovered { after_ms: a }, Recovery::Recovered { after_ms: b }) => {
                Recovery::Recovered { after_ms: a.max(b) }
            }
        }
    }

    /// Human form: `1.2s`, `never`, `n/a`.
    pub fn describe(&self) -> String {
        match self {
            Recovery::NotApplicable => "n/a".into(),
            Recovery::Never => "never".into(),
            Recovery::Recovered { after_ms } => format_ms(*after_ms),
        }
    }
}

/// Milliseconds as a short human string (`850ms`, `2.35s`).
pub fn format_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// Finds the first healthy streak that is still healthy at least `stable` after it began
/// and that is ongoing at or after `heal_ms`. A streak already running at the heal counts
/// from the heal (recovery 0). A streak cut short by the end of the run is not confirmed.
pub fn recovery_after(samples: &[Sample], heal_ms: f64, stable: Duration) -> Recovery {
    let stable_ms = stable.as_secs_f64() * 1000.0;
    let mut streak_start: Option<f64> = None;
    for s in samples {
        if !s.ok {
            streak_start = None;
            continue;
        }
        let begins = streak_start.get_or_insert(s.offset_ms).max(heal_ms);
        if s.offset_ms - begins >= stable_ms {
            return Recovery::Recovered {
                after_ms: begins - heal_ms,
            };
        }
    }
    Recovery::Never
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::test_samples::from_pattern;

    #[test]
    fn recovery_is_measured_from_heal_to_start_of_stable_streak() {
        // heal at 300ms; failures until 500, then a streak from 600 (the blip at 500 breaks it).
        let s = from_pattern("..xx.x......", 100.0);
        let r = recovery_after(&s, 300.0, Duration::from_millis(300));
        assert_eq!(r, Recovery::Recovered { after_ms: 300.0 });
    }

    #[test]
    fn never_when_streak_is_too_short_or_absent() {
        let s = from_pattern("..xxxx..", 100.0);
        assert_eq!(
            recovery_after(&s, 200.0, Duration::from_millis(500)),
            Recovery::Never
        );
    }

    #[test]
    fn zero_when_healthy_through_the_heal() {
        let s = from_pattern("........", 100.0);
        assert_eq!(
            recovery_after(&s, 300.0, Duration::from_millis(200)),
            Recovery::Recovered { after_ms: 0.0 }
        );
    }
}
