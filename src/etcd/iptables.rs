//! The partition as iptables argv (never a shell): one dedicated chain per fault, jumped
//! to first from INPUT and OUTPUT, so healing removes exactly what was added.

/// Prefix of every chain a partition creates.
pub const CHAIN_PREFIX: &str = "KUBEDRILL-PART-";
/// Built-in chains that jump to a partition chain.
pub const HOOKS: [&str; 2] = ["INPUT", "OUTPUT"];

/// What to drop on an isolated member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRules {
    pub chain: String,
    /// Peer traffic (from and to this port) is dropped both ways.
    pub peer_port: u16,
    /// Client traffic to this port from other hosts is dropped too, when set.
    pub client_port: Option<u16>,
}

/// `KUBEDRILL-PART-<suffix>`, cut to the 28 characters iptables allows.
pub fn chain_name(suffix: &str) -> String {
    let mut name = format!("{CHAIN_PREFIX}{suffix}");
    name.truncate(28);
    name
}

/// The chain of step `step` (0-based) of scenario `scenario`: `plan` shows the very name
/// the run uses, and other scenarios and steps get other names (12 hex digits, 48 bits,
/// of a 64-bit FNV-1a hash, which does not change between builds).
pub fn chain_for(scenario: &str, step: usize) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.bytes().chain([0]).chain(step.to_string().bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    chain_name(&format!("{:012x}", hash >> 16))
}

fn iptables(args: &[&str]) -> Vec<String> {
    ["iptables", "-w", "5"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

impl PartitionRules {
    /// The commands that install the partition, in order: chain, its rules, then the jumps.
    pub fn install(&self) -> Vec<Vec<String>> {
        let c = self.chain.as_str();
        let peer = self.peer_port.to_string();
        let mut cmds = vec![
            iptables(&["-N", c]),
            iptables(&["-A", c, "-p", "tcp", "--dport", &peer, "-j", "DROP"]),
            iptables(&["-A", c, "-p", "tcp", "--sport", &peer, "-j", "DROP"]),
        ];
        if let Some(port) = self.client_port {
            let p = port.to_string();
            // Local clients (the member itself, its own gateway) keep working.
            cmds.push(iptables(&[
                "-A",
                c,
                "-p",
                "tcp",
                "--dport",
                &p,
                "-m",
                "addrtype",
                "!",
                "--src-type",
                "LOCAL",
                "-j",
                "DROP",
            ]));
            cmds.push(iptables(&[
                "-A",
                c,
                "-p",
                "tcp",
                "--sport",
                &p,
                "-m",
                "addrtype",
                "!",
                "--dst-type",
                "LOCAL",
                "-j",
                "DROP",
            ]));
        }
        for hook in HOOKS {
            cmds.push(iptables(&["-I", hook, "1", "-j", c]));
        }
        cmds
    }
}

/// Deletes one jump from `hook` to `chain` (repeat until it fails).
pub fn delete_jump(hook: &str, chain: &str) -> Vec<String> {
    iptables(&["-D", hook, "-j", chain])
}

/// Flushes and deletes `chain` (fails when it does not exist).
pub fn delete_chain(chain: &str) -> [Vec<String>; 2] {
    [iptables(&["-F", chain]), iptables(&["-X", chain])]
}

/// Lists the filter table's rules; `-N CHAIN` lines declare its chains.
pub fn list_rules() -> Vec<String> {
    iptables(&["-S"])
}

/// The partition chains declared in an `iptables -S` listing, in order.
pub fn partition_chains(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-N "))
        .map(str::trim)
        .filter(|c| c.starts_with(CHAIN_PREFIX))
        .map(str::to_string)
        .collect()
}

/// Dumps every table, to check that nothing of a chain is left.
pub fn save() -> Vec<String> {
    vec!["iptables-save".to_string()]
}

/// Lines of an `iptables-save` dump that mention `chain` (its declaration, rules, jumps).
pub fn lines_mentioning<'a>(dump: &'a str, chain: &str) -> Vec<&'a str> {
    dump.lines()
        .filter(|l| {
            l.split_whitespace()
                .any(|w| w == chain || w == format!(":{chain}"))
        })
        .collect()
}

