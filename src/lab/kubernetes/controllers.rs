//! kube-controller-manager and kube-scheduler on each control-plane node, talking to the
//! local apiserver, leader-elected with the lab's short timings.

use super::pki::{ca_cert, ca_key, kubeconfig, sa_key};
use super::{path, CONTEXT, LEADER_ELECTION, NODE_MONITOR_GRACE_PERIOD, NODE_MONITOR_PERIOD};
use crate::lab::config::Layout;

fn common(kubeconfig: &str) -> Vec<String> {
    let mut argv = vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--bind-address=0.0.0.0".into(),
        "--leader-elect=true".into(),
        "--profiling=false".into(),
    ];
    argv.extend(LEADER_ELECTION.map(String::from));
    argv
}

pub fn controller_manager_argv(l: &Layout, i: usize, program: &str) -> Vec<String> {
    let mut argv = vec![program.to_string()];
    argv.extend(common(&path(&kubeconfig(l, i, "controller-manager"))));
    argv.extend([
        format!("--cluster-name={CONTEXT}"),
        "--controllers=*,bootstrapsigner,tokencleaner".into(),
        "--use-service-account-credentials=true".into(),
        format!("--service-account-private-key-file={}", path(&sa_key(l))),
        format!("--root-ca-file={}", path(&ca_cert(l))),
        format!("--client-ca-file={}", path(&ca_cert(l))),
        format!("--cluster-signing-cert-file={}", path(&ca_cert(l))),
        format!("--cluster-signing-key-file={}", path(&ca_key(l))),
        "--allocate-node-cidrs=false".into(),
        format!(
            "--node-monitor-grace-period={}s",
            NODE_MONITOR_GRACE_PERIOD.as_secs()
        ),
        format!("--node-monitor-period={}s", NODE_MONITOR_PERIOD.as_secs()),
    ]);
    argv
}

pub fn scheduler_argv(l: &Layout, i: usize, program: &str) -> Vec<String> {
    let mut argv = vec![program.to_string()];
    argv.extend(common(&path(&kubeconfig(l, i, "scheduler"))));
    argv
}
