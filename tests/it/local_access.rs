//! Local access (optionally inside a network namespace) and the docker argv.

use std::time::{Duration, Instant};

use kubedrill::access::{
    docker_argv, run_local, AccessError, AccessSpec, DockerAccess, LocalAccess, NodeAccess,
    NodeSpec,
};

use crate::common::{process_state, temp_dir, wait_for};
use crate::lab_fixture::{eventually, LabFixture, LabKey};

fn local_node(netns: Option<String>) -> NodeAccess {
    NodeAccess::new(NodeSpec {
        name: "local".into(),
        roles: vec![],
        labels: Default::default(),
        address: None,
        access: AccessSpec::Local(LocalAccess { netns }),
        services: Default::default(),
    })
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn local_access_in_a_netns_runs_inside_it() {
    let lab = LabFixture::shared(LabKey::Access);
    let addr = &lab.lab.vars["n0_addr"];
    let cmd = argv(&["ip", "-o", "-4", "addr", "show"]);
    let inside = local_node(Some(lab.netns("n0")))
        .run(&cmd, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(inside.stdout.contains(&format!("{addr}/24")), "{inside:?}");
    let host = local_node(None)
        .run(&cmd, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(!host.stdout.contains(&format!("{addr}/")), "{host:?}");
}

#[tokio::test]
async fn local_timeout_kills_the_whole_process_group() {
    let node = local_node(None);
    let start = Instant::now();
    let err = node
        .run(
            &argv(&["sh", "-c", "sleep 41.25 & sleep 41.25; wait"]),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AccessError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2));
    let sleeping = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0041.25\x00")
        })
    };
    assert!(
        eventually(Duration::from_secs(5), || async { !sleeping() }).await,
        "children survived"
    );
}

#[tokio::test]
async fn dropping_a_running_local_command_kills_its_grandchildren() {
    let dir = temp_dir();
    let pidfile = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    // The command's own timeout is far away: only the caller's timeout drops the future.
    let cmd = argv(&["sh", "-c", &script]);
    let run = run_local("local", &cmd, Duration::from_secs(120));
    let dropped = tokio::time::timeout(Duration::from_millis(300), run).await;
    assert!(dropped.is_err(), "the command finished: {dropped:?}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("the shell wrote the grandchild's pid")
        .trim()
        .parse()
        .expect("a pid");
    // PID 1 here does not reap orphans: a zombie is a dead process.
    wait_for(Duration::from_secs(5), "the grandchild to die", || {
        matches!(process_state(pid), None | Some('Z'))
    });
}

#[test]
fn docker_access_builds_the_exact_argv() {
    let access = DockerAccess {
        container: "drill-control-plane".into(),
    };
    assert_eq!(
        docker_argv(&access, &argv(&["sh", "-c", "echo 'a b'"])),
        argv(&[
            "docker",
            "exec",
            "drill-control-plane",
            "sh",
            "-c",
            "echo 'a b'"
        ])
    );
}
