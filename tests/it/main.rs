//! The integration test binary (one binary keeps link time down); each module is one area.

mod common;
mod engine_e2e;
mod lab_fixture;
mod lab_lifecycle;
mod local_access;
mod signals;
mod ssh_access;
mod validation_corpus;
