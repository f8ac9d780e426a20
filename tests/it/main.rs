//! The one integration test binary; each module is a group of tests.

mod kube_rs_client;
mod kubectl_oracle;
mod support;
