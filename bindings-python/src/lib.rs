//! `intentrail._native`: the private native module under the `intentrail` Python package.
//!
//! Type conversion, error mapping and thread bridging only; every rule lives in
//! `intentrail-core`. The GIL is released around network and crypto; the tokio runtime is
//! created lazily per process (and again after `fork()`); errors become the exception classes
//! of `intentrail.exceptions`, chosen there by `code`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intentrail_core::client::{ClientError, ExecuteResult, IntentOutcome, RailClient};
use intentrail_core::{Error, ErrorKind, Jwks, VerifyOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString};
use pyo3_async_runtimes::TaskLocals;
use serde_json::Value;
use zeroize::Zeroizing;

// ---------------------------------------------------------------------------------------------
// Runtime: one per process, re-created in a forked child.

static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);

fn runtime() -> Result<Arc<tokio::runtime::Runtime>, ClientError> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .map_err(|_| ClientError::new(ErrorKind::Internal, "runtime lock poisoned"))?;
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Ok(rt.clone());
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("intentrail-io")
        .enable_all()
        .build()
        .map_err(|e| ClientError::new(ErrorKind::Internal, format!("tokio runtime: {e}")))?;
    // A runtime inherited through fork() has no threads in this process: dropping it could
    // wait for them forever, so it is leaked instead.
    if let Some(old) = slot.replace((pid, Arc::new(rt))) {
        std::mem::forget(old);
    }
    slot.as_ref()
        .map(|(_, rt)| rt.clone())
        .ok_or_else(|| ClientError::new(ErrorKind::Internal, "runtime missing"))
}

/// The runtime `pyo3-async-runtimes` spawns Python awaitables on: ours, per process.
struct Rt;

tokio::task_local! {
    static LOCALS: std::cell::OnceCell<TaskLocals>;
}

impl pyo3_async_runtimes::generic::Runtime for Rt {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // `awaitable` built the runtime just before handing the future over, so this only
        // clones it; pyo3-async-runtimes' own tokio runtime panics the same way.
        #[allow(clippy::expect_used)]
        runtime()
            .expect("the runtime was built by the caller")
            .spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        #[allow(clippy::expect_used)]
        runtime()
            .expect("the runtime was built by the caller")
            .spawn_blocking(f)
    }
}

impl pyo3_async_runtimes::generic::ContextExt for Rt {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: built by `intentrail.exceptions._from_native`, the one place that maps codes.

fn to_pyerr(py: Python<'_>, e: &ClientError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = py.import("intentrail.exceptions")?;
        let violations = PyList::empty(py);
        for v in &e.violations {
            violations.append(to_py(py, v)?)?;
        }
        let problem = match &e.problem {
            Some(m) => to_py(py, &Value::Object((**m).clone()))?,
            None => py.None().into_bound(py),
        };
        let exc = module.call_method1(
            "_from_native",
            (
                e.code(),
                e.detail(),
                e.status,
                e.receipt_id.as_deref(),
                violations,
                e.policy_ids.clone(),
                problem,
                e.explain(),
            ),
        )?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

fn core_err(py: Python<'_>, e: Error) -> PyErr {
    to_pyerr(py, &ClientError::from(e))
}

// ---------------------------------------------------------------------------------------------
// JSON <-> Python.

fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// Text of a `str` or `bytes` JSON document. A `str` holding a lone surrogate cannot be
/// UTF-8: that is refused as `invalid_json` (I-JSON), like the escaped form is by core.
fn json_text(py: Python<'_>, doc: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = doc.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let s = doc
        .cast::<PyString>()
        .map_err(|_| PyValueError::new_err("expected a JSON document as str or bytes"))?;
    match s.to_cow() {
        Ok(s) => Ok(s.as_bytes().to_vec()),
        Err(_) => Err(core_err(
            py,
            Error::new(
                ErrorKind::InvalidJson,
                "lone_surrogate at \"\": a string holds a lone surrogate (not valid Unicode)",
            ),
        )),
    }
}

/// Strictly parse a JSON document given as `str`/`bytes`.
fn parse(py: Python<'_>, doc: &Bound<'_, PyAny>) -> PyResult<Value> {
    let bytes = json_text(py, doc)?;
    py.detach(|| intentrail_core::json::parse_strict(&bytes))
        .map_err(|e| core_err(py, e))
}

fn execute_to_py<'py>(py: Python<'py>, r: &ExecuteResult) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &r.to_value())
}

