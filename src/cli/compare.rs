//! `kubedrill compare BASELINE NEW`: two report.json files (or run directories), or two
//! suite directories (their summary.json; a directory of run directories works too),
//! compared metric by metric. Prints the Markdown, writes `compare.md` and `compare.html`
//! (to `--out`, else next to NEW) and exits 1 when NEW regressed, 0 otherwise, 2 on bad
//! input.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit_code::ExitCode;
use crate::report::{
    compare as compare_sides, compare_markdown, read_report, read_summary, write_comparison, Side,
    Thresholds, DEFAULT_THRESHOLDS,
};

/// `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a report.json, a run directory or a suite directory.
    pub baseline: PathBuf,
    /// The run(s) to judge, of the same kind as BASELINE.
    pub new: PathBuf,
    /// How far each metric may get worse: METRIC=LIMIT,... with metrics availability,
    /// max-outage, recovery, time-to-detect, outages and limits such as +20%, +1s, +500ms,
    /// -0.5pp (availability), +1 (outages) or off. Entries for a metric replace its
    /// defaults; two entries (+20% and +1s) must both be exceeded.
    #[arg(long, value_name = "SPEC", default_value = DEFAULT_THRESHOLDS)]
    pub max_regression: String,
    /// Where compare.md and compare.html go (default: NEW's directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A scenario or probe missing in NEW is reported, but not a regression.
    #[arg(long)]
    pub allow_missing: bool,
}

/// Runs the comparison; the exit code says whether NEW regressed.
pub fn compare(a: CompareArgs) -> i32 {
    match try_compare(&a) {
        Ok(regressed) => {
            if regressed {
                ExitCode::ExpectationsFailed.code()
            } else {
                ExitCode::Pass.code()
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::Invalid.code()
        }
    }
}

fn try_compare(a: &CompareArgs) -> Result<bool, String> {
    let thresholds =
        Thresholds::parse(&a.max_regression).map_err(|e| format!("--max-regression {e}"))?;
    let (mut baseline, b_single) = load_side(&a.baseline)?;
    let (new, n_single) = load_side(&a.new)?;
    if b_single != n_single {
        return Err(format!(
            "compare a run with a run, or a suite with a suite: {} is {}, {} is {}",
            a.baseline.display(),
            kind(b_single),
            a.new.display(),
            kind(n_single)
        ));
    }
    // Two single runs are compared whatever their scenario names.
    if b_single && baseline[0].0 != new[0].0 {
        eprintln!(
            "note: comparing scenario `{}` (baseline) with `{}` (new)",
            baseline[0].0, new[0].0
        );
        baseline[0].0 = new[0].0.clone();
    }
    let c = compare_sides(
        (&a.baseline.display().to_string(), &baseline),
        (&a.new.display().to_string(), &new),
        thresholds,
        a.allow_missing,
    );
    let out = match &a.out {
        Some(d) => d.clone(),
        None if a.new.is_dir() => a.new.clone(),
        None => a
            .new
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let written = write_comparison(&out, &c).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("{}", compare_markdown(&c));
    eprintln!(
        "compare: {} regression(s), {} improvement(s)",
        c.regressions(),
        c.improvements()
    );
    for p in written {
        eprintln!("  {}", p.display());
    }
    Ok(c.regressions() > 0)
}

fn kind(single: bool) -> &'static str {
    if single {
        "one run"
    } else {
        "a suite"
    }
}

/// The runs at `path` by scenario name, and whether it is a single run.
fn load_side(path: &Path) -> Result<(Side, bool), String> {
    if path.is_file() {
        let r = read_report(path)?;
        return Ok((vec![(r.scenario.name.clone(), Some(r))], true));
    }
    if !path.is_dir() {
        return Err(format!("{}: no such file or directory", path.display()));
    }
    let summary = path.join("summary.json");
    if summary.is_file() {
        let s = read_summary(&summary)?;
        let mut side = Side::new();
        for run in s.runs {
            let report = match &run.report {
                Some(rel) => Some(read_report(&path.join(rel))?),
                None => None,
            };
            side.push((run.scenario, report));
        }
        return Ok((side, false));
    }
    let single = path.join("report.json");
    if single.is_file() {
        return load_side(&single);
    }
    // A directory of run directories (a report root): the latest run of each scenario.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path().join("report.json")))
        .filter(|p| p.is_file())
        .collect();
    dirs.sort();
    let mut side: Side = Vec::new();
    for p in dirs {
        let r = read_report(&p)?;
        match side.iter_mut().find(|(n, _)| *n == r.scenario.name) {
            Some((_, Some(old))) if old.started_at >= r.started_at => {}
            Some(entry) => entry.1 = Some(r),
            None => side.push((r.scenario.name.clone(), Some(r))),
        }
    }
    if side.is_empty() {
        return Err(format!(
            "{}: neither a report.json, a run directory nor a suite directory (no summary.json, no report.json)",
            path.display()
        ));
    }
    Ok((side, false))
}
