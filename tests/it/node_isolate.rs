//! `node-isolate` on the Kubernetes lab (its own, nextest group `kubernetes-lab` through
//! the `kube_` in the test's name): control-plane node n1 cut off for 15s with its SSH
//! access kept. While isolated, its etcd peer port is unreachable from n0, HAProxy marks
//! its apiserver down, the harness still runs commands on it over SSH, and the API
//! through the load balancer (fresh connections) and the etcd quorum hold; after the
//! revert nothing of the chain is left and n1's etcd member is healthy again.
//!
//! The claim "API availability through the load balancer of at least 99%" does not hold
//! on the lab's HAProxy (`timeout connect 5s`, checks `inter 1s fall 2`) for a node that
//! drops packets instead of refusing: until the checks fail, every third new connection
//! goes to n1 and hangs past the client's 1s timeout (measured 93-97% over the ~30s
//! run). The test asserts exactly that: failures only in that window, none after.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kubedrill::access::NodeAccess;
use kubedrill::etcd::iptables::{chain_for, normalize_dump};
use kubedrill::etcd::{EtcdTls, Gateway};

use crate::common::{only_report, temp_dir, write};
use crate::drill_lab::until;
use crate::lab_kubernetes::KubeLab;
use crate::run_binary::{SpawnedRun, INJECTED, REVERTING};

const SCENARIO: &str = "node-isolate-n1";

fn scenario() -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: {SCENARIO} }}
target: {{ context: "${{context}}", kubeconfig: "${{kubeconfig}}", inventory: "${{inventory}}" }}
probes:
  - name: api
    interval: 200ms
    timeout: 1s
    api: {{ check: readyz, connection: fresh }}
  - name: etcd
    interval: 500ms
    timeout: 2s
    etcd:
      tls: {{ ca: "${{etcd_ca}}", cert: "${{etcd_cert}}", key: "${{etcd_key}}" }}
steps:
  - wait: 3s
  - id: isolate
    fault:
      node-isolate: {{ nodes: [n1] }}
    for: 15s
  - wait-until: {{ healthy: [api, etcd], stable-for: 3s, timeout: 2m }}
expect:
  # Measured on the lab: 93-97% over this ~30s run, every failure within HAProxy's
  # detection window (the test checks that); judged at the lower end of its uncertainty
  # (88-94% for those runs), so 85%. 99% needs a load balancer that gives up on a
  # black-holed backend within the client's timeout. Two new connections in a row can land
  # on n1 when other clients share the balancer's rotation: an outage up to 2s.
  - {{ probe: api, availability: ">= 85%", max-outage: "<= 2s" }}
  - {{ probe: etcd, max-outage: "<= 5s" }}
"#
    )
}

fn in_netns(ns: &str, argv: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .output()
        .expect("ip netns exec")
}

fn iptables_dump(ns: &str) -> String {
    let out = in_netns(ns, &["iptables-save"]);
    assert!(out.status.success(), "{out:?}");
    normalize_dump(&String::from_utf8_lossy(&out.stdout))
}

/// A TCP connection from namespace `ns` to `addr:port` within 2s.
fn connects(ns: &str, addr: &str, port: u16) -> bool {
    let script = format!("exec 3<>/dev/tcp/{addr}/{port}");
    in_netns(ns, &["timeout", "2", "bash", "-c", &script])
        .status
        .success()
}

