//! The one integration test binary; each module is a group of tests.

mod kubectl_oracle;
mod support;
