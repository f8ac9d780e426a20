//! `kubedrill run ... --suite NAME`: the scenarios in order, each run's directory inside
//! `<report-dir>/NAME-<UTC timestamp>/`, then `index.html`, `junit.xml` and
//! `summary.json` there. The suite's exit code is the worst of its runs (numerically
//! highest: 4 revert failed > 3 aborted > 2 invalid/could not start > 1 fail > 0 pass).
//! It goes on after a failed, aborted (`abort-if`) or unstartable run, and stops after a
//! run whose revert failed (the system may be degraded) or on SIGINT/SIGTERM: the
//! scenarios left are listed as `not-run`.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;

use super::args::RunArgs;
use super::run::run_in;
use crate::exit_code::ExitCode;
use crate::measure::format_ms;
use crate::report::{
    write_suite, RunReport, SuiteRun, SuiteSummary, NOT_RUN, SUITE_SCHEMA_VERSION,
};
use crate::scenario::{ReportFormat, Scenario};

/// The files given, with each directory replaced by its `*.yaml` files in name order.
pub fn scenario_files(given: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in given {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.is_file())
            .collect();
        if found.is_empty() {
            return Err(format!("{}: no *.yaml scenario files", path.display()));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// A suite name names a directory: letters, digits, `-`, `_` and `.`, not starting with `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}`: use letters, digits, `-`, `_` and `.` only, not starting with `.` (it names the suite directory)"
        ))
    }
}

/// Runs `scenarios` as the suite `name`; returns the worst exit code.
pub async fn run_suite(scenarios: &[Scenario], a: &RunArgs, name: &str, quiet: bool) -> i32 {
    let root = a.report_dir.clone().unwrap_or_else(|| "reports".into());
    let dir = match create_suite_dir(&root, name) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "error: cannot create the suite directory under {}: {e}",
                root.display()
            );
            return ExitCode::Invalid.code();
        }
    };
    let signalled = watch_signals();
    let started_at = Utc::now();
    let (mut runs, mut reports) = (Vec::new(), Vec::<Option<RunReport>>::new());
    let mut stopped: Option<String> = None;
    for (i, s) in scenarios.iter().enumerate() {
        let file = s.file.display().to_string();
        if stopped.is_none() && signalled.load(Ordering::SeqCst) {
            stopped = Some(
                match i.checked_sub(1).map(|p| &scenarios[p].metadata.name) {
                    Some(prev) => format!("interrupted (SIGINT/SIGTERM) during or after {prev}"),
                    None => "interrupted (SIGINT/SIGTERM) before the first scenario".into(),
                },
            );
        }
        if let Some(why) = &stopped {
            runs.push(SuiteRun::without_report(
                &s.metadata.name,
                &file,
                None,
                format!("not run: {why}"),
            ));
            reports.push(None);
            continue;
        }
        println!(
            "== suite {name}: scenario {}/{}: {} ({file})",
            i + 1,
            scenarios.len(),
            s.metadata.name
        );
        let mut formats = s.report.formats.clone();
        if !formats.contains(&ReportFormat::Html) {
            formats.push(ReportFormat::Html);
        }
        match run_in(s, a, quiet, dir.clone(), &formats).await {
            Ok(o) => {
                let rel = o
                    .run_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                runs.push(SuiteRun::finished(&file, &o.report, &rel, true));
                if o.report.exit_code == ExitCode::RevertFailed.code() {
                    stopped = Some(format!(
                        "a revert of {} failed or did not run: the system may be degraded",
                        s.metadata.name
                    ));
                }
                reports.push(Some(o.report));
            }
            Err(e) => {
                runs.push(SuiteRun::without_report(
                    &s.metadata.name,
                    &file,
                    Some(ExitCode::Invalid.code()),
                    format!("the run could not start: {e}"),
                ));
                reports.push(None);
            }
        }
    }
    let exit_code = runs
        .iter()
        .filter_map(|r| r.exit_code)
        .fold(ExitCode::Pass.code(), i32::max);
    let summary = SuiteSummary {
        schema_version: SUITE_SCHEMA_VERSION,
        suite: name.to_string(),
        kubedrill_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        ended_at: Utc::now(),
        exit_code,
        stopped,
        runs,
    };
    let written = write_suite(&dir, &summary, &reports);
    print_summary(&summary, &dir);
    match written {
        Ok(paths) => {
            for p in paths {
                println!("    {}", p.display());
            }
        }
        Err(e) => eprintln!(
            "error: cannot write the suite files into {}: {e}",
            dir.display()
        ),
    }
    exit_code
}

/// Set once SIGINT or SIGTERM arrived (the run in progress handles it itself; this only
/// keeps the suite from starting the next one).
fn watch_signals() -> Arc<AtomicBool> {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(AtomicBool::new(false));
    for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
        let Ok(mut s) = signal(kind) else { continue };
        let flag = flag.clone();
        tokio::spawn(async move {
            if s.recv().await.is_some() {
                flag.store(true, Ordering::SeqCst);
            }
        });
    }
    flag
}

/// `ROOT/NAME-<UTC timestamp>` (then `-1`, `-2` ... if taken), owner-only like run
/// directories.
fn create_suite_dir(root: &Path, name: &str) -> std::io::Result<PathBuf> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    std::fs::create_dir_all(root)?;
    for n in 0.. {
        let dir = match n {
            0 => root.join(format!("{name}-{stamp}")),
            n => root.join(format!("{name}-{stamp}-{n}")),
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("an unused directory name always exists")
}

fn print_summary(s: &SuiteSummary, dir: &Path) {
    let count = |v: &str| s.runs.iter().filter(|r| r.verdict == v).count();
    let counts: Vec<String> = ["pass", "fail", "aborted", "error", NOT_RUN]
        .into_iter()
        .map(|v| (v, count(v)))
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} {v}"))
        .collect();
    println!(
        "\nsuite {}: {} scenario(s): {} (exit {})",
        s.suite,
        s.runs.len(),
        counts.join(", "),
        s.exit_code
    );
    for r in &s.runs {
        let code = r.exit_code.map_or_else(|| "-".into(), |c| c.to_string());
        println!(
            "  {:<8} exit {code}  {}",
            r.verdict.to_uppercase(),
            r.scenario
        );
        for p in &r.probes {
            println!(
                "      {:<16} availability {}  longest outage {}  recovery {}",
                p.name,
                p.availability_pct
                    .map_or_else(|| "n/a".into(), |a| format!("{a:.2}%")),
                format_ms(p.longest_outage_ms),
                p.recovery
            );
        }
        if r.exit_code.is_none() || r.run_dir.is_none() {
            if let Some(why) = &r.reason {
                println!("      {why}");
            }
        }
    }
    if let Some(why) = &s.stopped {
        println!("  stopped early: {why}");
    }
    println!("  suite: {}", dir.join("index.html").display());
}

#[cfg(test)]
mod tests {
    use super::{check_name, scenario_files};

    #[test]
    fn suite_names_name_a_directory() {
        assert!(check_name("nightly-2024.1_a").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "a b", "<x>"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_directory_means_its_yaml_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.yaml", "a.yaml", "notes.txt", "c.yml"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let files = scenario_files(&[dir.path().to_path_buf(), "x.yaml".into()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.yaml", "b.yaml", "x.yaml"]);
        let empty = tempfile::tempdir().unwrap();
        let err = scenario_files(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(err.contains("no *.yaml scenario files"), "{err}");
    }
}