#[tokio::test]
async fn isolating_control_plane_n1_on_the_kube_lab_keeps_the_api_quorum_and_access() {
    let lab = KubeLab::up(2);
    let vars = &lab.lab.vars;
    let (n0_ns, n1_ns) = (vars["n0_netns"].clone(), vars["n1_netns"].clone());
    let (n1_addr, n2_addr) = (vars["n1_addr"].clone(), vars["n2_addr"].clone());
    let lb_log = PathBuf::from(&vars["lab_dir"]).join("nodes/lb/log/haproxy.log");
    let n1 = NodeAccess::new(lab.lab.inventory.node("n1").unwrap().clone());
    let before = iptables_dump(&n1_ns);
    assert!(
        connects(&n0_ns, &n1_addr, 2380),
        "n0 reaches n1's etcd peer port"
    );
    let chain = chain_for(SCENARIO, 1);

    let tmp = temp_dir();
    let file = write(tmp.path(), "isolate.yaml", &scenario());
    let reports = tmp.path().join("reports");
    let vars_file = lab.lab.vars_file.display().to_string();
    let run = SpawnedRun::start(&file, &reports, &["--vars", &vars_file, "-q"]);
    until(
        Duration::from_secs(60),
        "the isolation in place",
        || async { run.journal_has(INJECTED).then_some(()) },
    )
    .await;

    // While isolated: the chain is first in INPUT and OUTPUT; n1's etcd peer port is cut
    // off from n0 (n0 still reaches n2); HAProxy takes n1's apiserver out; the harness's
    // SSH access still runs commands; anything else from the harness is dropped.
    let rules = String::from_utf8_lossy(&in_netns(&n1_ns, &["iptables", "-S"]).stdout).to_string();
    for hook in ["INPUT", "OUTPUT"] {
        let first = rules
            .lines()
            .find(|l| l.starts_with(&format!("-A {hook} ")))
            .unwrap_or_default();
        assert_eq!(first, format!("-A {hook} -j {chain}"), "{rules}");
    }
    assert!(
        !connects(&n0_ns, &n1_addr, 2380),
        "n1's etcd peer port is cut off"
    );
    assert!(
        connects(&n0_ns, &n2_addr, 2380),
        "the other members still talk"
    );
    until(
        Duration::from_secs(15),
        "HAProxy marking n1 down",
        || async {
            std::fs::read_to_string(&lb_log)
                .ok()?
                .contains("kube-apiservers/n1 is DOWN")
                .then_some(())
        },
    )
    .await;
    let out = n1
        .run(&["hostname".to_string()], Duration::from_secs(5))
        .await
        .expect("SSH to n1 works while it is isolated");
    assert!(out.success(), "{out:?}");
    assert!(
        !run.journal_has(REVERTING),
        "the checks ran while the isolation held"
    );
    let harness_api = Command::new("timeout")
        .args([
            "2",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{n1_addr}/6443"),
        ])
        .status()
        .unwrap();
    assert!(
        !harness_api.success(),
        "the harness's other traffic to n1 is dropped"
    );

    let exit = run.finish();
    let report = only_report(&reports);
    assert_eq!(exit.code, Some(0), "{}\n{}", exit.stdout, exit.stderr);
    let fault = &report["faults"][0];
    let details = &report["faults"][0]["details"];
    assert_eq!(details["chain"], chain.as_str(), "{details}");
    assert_eq!(details["keep_access"], true);
    let kept = &details["nodes"][0]["kept"];
    assert_eq!(kept["ssh_port"], 22, "{details}");
    let bridge = n1_addr.rsplit_once('.').map(|(net, _)| format!("{net}.1"));
    assert_eq!(
        kept["harness"].as_str(),
        bridge.as_deref(),
        "the lab bridge: {details}"
    );
    let api = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "api")
        .unwrap();
    // Through the load balancer, new connections fail only while HAProxy has not yet
    // taken n1 out (fall 2 at inter 1s: every third one goes to the cut-off apiserver and
    // hangs past the probe timeout); from then on, and after the heal, every one works.
    let cut = fault["injected_at_ms"].as_f64().unwrap();
    let in_effect = fault["in_effect_at_ms"].as_f64().unwrap();
    let m = &api["measurements"];
    for o in m["outages"].as_array().unwrap() {
        let (start, end) = (
            o["start_ms"].as_f64().unwrap(),
            o["end_ms"].as_f64().unwrap(),
        );
        assert!(
            start >= cut && end <= in_effect + 6000.0,
            "api outage {start}..{end} ms outside the load balancer's detection window \
             (cut at {cut}, in effect at {in_effect}): {m}"
        );
    }
    eprintln!(
        "api through the load balancer: availability {} %, {} of {} samples failed",
        m["availability_pct"], m["failed_samples"], m["samples"]
    );

    // After the revert: nothing of the chain left, iptables as before, n1's member healthy.
    let after = iptables_dump(&n1_ns);
    assert!(!after.contains(&chain), "{after}");
    assert_eq!(after, before, "the revert left iptables exactly as before");
    let tls = EtcdTls {
        ca: vars["etcd_ca"].clone().into(),
        cert: Some(vars["etcd_cert"].clone().into()),
        key: Some(vars["etcd_key"].clone().into()),
    };
    let gw = Gateway::new(Some(&tls), Duration::from_secs(2)).unwrap();
    let n1_etcd = vars["etcd_endpoint_n1"].clone();
    until(
        Duration::from_secs(30),
        "n1's etcd member healthy again",
        || async {
            let s = gw.status(&n1_etcd).await.ok()?;
            (s.leader != 0).then_some(())
        },
    )
    .await;
    assert!(connects(&n0_ns, &n1_addr, 2380));
}

