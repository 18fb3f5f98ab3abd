//! Mirrored profile versions in SQLite; which version an upload gets is the shared rule
//! (`ledger/profiles.rs`), applied under the writer's transaction.

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{db_err, exec, row, rows};
use crate::ledger::profiles::{upload, Head, Upload};
use crate::ledger::{LedgerError, ProfileRow};

/// Store `document` as the next version of (tenant, name), unless the newest has `hash`.
pub(super) fn put(
    c: &Connection,
    tenant: &str,
    name: &str,
    hash: &str,
    document: &[u8],
) -> Result<(ProfileRow, bool), LedgerError> {
    let head: Option<Head> = row(
        c,
        "SELECT version, hash, created_at_ms FROM profiles
         WHERE tenant = ?1 AND name = ?2 ORDER BY version DESC LIMIT 1",
        params![tenant, name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
    .map_err(|e| db_err("read the newest profile version", e))?;
    let new = match upload(tenant, name, hash, head) {
        Upload::Unchanged(row) => return Ok((row, false)),
        Upload::New(row) => row,
    };
    exec(
        c,
        "INSERT INTO profiles (tenant, name, version, hash, document, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            tenant,
            name,
            new.version,
            new.hash,
            document,
            new.created_at_ms
        ],
    )
    .map_err(|e| db_err("store a profile version", e))?;
    Ok((new, true))
}

/// The newest version of every profile, by tenant and name.
pub(super) fn heads(c: &Connection) -> Result<Vec<ProfileRow>, LedgerError> {
    rows(
        c,
        "list profiles",
        "SELECT p.tenant, p.name, p.version, p.hash, p.created_at_ms FROM profiles p
         WHERE p.version = (SELECT MAX(q.version) FROM profiles q
                            WHERE q.tenant = p.tenant AND q.name = p.name)
         ORDER BY p.tenant, p.name",
        [],
        |r| {
            Ok(ProfileRow {
                tenant: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                hash: r.get(3)?,
                created_at_ms: r.get(4)?,
            })
        },
    )
}

/// One version with its document.
pub(super) fn document(
    c: &Connection,
    tenant: &str,
    name: &str,
    version: i64,
) -> Result<Option<(ProfileRow, Vec<u8>)>, LedgerError> {
    row(
        c,
        "SELECT hash, created_at_ms, document FROM profiles
         WHERE tenant = ?1 AND name = ?2 AND version = ?3",
        params![tenant, name, version],
        |r| {
            Ok((
                ProfileRow {
                    tenant: tenant.to_owned(),
                    name: name.to_owned(),
                    version,
                    hash: r.get(0)?,
                    created_at_ms: r.get(1)?,
                },
                r.get::<_, Vec<u8>>(2)?,
            ))
        },
    )
    .optional()
    .map_err(|e| db_err("read a profile document", e))
}
