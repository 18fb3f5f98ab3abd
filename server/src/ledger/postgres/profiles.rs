//! Mirrored profile versions in PostgreSQL; uploads of one profile are serialized across
//! instances by an advisory lock, under which the shared rule
//! (`ledger/profiles.rs`) picks the version.

use tokio_postgres::Client;

use super::db::{db_err, get};
use crate::ledger::profiles::{upload, Head, Upload};
use crate::ledger::{LedgerError, ProfileRow};

/// Store `document` as the next version of (tenant, name), unless the newest has `hash`.
pub(super) async fn put(
    c: &mut Client,
    tenant: &str,
    name: &str,
    hash: &str,
    document: &[u8],
) -> Result<(ProfileRow, bool), LedgerError> {
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_err("begin a profile upload", &e))?;
    // Uploads of one profile are serialized (other instances included).
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
        &[&tenant, &name],
    )
    .await
    .map_err(|e| db_err("lock a profile", &e))?;
    let head = tx
        .query_opt(
            "SELECT version, hash, created_at_ms FROM profiles
             WHERE tenant = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
            &[&tenant, &name],
        )
        .await
        .map_err(|e| db_err("read the newest profile version", &e))?;
    let head: Option<Head> = match head {
        Some(r) => Some((
            get(&r, 0, "profile")?,
            get(&r, 1, "profile")?,
            get(&r, 2, "profile")?,
        )),
        None => None,
    };
    let new = match upload(tenant, name, hash, head) {
        Upload::Unchanged(row) => return Ok((row, false)),
        Upload::New(row) => row,
    };
    tx.execute(
        "INSERT INTO profiles (tenant, name, version, hash, document, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &tenant,
            &name,
            &new.version,
            &new.hash,
            &document,
            &new.created_at_ms,
        ],
    )
    .await
    .map_err(|e| db_err("store a profile version", &e))?;
    tx.commit()
        .await
        .map_err(|e| db_err("commit a profile version", &e))?;
    Ok((new, true))
}

/// The newest version of every profile, by tenant and name.
pub(super) async fn heads(c: &Client) -> Result<Vec<ProfileRow>, LedgerError> {
    let rows = c
        .query(
            "SELECT DISTINCT ON (tenant, name) tenant, name, version, hash, created_at_ms
             FROM profiles ORDER BY tenant, name, version DESC",
            &[],
        )
        .await
        .map_err(|e| db_err("list profiles", &e))?;
    rows.iter()
        .map(|r| {
            Ok(ProfileRow {
                tenant: get(r, 0, "profile")?,
                name: get(r, 1, "profile")?,
                version: get(r, 2, "profile")?,
                hash: get(r, 3, "profile")?,
                created_at_ms: get(r, 4, "profile")?,
            })
        })
        .collect()
}

/// One version with its document.
pub(super) async fn document(
    c: &Client,
    tenant: &str,
    name: &str,
    version: i64,
) -> Result<Option<(ProfileRow, Vec<u8>)>, LedgerError> {
    let r = c
        .query_opt(
            "SELECT hash, created_at_ms, document FROM profiles
             WHERE tenant = $1 AND name = $2 AND version = $3",
            &[&tenant, &name, &version],
        )
        .await
        .map_err(|e| db_err("read a profile document", &e))?;
    r.map(|r| {
        Ok((
            ProfileRow {
                tenant: tenant.to_owned(),
                name: name.to_owned(),
                version,
                hash: get(&r, 0, "profile")?,
                created_at_ms: get(&r, 1, "profile")?,
            },
            get(&r, 2, "profile")?,
        ))
    })
    .transpose()
}
