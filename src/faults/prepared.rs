//! The boxing every `FaultKind::prepare` shares.

use std::future::Future;

use futures::future::BoxFuture;

use super::{FaultError, Prepared};

/// Runs `resolve` as the future [`super::FaultKind::prepare`] returns.
pub fn boxed<P: Prepared + 'static>(
    resolve: impl Future<Output = Result<P, FaultError>> + Send + 'static,
) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
    Box::pin(async move { Ok(Box::new(resolve.await?) as Box<dyn Prepared>) })
}
