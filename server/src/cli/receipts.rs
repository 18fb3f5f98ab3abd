//! `receipts export` and `receipts verify` (offline, with optional checkpoints).

use std::path::{Path, PathBuf};

use intentrail_core::checkpoint::Checkpoint;
use intentrail_core::keys::Jwks;
use intentrail_core::receipt::verify_chain;
use serde_json::json;

use super::{load_config, say, tenant_of, TenantArgs};
use crate::rail::now_ms;
use crate::{keystore, ledger};

pub(super) async fn receipts_export(a: &TenantArgs, out: Option<&Path>) -> Result<(), String> {
    let config = load_config(&a.config)?;
    let t = tenant_of(&config, &a.tenant)?;
    let keys = keystore::load(&t.keys_dir, now_ms(), 0)?;
    let ledger = ledger::open(&config.ledger)
        .await
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = ledger
            .receipts_after(&a.tenant, after, 1000)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last().and_then(|r| r["seq"].as_u64()) else {
            break;
        };
        after = last;
        all.extend(page);
        if out.is_some() {
            eprintln!("exported {} receipts…", all.len());
        }
    }
    let doc = json!({
        "tenant": a.tenant,
        "receipts": all,
        "jwks": Jwks::from_verifying_keys(keys.all.values()).map_err(|e| e.to_string())?,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    match out {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| e.to_string())?;
            eprintln!("wrote {} receipts to {}", all.len(), p.display());
        }
        None => say(&text),
    }
    Ok(())
}

pub(super) fn receipts_verify(
    file: &Path,
    jwks: Option<&Path>,
    checkpoints: &[PathBuf],
    expect_heads: &[String],
) -> Result<i32, String> {
    // Expected heads first: a malformed argument is a usage error, not a failed chain.
    let mut heads = Vec::new();
    for h in expect_heads {
        let (seq, hash) = h
            .split_once(':')
            .and_then(|(s, h)| Some((s.parse::<u64>().ok()?, h.to_owned())))
            .ok_or_else(|| format!("--expect-head {h:?}: give SEQ:HASH, e.g. 42:sha256:…"))?;
        heads.push((format!("expected head {seq}"), seq, hash));
    }
    let mut cps = Vec::new();
    for p in checkpoints {
        let b = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let cp = Checkpoint::parse(&b).map_err(|e| format!("{}: {}", p.display(), e.detail()))?;
        cps.push((p.display().to_string(), cp));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    // Strict (a duplicate key could hide an edit), but not the API's 1 MiB input limit: an
    // export holds the whole chain (~0.9 KB per receipt), and it is the operator's own file.
    let limits = intentrail_core::json::Limits {
        max_bytes: bytes.len(),
        ..intentrail_core::json::Limits::default()
    };
    let doc =
        intentrail_core::json::parse_strict_with(&bytes, limits).map_err(|e| e.to_string())?;
    let receipts = doc["receipts"]
        .as_array()
        .ok_or("the export has no `receipts` array")?;
    let jwks = match jwks {
        Some(p) => {
            let b = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            Jwks::parse(&b).map_err(|e| e.to_string())?
        }
        None => {
            let b = serde_json::to_vec(&doc["jwks"]).map_err(|e| e.to_string())?;
            Jwks::parse(&b).map_err(|e| format!("the export's jwks: {e}"))?
        }
    };
    let report = match verify_chain(receipts, &jwks, None) {
        Ok(report) => report,
        Err(e) => {
            say(&format!("FAILED: {e}"));
            return Ok(1);
        }
    };
    for (name, cp) in &cps {
        let tenant = doc["tenant"].as_str().unwrap_or_default();
        let checked = if cp.tenant != tenant {
            Err(format!(
                "it is of tenant {:?}, the export of {tenant:?}",
                cp.tenant
            ))
        } else {
            cp.verify(&jwks)
                .and_then(|()| cp.check(receipts, &report))
                .map_err(|e| e.detail().to_owned())
        };
        if let Err(e) = checked {
            say(&format!("FAILED: checkpoint {name}: {e}"));
            return Ok(1);
        }
    }
    for (name, seq, hash) in &heads {
        if let Err(e) = intentrail_core::checkpoint::expect_head(receipts, &report, *seq, hash) {
            say(&format!("FAILED: {name}: {}", e.detail()));
            return Ok(1);
        }
    }
    say(&format!(
        "OK: {} receipts, seq 1..{}, head {}:{}{}",
        report.count,
        report.last_seq,
        report.last_seq,
        report.last_hash,
        match cps.len() + heads.len() {
            0 => String::new(),
            n => format!(" ({n} checkpoint(s) reached)"),
        }
    ));
    Ok(0)
}
