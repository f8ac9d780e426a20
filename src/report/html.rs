//! Placeholder being replaced by the full renderer.

use super::RunReport;

/// Renders the report.
pub fn render(r: &RunReport) -> String {
    format!("{} {:?}", r.scenario.name, r.verdict)
}
