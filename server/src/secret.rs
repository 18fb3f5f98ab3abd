//! The zeroizing secret type: downstream credentials live only in a [`Secret`].
//!
//! Guarantees: the bytes are wiped on drop; `Debug` and `Display` print `[redacted]`, so a
//! secret can never reach a log line, an error, a panic message or a response by formatting.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string (a downstream API key, token or password).
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a value. The caller should drop/zeroize its own copy.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret value. Use only to build the outbound request or to redact.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("sk_live_canary".into());
        assert!(!format!("{s:?} {s} {s:#?}").contains("canary"));
        assert_eq!(s.expose(), "sk_live_canary");
    }
}
