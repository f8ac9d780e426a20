//! Outage windows: maximal runs of failed samples.

use serde::{Deserialize, Serialize};

use crate::report::Sample;

/// A stretch of time during which a probe failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutageWindow {
    /// Offset of the first failed sample (ms since run start).
    pub start_ms: f64,
    /// Offset of the first healthy sample after it; `None` if the run ended while down.
    pub end_ms: Option<f64>,
    /// `end - start`, or last sample − start when the outage never ended.
    pub length_ms: f64,
}

/// Outage windows from samples ordered by offset. A window starts at the first failed
/// sample and ends at the next healthy one.
pub fn outage_windows(samples: &[Sample]) -> Vec<OutageWindow> {
    let mut windows = Vec::new();
    let mut open: Option<f64> = None;
    for s in samples {
        match (s.ok, open) {
            (false, None) => open = Some(s.offset_ms),
            (true, Some(start)) => {
                windows.push(OutageWindow {
                    start_ms: start,
                    end_ms: Some(s.offset_ms),
                    length_ms: s.offset_ms - start,
                });
                open = None;
            }
            _ => {}
        }
    }
    if let (Some(start), Some(last)) = (open, samples.last()) {
        windows.push(OutageWindow {
            start_ms: start,
            end_ms: None,
            length_ms: last.offset_ms - start,
        });
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::test_samples::from_pattern;

    #[test]
    fn windows_start_at_first_failure_and_end_at_next_success() {
        let w = outage_windows(&from_pattern("..xxx..x.xx", 100.0));
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].start_ms, w[0].end_ms, w[0].length_ms),
            (200.0, Some(500.0), 300.0)
        );
        assert_eq!((w[1].start_ms, w[1].end_ms), (700.0, Some(800.0)));
        assert_eq!(
            (w[2].start_ms, w[2].end_ms, w[2].length_ms),
            (900.0, None, 100.0)
        );
    }
}
