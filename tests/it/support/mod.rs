//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod apiserver_metrics;
pub mod fake_kube;
pub mod held_request;
pub mod kube_lab;
pub mod truth_target;

use std::time::{Duration, Instant};

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
