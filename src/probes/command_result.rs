//! What a probe makes of a command it ran: exit 0 or a short failure text.

use super::short_error;
use crate::access::{AccessError, CommandOutput};

/// The command's output when it ran and exited 0; otherwise the short sample error
/// (why it could not run, or its exit code and first line of output).
pub(crate) fn succeeded(run: Result<CommandOutput, AccessError>) -> Result<CommandOutput, String> {
    let out = run.map_err(short_error)?;
    if out.success() {
        Ok(out)
    } else {
        Err(short_error(out.summary()))
    }
}
