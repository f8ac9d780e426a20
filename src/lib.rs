//! kubedrill: inject faults into a Kubernetes cluster (or a local lab), watch probes,
//! measure outages and recovery, judge expectations and write reports. Every fault is
//! inject + revert, and the revert is journaled before the fault is injected.

pub mod access;
pub mod cli;
pub mod cluster;
pub mod engine;
pub mod exit_code;
pub mod faults;
pub mod lab;
pub mod measure;
pub mod probes;
pub mod report;
pub mod revert;
pub mod scenario;
pub mod verdict;
