//! etcd from the outside: its HTTP/JSON gateway (status, health, member list), the view of
//! a whole cluster built from every member's status, and the iptables rules that cut a
//! member off from its peers.

mod gateway;
pub mod iptables;
mod members;
mod view;

pub use gateway::{EtcdTls, Gateway, ListedMember, MemberStatus};
pub use members::{
    cluster_members, inventory_members, listed_name, member_list, name_from_list, EtcdMember,
};
pub use view::{parse_status_output, quorum_size, ClusterView};
