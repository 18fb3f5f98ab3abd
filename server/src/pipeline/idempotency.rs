//! Idempotency keys around a flow: the first answer for a key is stored and replayed.
//!
//! Guarantees: keys are scoped per tenant + agent + route; the same key with other params is
//! `422 idempotency_conflict`; a key in flight is `409 request_in_progress`. A success (2xx),
//! or an error after which the action may have happened downstream, is final for the key and
//! replayed; an error that proves nothing was sent frees the key for a real retry.

use std::future::Future;

use axum::http::StatusCode;
use intentrail_core::hash::payload_hash;
use intentrail_core::ErrorKind;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::model::IdempotencyBegin;
use crate::problem::AppError;
use crate::rail::{Rail, Tenant};

/// Run `f` under the agent's idempotency key (scoped by `namespace`), replaying a finished
/// answer.
pub(crate) async fn run<F, Fut>(
    rail: &Rail,
    t: &Tenant,
    p: &Principal,
    key: Option<&str>,
    namespace: &str,
    params: &Value,
    f: F,
) -> Result<(StatusCode, Value), AppError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), AppError>>,
{
    let Some(key) = key else { return f().await };
    if key.is_empty() || key.len() > 255 {
        return Err(AppError::new(
            ErrorKind::InvalidRequest,
            "idempotency_key must be 1 to 255 characters",
        ));
    }
    let ph = payload_hash(params)?;
    let scoped = format!("{namespace}:{key}");
    match rail
        .ledger
        .idempotency_begin(&t.id, &p.agent, &scoped, &ph)
        .await?
    {
        IdempotencyBegin::New => {}
        IdempotencyBegin::InProgress => {
            return Err(AppError::new(
                ErrorKind::RequestInProgress,
                "a request with this idempotency key is in progress",
            ))
        }
        IdempotencyBegin::Conflict => {
            return Err(AppError::new(
                ErrorKind::IdempotencyConflict,
                "this idempotency key was used with other params",
            ))
        }
        IdempotencyBegin::Done(stored) => {
            if let Some(problem) = stored.get("problem") {
                return Err(AppError::from_problem(problem).acted());
            }
            let status = stored["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            return Ok((status, stored["body"].clone()));
        }
    }
    match f().await {
        Ok((status, body)) => {
            let stored = json!({"status": status.as_u16(), "body": body});
            rail.ledger
                .idempotency_complete(&t.id, &p.agent, &scoped, &stored)
                .await?;
            Ok((status, body))
        }
        // The action may have happened downstream: this answer is final for the key, so
        // a retry replays it instead of sending again (a new permit would carry a new
        // `Idempotency-Key` downstream, so the downstream could not deduplicate it).
        Err(e) if e.may_have_acted => {
            let stored = json!({"status": e.kind.http_status(), "problem": e.body()});
            if let Err(le) = rail
                .ledger
                .idempotency_complete(&t.id, &p.agent, &scoped, &stored)
                .await
            {
                // The key stays in progress: retries are refused, never re-sent.
                tracing::error!(error = %le, "cannot store an idempotent answer");
            }
            Err(e)
        }
        // Nothing was sent: free the key so a retry is a real new attempt.
        Err(e) => {
            if let Err(le) = rail
                .ledger
                .idempotency_abort(&t.id, &p.agent, &scoped)
                .await
            {
                tracing::error!(error = %le, "cannot release an idempotency key");
            }
            Err(e)
        }
    }
}
