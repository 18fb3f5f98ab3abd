//! The ledger's clock: wall time in milliseconds since the Unix epoch, as every `*_at_ms`
//! column stores it. A clock set before 1970 reads 0; one past `i64::MAX` ms saturates.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ms since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
