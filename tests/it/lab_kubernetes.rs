//! `lab up --kubernetes` against the real binaries (`bash scripts/build-lab-bins.sh`):
//! the kubeconfig works with the preinstalled kubectl and the built one, and `lab down`
//! leaves nothing behind. One Kubernetes lab at a time (nextest group `kubernetes-lab`):
//! the kubeconfig test (read-only) uses the run's shared lab (support/kube_lab.rs); the
//! `down` test (it tears down) and lab_k8s_scenarios (it drills the whole control plane and
//! the shared workers, beyond the shared lab's own-namespace, own-nodes rule) their own.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kubedrill::lab::{self, Lab, LabConfig};

use crate::lab_fixture::{block_on, eventually};

pub(crate) struct KubeLab {
    cfg: LabConfig,
    pub(crate) lab: Lab,
    _tmp: tempfile::TempDir,
}

/// Prefix `kk<key><pid>` and subnet `10.214.<1 + 2 * (pid % 120) + key>.0/24`: clear of the default Kubernetes lab (10.214.0.0/24) and
/// of the plain labs (10.213.*).
fn config(dir: &Path, key: u32) -> LabConfig {
    let pid = std::process::id();
    LabConfig {
        dir: dir.to_path_buf(),
        name_prefix: format!("kk{key}{}", pid % 10_000_000),
        subnet: format!("10.214.{}.0/24", 1 + 2 * (pid % 120) + key),
        // The pod runner (`--pods`) of the real CoreDNS and NATS pods.
        kubelet_standin: vec![env!("CARGO_BIN_EXE_kubedrill-kubelet-standin").to_string()],
        ..LabConfig::kubernetes_default()
    }
}

impl KubeLab {
    /// A lab of the test's own (`key` 0: lab_k8s_scenarios, 1: the `down` test).
    pub(crate) fn up(key: u32) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("kubedrill-k8s-lab-")
            .tempdir()
            .unwrap();
        let cfg = config(&tmp.path().join("lab"), key);
        block_on(lab::down(&cfg)).expect("clean up leftovers");
        match block_on(lab::up_kubernetes(&cfg)) {
            Ok(lab) => Self {
                cfg,
                lab,
                _tmp: tmp,
            },
            Err(e) => {
                let logs = logs(&cfg.dir);
                let _ = block_on(lab::down(&cfg));
                panic!("lab up --kubernetes failed: {e}\n{logs}");
            }
        }
    }
}

impl Drop for KubeLab {
    fn drop(&mut self) {
        if let Err(e) = block_on(lab::down(&self.cfg)) {
            eprintln!("lab down {}: {e}", self.cfg.name_prefix);
        }
    }
}

/// The last lines of every component log, for a failed `up`.
fn logs(dir: &Path) -> String {
    let Ok(nodes) = std::fs::read_dir(dir.join("nodes")) else {
        return String::new();
    };
    let mut out = String::new();
    for node in nodes.flatten() {
        let Ok(files) = std::fs::read_dir(node.path().join("log")) else {
            continue;
        };
        for f in files.flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            out.push_str(&format!("--- {}\n", f.path().display()));
            for line in tail.into_iter().rev() {
                out.push_str(&line.chars().take(400).collect::<String>());
                out.push('\n');
            }
        }
    }
    out
}

