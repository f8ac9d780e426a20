//! The probes' part of the report: measurements from each probe's tracker, and samples
//! read back from `samples.jsonl` (all of them for short runs, those around state changes
//! for long ones), so the report never needs a second copy of every sample.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::sample_file::{read_samples, SAMPLES_FILE};
use super::sampling::ProbeLog;
use crate::measure::{FaultSpan, OutageWindow, Sample};
use crate::report::ProbeRecord;
use crate::scenario::Scenario;

/// A run with at most this many samples (all probes together) has all of them in
/// report.json; a longer one has the samples near state changes, at most this many in all.
/// This bounds the memory and the size of the report whatever the run's length.
pub const EMBED_AT_MOST: u64 = 20_000;

/// One record per probe that ran, in the scenario's order.
pub fn probe_records(
    s: &Scenario,
    logs: &[(String, Arc<ProbeLog>)],
    span: FaultSpan,
    stable: Duration,
    run_dir: &Path,
) -> Vec<ProbeRecord> {
    let mut records: Vec<ProbeRecord> = s
        .probes
        .iter()
        .filter_map(|decl| {
            let (_, log) = logs.iter().find(|(n, _)| *n == decl.name)?;
            let measurements = log.read(|t| t.measurements(span, stable));
            Some(ProbeRecord {
                name: decl.name.clone(),
                kind: decl.spec.kind().into(),
                target: decl.spec.target(),
                interval: decl.interval.get(),
                timeout: decl.timeout.get(),
                max_in_flight: log.max_in_flight,
                scheduled_ticks: log.scheduled_ticks.load(Ordering::Relaxed),
                missed_ticks: log.missed_ticks.load(Ordering::Relaxed),
                unfinished_samples: log.unfinished.load(Ordering::Relaxed),
                samples_embedded: String::new(),
                samples_file: SAMPLES_FILE.into(),
                samples: Vec::new(),
                measurements,
            })
        })
        .collect();
    embed_samples(&mut records, &run_dir.join(SAMPLES_FILE));
    records
}

/// Fills each record's `samples` (and `samples_embedded`) from the sample file.
pub fn embed_samples(records: &mut [ProbeRecord], file: &Path) {
    let total: u64 = records.iter().map(|r| r.measurements.samples).sum();
    let all = total <= EMBED_AT_MOST;
    let per_probe = (EMBED_AT_MOST as usize / records.len().max(1)).max(100);
    for r in records.iter_mut() {
        r.samples_embedded = if all { "all" } else { "near-state-changes" }.into();
    }
    let index: HashMap<String, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    // Per probe, the first window a later sample can still touch: samples come in date
    // order, so the scan over windows stays linear in samples + windows.
    let mut cursors = vec![0usize; records.len()];
    let result = read_samples(
        file,
        |_| {},
        |probe, sample| {
            let Some(&i) = index.get(probe) else {
                return;
            };
            let r = &mut records[i];
            let keep = all
                || (r.samples.len() < per_probe
                    && near_a_change(
                        &sample,
                        &r.measurements.outages,
                        &mut cursors[i],
                        r.interval,
                        r.timeout,
                    ));
            if keep {
                r.samples.push(sample);
            }
        },
    );
    if let Err(e) = result {
        tracing::warn!(error = %e, file = %file.display(), "cannot read samples back; the report has measurements only");
    }
}

/// True when the sample's span touches the uncertainty of a window boundary (widened by
/// one interval): the samples that show why a window starts or ends where it does.
/// `cursor` skips windows that ended before any sample dated from now on can have started
/// (a sample starts at most `timeout` before its date).
fn near_a_change(
    s: &Sample,
    windows: &[OutageWindow],
    cursor: &mut usize,
    interval: Duration,
    timeout: Duration,
) -> bool {
    let pad = interval.as_secs_f64() * 1000.0;
    let reach = pad + timeout.as_secs_f64() * 1000.0;
    let end_of = |w: &OutageWindow| w.end_ms.unwrap_or(w.end_earliest_ms);
    while windows
        .get(*cursor)
        .is_some_and(|w| end_of(w) + reach < s.dated_ms())
    {
        *cursor += 1;
    }
    let touches = |from: f64, to: f64| s.start_ms <= to + pad && s.end_ms >= from - pad;
    windows[*cursor..]
        .iter()
        .take_while(|w| w.start_earliest_ms - pad <= s.end_ms)
        .any(|w| touches(w.start_earliest_ms, w.start_ms) || touches(w.end_earliest_ms, end_of(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::test_samples::from_pattern;
    use crate::measure::{measure, FaultSpan};

    #[test]
    fn only_samples_around_boundaries_are_near_a_change() {
        // 100 ms apart: down from 1000 to 1500 and from 5000 to 5200.
        let pattern: String = (0..80)
            .map(|i| {
                if (10..15).contains(&i) || (50..52).contains(&i) {
                    'x'
                } else {
                    '.'
                }
            })
            .collect();
        let samples = from_pattern(&pattern, 100.0);
        let m = measure(&samples, FaultSpan::default(), Duration::from_secs(1));
        let mut cursor = 0;
        let ms = Duration::from_millis;
        let near: Vec<f64> = samples
            .iter()
            .filter(|s| near_a_change(s, &m.outages, &mut cursor, ms(100), ms(50)))
            .map(Sample::dated_ms)
            .collect();
        assert_eq!(
            near,
            vec![
                800.0, 900.0, 1000.0, 1100.0, 1300.0, 1400.0, 1500.0, 1600.0, 4800.0, 4900.0,
                5000.0, 5100.0, 5200.0, 5300.0
            ]
        );
        assert_eq!(cursor, 2, "both windows are behind the last samples");
    }
}