/// An `iptables-save` dump without comments and packet counters, and without tables that
/// hold nothing but empty built-in chains with policy ACCEPT (nft-backed iptables creates
/// those on first use and never removes them), so dumps before and after compare equal.
pub fn normalize_dump(dump: &str) -> String {
    let mut out = String::new();
    let mut table: Vec<String> = Vec::new();
    for line in dump.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = match line.strip_prefix(':') {
            Some(decl) => {
                let mut w = decl.split_whitespace();
                format!(":{} {}", w.next().unwrap_or(""), w.next().unwrap_or(""))
            }
            None => strip_counters(line),
        };
        table.push(line);
        if table.last().is_some_and(|l| l == "COMMIT") {
            let trivial = table[1..table.len() - 1]
                .iter()
                .all(|l| l.starts_with(':') && l.ends_with(" ACCEPT"));
            if !trivial {
                out.push_str(&table.join("\n"));
                out.push('\n');
            }
            table.clear();
        }
    }
    out
}

fn strip_counters(line: &str) -> String {
    match line.strip_prefix('[') {
        Some(rest) => rest
            .split_once("] ")
            .map_or(line.to_string(), |(_, r)| r.to_string()),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_a_chain_and_jumps_first_and_finds_every_trace() {
        let r = PartitionRules {
            chain: chain_name("ab12cd"),
            peer_port: 2380,
            client_port: Some(2379),
        };
        let cmds = r.install();
        assert_eq!(cmds[0], iptables(&["-N", "KUBEDRILL-PART-ab12cd"]));
        assert_eq!(cmds.len(), 7);
        assert_eq!(
            cmds.last().unwrap().join(" "),
            "iptables -w 5 -I OUTPUT 1 -j KUBEDRILL-PART-ab12cd"
        );
        assert_eq!(chain_name("0123456789abcdef").len(), 28);
        let dump = "*filter\n:INPUT ACCEPT [10:200]\n:KUBEDRILL-PART-ab12cd - [0:0]\n-A INPUT -j KUBEDRILL-PART-ab12cd\n-A INPUT -j KUBEDRILL-PART-ab12cdX\nCOMMIT\n";
        assert_eq!(lines_mentioning(dump, "KUBEDRILL-PART-ab12cd").len(), 2);
    }

    #[test]
    fn a_step_has_one_chain_name_of_its_own_within_the_length_limit() {
        let a = chain_for("etcd-partition-leader", 1);
        assert_eq!(a, chain_for("etcd-partition-leader", 1), "deterministic");
        assert_eq!(a.len(), 27, "{a}");
        assert!(a.starts_with(CHAIN_PREFIX), "{a}");
        assert!(a[CHAIN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, chain_for("etcd-partition-leader", 2));
        assert_ne!(a, chain_for("etcd-partition-follower", 1));
        // The step is not glued onto the name: ("a1", 1) and ("a", 11) differ.
        assert_ne!(chain_for("a1", 1), chain_for("a", 11));
    }

    #[test]
    fn finds_the_partition_chains_a_listing_declares() {
        let listing = "-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-N KUBE-FIREWALL\n-N KUBEDRILL-PART-ab12cd\n\
                       -A INPUT -j KUBEDRILL-PART-ab12cd\n-A KUBEDRILL-PART-ab12cd -p tcp --dport 2380 -j DROP\n";
        assert_eq!(partition_chains(listing), ["KUBEDRILL-PART-ab12cd"]);
        assert!(partition_chains("-P INPUT ACCEPT\n-N KUBE-FIREWALL\n").is_empty());
    }

    #[test]
    fn normalized_dumps_ignore_counters_comments_and_empty_tables() {
        let before = "# Generated by iptables-save v1.8.9 on Sun\n";
        let after = "# Generated\n*filter\n:INPUT ACCEPT [3:120]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n# Completed\n";
        assert_eq!(normalize_dump(before), normalize_dump(after));
        let with_rule = "*filter\n:INPUT ACCEPT [3:120]\n[5:300] -A INPUT -p tcp -j DROP\nCOMMIT\n";
        assert_eq!(
            normalize_dump(with_rule),
            "*filter\n:INPUT ACCEPT\n-A INPUT -p tcp -j DROP\nCOMMIT\n"
        );
    }
}
