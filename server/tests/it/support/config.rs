//! The one config writer: tenants `acme` (agents bot-1 and bot-2, an admin key) and `globex`
//! (agent bot-1), each with a `payments` connector to the test downstream bound to
//! `money.refund` (acme also `money.transfer`), a SQLite ledger and Ed25519 keys in the
//! test's folder. [`Options`] vary it.

use std::path::{Path, PathBuf};

use intentrail_server::auth::{hash_key, ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX};

use super::random::key;

pub const POLICY: &str = r#"
@id("allow_refunds")
permit(principal, action == Action::"money.refund", resource);
@id("refund_cap")
forbid(principal, action == Action::"money.refund", resource) when { context.params.amount > 10000 };
@id("transfers_need_approval")
@approval("required")
permit(principal, action == Action::"money.transfer", resource);
"#;

/// What [`write_config`] varies. The default: acme's refunds go to `POST /v1/refunds` with a
/// `file:` credential the harness writes, a 5 s forward timeout.
#[derive(Clone)]
pub struct Options {
    /// Base URL of the payments connectors (default: the recording downstream). Read by
    /// [`TestRail::start`](super::TestRail::start); [`write_config`] takes the URL itself.
    pub base_url: Option<String>,
    /// Path acme's money.refund is sent to.
    pub refund_path: String,
    /// acme's forward timeout.
    pub timeout_ms: u64,
    /// acme's connect timeout (default: the forward timeout, at most 2 s).
    pub connect_timeout_ms: Option<u64>,
    /// The payments connectors' credential reference (default: `file:` the secret the harness
    /// writes, [`Written::secret`]).
    pub credential: Option<String>,
    /// `(header, reference)` pairs: acme's `extra_credentials`.
    pub extra_credentials: Vec<(String, String)>,
    /// acme's `cache_ttl_ms` (0: no cache).
    pub cache_ttl_ms: u64,
    /// TOML inside `[providers]` (`timeout_ms = …` and `[providers.x]` tables).
    pub providers: String,
    /// TOML appended to tenant acme (connectors, profiles, limits).
    pub acme_extra: String,
    /// Cedar policies appended to tenant acme's.
    pub acme_policy_extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: None,
            refund_path: "/v1/refunds".into(),
            timeout_ms: 5000,
            connect_timeout_ms: None,
            credential: None,
            extra_credentials: Vec::new(),
            cache_ttl_ms: 0,
            providers: String::new(),
            acme_extra: String::new(),
            acme_policy_extra: String::new(),
        }
    }
}

impl Options {
    /// acme's refunds go to `/{payment_id}/refunds`, so the payment id picks the downstream's
    /// answer ([`TestRail::refund_via`](super::TestRail::refund_via)), with short timeouts
    /// (forward 800 ms, connect 300 ms).
    pub fn routed() -> Options {
        Options {
            refund_path: "/{payment_id}/refunds".into(),
            timeout_ms: 800,
            connect_timeout_ms: Some(300),
            ..Options::default()
        }
    }
}

/// What [`write_config`] wrote: the config file, the `file:` secret, and the keys.
pub struct Written {
    pub config_path: PathBuf,
    pub secret: String,
    /// acme's bot-1.
    pub api_key: String,
    /// acme's bot-2.
    pub api_key_2: String,
    /// acme's admin.
    pub admin_key: String,
    /// globex's bot-1.
    pub globex_key: String,
}

/// Write `intentrail.toml` (listening on a free port), the keys and the secret into `dir`,
/// the payments connectors pointing at `base_url`.
pub fn write_config(dir: &Path, base_url: &str, o: &Options) -> Written {
    let secret = format!("sk_test_{}", &key("")[..24]);
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let (k1, k2, ka, kg) = (
        key(AGENT_KEY_PREFIX),
        key(AGENT_KEY_PREFIX),
        key(ADMIN_KEY_PREFIX),
        key(AGENT_KEY_PREFIX),
    );
    let now = intentrail_server::rail::now_ms();
    intentrail_server::keystore::generate(&dir.join("keys/acme"), now).unwrap();
    intentrail_server::keystore::generate(&dir.join("keys/globex"), now).unwrap();
    let credential = o
        .credential
        .clone()
        .unwrap_or_else(|| format!("file:{}", secret_file.display()));
    let extras: Vec<String> = o
        .extra_credentials
        .iter()
        .map(|(h, r)| format!("{{ header = \"{h}\", credential = \"{r}\" }}"))
        .collect();
    let text = format!(
        r#"
listen = "127.0.0.1:0"
ledger = "sqlite://ledger.db"
permit_lifetime_secs = 60

[providers]
{providers}

[[tenants]]
id = "acme"
keys_dir = "keys/acme"
admin_key_hash = "{ha}"
policies = '''{POLICY}{policy_extra}'''
{extra}
[[tenants.agents]]
id = "bot-1"
key_hash = "{h1}"
[[tenants.agents]]
id = "bot-2"
key_hash = "{h2}"
[[tenants.connectors]]
name = "payments"
base_url = "{base_url}"
credential = "{credential}"
auth = {{ type = "bearer" }}
extra_credentials = [{extras}]
cache_ttl_ms = {ttl}
allow_private = true
timeout_ms = {timeout}
connect_timeout_ms = {connect}
[[tenants.actions]]
name = "money.refund"
connector = "payments"
request = {{ method = "POST", path = "{refund_path}" }}
[[tenants.actions]]
name = "money.transfer"
connector = "payments"
request = {{ method = "POST", path = "/v1/transfers" }}

[[tenants]]
id = "globex"
keys_dir = "keys/globex"
policies = '''{POLICY}'''
[[tenants.agents]]
id = "bot-1"
key_hash = "{hg}"
[[tenants.connectors]]
name = "payments"
base_url = "{base_url}"
credential = "{credential}"
auth = {{ type = "bearer" }}
allow_private = true
[[tenants.actions]]
name = "money.refund"
connector = "payments"
request = {{ method = "POST", path = "/v1/refunds" }}
"#,
        providers = o.providers,
        ha = hash_key(&ka),
        h1 = hash_key(&k1),
        h2 = hash_key(&k2),
        hg = hash_key(&kg),
        extra = o.acme_extra,
        policy_extra = o.acme_policy_extra,
        extras = extras.join(", "),
        ttl = o.cache_ttl_ms,
        timeout = o.timeout_ms,
        connect = o.connect_timeout_ms.unwrap_or(o.timeout_ms.min(2000)),
        refund_path = o.refund_path,
    );
    let config_path = dir.join("intentrail.toml");
    std::fs::write(&config_path, text).unwrap();
    Written {
        config_path,
        secret,
        api_key: k1,
        api_key_2: k2,
        admin_key: ka,
        globex_key: kg,
    }
}