/// `keep-access: false` on the plain lab (a one-node lab of this test's own): over SSH it
/// is refused without `self-heal`; with it, the node is cut off from the harness too (a
/// TCP probe of its SSH port fails), the node removes the chain by itself, and the
/// revert, which waited for the node to answer again, finds nothing left.
#[test]
fn cutting_the_harness_access_too_needs_a_self_heal_and_heals_by_itself() {
    use crate::lab_fixture::{block_on, config, LabKey};
    use crate::run_binary::run_to_end;
    use kubedrill::lab;

    let tmp = temp_dir();
    let pid = std::process::id();
    let mut cfg = config(LabKey::Etcd, 1, &tmp.path().join("lab"));
    cfg.name_prefix = format!("ki{}", pid % 10_000_000);
    cfg.subnet = format!("10.217.{}.0/24", pid % 250);
    block_on(lab::down(&cfg)).expect("clean up leftovers");
    struct Down(kubedrill::lab::LabConfig);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = block_on(lab::down(&self.0));
        }
    }
    let _down = Down(cfg.clone());
    let up = block_on(lab::up(&cfg)).expect("lab up");
    let ns = format!("{}-n0", cfg.name_prefix);
    let addr = up.vars["n0_addr"].clone();
    let before = iptables_dump(&ns);
    let scenario = |name: &str, fault: &str| {
        format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\n\
             target: {{ inventory: {inv} }}\nsettings: {{ revert-timeout: 60s }}\n\
             probes:\n  - {{ name: ssh, interval: 200ms, timeout: 500ms, tcp: {{ address: \"{addr}:22\" }} }}\n\
             steps:\n  - wait: 1s\n  - fault:\n      node-isolate: {fault}\n    for: 1s\n  - wait: 1s\n",
            inv = up.inventory_file.display(),
        )
    };

    let refused = write(
        tmp.path(),
        "refused.yaml",
        &scenario("cut-refused", "{ nodes: [n0], keep-access: false }"),
    );
    let reports = tmp.path().join("refused");
    run_to_end(&refused, &reports).assert_code(3);
    // Refused while preparing: no fault record, the reason says why.
    let error = only_report(&reports)["reason"].to_string();
    assert!(
        error.contains("keep-access: false") && error.contains("self-heal"),
        "{error}"
    );
    assert_eq!(iptables_dump(&ns), before, "nothing was installed");

    let healed = write(
        tmp.path(),
        "healed.yaml",
        &scenario(
            "cut-healed",
            "{ nodes: [n0], keep-access: false, self-heal: 5s }",
        ),
    );
    // `plan` shows the exact commands: the chain the run uses, no SSH exception, the
    // self-heal.
    let plan = crate::common::kubedrill()
        .arg("plan")
        .arg(&healed)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&plan.stdout);
    let chain = chain_for("cut-healed", 1);
    assert!(plan.status.success(), "{shown}");
    for line in [
        format!("on n0: iptables -w 5 -A {chain} -j DROP"),
        format!("on n0: iptables -w 5 -I INPUT 1 -j {chain}"),
        format!("on n0: iptables -w 5 -I OUTPUT 1 -j {chain}"),
        format!("sleep 5; iptables -w 5 -S {chain}"),
    ] {
        assert!(shown.contains(&line), "{line}\n{shown}");
    }
    assert!(!shown.contains("--dport 22"), "{shown}");
    let reports = tmp.path().join("healed");
    let exit = run_to_end(&healed, &reports);
    let report = only_report(&reports);
    exit.assert_code(0);
    let fault = &report["faults"][0];
    assert_eq!(fault["details"]["keep_access"], false, "{fault}");
    assert!(fault["details"]["nodes"][0]["kept"].is_null(), "{fault}");
    // The harness saw the SSH port go silent, and come back only with the self-heal:
    // the revert (started 1s after the injection) had to wait for it.
    let ssh = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ssh")
        .unwrap();
    let outages = ssh["measurements"]["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 1, "{ssh}");
    let length = outages[0]["length_ms"].as_f64().unwrap();
    assert!(
        length >= 3000.0,
        "cut for about self-heal minus the 1s install delay: {length} ms"
    );
    // The revert started (1s after the injection) while the node was still cut off, and
    // succeeded once the self-heal had given it back.
    let revert_started = fault["reverted_at_ms"].as_f64().unwrap();
    let back = outages[0]["end_ms"].as_f64().unwrap();
    assert!(
        back > revert_started + 1000.0,
        "the node was back at {back} ms, the revert started at {revert_started} ms"
    );
    assert_eq!(
        report["reverts"][0]["outcome"], "reverted",
        "{}",
        report["reverts"]
    );
    assert_eq!(iptables_dump(&ns), before, "nothing of the chain is left");
}
