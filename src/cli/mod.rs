//! The command line: `run`, `validate`, `plan`, `report`, `compare`, `inject`, `probe`, `list`,
//! `recover`, `lab`.
//! Every command returns an exit code from the one table in [`crate::exit_code`].

mod adhoc;
mod adhoc_fault;
mod adhoc_print;
mod adhoc_probe;
mod adhoc_scenario;
mod args;
#[cfg(test)]
mod catalogue_test;
mod compare;
mod lab;
mod list;
mod load;
mod plan;
mod progress;
mod progress_probe;
mod recover;
mod render;
mod run;
mod serve;
mod suite;
mod validate;

pub use args::{Cli, Command};

use clap::Parser;

use crate::exit_code::ExitCode;

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Invalid.code()
            } else {
                0
            };
        }
    };
    progress::init_tracing(cli.quiet, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Aborted.code();
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Probe or SSH tasks stuck in a timeout must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

async fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(a) => run::run(a, cli.quiet).await,
        Command::Validate(a) => validate::validate(a),
        Command::Plan(a) => plan::plan(a).await,
        Command::Report(a) => render::render(a),
        Command::Compare(a) => compare::compare(a),
        Command::Inject(a) => adhoc::inject(a, cli.quiet).await,
        Command::Probe(a) => adhoc::probe(a, cli.quiet).await,
        Command::List => list::list(),
        Command::Recover(a) => recover::recover(a).await,
        Command::Lab(c) => lab::lab(c).await,
    }
}
