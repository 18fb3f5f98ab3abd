//! Agent and admin keys. Keys are random (32 bytes, `ir_` + base64url), stored only as
//! `sha256:` hashes, looked up by hash and compared in constant time; revoked keys are refused;
//! a key belongs to exactly one agent of one tenant.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use intentrail_core::hash::sha256_tagged;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The prefix of agent keys.
pub const AGENT_KEY_PREFIX: &str = "ir_";
/// The prefix of admin keys.
pub const ADMIN_KEY_PREFIX: &str = "ira_";

/// A fresh random key with `prefix` (returned once, never stored).
pub fn generate_key(prefix: &str) -> Result<Zeroizing<String>, getrandom::Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())?;
    let mut s = Zeroizing::new(String::with_capacity(prefix.len() + 43));
    s.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut s);
    Ok(s)
}

/// The at-rest form of a key.
pub fn hash_key(key: &str) -> String {
    sha256_tagged(key.as_bytes())
}

/// Who a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant id.
    pub tenant: String,
    /// Agent id (for admin keys: `admin`).
    pub agent: String,
    /// Whether this is a tenant admin key.
    pub admin: bool,
    /// How this request reached the rail, when not through its JSON API (recorded on its
    /// receipts; never part of the key table's identity).
    pub via: Option<intentrail_core::Via>,
}

#[derive(Debug, Clone)]
struct Entry {
    hash: String,
    principal: Principal,
    revoked: bool,
}

/// The key table: hash → principal.
#[derive(Debug, Default, Clone)]
pub struct KeyTable {
    by_hash: HashMap<String, Entry>,
}

/// Why a key was refused (all answer `401 unauthenticated`; the reason is for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    Missing,
    /// No key with that hash.
    Unknown,
    /// The key was revoked.
    Revoked,
    /// The key belongs to another agent than the `IntentRail-Agent` header names.
    WrongAgent,
    /// An agent key where an admin key is required, or the reverse.
    WrongRole,
    /// More than one `Authorization` or `IntentRail-Agent` header: which one counts would be
    /// a guess.
    Ambiguous,
}

impl AuthFailure {
    /// A safe, fixed message.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing 'Authorization: Bearer <key>' header",
            AuthFailure::Unknown | AuthFailure::Revoked => "unknown or revoked key",
            AuthFailure::WrongAgent => {
                "the key does not belong to the agent named in IntentRail-Agent"
            }
            AuthFailure::WrongRole => "this key may not use this route",
            AuthFailure::Ambiguous => {
                "send exactly one Authorization header and at most one IntentRail-Agent header"
            }
        }
    }
}

impl KeyTable {
    /// Add (or replace) a key hash for a principal.
    pub fn insert(&mut self, key_hash: &str, principal: Principal) {
        self.by_hash.insert(
            key_hash.to_string(),
            Entry {
                hash: key_hash.to_string(),
                principal,
                revoked: false,
            },
        );
    }

    /// Drop every key of an agent (not the admin key): a key stored later replaces them.
    pub fn remove_agent(&mut self, tenant: &str, agent: &str) {
        self.by_hash.retain(|_, e| {
            e.principal.admin || e.principal.tenant != tenant || e.principal.agent != agent
        });
    }

    /// Mark every key of an agent revoked.
    pub fn revoke(&mut self, tenant: &str, agent: &str) {
        for e in self.by_hash.values_mut() {
            if e.principal.tenant == tenant && e.principal.agent == agent && !e.principal.admin {
                e.revoked = true;
            }
        }
    }

    /// Authenticate a presented key. `agent_header` is the `IntentRail-Agent` value; `None` is
    /// accepted only when `require_agent_header` is false (transparent mode).
    pub fn authenticate(
        &self,
        key: &str,
        agent_header: Option<&str>,
        require_agent_header: bool,
    ) -> Result<&Principal, AuthFailure> {
        let h = hash_key(key);
        let entry = self.by_hash.get(&h).ok_or(AuthFailure::Unknown)?;
        // The lookup is by hash; compare the full stored hash in constant time as well.
        if !bool::from(entry.hash.as_bytes().ct_eq(h.as_bytes())) {
            return Err(AuthFailure::Unknown);
        }
        if entry.revoked {
            return Err(AuthFailure::Revoked);
        }
        if entry.principal.admin {
            return Ok(&entry.principal);
        }
        match agent_header {
            Some(a) if bool::from(a.as_bytes().ct_eq(entry.principal.agent.as_bytes())) => {
                Ok(&entry.principal)
            }
            Some(_) => Err(AuthFailure::WrongAgent),
            None if require_agent_header => Err(AuthFailure::WrongAgent),
            None => Ok(&entry.principal),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The value of a credential header that may appear at most once (`None` when absent or not
/// text); two or more are refused, never resolved by picking one.
pub fn single_header<'h>(
    headers: &'h axum::http::HeaderMap,
    name: &str,
) -> Result<Option<&'h str>, AuthFailure> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(AuthFailure::Ambiguous);
    }
    Ok(first.and_then(|v| v.to_str().ok()))
}

/// Extract the bearer token from an `Authorization` header value.
pub fn bearer(value: Option<&str>) -> Option<&str> {
    let v = value?;
    let (scheme, token) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(t: &str, a: &str) -> Principal {
        Principal {
            tenant: t.into(),
            agent: a.into(),
            admin: false,
            via: None,
        }
    }

    #[test]
    fn keys_are_random_and_prefixed() {
        let a = generate_key(AGENT_KEY_PREFIX).expect("rng");
        let b = generate_key(AGENT_KEY_PREFIX).expect("rng");
        assert!(a.starts_with("ir_") && a.len() == 3 + 43);
        assert_ne!(*a, *b);
    }

    #[test]
    fn authenticate_checks_hash_agent_and_revocation() {
        let key = generate_key(AGENT_KEY_PREFIX).expect("rng");
        let mut t = KeyTable::default();
        t.insert(&hash_key(&key), principal("acme", "bot"));
        assert_eq!(
            t.authenticate(&key, Some("bot"), true)
                .map(|p| p.tenant.clone()),
            Ok("acme".to_string())
        );
        assert_eq!(
            t.authenticate(&key, Some("other"), true),
            Err(AuthFailure::WrongAgent)
        );
        assert_eq!(
            t.authenticate(&key, None, true),
            Err(AuthFailure::WrongAgent)
        );
        assert!(t.authenticate(&key, None, false).is_ok());
        assert_eq!(
            t.authenticate("ir_nope", Some("bot"), true),
            Err(AuthFailure::Unknown)
        );
        t.revoke("acme", "bot");
        assert_eq!(
            t.authenticate(&key, Some("bot"), true),
            Err(AuthFailure::Revoked)
        );
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