fn output(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The preinstalled kubectl (google-cloud-cli's 1.32 here), not the built one.
fn preinstalled_kubectl() -> String {
    ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("a preinstalled kubectl (scripts/install-deps.sh installs one)")
        .to_string()
}

#[test]
fn lab_kubernetes_kubeconfig_works_with_preinstalled_and_built_kubectl() {
    let k = crate::support::kube_lab::shared();
    let kubeconfig = k.kubeconfig();
    let kubeconfig = kubeconfig.to_str().unwrap();
    assert_eq!(k.var("context"), "kubedrill-lab");
    let built = k.built_kubectl();
    // Not ~/.kube/cache: nothing of the lab outside its directory.
    let cache_dir = format!("{}/kubectl-cache", k.var("lab_dir"));
    // Other tests of the run share the lab (their own nodes and namespaces): the lab's
    // nodes Ready and web's 6 replicas available first.
    let lab_nodes = "--selector=kubedrill.io/lab";
    let ready =
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#;
    let web = [
        "-n",
        "default",
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.status.availableReplicas}",
    ];
    let settled = crate::support::poll_until(Duration::from_secs(60), || {
        k.kubectl(&["get", "nodes", lab_nodes, "-o", ready]).trim()
            == "True True True True True True"
            && k.kubectl(&web).trim() == "6"
    });
    assert!(settled, "the shared lab's nodes Ready and web available");
    for kubectl in [preinstalled_kubectl(), built] {
        let run = |args: &[&str]| {
            let mut all = vec![
                "--kubeconfig",
                kubeconfig,
                "--context",
                "kubedrill-lab",
                "--cache-dir",
                &cache_dir,
            ];
            all.extend(args);
            let (ok, text) = output(&kubectl, &all);
            assert!(ok, "{kubectl} {}: {text}", args.join(" "));
            text
        };
        let nodes = run(&["get", "nodes", lab_nodes, "-o", "name"]);
        let names: Vec<&str> = nodes.lines().collect();
        assert_eq!(
            names,
            ["node/n0", "node/n1", "node/n2", "node/w0", "node/w1", "node/w2"],
            "{kubectl}"
        );
        let version = run(&["version", "-o", "json"]);
        let version: serde_json::Value = serde_json::from_str(
            &version[version.find('{').unwrap()..version.rfind('}').unwrap() + 1],
        )
        .unwrap();
        assert_eq!(
            version["serverVersion"]["gitVersion"], "v1.37.2",
            "{kubectl}"
        );
        assert_eq!(run(&["get", "--raw", "/readyz"]).trim(), "ok", "{kubectl}");
        assert_eq!(run(&["auth", "can-i", "*", "*"]).trim(), "yes", "{kubectl}");
        let ready = run(&["get", "nodes", lab_nodes, "-o", ready]);
        assert_eq!(ready.trim(), "True True True True True True", "{kubectl}");
        // Every node has its lab address as InternalIP (and its name as Hostname), which
        // `api: { discover-endpoints: true }` relies on.
        let addresses = run(&[
            "get",
            "nodes",
            lab_nodes,
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}={.status.addresses[?(@.type=="InternalIP")].address}/{.status.addresses[?(@.type=="Hostname")].address}{" "}{end}"#,
        ]);
        let want: Vec<String> = ["n0", "n1", "n2", "w0", "w1", "w2"]
            .iter()
            .map(|n| format!("{n}={}/{n}", k.var(&format!("{n}_addr"))))
            .collect();
        assert_eq!(addresses.trim(), want.join(" "), "{kubectl}");
        assert_eq!(run(&web).trim(), "6", "{kubectl}");
        // The server certificate is valid for the load balancer address and the service
        // names, through the CA the kubeconfig carries (kubectl verifies it).
        let server = run(&[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ]);
        assert_eq!(server.trim(), k.var("api_server"), "{kubectl}");
    }
}

