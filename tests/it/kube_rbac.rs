//! `deploy/`: its least-privilege RBAC applied to the real lab, every Kubernetes fault and
//! probe run with that ServiceAccount's token, what the same identity is refused, the
//! manifests checked by the server (`kubectl apply --dry-run=server`: kwok runs no
//! containers, so the Job itself cannot run in the lab), and kubedrill "in a pod": a
//! private mount namespace where the ServiceAccount files sit at their real path
//! (`/var/run/secrets/kubernetes.io/serviceaccount/`) and `KUBERNETES_SERVICE_HOST` is set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kubedrill::cluster::IN_CLUSTER_CONTEXT;
use kubedrill::engine::journal::JournalEntry;
use kubedrill::revert::{RevertAction, Uncordon};
use tempfile::TempDir;

use crate::common::{kubedrill, temp_dir, write};
use crate::kube_fixture::{scenario_head_in, Target};
use crate::run_binary::Exit;
use crate::support::kube_lab::{shared, OwnNodes, SharedLab};

/// The repository's deploy directory.
fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The ServiceAccount deploy/ creates, as the API server names it.
const SA_USER: &str = "system:serviceaccount:kubedrill:kubedrill";

/// The context of the ServiceAccount's kubeconfig.
const SA_CONTEXT: &str = "kubedrill-sa";

/// Applies deploy/'s namespace and RBAC for real (tests of one run share the lab and may
/// apply at once: a lost create race is retried).
fn apply_rbac(lab: &SharedLab) {
    let dir = deploy_dir();
    let files = [dir.join("00-namespace.yaml"), dir.join("10-rbac.yaml")];
    for f in &files {
        let file = f.display().to_string();
        let mut last = String::new();
        let applied = (0..3).any(|_| {
            let out = lab
                .kubectl_with(&lab.built_kubectl(), &["apply", "-f", &file])
                .output()
                .expect("kubectl runs");
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            out.status.success()
        });
        assert!(applied, "kubectl apply -f {file}: {last}");
    }
}

/// A kubeconfig holding only a fresh token of deploy/'s ServiceAccount (the lab's CA and
/// load-balanced server), context `kubedrill-sa`.
fn sa_kubeconfig(lab: &SharedLab, dir: &Path) -> PathBuf {
    apply_rbac(lab);
    let token = sa_token(lab);
    let (server, ca) = lab_server_and_ca(lab);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {SA_CONTEXT}\n  user:\n    token: {token}\ncontexts:\n- name: {SA_CONTEXT}\n  context: {{ cluster: lab, user: {SA_CONTEXT} }}\ncurrent-context: {SA_CONTEXT}\n"
    );
    write(dir, "sa.kubeconfig", &text)
}

/// `kubectl create token` for the ServiceAccount (one hour).
fn sa_token(lab: &SharedLab) -> String {
    let token = lab.kubectl(&[
        "create",
        "token",
        "kubedrill",
        "-n",
        "kubedrill",
        "--duration=1h",
    ]);
    let token = token.trim().to_string();
    assert!(token.split('.').count() == 3, "a JWT: {token}");
    token
}

