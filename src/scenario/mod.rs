//! The scenario language: strict serde model, variables, validation with locations.

pub mod duration;