fn outcome_to_py<'py>(py: Python<'py>, o: &IntentOutcome) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &o.to_json())
}

// ---------------------------------------------------------------------------------------------
// The client.

/// The native client of one agent (wrapped by `intentrail.Rail`).
#[pyclass(module = "intentrail._native", frozen)]
pub struct NativeRail {
    url: String,
    api_key: Zeroizing<String>,
    agent_id: String,
    timeout: Duration,
    /// The client and the pid that built it (rebuilt in a forked child: pooled connections
    /// belong to the parent's runtime).
    client: Mutex<(u32, RailClient)>,
}

impl NativeRail {
    fn client(&self) -> Result<RailClient, ClientError> {
        let pid = std::process::id();
        let mut slot = self
            .client
            .lock()
            .map_err(|_| ClientError::new(ErrorKind::Internal, "client lock poisoned"))?;
        if slot.0 != pid {
            *slot = (
                pid,
                RailClient::new(
                    &self.url,
                    self.api_key.clone(),
                    &self.agent_id,
                    self.timeout,
                )?,
            );
        }
        Ok(slot.1.clone())
    }

    /// Run `f(client)` to completion on the runtime with the GIL released.
    fn block<T, F, Fut>(&self, py: Python<'_>, f: F) -> PyResult<T>
    where
        T: Send,
        F: FnOnce(RailClient) -> Fut + Send,
        Fut: Future<Output = Result<T, ClientError>> + Send,
    {
        py.detach(|| {
            let rt = runtime()?;
            let client = self.client()?;
            rt.block_on(f(client))
        })
        .map_err(|e| to_pyerr(py, &e))
    }

    /// `f(client)` as a Python awaitable (resolved on the runtime, GIL taken only to convert).
    fn awaitable<'py, F, Fut, C>(
        &self,
        py: Python<'py>,
        f: F,
        convert: C,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: FnOnce(RailClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, ClientError>> + Send + 'static,
        C: FnOnce(Python<'_>, Value) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        runtime().map_err(|e| to_pyerr(py, &e))?;
        let client = self.client().map_err(|e| to_pyerr(py, &e))?;
        pyo3_async_runtimes::generic::future_into_py::<Rt, _, _>(py, async move {
            let out = f(client).await;
            Python::attach(|py| match out {
                Ok(v) => convert(py, v),
                Err(e) => Err(to_pyerr(py, &e)),
            })
        })
    }
}

fn unbind(py: Python<'_>, v: Value) -> PyResult<Py<PyAny>> {
    Ok(to_py(py, &v)?.unbind())
}

#[pymethods]
impl NativeRail {
    /// A client for the rail at `url`, authenticating as `agent_id` with `api_key`; each
    /// request is bounded by `timeout` seconds.
    #[new]
    #[pyo3(signature = (url, api_key, agent_id, timeout = 30.0))]
    fn new(
        py: Python<'_>,
        url: &str,
        api_key: &str,
        agent_id: &str,
        timeout: f64,
    ) -> PyResult<Self> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| PyValueError::new_err("timeout must be a positive number of seconds"))?;
        let api_key = Zeroizing::new(api_key.to_string());
        let client = RailClient::new(url, api_key.clone(), agent_id, timeout)
            .map_err(|e| to_pyerr(py, &e))?;
        Ok(NativeRail {
            url: client.url().to_string(),
            api_key,
            agent_id: agent_id.to_string(),
            timeout,
            client: Mutex::new((std::process::id(), client)),
        })
    }

