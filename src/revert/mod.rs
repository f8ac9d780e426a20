//! Reverts: serialisable undo actions. Each is journaled before its fault is injected,
//! so `kubedrill recover` can run it from the journal alone after a crash.
//! Adding a kind of revert = a type implementing [`Undo`] plus one line in `revert_actions!`.

mod cluster;
mod command;
mod iptables;
mod nats;

pub use cluster::{DeletePods, Uncordon, WaitPodsReady};
pub use command::{node_manual, poll_until_ok, shell_words, LocalCommand, NodeCommand};
pub use iptables::RemoveIptablesChain;
pub use nats::{NatsPodBack, RestartNatsServer};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::engine::RunContext;

/// Behaviour of one kind of undo action.
pub trait Undo: Sync {
    /// One line for the journal, logs and reports.
    fn describe(&self) -> String;
    /// What a person runs by hand when this revert failed or never ran.
    fn manual(&self, ctx: &RunContext) -> Vec<String>;
    /// The inventory node the revert runs its commands on, if it does.
    fn node(&self) -> Option<&str> {
        None
    }
    /// Runs the revert (the caller adds the timeout).
    ///
    /// Implement this or [`Undo::run_reported`]; each defaults to the other.
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.run_reported(ctx).await.map(drop) })
    }
    /// Runs the revert and returns what it did for the report (commands' exit codes,
    /// trimmed output, durations); by default only success.
    fn run_reported<'a>(
        &'a self,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<serde_json::Value, String>> {
        Box::pin(async move { self.run(ctx).await.map(|()| serde_json::Value::Null) })
    }
}

macro_rules! revert_actions {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// One undo action, tagged by `action` in the journal.
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        #[serde(tag = "action", rename_all = "kebab-case")]
        pub enum RevertAction { $($variant($ty)),* }

        impl RevertAction {
            fn as_undo(&self) -> &dyn Undo {
                match self { $(RevertAction::$variant(a) => a),* }
            }
        }
    };
}

revert_actions! {
    LocalCommand => LocalCommand,
    NodeCommand => NodeCommand,
    RemoveIptablesChain => RemoveIptablesChain,
    RestartNatsServer => RestartNatsServer,
    NatsPodBack => NatsPodBack,
    Uncordon => Uncordon,
    WaitPodsReady => WaitPodsReady,
    DeletePods => DeletePods,
}

impl RevertAction {
    /// See [`Undo::describe`].
    pub fn describe(&self) -> String {
        self.as_undo().describe()
    }

    /// See [`Undo::node`].
    pub fn node(&self) -> Option<&str> {
        self.as_undo().node()
    }

    /// See [`Undo::manual`].
    pub fn manual(&self, ctx: &RunContext) -> Vec<String> {
        self.as_undo().manual(ctx)
    }

    /// See [`Undo::run_reported`]: runs the revert, returns report details.
    pub async fn run(&self, ctx: &RunContext) -> Result<serde_json::Value, String> {
        self.as_undo().run_reported(ctx).await
    }
}