/// The admin kubeconfig's server (the load balancer) and CA data (base64).
fn lab_server_and_ca(lab: &SharedLab) -> (String, String) {
    let text = std::fs::read_to_string(lab.kubeconfig()).expect("admin kubeconfig");
    let kc: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
    let cluster = &kc["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().expect("server").to_string();
    let ca = cluster["certificate-authority-data"]
        .as_str()
        .expect("certificate-authority-data")
        .to_string();
    (server, ca)
}

/// The built kubectl with only the ServiceAccount's kubeconfig.
fn kubectl_as_sa(lab: &SharedLab, kubeconfig: &Path, args: &[&str]) -> Exit {
    Exit::of(
        Command::new(lab.built_kubectl())
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--context={SA_CONTEXT}"))
            .arg(format!(
                "--cache-dir={}/kubectl-cache-sa",
                lab.var("lab_dir")
            ))
            .args(args),
    )
}

/// `kubectl auth can-i VERB RESOURCE [-n NS]` as the ServiceAccount: yes or no.
fn sa_can(lab: &SharedLab, kubeconfig: &Path, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend(args);
    let out = kubectl_as_sa(lab, kubeconfig, &all);
    match out.stdout.trim() {
        "yes" => true,
        "no" => false,
        _ => panic!(
            "kubectl auth can-i {}: {}{}",
            args.join(" "),
            out.stdout,
            out.stderr
        ),
    }
}

#[test]
fn the_deploy_manifests_pass_the_servers_dry_run() {
    let lab = shared();
    // Namespaced objects need their namespace to exist, even in a server dry run.
    apply_rbac(lab);
    let dir = deploy_dir().display().to_string();
    let out = Exit::of(&mut lab.kubectl_with(
        &lab.built_kubectl(),
        &["apply", "--dry-run=server", "-f", &dir],
    ));
    out.assert_code(0);
    for object in [
        "namespace/kubedrill",
        "serviceaccount/kubedrill",
        "clusterrole.rbac.authorization.k8s.io/kubedrill",
        "clusterrolebinding.rbac.authorization.k8s.io/kubedrill",
        "role.rbac.authorization.k8s.io/kubedrill-apiserver-endpoints",
        "rolebinding.rbac.authorization.k8s.io/kubedrill-apiserver-endpoints",
        "configmap/kubedrill-scenario",
        "job.batch/kubedrill-drill",
        "cronjob.batch/kubedrill-drill",
    ] {
        assert!(
            out.stdout.contains(&format!("{object} ")),
            "{object} missing from the dry run:\n{}",
            out.stdout
        );
    }
    // The optional pod-schedule grant (not applied with the directory).
    let optional = deploy_dir().join("optional").display().to_string();
    let out = Exit::of(&mut lab.kubectl_with(
        &lab.built_kubectl(),
        &["apply", "--dry-run=server", "-f", &optional],
    ));
    out.assert_code(0);
    for object in ["role", "rolebinding"] {
        let name = format!("{object}.rbac.authorization.k8s.io/kubedrill-pod-schedule ");
        assert!(out.stdout.contains(&name), "{name}: {}", out.stdout);
    }
    // The scenario the ConfigMap carries is a valid scenario.
    let cm: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(deploy_dir().join("20-scenario.yaml")).unwrap(),
    )
    .unwrap();
    let tmp = temp_dir();
    let file = write(
        tmp.path(),
        "drill.yaml",
        cm["data"]["drill.yaml"].as_str().expect("data.drill.yaml"),
    );
    Exit::of(kubedrill().arg("validate").arg(&file)).assert_code(0);
}

#[test]
fn the_service_account_is_refused_what_kubedrill_does_not_need() {
    let own = OwnNodes::new("rbac-deny", 1);
    let tmp = temp_dir();
    let kc = sa_kubeconfig(own.lab, tmp.path());
    let ns = own.id.as_str();
    let node = own.nodes[0].as_str();
    // What the code uses is allowed ...
    for args in [
        vec!["get", "nodes"],
        vec!["list", "nodes"],
        vec!["patch", "nodes"],
        vec!["list", "pods", "-A"],
        vec!["watch", "pods", "-n", ns],
        vec!["delete", "pods", "-n", ns],
        vec!["create", "pods", "--subresource=eviction", "-n", ns],
        vec!["get", "pods", "--subresource=proxy", "-n", ns],
        vec!["get", "deployments.apps", "-n", ns],
        vec!["get", "statefulsets.apps", "-n", ns],
        vec!["get", "daemonsets.apps", "-n", ns],
        vec!["get", "leases.coordination.k8s.io", "-n", "kube-system"],
        vec!["list", "endpointslices.discovery.k8s.io", "-n", "default"],
    ] {
        assert!(sa_can(own.lab, &kc, &args), "allowed: {args:?}");
    }
    // ... and nothing more.
    for args in [
        vec!["delete", "nodes"],
        vec!["get", "secrets", "-A"],
        vec!["list", "secrets", "-n", "kube-system"],
        vec!["create", "pods", "-n", ns],
        vec!["create", "pods", "--subresource=exec", "-n", ns],
        vec!["update", "nodes"],
        vec!["patch", "pods", "-n", ns],
        vec!["delete", "deployments.apps", "-n", ns],
        vec!["update", "leases.coordination.k8s.io", "-n", "kube-system"],
        vec![
            "list",
            "endpointslices.discovery.k8s.io",
            "-n",
            "kube-system",
        ],
        vec!["list", "configmaps", "-n", "kube-system"],
    ] {
        assert!(!sa_can(own.lab, &kc, &args), "refused: {args:?}");
    }
    // Real requests: 403 from the API server.
    let forbidden = |args: &[&str]| {
        let out = kubectl_as_sa(own.lab, &kc, args);
        assert_ne!(out.code, Some(0), "{args:?} succeeded: {}", out.stdout);
        assert!(
            out.stderr.contains("(Forbidden)") && out.stderr.contains(SA_USER),
            "{args:?}: {}",
            out.stderr
        );
    };
    forbidden(&["delete", "node", node, "--wait=false"]);
    forbidden(&["get", "secrets", "-n", "kube-system"]);
    forbidden(&[
        "run",
        "intruder",
        "-n",
        ns,
        "--image=fake",
        "--restart=Never",
    ]);
    // The node is still there, no pod was created.
    own.lab.kubectl(&["get", "node", node]);
    assert!(own
        .kubectl(&["get", "pods", "-o", "name"])
        .lines()
        .all(|l| !l.contains("intruder")));
}

