//! The native actions' parameter types. Their JSON Schemas are derived from these types
//! (`schemars`), so the Rust type, its doc comments and the published schema never drift.
//!
//! Conventions: amounts are integers in minor units (cents) and strictly positive; currencies
//! are ISO 4217 codes in lowercase; ids are printable ASCII without spaces, 1–128 characters.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest integer every language reads exactly (2^53 − 1); the parser rejects larger ones.
const MAX_SAFE: u64 = 9_007_199_254_740_991;

/// An id: printable ASCII, no spaces.
const ID_PATTERN: &str = r"^[!-~]+$";
/// An ISO 4217 currency code, lowercase.
const CURRENCY_PATTERN: &str = r"^[a-z]{3}$";

/// Charge a customer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "money.payment")]
pub struct Payment {
    /// Amount to charge, in the currency's minor unit (e.g. cents); at least 1.
    #[schemars(range(min = 1, max = MAX_SAFE))]
    pub amount: u64,
    /// ISO 4217 currency code, three lowercase letters (e.g. "usd").
    #[schemars(pattern(CURRENCY_PATTERN))]
    pub currency: String,
    /// The downstream customer id to charge.
    #[schemars(length(min = 1, max = 128), pattern(ID_PATTERN))]
    pub customer: String,
    /// Free-text description shown on the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(max = 1000))]
    pub description: Option<String>,
}

/// Refund (part of) an earlier payment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "money.refund")]
pub struct Refund {
    /// The id of the payment to refund.
    #[schemars(length(min = 1, max = 128), pattern(ID_PATTERN))]
    pub payment_id: String,
    /// Amount to refund, in the currency's minor unit (e.g. cents); at least 1.
    #[schemars(range(min = 1, max = MAX_SAFE))]
    pub amount: u64,
    /// ISO 4217 currency code, three lowercase letters (e.g. "usd").
    #[schemars(pattern(CURRENCY_PATTERN))]
    pub currency: String,
    /// Why the payment is refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(max = 500))]
    pub reason: Option<String>,
}

/// Move money between two accounts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "money.transfer")]
pub struct Transfer {
    /// Amount to move, in the currency's minor unit (e.g. cents); at least 1.
    #[schemars(range(min = 1, max = MAX_SAFE))]
    pub amount: u64,
    /// ISO 4217 currency code, three lowercase letters (e.g. "usd").
    #[schemars(pattern(CURRENCY_PATTERN))]
    pub currency: String,
    /// The account the money leaves.
    #[schemars(length(min = 1, max = 128), pattern(ID_PATTERN))]
    pub from_account: String,
    /// The account the money goes to.
    #[schemars(length(min = 1, max = 128), pattern(ID_PATTERN))]
    pub to_account: String,
    /// Reference shown to both sides of the transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1, max = 140))]
    pub reference: Option<String>,
}

/// The environment a release goes to: `production`, `staging` or `development`.
// Variants carry no doc comments on purpose: documented variants make schemars emit a
// `oneOf` of `const`s, whose errors are vaguer than a plain `enum`'s.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Staging,
    Development,
}

/// Release a version of a service to an environment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "deploy.release")]
pub struct Release {
    /// The service to deploy: lowercase letters, digits, '-', '_' or '.', starting with a
    /// letter or digit.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9][a-z0-9._-]*$"))]
    pub service: String,
    /// The version to release (a tag, e.g. "v1.4.2").
    #[schemars(length(min = 1, max = 64), pattern(ID_PATTERN))]
    pub version: String,
    /// Where to release it.
    pub environment: Environment,
    /// The commit being released: 7 to 40 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", pattern(r"^[0-9a-f]{7,40}$"))]
    pub commit_sha: Option<String>,
}
