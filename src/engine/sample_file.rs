//! `samples.jsonl`: every sample of a run, streamed to the run directory as it is dated,
//! so a crashed run keeps them and reports never need them all in memory.
//!
//! One JSON object per line. A `declared` line per probe comes first (what `recover`
//! needs to write a report); then `sample` lines in date order per probe. A healthy
//! sample's `detail` is written only when it differs from that probe's previous healthy
//! detail; readers carry the last one forward.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::measure::Sample;

/// File name inside the run directory.
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// Buffered lines reach the disk at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// What a probe is, written once before its samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeclaredProbe {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub interval_ms: f64,
    pub timeout_ms: f64,
    pub max_in_flight: u64,
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "kebab-case")]
pub enum SampleLine {
    Declared(DeclaredProbe),
    Sample {
        probe: String,
        #[serde(flatten)]
        sample: Sample,
    },
}

struct Writer {
    out: BufWriter<File>,
    last_flush: Instant,
    /// Last healthy detail written per probe.
    details: HashMap<String, serde_json::Value>,
    failed: Option<String>,
}

/// The run's sample file, shared by every probe task.
pub struct SampleFile(Mutex<Writer>);

impl SampleFile {
    /// Creates `samples.jsonl` in `run_dir`.
    pub fn create(run_dir: &Path) -> std::io::Result<Self> {
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            // Private like the run directory (0600).
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(run_dir.join(SAMPLES_FILE))?
        };
        Ok(Self(Mutex::new(Writer {
            out: BufWriter::with_capacity(64 * 1024, file),
            last_flush: Instant::now(),
            details: HashMap::new(),
            failed: None,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a probe's declaration.
    pub fn declare(&self, p: DeclaredProbe) {
        let mut w = self.lock();
        w.write(&SampleLine::Declared(p));
        w.flush();
    }

    /// Appends a dated sample of `probe` (details only when they changed).
    pub fn append(&self, probe: &str, sample: &Sample) {
        let mut w = self.lock();
        let mut sample = sample.clone();
        if let Some(d) = sample.detail.take() {
            if w.details.get(probe) != Some(&d) {
                w.details.insert(probe.to_string(), d.clone());
                sample.detail = Some(d);
            }
        }
        w.write(&SampleLine::Sample {
            probe: probe.to_string(),
            sample,
        });
        if w.last_flush.elapsed() >= FLUSH_EVERY {
            w.flush();
        }
    }

    /// Flushes buffered lines; returns the first write error seen, if any.
    pub fn finish(&self) -> Result<(), String> {
        let mut w = self.lock();
        w.flush();
        w.failed.clone().map_or(Ok(()), Err)
    }
}

impl Writer {
    fn write(&mut self, line: &SampleLine) {
        if self.failed.is_some() {
            return;
        }
        let result = serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write samples.jsonl; reports keep what was measured");
            self.failed = Some(e.to_string());
        }
    }

    fn flush(&mut self) {
        self.last_flush = Instant::now();
        if let Err(e) = self.out.flush() {
            self.failed.get_or_insert(e.to_string());
        }
    }
}

/// Reads `samples.jsonl`, calling `on_declared` and `on_sample` line by line (details
/// carried forward). A torn last line (a killed run) is skipped.
pub fn read_samples(
    path: &Path,
    mut on_declared: impl FnMut(DeclaredProbe),
    mut on_sample: impl FnMut(&str, Sample),
) -> std::io::Result<()> {
    let reader = BufReader::new(File::open(path)?);
    let mut details: HashMap<String, serde_json::Value> = HashMap::new();
    for line in reader.lines() {
        let line = line?;
        match serde_json::from_str::<SampleLine>(&line) {
            Ok(SampleLine::Declared(d)) => on_declared(d),
            Ok(SampleLine::Sample { probe, mut sample }) => {
                if sample.ok {
                    match &sample.detail {
                        Some(d) => {
                            details.insert(probe.clone(), d.clone());
                        }
                        None => sample.detail = details.get(&probe).cloned(),
                    }
                }
                on_sample(&probe, sample);
            }
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable line of samples.jsonl"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn details_are_written_once_and_carried_forward() {
        let dir = tempfile::tempdir().unwrap();
        let f = SampleFile::create(dir.path()).unwrap();
        let ok = |t: f64| {
            Sample::new(
                Utc::now(),
                t,
                t + 1.0,
                Ok(Some(serde_json::json!({"status": 200}))),
            )
        };
        f.append("web", &ok(0.0));
        f.append(
            "web",
            &Sample::new(Utc::now(), 10.0, 11.0, Err("refused".into())),
        );
        f.append("web", &ok(20.0));
        f.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join(SAMPLES_FILE)).unwrap();
        assert_eq!(text.matches("status").count(), 1, "{text}");
        let mut back = Vec::new();
        read_samples(
            &dir.path().join(SAMPLES_FILE),
            |_| {},
            |p, s| back.push((p.to_string(), s)),
        )
        .unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].1.detail, Some(serde_json::json!({"status": 200})));
        assert_eq!(back[1].1.detail, None);
    }
}
