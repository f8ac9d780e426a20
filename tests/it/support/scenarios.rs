//! Seeded clusters shared by several tests.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::fake_kube::{ControllerTiming, FakeKube, NodeSeed, PdbSeed, PodSeed, WorkloadSeed};

/// When the third web pod turns Ready: after a drain's first eviction attempt (refused), and
/// before kubectl's retry 5 s later.
pub const WEB_READY_AFTER: Duration = Duration::from_secs(3);

/// The drain scenario: node-a holds a DaemonSet pod, a mirror pod, a StatefulSet pod with an
/// emptyDir, an unmanaged pod and a Deployment pod whose budget is exhausted until the web
/// pod on node-c turns Ready `WEB_READY_AFTER` in.
///
/// Shared so that kubectl's drain and kubedrill's can run on identically seeded fakes and
/// compare `FakeKube::end_state()`.
pub fn seed_drain_scenario(fake: &FakeKube) {
    fake.set_timing(ControllerTiming {
        recreate_delay: Duration::from_millis(200),
        ready_delay: Duration::from_millis(300),
        ..ControllerTiming::default()
    });
    for name in ["node-a", "node-b", "node-c"] {
        fake.add_node(NodeSeed::worker(name));
    }
    let logs = WorkloadSeed::daemonset("kube-system", "logs");
    fake.add_workload_with_pods(&logs, &["node-a", "node-b", "node-c"]);
    fake.add_pod(PodSeed::new("kube-system", "etcd-node-a", "node-a").mirror());
    let cache = WorkloadSeed::statefulset("default", "cache", 1);
    fake.add_workload(&cache);
    fake.add_pod(cache.pod("cache-0", "node-a").empty_dir());
    fake.add_pod(PodSeed::new("default", "lonely", "node-a"));
    let web = WorkloadSeed::deployment("default", "web", 3);
    fake.add_workload(&web);
    fake.add_pod(web.pod("web-on-a", "node-a"));
    fake.add_pod(web.pod("web-on-b", "node-b"));
    fake.add_pod(web.pod("web-on-c", "node-c").ready_after(WEB_READY_AFTER));
    fake.add_pdb(
        PdbSeed::min_available("default", "web", IntOrString::Int(2)).selector("app", "web"),
    );
}