    /// The rail URL.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The agent id.
    #[getter]
    fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The per-request timeout, in seconds.
    #[getter]
    fn timeout(&self) -> f64 {
        self.timeout.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "NativeRail(url={:?}, agent_id={:?})",
            self.url, self.agent_id
        )
    }

    /// `GET /v1/agent` as a dict.
    fn agent<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = self.block(py, |c| async move { c.agent().await })?;
        to_py(py, &serde_json::to_value(a).unwrap_or(Value::Null))
    }

    /// The tenant's JWKS as a dict (cached).
    fn jwks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let j = self.block(py, |c| async move { c.jwks().await })?;
        let v = j
            .to_json()
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .unwrap_or(Value::Null);
        to_py(py, &v)
    }

    /// `POST /v1/intents`; `params_json` is the params as JSON text.
    #[pyo3(signature = (action, params_json, idempotency_key = None))]
    fn intent<'py>(
        &self,
        py: Python<'py>,
        action: String,
        params_json: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = parse(py, params_json)?;
        let o = self.block(py, |c| async move {
            c.intent(&action, &params, idempotency_key.as_deref()).await
        })?;
        outcome_to_py(py, &o)
    }

    /// `POST /v1/execute` (no local checks).
    fn execute<'py>(
        &self,
        py: Python<'py>,
        permit: String,
        params_json: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = parse(py, params_json)?;
        let r = self.block(py, |c| async move { c.execute(&permit, &params).await })?;
        execute_to_py(py, &r)
    }

    /// The governed path: intent, local permit + payload-hash verification, execute.
    #[pyo3(signature = (action, params_json, idempotency_key = None))]
    fn act<'py>(
        &self,
        py: Python<'py>,
        action: String,
        params_json: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = parse(py, params_json)?;
        let r = self.block(py, |c| async move {
            c.act(&action, &params, idempotency_key.as_deref()).await
        })?;
        execute_to_py(py, &r)
    }

    /// `GET /v1/actions`.
    fn actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.block(py, |c| async move { c.actions().await })?;
        to_py(py, &v)
    }

    /// `GET /v1/receipts/{id}`.
    fn receipt<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let v = self.block(py, |c| async move { c.receipt(&id).await })?;
        to_py(py, &v)
    }

    /// `GET /v1/receipts?after=&limit=`.
    #[pyo3(signature = (after = 0, limit = None))]
    fn receipts<'py>(
        &self,
        py: Python<'py>,
        after: u64,
        limit: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = self.block(py, |c| async move { c.receipts(after, limit).await })?;
        to_py(py, &v)
    }

    /// Awaitable `intent`.
    #[pyo3(signature = (action, params_json, idempotency_key = None))]
    fn intent_async<'py>(
        &self,
        py: Python<'py>,
        action: String,
        params_json: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = parse(py, params_json)?;
        self.awaitable(
            py,
            |c| async move {
                let o = c
                    .intent(&action, &params, idempotency_key.as_deref())
                    .await?;
                Ok(o.to_json())
            },
            unbind,
        )
    }

    /// Awaitable `execute`.
    fn execute_async<'py>(
        &self,
        py: Python<'py>,
        permit: String,
        params_json: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = parse(py, params_json)?;
        self.awaitable(
            py,
            |c| async move { Ok(c.execute(&permit, &params).await?.to_value()) },
            unbind,
        )
    }

    /// Awaitable `act`.
    #[pyo3(signature = (action, params_json, idempotency_key = None))]
    fn act_async<'py>(
        &self,
        py: Python<'py>,
        action: String,
        params_json: &Bound<'py, PyAny>,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = parse(py, params_json)?;
        self.awaitable(
            py,
            |c| async move {
                Ok(c.act(&action, &params, idempotency_key.as_deref())
                    .await?
                    .to_value())
            },
            unbind,
        )
    }

    /// Awaitable `actions`.
    fn actions_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.awaitable(py, |c| async move { c.actions().await }, unbind)
    }

    /// Awaitable `receipt`.
    fn receipt_async<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        self.awaitable(py, |c| async move { c.receipt(&id).await }, unbind)
    }
}