#[test]
fn lab_kubernetes_down_leaves_nothing_behind() {
    let k = KubeLab::up(1);
    let cfg = k.cfg.clone();
    let prefix = cfg.name_prefix.clone();

    // Idempotent up, and a status that lists every component up.
    let again = block_on(lab::up_kubernetes(&cfg)).expect("second lab up --kubernetes");
    assert_eq!(again, k.lab);
    let status = block_on(lab::status(&cfg)).unwrap();
    assert!(status.all_up(), "{status}\n{:?}", status.problems());
    let rows: Vec<&str> = status.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(rows, ["n0", "n1", "n2", "w0", "w1", "w2", "lb", "cluster"]);
    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "coredns",
        "kubelet",
    ] {
        assert!(status.nodes[0].services.contains_key(component), "{status}");
    }
    assert!(status.nodes[6].services.contains_key("haproxy"), "{status}");

    // The kubelet service commands stop exactly that node's kwok.
    let w1 = k.lab.inventory.node("w1").unwrap();
    let kubelet = &w1.services["kubelet"];
    let in_w1 = |argv: &[String]| {
        Command::new("ip")
            .args(["netns", "exec", &format!("{prefix}-w1")])
            .args(argv)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(in_w1(kubelet.stop.as_ref().unwrap()), Some(0));
    let status = block_on(lab::status(&cfg)).unwrap();
    assert!(status.nodes[4].services["kubelet"].is_err(), "{status}");
    assert!(status.nodes[3].services["kubelet"].is_ok(), "{status}");
    assert_eq!(in_w1(kubelet.start.as_ref().unwrap()), Some(0));
    assert!(block_on(eventually(Duration::from_secs(30), || async {
        lab::status(&cfg).await.unwrap().nodes[4].services["kubelet"].is_ok()
    })));

    // Down twice; then no trace.
    let marker = format!("KUBEDRILL_LAB_DIR={}", cfg.dir.display());
    let pids = lab::pids_with_env(&marker);
    assert!(pids.len() >= 30, "{pids:?}");
    let k_lb_addr = k.lab.vars["lb_addr"].clone();
    let iptables_before = output("iptables-save", &[]).1;
    assert!(iptables_before.contains(&format!("kubedrill-lab:{prefix}")));
    drop(k);
    block_on(lab::down(&cfg)).expect("second lab down");
    // Zombies count as gone (PID 1 here may not reap).
    let alive: Vec<i32> = pids.iter().copied().filter(|p| is_alive(*p)).collect();
    assert!(alive.is_empty(), "lab processes survived down: {alive:?}");
    assert!(lab::pids_with_env(&marker).is_empty());
    let (_, netns) = output("ip", &["netns", "list"]);
    assert!(!netns.contains(&format!("{prefix}-")), "{netns}");
    let (_, links) = output("ip", &["-o", "link", "show"]);
    assert!(!links.contains(&format!("{prefix}-")), "{links}");
    let (_, rules) = output("iptables-save", &[]);
    assert!(
        !rules.contains(&format!("kubedrill-lab:{prefix}")),
        "{rules}"
    );
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&format!("/run/netns/{prefix}-")),
        "{mounts}"
    );
    let netns_files: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{prefix}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(netns_files.is_empty(), "{netns_files:?}");
    assert!(!cfg.dir.exists(), "lab dir kept");
    // kubectl's discovery cache for the lab's API stays in the lab dir.
    let lb = format!("{}_6443", k_lb_addr);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let cache = Path::new(&home).join(".kube/cache/discovery").join(&lb);
    assert!(!cache.exists(), "{} left behind", cache.display());
    // Nothing runs from the lab's binaries with this lab's files either.
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| is_alive(*p))
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&cfg.dir.display().to_string()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// The pid a node's `ctl` recorded for `service`, if that process is alive.
fn service_pid(lab_dir: &str, node: &str, service: &str) -> Option<i32> {
    let pid = std::fs::read_to_string(format!("{lab_dir}/nodes/{node}/run/{service}.pid")).ok()?;
    let pid: i32 = pid.trim().parse().ok()?;
    is_alive(pid).then_some(pid)
}

#[test]
fn lab_kubernetes_controller_manager_that_exits_is_started_again() {
    // As kubeadm's kubelet restarts a static pod: the controller-manager exits when it loses
    // its Lease, and a lab without this supervisor was left with none after a few drills.
    let lab = crate::support::kube_lab::shared();
    let holder = lab.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "lease",
        "kube-controller-manager",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    // Not the holder's: the shared lab's other tests keep their controller-manager.
    let node = ["n0", "n1", "n2"]
        .into_iter()
        .find(|n| !holder.starts_with(&format!("{n}_")))
        .unwrap();
    let lab_dir = lab.var("lab_dir");
    let old = service_pid(lab_dir, node, "kube-controller-manager").expect("it runs");
    assert_eq!(unsafe { libc::kill(old, libc::SIGKILL) }, 0);
    let back = crate::support::poll_until(Duration::from_secs(15), || {
        service_pid(lab_dir, node, "kube-controller-manager").is_some_and(|p| p != old)
    });
    assert!(back, "a new kube-controller-manager runs on {node}");
}