/// Deployment `web` (2), StatefulSet `db` (1) and DaemonSet `agent` on the test's nodes.
fn seed_workloads(own: &OwnNodes) {
    let place = own.placement();
    let ns = &own.id;
    let container = "containers: [{ name: c, image: fake }]";
    own.lab.apply(&format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{ name: web, namespace: {ns} }}
spec:
  replicas: 2
  selector: {{ matchLabels: {{ app: web }} }}
  template:
    metadata: {{ labels: {{ app: web }} }}
    spec:
      {place}
      {container}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{ name: db, namespace: {ns} }}
spec:
  serviceName: db
  replicas: 1
  selector: {{ matchLabels: {{ app: db }} }}
  template:
    metadata: {{ labels: {{ app: db }} }}
    spec:
      {place}
      {container}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{ name: agent, namespace: {ns} }}
spec:
  selector: {{ matchLabels: {{ app: agent }} }}
  template:
    metadata: {{ labels: {{ app: agent }} }}
    spec:
      {place}
      {container}
"#
    ));
    let settled = crate::support::poll_until(Duration::from_secs(60), || {
        let pods: usize = own.nodes.iter().map(|n| own.pods_on(n).len()).sum();
        pods == 5 && own.all_ready()
    });
    assert!(settled, "web, db and agent are Ready on the test's nodes");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kubernetes_fault_and_probe_works_with_the_service_account() {
    let own = OwnNodes::new("rbac-drill", 2);
    seed_workloads(&own);
    let dir = TempDir::new().unwrap();
    let target = Target {
        kubeconfig: sa_kubeconfig(own.lab, dir.path()),
        context: SA_CONTEXT.into(),
        dir,
    };
    let (ns, n0, n1) = (&own.id, &own.nodes[0], &own.nodes[1]);
    // deploy/optional's pod-schedule grant, in the test's namespace instead of kubedrill.
    let grant = std::fs::read_to_string(deploy_dir().join("optional/pod-schedule-rbac.yaml"))
        .unwrap()
        .replace(
            "\n  namespace: kubedrill\n",
            &format!("\n  namespace: {ns}\n"),
        );
    assert_eq!(grant.matches(&format!("namespace: {ns}")).count(), 2);
    own.lab.apply(&grant);
    let probe = |name: &str, spec: String| {
        format!("  - name: {name}\n    interval: 200ms\n    timeout: 2s\n    {spec}\n")
    };
    let mut yaml = scenario_head_in("rbac-drill", SA_CONTEXT);
    yaml.push_str("probes:\n");
    for p in [
        probe("api", "api: { check: readyz, list-latency: true }".into()),
        probe("apiservers", "api: { discover-endpoints: true }".into()),
        probe(
            "nodes",
            format!("node-ready: {{ nodes: {{ selector: kubedrill.io/owner={ns} }} }}"),
        ),
        probe(
            "web",
            format!("workload: {{ kind: deployment, namespace: {ns}, name: web }}"),
        ),
        probe(
            "web-spread",
            format!("workload: {{ kind: deployment, namespace: {ns}, name: web, spread: kubernetes.io/hostname }}"),
        ),
        probe(
            "db",
            format!("workload: {{ kind: stateful-set, namespace: {ns}, name: db }}"),
        ),
        probe(
            "agent",
            format!("workload: {{ kind: daemon-set, namespace: {ns}, name: agent }}"),
        ),
        probe(
            "web-pods",
            format!("pods-running: {{ namespace: {ns}, selector: app=web, min: 1 }}"),
        ),
        probe(
            "controller-manager",
            "lease: { namespace: kube-system, name: kube-controller-manager }".into(),
        ),
    ] {
        yaml.push_str(&p);
    }
    // Its pods go to n1 only: the drain of n0 would refuse them (they have no controller).
    yaml.push_str(&format!(
        "  - name: schedule\n    interval: 1s\n    timeout: 10s\n    pod-schedule: {{ namespace: {ns}, node-selector: {{ kubernetes.io/hostname: {n1} }}, tolerations: [{{ key: kubedrill.io/owner, operator: Exists }}] }}\n"
    ));
    yaml.push_str(&format!(
        "steps:\n  - wait: 1s\n  - fault:\n      cordon: {{ nodes: {{ names: [{n1}] }} }}\n    for: 500ms\n  - fault:\n      pod-delete: {{ namespace: {ns}, selector: app=web, count: 1 }}\n    for: 10ms\n  - fault:\n      drain: {{ nodes: {{ names: [{n0}] }} }}\n    for: 500ms\n  - wait: 1s\n"
    ));
    let out = target.run(&yaml, &[]).await;
    let r = &out.report;
    let faults: Vec<(&str, &str, &str)> = r
        .faults
        .iter()
        .map(|f| (f.kind.as_str(), f.injection.as_str(), f.revert.as_str()))
        .collect();
    assert_eq!(
        faults,
        [
            ("cordon", "injected", "reverted"),
            ("pod-delete", "injected", "reverted"),
            ("drain", "injected", "reverted"),
        ],
        "{:?} {:#?}",
        r.reason,
        r.faults
    );
    assert_eq!(r.exit_code, 0, "{:?}", r.reason);
    // The drain evicted web and db from n0 (the DaemonSet pod stays) through the
    // Eviction API, and they came back on n1.
    assert_eq!(own.pods_on(n0), ["DaemonSet/agent"]);
    // Every probe's calls were allowed; all but the spread check (which fails while both
    // web pods share n1) were healthy.
    assert_eq!(r.probes.len(), 10);
    for p in &r.probes {
        let errors: Vec<&str> = p
            .samples
            .iter()
            .filter_map(|s| s.error.as_deref())
            .collect();
        assert!(
            errors
                .iter()
                .all(|e| !e.to_lowercase().contains("forbidden") && !e.contains("403")),
            "probe {}: {errors:?}",
            p.name
        );
        assert!(p.measurements.samples > 0, "probe {} sampled", p.name);
        if p.name != "web-spread" {
            assert!(
                p.samples.iter().any(|s| s.ok),
                "probe {} had a healthy sample: {errors:?}",
                p.name
            );
        }
    }
    let apiservers = r.probes.iter().find(|p| p.name == "apiservers").unwrap();
    assert!(
        apiservers.samples.iter().any(|s| s.ok),
        "the default/kubernetes EndpointSlice was listed"
    );
}

