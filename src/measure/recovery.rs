//! Recovery time: heal → start of the first healthy streak that lasts the stable window.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How (and whether) a probe recovered after the last heal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Recovery {
    /// No fault was healed during the run.
    NotApplicable,
    /// Healthy for the stable window from the first healthy observation `after_ms` after
    /// the heal; the target came back no earlier than `after_min_ms` after the heal (the
    /// last unhealthy observation before that streak).
    Recovered { after_ms: f64, after_min_ms: f64 },
    /// No healthy streak of the stable window's length after the heal.
    Never,
}

impl Recovery {
    /// Recovery time in milliseconds when recovered.
    pub fn millis(&self) -> Option<f64> {
        match self {
            Recovery::Recovered { after_ms, .. } => Some(*after_ms),
            _ => None,
        }
    }

    /// The worse of two recoveries (never > longer > shorter > not applicable).
    pub fn worst(self, other: Recovery) -> Recovery {
        match (self, other) {
            (Recovery::Never, _) | (_, Recovery::Never) => Recovery::Never,
            (Recovery::NotApplicable, x) | (x, Recovery::NotApplicable) => x,
            (
                a @ Recovery::Recovered { after_ms: x, .. },
                b @ Recovery::Recovered { after_ms: y, .. },
            ) => {
                if y > x {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// Human form: `1.2s`, `never`, `n/a`.
    pub fn describe(&self) -> String {
        match self {
            Recovery::NotApplicable => "n/a".into(),
            Recovery::Never => "never".into(),
            Recovery::Recovered { after_ms, .. } => format_ms(*after_ms),
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

/// A maximal run of healthy observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Streak {
    pub first_ms: f64,
    pub last_ms: f64,
    /// The last unhealthy observation before it, if any.
    pub after_unhealthy_ms: Option<f64>,
}

impl Streak {
    pub(crate) fn new(at_ms: f64, after_unhealthy_ms: Option<f64>) -> Self {
        Streak {
            first_ms: at_ms,
            last_ms: at_ms,
            after_unhealthy_ms,
        }
    }
}

/// Finds the first healthy streak, ongoing at or after `heal_ms`, that is still healthy at
/// least `stable` after it began. A streak already running at the heal counts from the
/// heal (recovery 0). A streak cut short by the end of the run is not confirmed.
pub fn recovery_after(streaks: &[Streak], heal_ms: f64, stable: Duration) -> Recovery {
    let stable_ms = stable.as_secs_f64() * 1000.0;
    streaks
        .iter()
        .filter(|s| s.last_ms >= heal_ms)
        .find_map(|s| {
            let begins = s.first_ms.max(heal_ms);
            (s.last_ms - begins >= stable_ms).then(|| Recovery::Recovered {
                after_ms: begins - heal_ms,
                after_min_ms: s
                    .after_unhealthy_ms
                    .unwrap_or(heal_ms)
                    .clamp(heal_ms, begins)
                    - heal_ms,
            })
        })
        .unwrap_or(Recovery::Never)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::test_samples::{from_pattern, tracker_of};

    fn recovery(pattern: &str, heal: f64, stable_ms: u64) -> Recovery {
        tracker_of(&from_pattern(pattern, 100.0))
            .recovery_after(heal, Duration::from_millis(stable_ms))
    }

    #[test]
    fn recovery_is_measured_from_heal_to_start_of_stable_streak() {
        // heal at 300ms; failures until 500, then a streak from 600 (the blip at 500 breaks it).
        assert_eq!(
            recovery("..xx.x......", 300.0, 300),
            Recovery::Recovered {
                after_ms: 300.0,
                after_min_ms: 200.0
            }
        );
    }

    #[test]
    fn never_when_streak_is_too_short_or_absent() {
        assert_eq!(recovery("..xxxx..", 200.0, 500), Recovery::Never);
    }

    #[test]
    fn zero_when_healthy_through_the_heal() {
        assert_eq!(
            recovery("........", 300.0, 200),
            Recovery::Recovered {
                after_ms: 0.0,
                after_min_ms: 0.0
            }
        );
    }
}
