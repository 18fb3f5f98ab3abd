//! The IntentRail rail server (binary `intentrail`).
//!
//! Every governed action takes one path: authenticate → validate → policy → permit →
//! credentials → forward → receipt. Modules, one job each:
//!
//! - [`config`]: the TOML config; [`cli`]: the `intentrail` commands.
//! - [`auth`]: agent and admin keys; [`catalog`]: native actions and their schemas;
//!   [`policy`]: Cedar rules and stateful limits.
//! - [`ledger`]: the rail's state (permits, idempotency, limits, receipts), SQLite by default.
//! - [`credentials`]: fetch-at-forward secrets; [`forward`]: the downstream client.
//! - [`app`]: the HTTP API and the governed pipeline; [`problem`]: RFC 9457 errors.
//! - [`demo`]: the demo payments API used by `intentrail demo`.

pub mod catalog;
pub mod model;
pub mod policy;
pub mod secret;