// ---------------------------------------------------------------------------------------------
// Core helpers.

/// RFC 8785 canonical bytes of a JSON document (str or bytes), strictly parsed (I-JSON).
#[pyfunction]
fn canonicalize<'py>(py: Python<'py>, doc: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = json_text(py, doc)?;
    let out = py
        .detach(|| intentrail_core::jcs::canonicalize_bytes(&bytes))
        .map_err(|e| core_err(py, e))?;
    Ok(PyBytes::new(py, &out))
}

/// `sha256:<base64url>` payload hash of a JSON document (str or bytes), strictly parsed.
#[pyfunction]
fn payload_hash(py: Python<'_>, doc: &Bound<'_, PyAny>) -> PyResult<String> {
    let bytes = json_text(py, doc)?;
    py.detach(|| intentrail_core::hash::payload_hash_bytes(&bytes))
        .map(|(_, h)| h)
        .map_err(|e| core_err(py, e))
}

/// Verify a permit strictly against a JWKS document; returns the claims.
#[pyfunction]
#[pyo3(signature = (token, jwks_json, audience, issuer, now))]
fn verify_permit<'py>(
    py: Python<'py>,
    token: String,
    jwks_json: &Bound<'py, PyAny>,
    audience: String,
    issuer: String,
    now: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let jwks = json_text(py, jwks_json)?;
    let claims = py
        .detach(|| {
            let jwks = Jwks::parse(&jwks)?;
            intentrail_core::permit::verify(
                &token,
                &jwks,
                &VerifyOptions {
                    issuer: &issuer,
                    audience: &audience,
                    now,
                },
            )
        })
        .map_err(|e| core_err(py, e))?;
    to_py(py, &serde_json::to_value(claims).unwrap_or(Value::Null))
}

/// Verify a receipt chain (JSON array text) against a JWKS document.
#[pyfunction]
#[pyo3(signature = (receipts_json, jwks_json, after = None))]
fn verify_receipts<'py>(
    py: Python<'py>,
    receipts_json: &Bound<'py, PyAny>,
    jwks_json: &Bound<'py, PyAny>,
    after: Option<(u64, String)>,
) -> PyResult<Bound<'py, PyAny>> {
    let receipts = json_text(py, receipts_json)?;
    let jwks = json_text(py, jwks_json)?;
    let report = py
        .detach(|| -> intentrail_core::Result<_> {
            let jwks = Jwks::parse(&jwks)?;
            let receipts = match intentrail_core::json::parse_strict(&receipts)? {
                Value::Array(a) => a,
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        "receipts must be a JSON array",
                    ))
                }
            };
            Ok(intentrail_core::verify_chain(&receipts, &jwks, after)?)
        })
        .map_err(|e| core_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("count", report.count)?;
    d.set_item("last_seq", report.last_seq)?;
    d.set_item("last_hash", report.last_hash)?;
    Ok(d.into_any())
}

/// Every error code core knows, in declaration order.
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.code()).collect()
}

/// Core's rendering of an error raised by the Python layer itself (no rules, no violations):
/// the same words as the errors of the rail.
#[pyfunction]
fn explain_error(code: &str, detail: &str) -> String {
    intentrail_core::explain::explain(&intentrail_core::explain::Explained {
        code,
        detail,
        ..Default::default()
    })
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeRail>()?;
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(payload_hash, m)?)?;
    m.add_function(wrap_pyfunction!(verify_permit, m)?)?;
    m.add_function(wrap_pyfunction!(verify_receipts, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(explain_error, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