/// Runs `kubedrill ARGS` as if in a pod: in a private mount namespace whose
/// `/var/run/secrets/kubernetes.io/serviceaccount/` holds `token`, `ca.crt` and
/// `namespace` from `sa_dir`, with `KUBERNETES_SERVICE_HOST`/`_PORT` set, `HOME` empty and
/// no `KUBECONFIG` (so the in-cluster config is the only one there is).
fn in_pod(sa_dir: &Path, host: &str, port: &str, home: &Path, args: &[&str]) -> Exit {
    // /run/secrets is created (empty) on the host once, as the mount point; the tmpfs on it
    // exists only in the child's mount namespace.
    let script = "mkdir -p /run/secrets && mount -t tmpfs kubedrill-sa /run/secrets \
         && mkdir -p /var/run/secrets/kubernetes.io/serviceaccount \
         && cp \"$0\"/token \"$0\"/ca.crt \"$0\"/namespace /var/run/secrets/kubernetes.io/serviceaccount/ \
         && exec \"$@\"";
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
    ])
    .arg(sa_dir)
    .arg(env!("CARGO_BIN_EXE_kubedrill"))
    .args(args)
    .env("KUBEDRILL_NO_LIVE", "1")
    .env("KUBERNETES_SERVICE_HOST", host)
    .env("KUBERNETES_SERVICE_PORT", port)
    .env("HOME", home)
    .env_remove("KUBECONFIG");
    Exit::of(&mut cmd)
}

