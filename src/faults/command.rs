//! `command`: a local command injects the fault, another reverts it. The end-to-end test
//! vehicle for the engine and a drill escape hatch. argv, no shell unless you write one.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{prepared, FaultError, FaultKind, Prepared};
use crate::access::run_local;
use crate::engine::RunContext;
use crate::probes::validate_argv;
use crate::revert::{LocalCommand, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `command: { inject: [...], revert: [...], timeout: 30s }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CommandFault {
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub inject: Vec<String>,
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub revert: Vec<String>,
    /// Timeout for each of the two commands.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

impl FaultKind for CommandFault {
    const KIND: &'static str = "command";
    const SUMMARY: &'static str =
        "local command to inject and another to revert (argv; exit 0 = success)";
    const EXAMPLE: &'static str = "fault:\n  command: { inject: [systemctl, stop, nginx], revert: [systemctl, start, nginx] }\nfor: 10s";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        validate_argv(&self.inject, &at.key("inject"), errs);
        validate_argv(&self.revert, &at.key("revert"), errs);
    }

    fn describe(&self) -> String {
        format!("run `{}` locally", self.inject.join(" "))
    }

    fn undo(&self) -> String {
        format!("run `{}` locally", self.revert.join(" "))
    }

    fn prepare(
        &self,
        _ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move { Ok(PreparedCommand(spec)) })
    }
}

struct PreparedCommand(CommandFault);

impl Prepared for PreparedCommand {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn reverts(&self) -> Vec<RevertAction> {
        vec![RevertAction::LocalCommand(LocalCommand {
            argv: self.0.revert.clone(),
            timeout: self.0.timeout,
        })]
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            let out = run_local("local", &self.0.inject, self.0.timeout.get())
                .await
                .map_err(FaultError::new)?;
            if !out.success() {
                return Err(FaultError(format!(
                    "`{}` failed: {}",
                    self.0.inject.join(" "),
                    out.summary()
                )));
            }
            Ok(serde_json::json!({ "inject": out }))
        })
    }
}
