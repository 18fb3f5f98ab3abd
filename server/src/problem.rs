//! RFC 9457 problem+json answers. Every error the API returns goes through [`AppError`], which
//! carries a stable `code` from core's [`ErrorKind`] and never internal details: the cause of
//! an internal error is kept aside and logged (without secrets) when the answer is written;
//! the agent gets the code, a title and a safe detail. Each module's error converts with `?`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use intentrail_core::{Error, ErrorKind};
use serde_json::{json, Map, Value};

/// An API error: a kind, a safe detail, and optional extra members (violations, policy ids,
/// receipt id).
#[derive(Debug, Clone)]
pub struct AppError {
    /// The stable kind (its `code` is the problem's `code`).
    pub kind: ErrorKind,
    /// Human detail, safe to show the agent.
    pub detail: String,
    /// Extra problem members.
    pub extra: Map<String, Value>,
    /// The action may have reached the downstream (it answered 5xx, timed out, broke the
    /// connection, or was forwarded before its receipt failed). Such an answer is final for an
    /// idempotency key: a retry replays it and never sends again.
    pub may_have_acted: bool,
    /// The cause of an internal error: logged when the answer is written, never shown.
    cause: Option<Box<str>>,
}

impl AppError {
    /// A new error.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        AppError {
            kind,
            detail: detail.into(),
            extra: Map::new(),
            may_have_acted: false,
            cause: None,
        }
    }

    /// Mark the action as possibly done downstream (see [`AppError::may_have_acted`]).
    pub fn acted(mut self) -> Self {
        self.may_have_acted = true;
        self
    }

    /// Rebuild an error from a problem document [`AppError::body`] wrote (an idempotent
    /// replay). Members other than the standard ones come back as extras.
    pub fn from_problem(doc: &Value) -> Self {
        let kind = doc
            .get("code")
            .and_then(Value::as_str)
            .and_then(ErrorKind::from_code)
            .unwrap_or(ErrorKind::Internal);
        let detail = doc
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut e = AppError::new(kind, detail);
        if let Some(m) = doc.as_object() {
            for (k, v) in m {
                if !matches!(k.as_str(), "type" | "title" | "status" | "code" | "detail") {
                    e.extra.insert(k.clone(), v.clone());
                }
            }
        }
        e
    }

    /// Add a member to the problem document.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// An internal error: the answer says only `internal`; the cause is logged when the
    /// answer is written.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = AppError::new(ErrorKind::Internal, "internal error; see the rail's log");
        e.cause = Some(cause.to_string().into_boxed_str());
        e
    }

    /// The receipt id recorded for this failure, if any.
    pub fn receipt_id(&self) -> Option<&str> {
        self.extra.get("receipt_id").and_then(Value::as_str)
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "type".into(),
            json!(format!(
                "https://intentrail.dev/errors/{}",
                self.kind.code()
            )),
        );
        doc.insert("title".into(), json!(self.kind.title()));
        doc.insert("status".into(), json!(self.kind.http_status()));
        doc.insert("code".into(), json!(self.kind.code()));
        doc.insert("detail".into(), json!(self.detail));
        for (k, v) in &self.extra {
            doc.insert(k.clone(), v.clone());
        }
        Value::Object(doc)
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        if e.kind() == ErrorKind::Internal {
            return AppError::internal(e.detail());
        }
        AppError::new(e.kind(), e.detail())
    }
}

impl From<crate::ledger::LedgerError> for AppError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        AppError::from(Error::from(e))
    }
}

impl From<crate::credentials::CredentialError> for AppError {
    fn from(e: crate::credentials::CredentialError) -> Self {
        AppError::from(Error::from(e))
    }
}

impl From<crate::profile::ImportError> for AppError {
    fn from(e: crate::profile::ImportError) -> Self {
        match e {
            crate::profile::ImportError::Invalid(m) => AppError::new(
                ErrorKind::InvalidRequest,
                format!("the profile document is refused: {m}"),
            ),
            crate::profile::ImportError::Ledger(e) => AppError::from(e),
        }
    }
}

impl AppError {
    /// The problem document of an answer being written: the cause of an internal error is
    /// logged here (never sent).
    pub fn answer(&self) -> Value {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, "internal error");
        }
        self.body()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.answer()).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_document_has_the_stable_members() {
        let e = AppError::new(ErrorKind::PolicyDenied, "denied by refund_cap")
            .with("policy_ids", json!(["refund_cap"]));
        let b = e.body();
        assert_eq!(b["code"], "policy_denied");
        assert_eq!(b["status"], 403);
        assert_eq!(b["policy_ids"][0], "refund_cap");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
