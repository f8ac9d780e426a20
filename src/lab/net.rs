//! The lab network: one bridge on the host, one namespace per node joined by a veth, and
//! ACCEPT rules so bridged traffic passes even with br_netfilter and a DROP policy.

use super::config::Layout;
use super::host::{run, try_run};
use super::LabError;

/// Creates whatever is missing; running it again changes nothing.
pub async fn up(l: &Layout) -> Result<(), LabError> {
    let br = l.bridge();
    if !link_exists(&br).await? {
        run(&["ip", "link", "add", &br, "type", "bridge"]).await?;
    }
    let gw = format!("{}/{}", l.gateway(), l.prefix_len);
    run(&["ip", "addr", "replace", &gw, "dev", &br]).await?;
    run(&["ip", "link", "set", &br, "up"]).await?;
    let existing = namespaces(&l.prefix).await?;
    for i in 0..l.nodes {
        node_up(l, i, existing.contains(&l.netns(i))).await?;
    }
    for rule in iptables_rules(l) {
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        let check = [&["iptables", "-w", "5", "-C"], &rule[..]].concat();
        if !try_run(&check).await?.success() {
            run(&[
                &["iptables", "-w", "5", "-I"],
                &rule[..1],
                &["1"],
                &rule[1..],
            ]
            .concat())
            .await?;
        }
    }
    Ok(())
}

async fn node_up(l: &Layout, i: usize, ns_exists: bool) -> Result<(), LabError> {
    let addr = l.node_addr(i);
    attach(
        l,
        &l.netns(i),
        &l.veth_host(i),
        &l.veth_peer(i),
        addr,
        ns_exists,
    )
    .await
}

/// Namespace `ns` (created unless `ns_exists`) on the bridge through veth `host`/`peer`,
/// with `addr` on its `eth0` and the bridge as default route.
pub async fn attach(
    l: &Layout,
    ns: &str,
    host: &str,
    peer: &str,
    addr: std::net::Ipv4Addr,
    ns_exists: bool,
) -> Result<(), LabError> {
    let (ns, host, peer) = (ns.to_string(), host.to_string(), peer.to_string());
    if !ns_exists {
        run(&["ip", "netns", "add", &ns]).await?;
    }
    if !link_exists(&host).await? {
        run(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
        ])
        .await?;
        run(&["ip", "link", "set", &peer, "netns", &ns]).await?;
        run(&["ip", "-n", &ns, "link", "set", &peer, "name", "eth0"]).await?;
    }
    run(&["ip", "link", "set", &host, "master", &l.bridge(), "up"]).await?;
    let addr = format!("{addr}/{}", l.prefix_len);
    run(&["ip", "-n", &ns, "addr", "replace", &addr, "dev", "eth0"]).await?;
    run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]).await?;
    run(&["ip", "-n", &ns, "link", "set", "lo", "up"]).await?;
    let gw = l.gateway().to_string();
    run(&["ip", "-n", &ns, "route", "replace", "default", "via", &gw]).await?;
    Ok(())
}

/// Removes namespaces, veths, bridge and rules of this prefix; missing pieces are fine.
pub async fn down(l: &Layout) -> Result<(), LabError> {
    for ns in namespaces(&l.prefix).await? {
        run(&["ip", "netns", "del", &ns]).await?;
    }
    for link in lab_links(l).await? {
        try_run(&["ip", "link", "del", &link]).await?;
    }
    for rule in iptables_rules(l) {
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        // -D removes one copy per call; stop when none is left.
        while try_run(&[&["iptables", "-w", "5", "-D"], &rule[..]].concat())
            .await?
            .success()
        {}
    }
    Ok(())
}

/// The rules `up` inserts: chain first, then the match, each tagged with the lab comment.
pub fn iptables_rules(l: &Layout) -> Vec<Vec<String>> {
    let br = l.bridge();
    let tag = [
        "-m",
        "comment",
        "--comment",
        &l.iptables_comment(),
        "-j",
        "ACCEPT",
    ];
    let rule = |head: &[&str]| -> Vec<String> {
        head.iter()
            .chain(tag.iter())
            .map(|s| s.to_string())
            .collect()
    };
    vec![
        rule(&["FORWARD", "-i", &br, "-o", &br]),
        rule(&["INPUT", "-i", &br]),
        rule(&["OUTPUT", "-o", &br]),
    ]
}

/// Namespaces named `<prefix>-n<digits>`, and a Kubernetes lab's `<prefix>-w<digits>`
/// (workers) and `<prefix>-lb` (load balancer).
pub async fn namespaces(prefix: &str) -> Result<Vec<String>, LabError> {
    let out = run(&["ip", "netns", "list"]).await?;
    let (nodes, workers, lb) = (
        format!("{prefix}-n"),
        format!("{prefix}-w"),
        format!("{prefix}-lb"),
    );
    Ok(out
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| numbered(name, &nodes) || numbered(name, &workers) || *name == lb)
        .map(String::from)
        .collect())
}

/// Host links of this lab: its bridge and `<prefix>-v<digits>` veths.
pub async fn lab_links(l: &Layout) -> Result<Vec<String>, LabError> {
    let veth = format!("{}-v", l.prefix);
    let out = run(&["ip", "-o", "link", "show"]).await?;
    // Lines look like `12: kdlab-v0@if11: <...>`.
    Ok(out
        .stdout
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| *name == l.bridge() || *name == l.lb_veth_host() || numbered(name, &veth))
        .collect())
}

async fn link_exists(name: &str) -> Result<bool, LabError> {
    Ok(try_run(&["ip", "link", "show", "dev", name])
        .await?
        .success())
}

/// `name` is `head` followed by a number.
fn numbered(name: &str, head: &str) -> bool {
    name.strip_prefix(head)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
