//! `kubedrill report`: re-render a report.json.

use super::args::ReportArgs;
use crate::exit_code::ExitCode;
use crate::report::{read_report, render as render_format};

/// Renders the report to stdout or `--output`.
pub fn render(a: ReportArgs) -> i32 {
    let report = match read_report(&a.report) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Invalid.code();
        }
    };
    let text = render_format(&report, a.format);
    match a.output {
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => ExitCode::Pass.code(),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                ExitCode::Invalid.code()
            }
        },
        None => {
            println!("{text}");
            ExitCode::Pass.code()
        }
    }
}
