//! The integration test binary (one binary keeps link time down).

mod common;
mod engine_e2e;
mod signals;
mod validation_corpus;
