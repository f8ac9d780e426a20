//! Reports of a run: `report.json` (the source of truth, versioned), `junit.xml`,
//! `report.md` and a self-contained `report.html`. All are rendered from [`RunReport`],
//! so `kubedrill report` can re-render any of them from the JSON.

mod compare;
mod compare_render;
mod compare_thresholds;
mod escape;
mod format;
mod html;
mod junit;
pub mod live;
pub mod live_html;
mod markdown;
mod model;
#[cfg(test)]
mod snapshot;
mod suite;
mod suite_html;
mod suite_timeline;
mod svg_timeline;
mod tables;
#[cfg(test)]
pub(crate) mod test_fixture;

pub use compare::*;
pub use compare_render::{html as compare_html, markdown as compare_markdown, write_comparison};
pub use compare_thresholds::*;
pub use model::*;
pub use suite::*;

use std::path::{Path, PathBuf};

use crate::scenario::ReportFormat;

/// File name of each format inside the run directory.
pub fn file_name(format: ReportFormat) -> &'static str {
    match format {
        ReportFormat::Json => "report.json",
        ReportFormat::Junit => "junit.xml",
        ReportFormat::Md => "report.md",
        ReportFormat::Html => "report.html",
    }
}

/// Renders one format.
pub fn render(r: &RunReport, format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => serde_json::to_string_pretty(r).expect("a report always serialises"),
        ReportFormat::Junit => junit::render(r),
        ReportFormat::Md => markdown::render(r),
        ReportFormat::Html => html::render(r),
    }
}

/// Writes `report.json` and the other requested formats into `dir`.
pub fn write_reports(
    r: &RunReport,
    dir: &Path,
    formats: &[ReportFormat],
) -> std::io::Result<Vec<PathBuf>> {
    let mut all = vec![ReportFormat::Json];
    all.extend(formats.iter().copied().filter(|f| *f != ReportFormat::Json));
    all.into_iter()
        .map(|f| {
            let path = dir.join(file_name(f));
            write_private(&path, render(r, f).as_bytes()).map(|_| path)
        })
        .collect()
}

/// Writes `path` readable by its owner only (0600): reports name hosts, users, key paths
/// and commands.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

/// Reads a `report.json`, refusing newer schema versions.
pub fn read_report(path: &Path) -> Result<RunReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let r: RunReport = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a kubedrill report: {e}", path.display()))?;
    if r.schema_version > SCHEMA_VERSION {
        return Err(format!(
            "{}: schema_version {} is newer than this kubedrill understands ({SCHEMA_VERSION})",
            path.display(),
            r.schema_version
        ));
    }
    Ok(r)
}
