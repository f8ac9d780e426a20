//! `kubedrill validate`.

use super::args::ValidateArgs;
use super::load::load_all;
use crate::exit_code::ExitCode;

/// Validates every file; prints `ok` lines for the good ones.
pub fn validate(a: ValidateArgs) -> i32 {
    match load_all(&a.files, &a.vars) {
        Some(list) => {
            for s in list {
                println!("ok: {} ({})", s.file.display(), s.metadata.name);
            }
            ExitCode::Pass.code()
        }
        None => ExitCode::Invalid.code(),
    }
}
