//! The IntentRail rail server (binary `intentrail`).
//!
//! Every governed action takes one path: authenticate → validate → policy → permit →
//! credentials → forward → receipt. Modules, one job each:
//!
//! - [`config`]: the TOML config; [`cli`]: the `intentrail` commands; [`keystore`]: tenant
//!   signing keys on disk.
//! - [`auth`]: agent and admin keys; [`catalog`]: native actions and their schemas;
//!   [`policy`]: Cedar rules and stateful limits.
//! - [`ledger`]: the rail's state (permits, idempotency, limits, receipts), SQLite by default.
//! - [`credentials`]: fetch-at-forward secrets; [`forward`]: the downstream client.
//! - [`rail`]: the running rail (tenants, keys, ledger, clients); [`pipeline`]: the governed
//!   path as named stages and the flows that run them; [`http`]: routes, extractors and
//!   handlers; [`problem`]: RFC 9457 errors; [`metrics`]: Prometheus text.
//! - [`profile`]: mirrored OpenAPI profiles (operations as governed actions).
//! - [`demo`]: the demo payments API used by `intentrail demo`.

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod forward;
pub mod http;
pub mod keystore;
pub mod ledger;
pub mod mcp;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod policy;
pub mod problem;
pub mod profile;
pub mod rail;
pub mod secret;
