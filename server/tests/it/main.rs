//! The server's integration tests, one binary (`cargo test -p intentrail-server --test it`),
//! one module per area: `--test it pipeline::` runs one area, `--test it NAME` one test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod canary;
mod cli;
mod crash;
mod credentials_aws;
mod credentials_azure;
mod credentials_config;
mod credentials_vault;
mod faults;
mod idempotency;
mod mcp;
mod multi_instance;
mod pipeline;
mod profiles;
mod profiles_github;
