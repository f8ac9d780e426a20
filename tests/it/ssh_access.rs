//! SSH access against lab nodes: output and exit codes through the mux, argument quoting,
//! one master per node, host-key policy, bounded connect failures, command timeouts.
//! Tests share one lab: n0 is only for the connection count, n2 only for the blackhole.

use std::process::Command;
use std::time::{Duration, Instant};

use kubedrill::access::{
    AccessError, AccessSpec, KnownHostsPolicy, NodeAccess, NodeSpec, SshAccess,
};
use kubedrill::scenario::duration::HumanDuration;

use crate::lab_fixture::{eventually, pids_in_netns_running, LabFixture, LabKey};

/// Upper bound for each command: only a hang guard (a loaded 2-core machine can be slow).
const T: Duration = Duration::from_secs(30);

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

fn with_ssh(mut node: NodeSpec, change: impl FnOnce(&mut SshAccess)) -> NodeAccess {
    let AccessSpec::Ssh(ssh) = &mut node.access else {
        panic!("lab nodes use ssh")
    };
    change(ssh);
    NodeAccess::new(node)
}

/// The established TCP connections to sshd inside namespace `ns`, one a line (`ss -H`).
fn ssh_connections(ns: &str) -> String {
    let ss = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "ss",
            "-Htn",
            "state",
            "established",
            "( sport = :22 )",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&ss.stdout).into_owned()
}

#[tokio::test]
async fn ssh_returns_output_exit_codes_and_arguments_intact() {
    let lab = LabFixture::shared(LabKey::Access);
    let node = lab.access("n1");
    let out = node
        .run(&argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]), T)
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.stdout.as_str(), out.stderr.as_str()),
        (Some(3), "out", "err")
    );

    let tricky = ["a b", "it's \"quoted\"", "$HOME;*`id`", "", "back\\slash"];
    let mut cmd = argv(&["printf", "[%s]\\n"]);
    cmd.extend(tricky.iter().map(|s| s.to_string()));
    let out = node.run(&cmd, T).await.unwrap();
    let expected: Vec<String> = tricky.iter().map(|s| format!("[{s}]")).collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected);
    assert!(out.success());

    let out = node.run(&argv(&["no-such-program-kd"]), T).await.unwrap();
    assert_eq!(out.exit_code, Some(127), "{out:?}");

    // The command really runs on the node: its address is the node's.
    let out = node
        .run(&argv(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"]), T)
        .await
        .unwrap();
    assert!(out.stdout.contains(&lab.lab.vars["n1_addr"]), "{out:?}");
    node.close().await;
}

#[tokio::test]
async fn ssh_runs_the_lab_service_commands_on_the_node() {
    let lab = LabFixture::shared(LabKey::Access);
    let node = lab.access("n1");
    let kubelet = &lab.node("n1").services["kubelet"];
    let healthz = lab.lab.vars["kubelet_healthz_n1"].clone();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let healthy = || async { http.get(&healthz).send().await.is_ok() };

    let stop = node.run(kubelet.stop.as_ref().unwrap(), T).await.unwrap();
    assert!(stop.success(), "{stop:?}");
    assert!(!healthy().await, "kubelet still answers after stop");
    let status = node.run(kubelet.status.as_ref().unwrap(), T).await.unwrap();
    assert_eq!(status.exit_code, Some(3), "{status:?}");

    // Started over SSH, the daemon must neither hold the session open nor die with it.
    let start = node.run(kubelet.start.as_ref().unwrap(), T).await.unwrap();
    assert!(start.success(), "{start:?}");
    node.close().await;
    assert!(eventually(T, healthy).await, "kubelet did not come back");
    let status = node.run(kubelet.status.as_ref().unwrap(), T).await.unwrap();
    assert!(status.success(), "{status:?}");
    node.close().await;
}

#[tokio::test]
async fn ssh_reuses_one_master_connection_for_many_commands() {
    let lab = LabFixture::shared(LabKey::Access);
    let node = lab.access("n0");
    assert_eq!(node.ssh_control_socket().await, None, "connects lazily");
    node.run(&argv(&["true"]), T).await.unwrap();
    let socket = node.ssh_control_socket().await.expect("master open");

    let commands: Vec<Vec<String>> = (0..8).map(|i| argv(&["echo", &i.to_string()])).collect();
    let concurrent = commands.iter().map(|cmd| node.run(cmd, T));
    for (i, out) in futures::future::join_all(concurrent)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(out.unwrap().stdout, i.to_string());
    }
    for _ in 0..12 {
        assert!(node.run(&argv(&["true"]), T).await.unwrap().success());
    }
    assert_eq!(node.ssh_control_socket().await, Some(socket));

    // Seen from the node: exactly one established TCP connection to sshd.
    let ns = lab.netns("n0");
    let ss = ssh_connections(&ns);
    assert_eq!(ss.lines().count(), 1, "{ss}");

    node.close().await;
    assert_eq!(node.ssh_control_socket().await, None);
    let gone = eventually(T, || async { ssh_connections(&ns).is_empty() }).await;
    assert!(gone, "close() leaves the connection open");
}

