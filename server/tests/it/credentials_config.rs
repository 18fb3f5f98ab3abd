//! `[providers]` and the connector credential fields: the example file loads, unknown fields
//! and unsafe or contradictory settings are refused at load time.

use std::path::Path;

use intentrail_server::config::Config;
use intentrail_server::credentials::vault::VaultAuthMethod;
use intentrail_server::credentials::Credentials;

fn config(providers: &str, connector_extra: &str) -> Result<Config, String> {
    let text = format!(
        r#"
[providers]
{providers}

[[tenants]]
id = "acme"
keys_dir = "keys"
policies = "permit(principal, action, resource);"
[[tenants.connectors]]
name = "payments"
base_url = "https://api.example"
credential = "env:KEY"
auth = {{ type = "bearer" }}
{connector_extra}
"#
    );
    Config::from_toml(&text, Path::new("/tmp")).map_err(|e| e.0)
}

#[test]
fn the_example_config_documents_every_store() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/intentrail.toml");
    let c = Config::load(&path).expect("example loads");
    assert_eq!(c.providers.timeout_ms, 2000);
    assert_eq!(c.providers.aws.region.as_deref(), Some("eu-west-1"));
    assert_eq!(c.providers.vault.auth, VaultAuthMethod::Approle);
    let deployer = c.tenants[0]
        .connectors
        .iter()
        .find(|c| c.name == "deployer")
        .expect("deployer");
    assert_eq!(deployer.extra_credentials.len(), 1);
    assert_eq!(deployer.cache_ttl_ms, 30_000);
    let creds = Credentials::from_config(&c.providers).expect("registry");
    assert_eq!(
        creds.schemes().collect::<Vec<_>>(),
        ["aws-sm", "azure-kv", "env", "file", "vault"]
    );
}

#[test]
fn defaults_need_no_providers_section() {
    let c = config("", "").expect("defaults");
    assert_eq!(c.providers.timeout_ms, 2000);
    assert_eq!(c.tenants[0].connectors[0].cache_ttl_ms, 0);
    assert!(c.tenants[0].connectors[0].extra_credentials.is_empty());
}

#[test]
fn good_provider_settings_load() {
    let ok = [
        "timeout_ms = 500\n[providers.aws]\nregion = \"us-east-1\"\nendpoint = \"http://127.0.0.1:4566\"\n",
        "[providers.azure]\nvault_url = \"https://{vault}.vault.azure.cn\"\nauthority = \"https://login.chinacloudapi.cn\"\n",
        "[providers.vault]\naddress = \"http://localhost:8200\"\nnamespace = \"a/b\"\ntoken = \"file:/run/secrets/vault-token\"\n",
        "[providers.vault]\nauth = \"approle\"\nrole_id = \"env:R\"\nsecret_id = \"env:S\"\napprole_mount = \"approle-rail\"\n",
    ];
    for p in ok {
        assert!(config(p, "").is_ok(), "{p}: {:?}", config(p, "").err());
    }
}

#[test]
fn bad_provider_settings_are_refused() {
    let bad = [
        "bogus = 1",
        "timeout_ms = 0",
        "timeout_ms = 600000",
        "[providers.aws]\nregion = \"us-east-1\"\nsecret_access_key = \"x\"\n",
        "[providers.aws]\nregion = \"US EAST\"\n",
        "[providers.aws]\nendpoint = \"http://secretsmanager.example\"\n",
        "[providers.aws]\ntimeout_ms = 0\n",
        "[providers.azure]\nvault_url = \"https://kv.example\"\n",
        "[providers.azure]\nclient_secret = \"x\"\n",
        "[providers.azure]\ntenant_id = \"../x\"\n",
        "[providers.vault]\naddress = \"ftp://vault\"\n",
        "[providers.vault]\ntoken = \"hvs.literal-token\"\n",
        "[providers.vault]\nrole_id = \"env:R\"\n",
        "[providers.vault]\nauth = \"approle\"\ntoken = \"env:T\"\n",
        "[providers.vault]\nauth = \"kubernetes\"\n",
        "[providers.vault]\nnamespace = \"a b\"\n",
    ];
    for p in bad {
        assert!(config(p, "").is_err(), "accepted: {p}");
    }
}

#[test]
fn extra_credentials_and_cache_ttl_are_checked() {
    let ok = [
        "extra_credentials = [{ header = \"X-App-Key\", credential = \"vault:kv/dd#app\" }]",
        "extra_credentials = [{ header = \"A\", credential = \"env:A\" }, { header = \"B\", credential = \"azure-kv:kv/b\" }]\ncache_ttl_ms = 60000",
    ];
    for c in ok {
        assert!(config("", c).is_ok(), "{c}: {:?}", config("", c).err());
    }
    let bad = [
        // The bearer credential already uses Authorization.
        "extra_credentials = [{ header = \"Authorization\", credential = \"env:A\" }]",
        "extra_credentials = [{ header = \"Idempotency-Key\", credential = \"env:A\" }]",
        "extra_credentials = [{ header = \"Host\", credential = \"env:A\" }]",
        "extra_credentials = [{ header = \"bad header\", credential = \"env:A\" }]",
        "extra_credentials = [{ header = \"X-A\", credential = \"A\" }]",
        "extra_credentials = [{ header = \"X-A\", credential = \"env:A\" }, { header = \"x-a\", credential = \"env:B\" }]",
        "extra_credentials = [{ header = \"X-A\", credential = \"env:A\", prefix = \"Key \" }]",
        "cache_ttl_ms = 3600001",
    ];
    for c in bad {
        assert!(config("", c).is_err(), "accepted: {c}");
    }
}
