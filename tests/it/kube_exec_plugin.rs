//! Kubeconfigs whose user is an exec credential plugin (as EKS, GKE and kubelogin write),
//! against the real lab: the plugin is a script printing an ExecCredential with a
//! ServiceAccount token. It runs once per run however many probes and endpoints build
//! clients, with stdin from /dev/null; one that hangs refuses the run at its timeout,
//! naming the plugin, with nothing injected and nothing of it left running.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{kubedrill, process_state};
use crate::kube_fixture::{scenario_head, LAB_CONTEXT};
use crate::support::kube_lab::OwnNodes;

/// A ServiceAccount of the test's namespace bound to cluster-admin, its token, and the
/// binding's name (deleted by the caller).
fn service_account_token(own: &OwnNodes) -> (String, String) {
    let ns = &own.id;
    own.kubectl(&["create", "serviceaccount", "drill"]);
    let binding = format!("{ns}-drill");
    own.lab.kubectl(&[
        "create",
        "clusterrolebinding",
        &binding,
        "--clusterrole=cluster-admin",
        &format!("--serviceaccount={ns}:drill"),
    ]);
    let token = own
        .kubectl(&["create", "token", "drill"])
        .trim()
        .to_string();
    (token, binding)
}

/// Writes the plugin script (`body` after a line counting its runs in `DIR/runs` and one
/// recording what its stdin is in `DIR/stdin`) and a kubeconfig whose user runs it.
fn exec_kubeconfig(own: &OwnNodes, dir: &Path, body: &str) -> PathBuf {
    let script = dir.join("credential-plugin.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{d}/runs'\nif [ -t 0 ]; then t=tty; else t=notty; fi\necho \"$t $(readlink /proc/$$/fd/0)\" >> '{d}/stdin'\n{body}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kubeconfig = dir.join("exec.conf");
    // interactiveMode IfAvailable: kube would hand the plugin the terminal's stdin.
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{ name: lab, cluster: {{ server: \"{}\", certificate-authority: \"{}\" }} }}]\nusers:\n- name: drill\n  user:\n    exec: {{ apiVersion: client.authentication.k8s.io/v1, command: \"{}\", args: [get-token], interactiveMode: IfAvailable }}\ncontexts: [{{ name: {LAB_CONTEXT}, context: {{ cluster: lab, user: drill }} }}]\ncurrent-context: {LAB_CONTEXT}\n",
            own.lab.var("api_server"),
            own.lab.var("ca_cert"),
            script.display(),
        ),
    )
    .unwrap();
    kubeconfig
}

/// `kubedrill run` of `yaml` with `kubeconfig`; its stdin is a pipe the test writes into
/// and keeps open until the run ends, so a plugin reading the run's stdin would see it.
fn run(dir: &Path, kubeconfig: &Path, yaml: &str) -> (Output, Duration) {
    let scenario = dir.join("scenario.yaml");
    std::fs::write(&scenario, yaml).unwrap();
    let started = Instant::now();
    let mut child = kubedrill()
        .arg("run")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .arg(&scenario)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"meant-for-kubedrill-only\n").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    (out, started.elapsed())
}

fn lines(dir: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_token_plugin_runs_once_per_run_with_no_stdin() {
    let own = OwnNodes::new("exec-token", 1);
    let (token, binding) = service_account_token(&own);
    let dir = tempfile::TempDir::new().unwrap();
    let credential = format!(
        "printf '%s' '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\"}}}}'"
    );
    let kubeconfig = exec_kubeconfig(&own, dir.path(), &credential);
    let node = &own.nodes[0];
    // Four probes, one of them per apiserver endpoint, and a fault: many clients.
    let yaml = format!(
        "{}probes:\n  - name: api\n    interval: 100ms\n    timeout: 1s\n    api: {{ list-latency: true }}\n  - name: apiservers\n    interval: 100ms\n    timeout: 1s\n    api: {{ discover-endpoints: true, connection: reuse }}\n  - name: node\n    interval: 100ms\n    timeout: 2s\n    node-ready: {{ nodes: {{ names: [{node}] }} }}\n  - name: node-slow\n    interval: 300ms\n    timeout: 3s\n    node-ready: {{ nodes: {{ names: [{node}] }} }}\nsteps:\n  - wait: 1s\n  - fault:\n      cordon: {{ nodes: {{ names: [{node}] }} }}\n    for: 300ms\n",
        scenario_head("exec-token")
    );
    let (out, _) = run(dir.path(), &kubeconfig, &yaml);
    own.lab.kubectl(&["delete", "clusterrolebinding", &binding]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the run passed: {stderr}");
    assert_eq!(
        lines(dir.path(), "runs").len(),
        1,
        "the plugin ran once for the whole run"
    );
    assert_eq!(
        lines(dir.path(), "stdin"),
        ["notty /dev/null"],
        "the plugin's stdin is /dev/null, not the run's"
    );
    assert!(!own.cordoned(node), "the cordon was reverted");
    assert!(!stderr.contains(&token), "the token is not printed");
}

#[test]
fn a_hanging_plugin_refuses_the_run_at_its_timeout_naming_it() {
    let own = OwnNodes::new("exec-hang", 1);
    let dir = tempfile::TempDir::new().unwrap();
    // The plugin never answers; its own child records its pid.
    let d = dir.path().display();
    let kubeconfig = exec_kubeconfig(
        &own,
        dir.path(),
        &format!("sleep 100000 &\necho $! > '{d}/child'\nwait"),
    );
    let node = &own.nodes[0];
    let yaml = format!(
        "{}probes:\n  - name: api\n    interval: 100ms\n    timeout: 1s\n    api: {{}}\nsteps:\n  - fault:\n      cordon: {{ nodes: {{ names: [{node}] }} }}\n    for: 300ms\n",
        scenario_head("exec-hang")
    );
    let (out, took) = run(dir.path(), &kubeconfig, &yaml);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "refused at setup: {said}");
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(45),
        "refused at the plugin's 30s timeout, not {took:?}"
    );
    let script = dir.path().join("credential-plugin.sh");
    assert!(
        said.contains(&format!("exec credential plugin {}", script.display()))
            && said.contains("printed no credential within 30s"),
        "the error names the plugin and its timeout: {said}"
    );
    assert_eq!(lines(dir.path(), "runs").len(), 1, "run once, not retried");
    assert!(!own.cordoned(node), "nothing was injected");
    let child: u32 = std::fs::read_to_string(dir.path().join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    crate::common::wait_for(Duration::from_secs(5), "the plugin's child gone", || {
        matches!(process_state(child), None | Some('Z'))
    });
}
