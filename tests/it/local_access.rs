//! Local access (optionally inside a network namespace) and the docker argv.

use std::time::{Duration, Instant};

use kubedrill::access::{
    docker_argv, AccessError, AccessSpec, DockerAccess, LocalAccess, NodeAccess, NodeSpec,
};

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