/// ServiceAccount files as a pod has them: `token`, `ca.crt`, `namespace`.
fn sa_files(dir: &Path, token: &str, ca_pem: &str) -> PathBuf {
    let sa = dir.join("sa");
    std::fs::create_dir_all(&sa).unwrap();
    write(&sa, "token", token);
    write(&sa, "ca.crt", ca_pem);
    write(&sa, "namespace", "kubedrill");
    sa
}

#[test]
fn in_a_pod_the_service_account_runs_a_drill_and_the_report_is_on_stdout() {
    let own = OwnNodes::new("rbac-pod", 1);
    apply_rbac(own.lab);
    let tmp = temp_dir();
    let ca = std::fs::read_to_string(own.lab.var("ca_cert")).expect("lab CA");
    let sa = sa_files(tmp.path(), &sa_token(own.lab), &ca);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let node = &own.nodes[0];
    let scenario = write(
        tmp.path(),
        "drill.yaml",
        &format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: in-pod-cordon }}\ntarget: {{ allowed-contexts: [in-cluster] }}\nprobes:\n  - name: api\n    interval: 200ms\n    timeout: 2s\n    api: {{ check: readyz, list-latency: true }}\nsteps:\n  - wait: 500ms\n  - fault:\n      cordon: {{ nodes: {{ names: [{node}] }} }}\n    for: 1s\nexpect:\n  - {{ probe: api, availability: \">= 99%\" }}\n"
        ),
    );
    let reports = tmp.path().join("reports");
    let out = in_pod(
        &sa,
        own.lab.var("lb_addr"),
        "6443",
        &home,
        &[
            "run",
            "--report-dir",
            reports.to_str().unwrap(),
            "--report-stdout",
            "json",
            scenario.to_str().unwrap(),
        ],
    );
    out.assert_code(0);
    // The last line of stdout is the report, one line of JSON, the same as report.json.
    let last = out.stdout.lines().last().unwrap_or_default();
    let printed: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the last line is JSON ({e}): {}", out.stdout));
    assert_eq!(printed["verdict"], "pass", "{last}");
    assert_eq!(printed["faults"][0]["kind"], "cordon");
    assert_eq!(printed["faults"][0]["injection"], "injected");
    assert_eq!(printed["faults"][0]["revert"], "reverted");
    let run_dir = crate::common::only_run_dir(&reports);
    let on_disk = crate::common::read_report(&run_dir);
    assert_eq!(printed, on_disk, "stdout carries report.json");
    // The run resolved the in-cluster connection (the ServiceAccount's token).
    assert!(
        crate::common::journal_has(&reports, "\"context\":\"in-cluster\""),
        "the journal records the in-cluster context"
    );
    assert!(!own.cordoned(node), "uncordoned after the run");
}

