//! IntentRail core: the pure logic every language shares byte for byte.
//!
//! - [`json`]: strict I-JSON parsing into a [`serde_json::Value`] (duplicate keys, lone
//!   surrogates, out-of-range integers, depth and size limits rejected, never normalized).
//! - [`jcs`]: RFC 8785 canonical serialization; [`hash`]: `sha256:` payload hashes.
//! - [`permit`]: EdDSA permit claims, issue and strict verification; [`keys`]: key ids, JWKS.
//! - [`receipt`]: signed, hash-chained receipts and the chain verifier; [`batch`]: one
//!   signature over a Merkle tree of several receipts, with a proof per receipt;
//!   [`checkpoint`]: a signed chain head, so an export cut short is detected.
//! - [`error`]: the one error vocabulary ([`ErrorKind`] = the API's stable codes, with what
//!   calling again can do); [`explain`]: the one rendering of an error for a model.
//! - [`tools`]: the tool name of an action (model tool-calling APIs, MCP).
//!
//! No I/O, no async, no clock: callers pass `now`. The one exception is [`client`] (cargo
//! feature `client`, off by default): the async HTTP client of the rail the SDKs wrap.

pub mod batch;
pub mod checkpoint;
#[cfg(feature = "client")]
pub mod client;
pub mod error;
pub mod explain;
pub mod hash;
pub mod jcs;
pub mod json;
pub mod keys;
pub mod permit;
pub mod receipt;
pub mod tools;

/// The Ed25519 public key type used throughout (re-exported from `ed25519-dalek`).
pub use ed25519_dalek::VerifyingKey;
pub use error::{Error, ErrorFamily, ErrorKind, Result, Retry};
pub use keys::{kid_for, Jwk, Jwks, KeyResolver, SigningKey};
pub use permit::{PermitClaims, VerifyOptions};
pub use receipt::{
    verify_chain, ChainError, ChainProblem, ChainReport, Downstream, Receipt, ReceiptKind, Via,
    GENESIS_PREV,
};