#[tokio::test]
async fn ssh_strict_refuses_unknown_host_key_and_accept_new_records_it() {
    let lab = LabFixture::shared(LabKey::Access);
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("known_hosts_strict");
    std::fs::write(&empty, "").unwrap();
    let strict = with_ssh(lab.node("n1"), |s| s.known_hosts_file = Some(empty.clone()));
    match strict.run(&argv(&["true"]), T).await {
        Err(AccessError::Connect { message, .. }) => {
            assert!(
                message.contains("Host key verification failed"),
                "{message}"
            )
        }
        other => panic!("strict accepted an unknown host key: {other:?}"),
    }

    let added = tmp.path().join("known_hosts_accept_new");
    std::fs::write(&added, "").unwrap();
    let accept_new = with_ssh(lab.node("n1"), |s| {
        s.known_hosts = KnownHostsPolicy::AcceptNew;
        s.known_hosts_file = Some(added.clone());
    });
    assert!(accept_new.run(&argv(&["true"]), T).await.unwrap().success());
    accept_new.close().await;
    // Debian hashes known_hosts entries, so ask ssh-keygen to find the host.
    let found = Command::new("ssh-keygen")
        .args(["-F", &lab.lab.vars["n1_addr"], "-f"])
        .arg(&added)
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&found.stdout);
    assert!(found.contains("ssh-ed25519"), "{found}");
}

#[tokio::test]
async fn ssh_connect_fails_fast_when_nothing_listens() {
    let lab = LabFixture::shared(LabKey::Access);
    let node = with_ssh(lab.node("n1"), |s| {
        s.port = Some(1);
        s.connect_timeout = Some(HumanDuration(Duration::from_secs(2)));
    });
    let start = Instant::now();
    let err = node.run(&argv(&["true"]), T).await.unwrap_err();
    assert!(matches!(err, AccessError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

/// Drops every packet to sshd inside a namespace until dropped.
struct Blackhole(String);

const DROP_RULE: [&str; 6] = ["INPUT", "-p", "tcp", "--dport", "22", "-j"];

impl Blackhole {
    fn new(ns: &str) -> Self {
        let ok = Command::new("ip")
            .args(["netns", "exec", ns, "iptables", "-w", "5", "-I"])
            .args(DROP_RULE)
            .arg("DROP")
            .status()
            .unwrap();
        assert!(ok.success());
        Self(ns.into())
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.0, "iptables", "-w", "5", "-D"])
            .args(DROP_RULE)
            .arg("DROP")
            .status();
    }
}

#[tokio::test]
async fn ssh_connect_to_a_blackholed_node_fails_within_the_connect_timeout() {
    let lab = LabFixture::shared(LabKey::Access);
    let _blackhole = Blackhole::new(&lab.netns("n2"));
    let connect_timeout = Duration::from_secs(2);
    let node = with_ssh(lab.node("n2"), |s| {
        s.connect_timeout = Some(HumanDuration(connect_timeout))
    });
    let start = Instant::now();
    let err = node
        .run(&argv(&["true"]), Duration::from_secs(60))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, AccessError::Connect { .. }), "{err}");
    assert!(
        took >= connect_timeout - Duration::from_millis(200),
        "failed before the timeout: {took:?} {err}"
    );
    assert!(
        took < connect_timeout + Duration::from_secs(3),
        "hung for {took:?}: {err}"
    );
}

#[tokio::test]
async fn ssh_command_over_its_timeout_is_reported_and_killed_on_the_node() {
    let lab = LabFixture::shared(LabKey::Access);
    let node = lab.access("n1");
    let timeout = Duration::from_millis(1500);
    let start = Instant::now();
    let err = node
        .run(&argv(&["sleep", "37.5"]), timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AccessError::Timeout { after, .. } if after == timeout),
        "{err}"
    );
    assert!(
        start.elapsed() < timeout + Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    let ns = lab.netns("n1");
    assert!(
        !pids_in_netns_running(&ns, &["sleep", "37.5"]).is_empty(),
        "the remote command ran"
    );
    let killed = eventually(Duration::from_secs(10), || async {
        pids_in_netns_running(&ns, &["sleep", "37.5"]).is_empty()
    })
    .await;
    assert!(killed, "the remote child outlived its timeout");
    // The master survives a timed-out command.
    assert!(node.run(&argv(&["true"]), T).await.unwrap().success());
    node.close().await;
}
