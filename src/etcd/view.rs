//! One moment of a whole etcd cluster: each member's status, and the leader a majority
//! of the members agrees on.

use std::collections::BTreeMap;

use super::gateway::{u64_text, Gateway, MemberStatus};
use super::members::EtcdMember;

/// Members needed for quorum in a cluster of `n`.
pub fn quorum_size(n: usize) -> usize {
    n / 2 + 1
}

/// Each member's status (or why it could not be read), against a cluster of `size`.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub size: usize,
    pub members: Vec<(String, Result<MemberStatus, String>)>,
}

impl ClusterView {
    /// Reads every member's status at once.
    pub async fn gather(gateway: &Gateway, members: &[EtcdMember]) -> Self {
        let reads = members.iter().map(|m| gateway.status(&m.client));
        let results = futures::future::join_all(reads).await;
        Self {
            size: members.len(),
            members: members
                .iter()
                .map(|m| m.name.clone())
                .zip(results)
                .collect(),
        }
    }

    /// The leader id reported by a quorum of the cluster, if any.
    pub fn leader(&self) -> Option<u64> {
        let mut votes: BTreeMap<u64, usize> = BTreeMap::new();
        for s in self.statuses().filter(|s| s.leader != 0) {
            *votes.entry(s.leader).or_default() += 1;
        }
        votes
            .into_iter()
            .find(|(_, n)| *n >= quorum_size(self.size))
            .map(|(id, _)| id)
    }

    /// The highest raft term any member reports.
    pub fn term(&self) -> Option<u64> {
        self.statuses().map(|s| s.raft_term).max()
    }

    /// The name of the member with `id`, when it answered.
    pub fn name_of(&self, id: u64) -> Option<&str> {
        self.members
            .iter()
            .find(|(_, s)| s.as_ref().is_ok_and(|s| s.member_id == id))
            .map(|(n, _)| n.as_str())
    }

    /// The status of member `name`, when it answered.
    pub fn status_of(&self, name: &str) -> Option<&MemberStatus> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.as_ref().ok())
    }

    fn statuses(&self) -> impl Iterator<Item = &MemberStatus> {
        self.members.iter().filter_map(|(_, s)| s.as_ref().ok())
    }
}

/// Reads what a status command printed on a node: `{"health":"true"}` (the `/health`
/// endpoint, e.g. `curl -s http://127.0.0.1:2381/health`) or `etcdctl endpoint status -w
/// json`. Returns (health, status) as far as the output tells.
pub fn parse_status_output(stdout: &str) -> Result<(Option<bool>, Option<MemberStatus>), String> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("output is not JSON ({e}): {}", first_line(stdout)))?;
    let v = match v {
        serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let health = v.get("health").map(|h| match h {
        serde_json::Value::String(s) => s == "true",
        other => other.as_bool().unwrap_or(false),
    });
    let status = v.get("Status").unwrap_or(&v);
    let num = |x: Option<&serde_json::Value>| x.and_then(|x| u64_text(x.clone()).ok());
    let parsed = match (
        num(status.pointer("/header/member_id")),
        num(status.get("leader")),
    ) {
        (Some(member_id), Some(leader)) => Some(MemberStatus {
            member_id,
            leader,
            raft_term: num(status.get("raftTerm"))
                .or_else(|| num(status.pointer("/header/raft_term")))
                .unwrap_or(0),
        }),
        _ => None,
    };
    if health.is_none() && parsed.is_none() {
        return Err(format!(
            "neither health nor status in: {}",
            first_line(stdout)
        ));
    }
    Ok((health, parsed))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: u64, leader: u64, term: u64) -> Result<MemberStatus, String> {
        Ok(MemberStatus {
            member_id: id,
            leader,
            raft_term: term,
        })
    }

    #[test]
    fn leader_needs_a_quorum_of_the_whole_cluster() {
        let mut v = ClusterView {
            size: 3,
            members: vec![
                ("a".into(), st(1, 2, 3)),
                ("b".into(), st(2, 2, 3)),
                ("c".into(), st(3, 0, 2)),
            ],
        };
        assert_eq!(v.leader(), Some(2));
        assert_eq!(v.name_of(2), Some("b"));
        assert_eq!(v.term(), Some(3));
        v.members[1].1 = Err("timed out".into());
        assert_eq!(v.leader(), None, "one vote of three is no quorum");
    }

    #[test]
    fn parses_health_and_etcdctl_json() {
        assert_eq!(
            parse_status_output(r#"{"health":"true","reason":""}"#).unwrap(),
            (Some(true), None)
        );
        let etcdctl = r#"[{"Endpoint":"127.0.0.1:2379","Status":{"header":{"cluster_id":1,"member_id":7,"revision":5,"raft_term":4},"version":"3.5.9","leader":9,"raftTerm":4}}]"#;
        let (h, s) = parse_status_output(etcdctl).unwrap();
        assert_eq!(h, None);
        assert_eq!(
            s,
            Some(MemberStatus {
                member_id: 7,
                leader: 9,
                raft_term: 4
            })
        );
        assert!(parse_status_output("Error: context deadline exceeded").is_err());
    }
}
