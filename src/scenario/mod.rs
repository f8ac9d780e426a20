//! The scenario language: strict serde model, `${variables}`, and validation that
//! collects every error with file, line, column and key path.

pub mod argv;
pub mod duration;
mod errors;
pub mod expectation;
mod input;
mod load;
pub mod model;
mod positions;
mod validate;
pub mod vars;

pub use errors::{Errors, KeyPath, ScenarioError};
pub(crate) use input::read_checked;
pub use input::MAX_INPUT_BYTES;
pub use load::{load_file, load_str, variable_names};
pub use model::{ProbeDecl, ReportFormat, Scenario, Step, StepAction, Target, WaitUntil};
pub use positions::Location;
pub(crate) use positions::PositionIndex;
pub use positions::MAX_DEPTH;