/// A scenario whose node faults run on a `docker:` node and a `local: { netns }` node; the
/// `ssh:` node is in the inventory but not touched.
fn node_fault_scenario(dir: &Path) -> PathBuf {
    write(
        dir,
        "node-fault.yaml",
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: node-fault-in-pod }\ntarget:\n  nodes:\n    - { name: kind-worker, access: { docker: { container: kind-worker } } }\n    - { name: lab-n1, access: { local: { netns: kubedrill-no-such-netns } } }\n    - { name: far, access: { ssh: { host: 127.0.0.1, port: 1 } } }\nsteps:\n  - fault:\n      node-command: { nodes: [kind-worker], inject: [\"true\"], revert: [\"true\"] }\n    for: 10ms\n  - fault:\n      node-command: { nodes: [lab-n1], inject: [\"true\"], revert: [\"true\"] }\n    for: 10ms\n",
    )
}

#[test]
fn in_a_pod_docker_and_netns_node_faults_are_refused_before_anything_runs() {
    let tmp = temp_dir();
    // Detection only looks at the variable and the token file; nothing is contacted.
    let sa = sa_files(tmp.path(), "not-a-token", "");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let scenario = node_fault_scenario(tmp.path());
    let reports = tmp.path().join("reports");
    let run = |file: &Path| {
        in_pod(
            &sa,
            "127.0.0.1",
            "1",
            &home,
            &[
                "run",
                "--report-dir",
                reports.to_str().unwrap(),
                file.to_str().unwrap(),
            ],
        )
    };
    let out = run(&scenario);
    out.assert_code(2);
    let all = format!("{}{}", out.stdout, out.stderr);
    for part in [
        "kubedrill runs in a pod",
        "node kind-worker is reached by `docker exec kind-worker`",
        "node lab-n1 is reached by `ip netns exec kubedrill-no-such-netns` on this machine",
        "access: { ssh: ... }",
    ] {
        assert!(all.contains(part), "{part}:\n{all}");
    }
    assert!(!all.contains("node far"), "the untouched ssh node: {all}");
    assert!(
        !crate::common::journal_has(&reports, "\"entry\":\"injecting\""),
        "nothing was injected"
    );
    // `plan` refuses the same way.
    let plan = in_pod(
        &sa,
        "127.0.0.1",
        "1",
        &home,
        &["plan", scenario.to_str().unwrap()],
    );
    plan.assert_code(2);
    assert!(
        format!("{}{}", plan.stdout, plan.stderr).contains("kubedrill runs in a pod"),
        "{}{}",
        plan.stdout,
        plan.stderr
    );
    // An ssh node is not refused for being reached from a pod (here it is unreachable:
    // the access check says so instead).
    let ssh = write(
        tmp.path(),
        "ssh.yaml",
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: ssh-in-pod }\ntarget:\n  nodes:\n    - { name: far, access: { ssh: { host: 127.0.0.1, port: 1, connect-timeout: 2s } } }\nsteps:\n  - fault:\n      node-command: { nodes: [far], inject: [\"true\"], revert: [\"true\"] }\n    for: 10ms\n",
    );
    let out = run(&ssh);
    out.assert_code(2);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !all.contains("kubedrill runs in a pod") && all.contains("node far"),
        "{all}"
    );
}

#[test]
fn outside_a_pod_the_variable_alone_refuses_nothing() {
    let tmp = temp_dir();
    let scenario = node_fault_scenario(tmp.path());
    let reports = tmp.path().join("reports");
    // KUBERNETES_SERVICE_HOST without the token file is not a pod.
    let out = Exit::of(
        kubedrill()
            .args(["run", "--report-dir", reports.to_str().unwrap()])
            .arg(&scenario)
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", "1"),
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!all.contains("kubedrill runs in a pod"), "{all}");
}

#[test]
fn recover_after_a_run_in_a_pod_prints_kubectl_without_an_in_cluster_context() {
    let tmp = temp_dir();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let journal = [
        JournalEntry::Started {
            scenario: "in-pod".into(),
            file: "/scenario/drill.yaml".into(),
            nodes: Vec::new(),
            kubeconfig: None,
            context: None,
            pid: 1,
            started_at: None,
        },
        JournalEntry::Registered {
            seq: 0,
            fault_id: "step-1-cordon".into(),
            description: "uncordon node w1".into(),
            action: RevertAction::Uncordon(Uncordon { node: "w1".into() }),
        },
        JournalEntry::ClusterResolved {
            context: IN_CLUSTER_CONTEXT.into(),
            kubeconfig: None,
        },
        JournalEntry::Injecting {
            fault_id: "step-1-cordon".into(),
            at_ms: None,
        },
    ]
    .map(|e| serde_json::to_string(&e).unwrap());
    write(&run_dir, "journal.jsonl", &(journal.join("\n") + "\n"));
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // In a "pod" whose ServiceAccount files are missing: the in-cluster config cannot be
    // built, so the revert fails and recover prints what to run by hand.
    let out = Exit::of(
        kubedrill()
            .arg("recover")
            .arg(&run_dir)
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", "1")
            .env("HOME", &home)
            .env_remove("KUBECONFIG"),
    );
    out.assert_code(4);
    assert!(
        out.stderr.contains("in-cluster config"),
        "the in-cluster connection was tried: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("    kubectl uncordon w1\n"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("--context"), "{}", out.stderr);
    assert!(
        out.stderr.contains("the run used its pod's ServiceAccount"),
        "{}",
        out.stderr
    );
}
