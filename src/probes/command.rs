//! `command`: a local command; exit 0 is healthy. argv, no shell unless you write `sh -c`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::command_result::succeeded;
use super::{validate_argv, ProbeKind, SampleResult, Sampler};
use crate::access::run_local;
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `command: { argv: [curl, -sf, http://...] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CommandProbe {
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub argv: Vec<String>,
}

impl ProbeKind for CommandProbe {
    const KIND: &'static str = "command";
    const SUMMARY: &'static str = "local command (argv, no shell); healthy on exit 0";
    const EXAMPLE: &'static str =
        "name: ping\ninterval: 1s\ntimeout: 2s\ncommand: { argv: [ping, -c1, -W1, 127.0.0.1] }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        validate_argv(&self.argv, &at.key("argv"), errs);
    }

    fn target(&self) -> String {
        self.argv.first().cloned().unwrap_or_default()
    }

    fn build(&self, _ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(CommandSampler {
            argv: self.argv.clone(),
            timeout,
        }))
    }
}

struct CommandSampler {
    argv: Vec<String>,
    timeout: Duration,
}

impl Sampler for CommandSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            succeeded(run_local("local", &self.argv, self.timeout).await)?;
            Ok(None)
        })
    }
}
