//! The integration test binary; each module is one area.

mod lab_fixture;
mod lab_lifecycle;
mod local_access;
mod ssh_access;
