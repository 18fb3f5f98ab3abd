//! The one harness of the integration tests. A rail starts in one place, from one config
//! writer ([`write_config`] with [`Options`]): in process with [`TestRail::start`] (real TCP,
//! SQLite file, Ed25519 keys), or as the real binary with [`RailProcess`]. Around it: the
//! recording [`downstream`] that answers by route; raw HTTP and agent requests ([`http`]); the
//! receipt chain read and verified ([`receipts`]); PostgreSQL ([`pg`]); the secret stores
//! ([`Moto`], [`AzureDouble`], [`VaultDouble`]); and [`Env`] for the tests that change the
//! process environment, which all tests of the binary share.
//!
//! `benches/credentials_latency.rs` includes this module too (`#[path]`) and uses a part of
//! it: hence `dead_code` and `unused_imports`.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

pub mod azure;
pub mod config;
pub mod downstream;
pub mod env;
pub mod http;
pub mod moto;
pub mod pg;
pub mod process;
pub mod rail;
pub mod random;
pub mod receipts;
pub mod vault;

pub use azure::{AzureDouble, AZ_CLIENT, AZ_TENANT};
pub use config::{write_config, Options, Written};
pub use downstream::{
    dead_port, downstream, downstream_answering, resetting_downstream, silent_port, Log, Request,
};
pub use env::Env;
pub use http::{code, mcp_tool_call, post_json, refund_params};
pub use moto::{moto_binary, moto_required, set_aws_env, Moto};
pub use process::{RailProcess, BIN};
pub use rail::TestRail;
pub use random::random_hex;
pub use receipts::verified_chain;
pub use vault::VaultDouble;
