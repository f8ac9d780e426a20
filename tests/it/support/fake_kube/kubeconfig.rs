//! A kubeconfig pointing kubectl (or kube-rs) at the fake.

use std::path::{Path, PathBuf};

/// Writes `DIR/kubeconfig` with context `fake` for `server`; `token` goes in the user if given.
pub fn write(dir: &Path, server: &str, token: Option<&str>) -> PathBuf {
    let user = match token {
        Some(token) => format!("\n    token: {token}"),
        None => " {}".to_string(),
    };
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {server}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
current-context: fake
users:
- name: fake
  user:{user}
preferences: {{}}
"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}
