//! Administration commands: `agents`, `keys rotate`, `profiles import`, `ledger migrate|copy`.

use std::path::Path;

use serde_json::json;

use super::{load_config, say, say_err, tenant_of, AgentArgs, ProfileImportArgs, TenantArgs};
use crate::auth::{generate_key, hash_key, AGENT_KEY_PREFIX};
use crate::rail::now_ms;
use crate::{keystore, ledger};

pub(super) async fn profiles_import(a: &ProfileImportArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    let tenant = match &a.tenant {
        Some(t) => tenant_of(&config, t)?,
        None => match config.tenants.as_slice() {
            [only] => only,
            _ => return Err("the config has several tenants: pass --tenant".into()),
        },
    };
    if !tenant.profiles.iter().any(|p| p.name == a.name) {
        return Err(format!(
            "tenant {:?} binds no profile {:?}: add [[tenants.profiles]] name = {:?}, connector = \"…\" to the config",
            tenant.id, a.name, a.name
        ));
    }
    let bytes =
        std::fs::read(&a.file).map_err(|e| format!("cannot read {}: {e}", a.file.display()))?;
    say_err(&format!(
        "importing {} ({} bytes) as profile {:?} of tenant {:?}…",
        a.file.display(),
        bytes.len(),
        a.name,
        tenant.id
    ));
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let imported = crate::profile::import(ledger.as_ref(), &tenant.id, &a.name, bytes)
        .await
        .map_err(|e| format!("the profile document is refused: {e}"))?;
    let ms = started.elapsed().as_millis();
    let p = &imported.profile;
    let r = &imported.report;
    if a.json {
        say(&json!({
            "name": p.name, "version": p.version, "hash": p.hash, "created": imported.created,
            "imported": r.imported, "skipped": r.skipped, "elapsed_ms": ms,
        })
        .to_string());
        return Ok(());
    }
    let what = if imported.created {
        "stored as version"
    } else {
        "unchanged: the newest stored version is already this document, version"
    };
    say(&format!(
        "profile {:?} {what} {} ({}) in {ms} ms: {} operations imported, {} skipped",
        p.name,
        p.version,
        p.hash,
        r.imported,
        r.skipped.len()
    ));
    for s in &r.skipped {
        say(&format!("  skipped {}: {}", s.operation, s.reason));
    }
    Ok(())
}

pub(super) async fn ledger_migrate(config: &Path) -> Result<i32, String> {
    let config = load_config(config)?;
    if config.ledger.starts_with("postgres") {
        let (current, latest) = ledger::postgres::migrate_url(&config.ledger)
            .await
            .map_err(|e| e.to_string())?;
        say(&format!(
            "postgres ledger at schema version {current} (this binary: {latest})"
        ));
    } else {
        // Opening applies pending migrations (SQLite: under the file's write lock).
        ledger::open(&config.ledger)
            .await
            .map_err(|e| e.to_string())?;
        say("ledger schema is up to date");
    }
    Ok(0)
}

pub(super) async fn ledger_copy(config: &Path, to: &str) -> Result<i32, String> {
    let config = load_config(config)?;
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err("--to must be a postgres:// URL".into());
    }
    let src = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let tenants: Vec<String> = config.tenants.iter().map(|t| t.id.clone()).collect();
    let report = ledger::copy::copy_into(src.as_ref(), &tenants, to)
        .await
        .map_err(|e| e.to_string())?;
    for (tenant, n) in &report.receipts {
        say(&format!("tenant {tenant:?}: {n} receipt(s) copied"));
    }
    say(&format!(
        "{} agent key row(s) and {} profile version(s) copied; now set `ledger = \"postgres://…\"` in the config",
        report.agent_keys, report.profile_versions
    ));
    Ok(0)
}

pub(super) async fn agents_create(a: &AgentArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    tenant_of(&config, &a.tenant)?;
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let key = generate_key(AGENT_KEY_PREFIX).map_err(|e| e.to_string())?;
    ledger
        .put_agent_key(&a.tenant, &a.agent, &hash_key(&key))
        .await
        .map_err(|e| e.to_string())?;
    say(&format!(
        "agent {:?} in tenant {:?} created; key (shown once): {}",
        a.agent,
        a.tenant,
        key.as_str()
    ));
    Ok(())
}

pub(super) async fn agents_revoke(a: &AgentArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    tenant_of(&config, &a.tenant)?;
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    ledger
        .revoke_agent(&a.tenant, &a.agent)
        .await
        .map_err(|e| e.to_string())?;
    say(&format!(
        "agent {:?} in tenant {:?} revoked (running rails pick this up within a second)",
        a.agent, a.tenant
    ));
    Ok(())
}

pub(super) fn keys_rotate(a: &TenantArgs) -> Result<(), String> {
    let config = load_config(&a.config)?;
    let t = tenant_of(&config, &a.tenant)?;
    let kid = keystore::generate(&t.keys_dir, now_ms())?;
    say(&format!(
        "tenant {:?} now signs with {kid}; the previous key stays published for {} s. Restart the rail to use the new key.",
        a.tenant,
        config.permit_lifetime_secs + 5
    ));
    Ok(())
}
