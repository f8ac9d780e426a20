//! kube-proxy for the lab's Services that front pods with real processes (label
//! `lab.kubedrill.io/proxy: "true"`, e.g. `kube-system/kube-dns` at 10.96.0.10): in every
//! node's namespace, iptables DNATs each ClusterIP port to a Ready endpoint at random, as
//! kube-proxy's iptables mode does, and rejects the service range otherwise, so nothing
//! addressed to a ClusterIP leaves the lab.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

use crate::lab::config::Layout;
use crate::lab::host::{run, try_run};
use crate::lab::kubernetes::SERVICE_CIDR;

/// The label of Services the lab proxies.
pub const PROXY_LABEL: &str = "lab.kubedrill.io/proxy";
const NAT_CHAIN: &str = "KUBEDRILL-SERVICES";
const REJECT_CHAIN: &str = "KUBEDRILL-NO-ENDPOINTS";

/// One ClusterIP port and the Ready endpoints behind it.
#[derive(Debug, PartialEq)]
struct Rule {
    vip: String,
    protocol: String,
    port: i32,
    endpoints: Vec<(String, i32)>,
}

/// Keeps every node's rules as the API says: applies what changed at once, and everything
/// again every [`REAPPLY_EVERY`] (a node's rules may have been flushed meanwhile).
#[derive(Default)]
pub struct ServiceProxy {
    applied: Option<(String, std::time::Instant)>,
}

const REAPPLY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl ServiceProxy {
    pub async fn sync(&mut self, l: &Layout, client: &kube::Client) -> Result<(), String> {
        let lp = ListParams::default().labels(&format!("{PROXY_LABEL}=true"));
        let services: Api<Service> = Api::all(client.clone());
        let slices: Api<EndpointSlice> = Api::all(client.clone());
        let services = services.list(&lp).await.map_err(|e| e.to_string())?.items;
        let slices = slices.list(&lp).await.map_err(|e| e.to_string())?.items;
        let text = restore_text(&rules(&services, &slices));
        if self
            .applied
            .as_ref()
            .is_some_and(|(t, at)| *t == text && at.elapsed() < REAPPLY_EVERY)
        {
            return Ok(());
        }
        for i in 0..l.nodes {
            apply(&l.netns(i), &text).await?;
        }
        self.applied = Some((text, std::time::Instant::now()));
        Ok(())
    }
}

fn rules(services: &[Service], slices: &[EndpointSlice]) -> Vec<Rule> {
    let mut out = Vec::new();
    for svc in services {
        let (Some(ns), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) else {
            continue;
        };
        let spec = svc.spec.clone().unwrap_or_default();
        let Some(vip) = spec.cluster_ip.filter(|ip| ip != "None") else {
            continue;
        };
        let mine = slices.iter().filter(|s| {
            s.metadata.namespace.as_ref() == Some(ns)
                && s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    == Some(name)
        });
        // Slice port name -> Ready endpoint addresses with that port.
        let mut ready: BTreeMap<String, Vec<(String, i32)>> = BTreeMap::new();
        for slice in mine {
            for port in slice.ports.iter().flatten() {
                let Some(number) = port.port else { continue };
                for ep in slice.endpoints.iter().flatten() {
                    let is_ready = ep.conditions.as_ref().and_then(|c| c.ready) != Some(false);
                    if is_ready {
                        for addr in &ep.addresses {
                            ready
                                .entry(port.name.clone().unwrap_or_default())
                                .or_default()
                                .push((addr.clone(), number));
                        }
                    }
                }
            }
        }
        for port in spec.ports.iter().flatten() {
            let mut endpoints = ready
                .get(&port.name.clone().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            endpoints.sort();
            out.push(Rule {
                vip: vip.clone(),
                protocol: port.protocol.clone().unwrap_or("TCP".into()).to_lowercase(),
                port: port.port,
                endpoints,
            });
        }
    }
    out
}

/// `iptables-restore --noflush` input: our chains, declared (so flushed) and refilled.
fn restore_text(rules: &[Rule]) -> String {
    let mut nat = format!("*nat\n:{NAT_CHAIN} - [0:0]\n");
    for r in rules {
        let n = r.endpoints.len();
        for (k, (addr, port)) in r.endpoints.iter().enumerate() {
            let pick = if k + 1 < n {
                format!(
                    "-m statistic --mode random --probability {:.5} ",
                    1.0 / (n - k) as f64
                )
            } else {
                String::new()
            };
            nat.push_str(&format!(
                "-A {NAT_CHAIN} -d {}/32 -p {} --dport {} {pick}-j DNAT --to-destination {addr}:{port}\n",
                r.vip, r.protocol, r.port
            ));
        }
    }
    nat.push_str("COMMIT\n");
    format!(
        "{nat}*filter\n:{REJECT_CHAIN} - [0:0]\n-A {REJECT_CHAIN} -d {SERVICE_CIDR} -j REJECT\nCOMMIT\n"
    )
}

/// Loads `text` in namespace `ns` and makes sure OUTPUT jumps to our chains.
async fn apply(ns: &str, text: &str) -> Result<(), String> {
    let file = std::env::temp_dir().join(format!("kubedrill-proxy-{ns}.rules"));
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    let file_arg = file.display().to_string();
    let res = run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "iptables-restore",
        "-w",
        "5",
        "--noflush",
        &file_arg,
    ])
    .await
    .map(|_| ())
    .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&file);
    res?;
    for (table, chain) in [("nat", NAT_CHAIN), ("filter", REJECT_CHAIN)] {
        let exec = [
            "ip", "netns", "exec", ns, "iptables", "-w", "5", "-t", table,
        ];
        let rule = ["OUTPUT", "-j", chain];
        let check = [&exec[..], &["-C"], &rule[..]].concat();
        if !try_run(&check).await.is_ok_and(|o| o.success()) {
            let insert = [&exec[..], &["-I"], &rule[..]].concat();
            run(&insert).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_port_goes_to_a_ready_endpoint_at_random() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": { "name": "kube-dns", "namespace": "kube-system" },
            "spec": { "clusterIP": "10.96.0.10", "ports": [
                { "name": "dns", "port": 53, "protocol": "UDP" },
            ] },
        }))
        .unwrap();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": { "name": "kube-dns-x", "namespace": "kube-system",
                          "labels": { "kubernetes.io/service-name": "kube-dns" } },
            "addressType": "IPv4",
            "ports": [{ "name": "dns", "port": 53, "protocol": "UDP" }],
            "endpoints": [
                { "addresses": ["10.214.0.160"], "conditions": { "ready": true } },
                { "addresses": ["10.214.0.170"], "conditions": { "ready": true } },
                { "addresses": ["10.214.0.180"], "conditions": { "ready": false } },
            ],
        }))
        .unwrap();
        let text = restore_text(&rules(&[svc], &[slice]));
        assert!(text.contains("-A KUBEDRILL-SERVICES -d 10.96.0.10/32 -p udp --dport 53 -m statistic --mode random --probability 0.50000 -j DNAT --to-destination 10.214.0.160:53\n"), "{text}");
        assert!(text.contains("-A KUBEDRILL-SERVICES -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 10.214.0.170:53\n"), "{text}");
        assert!(!text.contains("10.214.0.180"), "{text}");
        assert!(
            text.contains("-A KUBEDRILL-NO-ENDPOINTS -d 10.96.0.0/16 -j REJECT\n"),
            "{text}"
        );
    }
}
