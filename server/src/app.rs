//! The HTTP API and the governed pipeline.
//!
//! Guarantees: nothing is forwarded unless the params validated, policy allowed, a permit bound
//! to their canonical hash was issued and atomically consumed once, and the forward was
//! recorded in the ledger first; the bytes forwarded are derived from the canonical params the
//! permit hashes; every decision and execution appends a signed receipt; every error is a
//! problem+json with a stable code and no internal detail.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use ed25519_dalek::VerifyingKey;
use http_body_util::BodyExt as _;
use intentrail_core::hash::{payload_hash, sha256_tagged};
use intentrail_core::keys::{Jwks, SigningKey};
use intentrail_core::permit::{self, PermitClaims, VerifyOptions};
use intentrail_core::receipt::{Downstream, Receipt, ReceiptKind};
use intentrail_core::{json, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::{bearer, hash_key, single_header, KeyTable, Principal};
use crate::catalog::Catalog;
use crate::config::{ActionBinding, Config};
use crate::credentials::Credentials;
use crate::forward::{mapping, redact, ConnectorConfig, Forwarder};
use crate::ledger::{IssueOutcome, Ledger};
use crate::metrics::Metrics;
use crate::model::{ConsumeOutcome, IdempotencyBegin, Outcome, PermitRecord};
use crate::policy::{limits, Decision, PolicyEngine, PolicyInput};
use crate::problem::AppError;
use crate::secret::Secret;

mod profiles;
use profiles::{ProfileStore, Target};

/// Leeway the verifier allows on `exp`/`nbf` (seconds); a retired key stays published for the
/// permit lifetime plus this.
const LEEWAY_MS: i64 = 5_000;

/// Oversized bodies up to this size are read and discarded before the 413 answer.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// One tenant, ready to serve.
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// The `iss` of its permits.
    pub issuer: String,
    signer: Arc<SigningKey>,
    resolver: HashMap<String, VerifyingKey>,
    jwks: Value,
    policy: PolicyEngine,
    limits: Vec<limits::LimitConfig>,
    connectors: HashMap<String, ConnectorConfig>,
    bindings: HashMap<String, ActionBinding>,
    profiles: HashMap<String, crate::config::ProfileBinding>,
    catalog_json: Value,
}

/// The running rail: config, tenants, keys, ledger and clients.
pub struct Rail {
    /// The loaded configuration.
    pub config: Config,
    tenants: HashMap<String, Tenant>,
    config_keys: KeyTable,
    keys: RwLock<Arc<KeyTable>>,
    ledger: Arc<dyn Ledger>,
    catalog: Arc<Catalog>,
    forwarder: Forwarder,
    credentials: Credentials,
    profiles: ProfileStore,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

impl Rail {
    /// Build the rail from a validated config and an open ledger.
    pub async fn build(config: Config, ledger: Arc<dyn Ledger>) -> Result<Arc<Rail>, String> {
        let catalog = Arc::new(Catalog::native());
        let now = now_ms();
        let window = i64::try_from(config.permit_lifetime_secs)
            .unwrap_or(300)
            .saturating_mul(1000)
            .saturating_add(LEEWAY_MS);
        let mut tenants = HashMap::new();
        let mut config_keys = KeyTable::default();
        for tc in &config.tenants {
            let keys = crate::keystore::load(&tc.keys_dir, now, window)
                .map_err(|e| format!("tenant {:?}: {e}", tc.id))?;
            let policy = PolicyEngine::new(&tc.policy_source().map_err(|e| e.0)?)
                .map_err(|e| format!("tenant {:?}: policies: {e}", tc.id))?;
            let mut bindings = HashMap::new();
            let mut actions = Vec::new();
            for b in &tc.actions {
                let Some(a) = catalog.get(&b.name) else {
                    return Err(format!(
                        "tenant {:?}: action {:?} is not in the catalog",
                        tc.id, b.name
                    ));
                };
                actions.push(
                    json!({"name": a.name, "description": a.description, "schema": a.schema}),
                );
                bindings.insert(b.name.clone(), b.clone());
            }
            let jwks =
                Jwks::from_verifying_keys(keys.published.values()).map_err(|e| e.to_string())?;
            for a in &tc.agents {
                config_keys.insert(
                    &a.key_hash,
                    Principal {
                        tenant: tc.id.clone(),
                        agent: a.id.clone(),
                        admin: false,
                    },
                );
            }
            if let Some(h) = &tc.admin_key_hash {
                config_keys.insert(
                    h,
                    Principal {
                        tenant: tc.id.clone(),
                        agent: "admin".into(),
                        admin: true,
                    },
                );
            }
            tenants.insert(
                tc.id.clone(),
                Tenant {
                    id: tc.id.clone(),
                    issuer: config.issuer_for(&tc.id),
                    signer: keys.active.clone(),
                    resolver: keys.published.clone(),
                    jwks: serde_json::to_value(&jwks).map_err(|e| e.to_string())?,
                    policy,
                    limits: tc.limits.clone(),
                    connectors: tc
                        .connectors
                        .iter()
                        .map(|c| (c.name.clone(), c.clone()))
                        .collect(),
                    bindings,
                    profiles: tc
                        .profiles
                        .iter()
                        .map(|p| (p.name.clone(), p.clone()))
                        .collect(),
                    catalog_json: json!({ "actions": actions }),
                },
            );
        }
        let credentials = Credentials::from_config(&config.providers)?;
        let rail = Arc::new(Rail {
            keys: RwLock::new(Arc::new(config_keys.clone())),
            config_keys,
            config,
            tenants,
            ledger,
            catalog,
            forwarder: Forwarder::new(),
            credentials,
            profiles: ProfileStore::default(),
            metrics: Metrics::default(),
        });
        rail.refresh_keys().await;
        rail.refresh_profiles().await;
        Ok(rail)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Merge agent keys created or revoked at run time (kept in the ledger) into the table. An
    /// agent has one key: a key stored in the ledger replaces the agent's keys from the config
    /// file, so a config key once revoked never comes back when the agent gets a new key.
    pub async fn refresh_keys(&self) {
        let rows = match self.ledger.agent_keys().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh agent keys");
                return;
            }
        };
        let mut table = self.config_keys.clone();
        for r in rows.iter().filter(|r| self.tenants.contains_key(&r.tenant)) {
            let Some(key_hash) = &r.key_hash else {
                continue;
            };
            table.remove_agent(&r.tenant, &r.agent);
            table.insert(
                key_hash,
                Principal {
                    tenant: r.tenant.clone(),
                    agent: r.agent.clone(),
                    admin: false,
                },
            );
        }
        for r in rows.iter().filter(|r| r.revoked) {
            table.revoke(&r.tenant, &r.agent);
        }
        if let Ok(mut k) = self.keys.write() {
            *k = Arc::new(table);
        }
    }

    /// Finish permits a crash left behind: consumed but never forwarded → `not_forwarded`;
    /// forward in flight → `unknown` (never guessed as success or failure).
    pub async fn recover(&self) -> Result<usize, String> {
        let stuck = self
            .ledger
            .unfinished_permits()
            .await
            .map_err(|e| e.to_string())?;
        let mut n = 0;
        for (p, state) in stuck {
            let Some(t) = self.tenants.get(&p.tenant) else {
                tracing::warn!(tenant = %p.tenant, "unfinished permit of an unknown tenant");
                continue;
            };
            let outcome = match state {
                crate::model::PermitState::Consumed => Outcome::NotForwarded,
                _ => Outcome::Unknown,
            };
            let mut r = draft(t, &p.agent, ReceiptKind::Recovery, &p.action);
            r.outcome = Some(outcome.as_str().into());
            r.permit_id = Some(p.jti.clone());
            r.payload_hash = Some(p.payload_hash.clone());
            r.reason = Some("recovered after restart".into());
            // The receipt and the permit's end in one transaction: a crash during recovery
            // leaves the permit to the next recovery, never with two recovery receipts.
            self.ledger
                .finish_with_receipt(&p.tenant, &p.jti, outcome, r, t.signer.clone())
                .await
                .map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok(n)
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        require_agent: bool,
    ) -> Result<Principal, AppError> {
        let started = Instant::now();
        let p = self.authenticate_inner(headers, require_agent);
        self.metrics.stage("auth", started.elapsed());
        p
    }

    /// Authenticate an agent that acts (intent, execute, one-shot, transparent mode): a tenant
    /// admin key reads and administers, it never acts.
    fn acting(p: Principal) -> Result<Principal, AppError> {
        if p.admin {
            return Err(AppError::new(
                ErrorKind::Forbidden,
                "the admin key cannot act: governed actions need an agent key",
            ));
        }
        Ok(p)
    }

    fn authenticate_inner(
        &self,
        headers: &HeaderMap,
        require_agent: bool,
    ) -> Result<Principal, AppError> {
        let unauth =
            |f: crate::auth::AuthFailure| AppError::new(ErrorKind::Unauthenticated, f.message());
        let auth = single_header(headers, header::AUTHORIZATION.as_str()).map_err(unauth)?;
        let key = bearer(auth).ok_or_else(|| unauth(crate::auth::AuthFailure::Missing))?;
        let agent = single_header(headers, "intentrail-agent").map_err(unauth)?;
        self.authenticate_key(key, agent, require_agent)
    }

    /// Authenticate a key (and the agent header, when given or required).
    fn authenticate_key(
        &self,
        key: &str,
        agent: Option<&str>,
        require_agent: bool,
    ) -> Result<Principal, AppError> {
        let unauth = |m: &str| AppError::new(ErrorKind::Unauthenticated, m);
        let table = self
            .keys
            .read()
            .map(|k| k.clone())
            .map_err(|_| AppError::internal("key table lock poisoned"))?;
        let p = table
            .authenticate(key, agent, require_agent)
            .map_err(|f| unauth(f.message()))?;
        Ok(p.clone())
    }

    fn tenant(&self, p: &Principal) -> Result<&Tenant, AppError> {
        self.tenants
            .get(&p.tenant)
            .ok_or_else(|| AppError::new(ErrorKind::Unauthenticated, "unknown tenant"))
    }

    async fn append(&self, t: &Tenant, r: Receipt) -> Result<Receipt, AppError> {
        let started = Instant::now();
        let r = self
            .ledger
            .append_receipt(r, t.signer.clone())
            .await
            .map_err(|e| AppError::from(intentrail_core::Error::from(e)))?;
        self.metrics.stage("receipt", started.elapsed());
        Ok(r)
    }

    /// Record a refusal as a receipt and return the error carrying its id.
    async fn refuse(&self, t: &Tenant, mut r: Receipt, err: AppError) -> AppError {
        r.code = Some(err.kind.code().into());
        if r.decision.is_none() && r.outcome.is_none() {
            r.outcome = Some("rejected".into());
        }
        self.metrics.decision(err.kind.code());
        match self.append(t, r).await {
            Ok(r) => err.with("receipt_id", json!(r.id)),
            Err(e) => e,
        }
    }

    /// Validate → policy → limits → signed permit, recorded with its decision receipt: the
    /// first half of the two-phase path (`POST /v1/intents`).
    async fn decide(
        &self,
        t: &Tenant,
        p: &Principal,
        action: &str,
        params: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Decided, AppError> {
        let prepared = match self.prepare(t, p, action, params, idempotency_key).await? {
            Prepared::Pending { body } => return Ok(Decided::Pending { body }),
            Prepared::Allowed(a) => a,
        };
        let started = Instant::now();
        let token = permit::issue(&prepared.claims, &t.signer).map_err(AppError::from)?;
        self.metrics.stage("permit", started.elapsed());
        let receipt = self.issue(t, &prepared).await?;
        Ok(Decided::Issued {
            token,
            claims: Box::new(prepared.claims),
            receipt_id: receipt.id,
        })
    }

    /// Record an allowed decision: limits, the permit row (issued) and its decision receipt in
    /// one ledger transaction. A limit without room is refused (`rate_limited`) with a receipt.
    async fn issue(&self, t: &Tenant, a: &Allowed) -> Result<Receipt, AppError> {
        self.record_issue(t, a, false).await
    }

    /// [`Rail::issue`], or with `consume` the one-shot form: the permit is also consumed for
    /// forwarding in the same transaction.
    async fn record_issue(
        &self,
        t: &Tenant,
        a: &Allowed,
        consume: bool,
    ) -> Result<Receipt, AppError> {
        let started = Instant::now();
        let (draft, key) = (a.allowed.clone(), t.signer.clone());
        let issued = if consume {
            self.ledger
                .issue_and_consume(&a.adds, &a.permit, draft, key)
                .await
        } else {
            self.ledger
                .issue_permit(&a.adds, &a.permit, draft, key)
                .await
        }
        .map_err(|e| AppError::from(intentrail_core::Error::from(e)))?;
        self.metrics.stage("receipt", started.elapsed());
        self.issued(t, a, issued).await
    }

    async fn issued(
        &self,
        t: &Tenant,
        a: &Allowed,
        issued: IssueOutcome,
    ) -> Result<Receipt, AppError> {
        match issued {
            IssueOutcome::Issued(r) => {
                self.metrics.decision("allow");
                Ok(*r)
            }
            IssueOutcome::LimitExceeded { limit_id } => {
                let mut r = a.denied.clone();
                r.decision = Some("deny".into());
                r.reason = Some(limit_id.clone());
                let err = AppError::new(
                    ErrorKind::RateLimited,
                    format!("limit {limit_id:?} reached"),
                )
                .with("limit_id", json!(limit_id));
                Err(self.refuse(t, r, err).await)
            }
        }
    }

    /// Authenticate → validate → policy → limits → permit claims: everything of a decision but
    /// its ledger write (refusals are receipted here).
    async fn prepare(
        &self,
        t: &Tenant,
        p: &Principal,
        action: &str,
        params: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Prepared, AppError> {
        let target = self.target(t, action)?;
        self.prepare_target(t, p, action, target, params, idempotency_key)
            .await
    }

    /// [`Rail::prepare`] for a resolved action.
    async fn prepare_target(
        &self,
        t: &Tenant,
        p: &Principal,
        action: &str,
        target: Target<'_>,
        params: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Prepared, AppError> {
        let started = Instant::now();
        let validated = match &target {
            Target::Native(_) => self
                .catalog
                .get(action)
                .ok_or_else(|| {
                    AppError::new(ErrorKind::UnknownAction, format!("no action {action:?}"))
                })?
                .validate(params),
            Target::Profile { profile, .. } => profile
                .operation(action)
                .ok_or_else(|| {
                    AppError::new(ErrorKind::UnknownAction, format!("no action {action:?}"))
                })?
                .validate(params),
        };
        self.metrics.stage("validate", started.elapsed());
        let prv = target.profile_tag();
        let mut r = draft(t, &p.agent, ReceiptKind::Decision, action);
        r.policy_hash = Some(t.policy.hash().to_string());
        r.profile_version = prv.clone();
        if let Err(violations) = validated {
            r.decision = Some("rejected".into());
            let err = AppError::new(
                ErrorKind::SchemaInvalid,
                format!("{} violation(s) of the {action} schema", violations.len()),
            )
            .with("violations", json!(violations));
            return Err(self.refuse(t, r, err).await);
        }
        let ph = payload_hash(params).map_err(AppError::from)?;
        r.payload_hash = Some(ph.clone());
        let started = Instant::now();
        let decision = t.policy.evaluate(&PolicyInput {
            tenant: &t.id,
            agent: &p.agent,
            action,
            resource: target.connector(),
            params,
        });
        self.metrics.stage("policy", started.elapsed());
        match decision {
            Decision::Allow => {}
            Decision::Deny { policy_ids, reason } => {
                r.decision = Some("deny".into());
                r.reason = Some(policy_ids.join(","));
                let err = AppError::new(ErrorKind::PolicyDenied, reason)
                    .with("policy_ids", json!(policy_ids));
                return Err(self.refuse(t, r, err).await);
            }
            Decision::RequireApproval { policy_ids } => {
                let approval_id = new_id("apr_");
                r.decision = Some("approval_required".into());
                r.reason = Some(policy_ids.join(","));
                self.metrics.decision("approval_required");
                let r = self.append(t, r).await?;
                return Ok(Prepared::Pending {
                    body: json!({
                        "status": "approval_pending",
                        "code": "approval_pending",
                        "approval_id": approval_id,
                        "policy_ids": policy_ids,
                        "receipt_id": r.id,
                    }),
                });
            }
        }
        let now = now_ms();
        let adds = match limits::adds(&t.limits, &t.id, &p.agent, action, params, now) {
            Ok(a) => a,
            Err(e) => {
                r.decision = Some("deny".into());
                r.reason = Some("limit_input".into());
                let err = AppError::new(ErrorKind::PolicyDenied, e)
                    .with("policy_ids", json!(["limit_input"]));
                return Err(self.refuse(t, r, err).await);
            }
        };
        let iat = now / 1000;
        let lifetime = i64::try_from(self.config.permit_lifetime_secs).unwrap_or(60);
        let claims = PermitClaims {
            iss: t.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: p.agent.clone(),
            tnt: t.id.clone(),
            act: action.to_string(),
            ph: ph.clone(),
            jti: new_id("pmt_"),
            iat,
            nbf: iat,
            exp: iat + lifetime,
            pol: t.policy.hash().to_string(),
            idk: idempotency_key.map(str::to_string),
            prv,
        };
        let permit = PermitRecord {
            jti: claims.jti.clone(),
            tenant: t.id.clone(),
            agent: p.agent.clone(),
            action: action.to_string(),
            payload_hash: ph,
            expires_at_ms: claims.exp * 1000,
            idempotency_key: claims.idk.clone(),
        };
        let mut allowed = r.clone();
        allowed.decision = Some("allow".into());
        allowed.permit_id = Some(claims.jti.clone());
        Ok(Prepared::Allowed(Box::new(Allowed {
            claims,
            permit,
            adds,
            allowed,
            denied: r,
        })))
    }

    /// The connector's credential and its `extra_credentials`, fetched concurrently now (or
    /// from the cache within the connector's `cache_ttl_ms`). Any failure fails the whole.
    async fn fetch_credentials(
        &self,
        connector: &ConnectorConfig,
    ) -> Result<(Option<Secret>, Vec<Secret>), crate::credentials::CredentialError> {
        let ttl = Duration::from_millis(connector.cache_ttl_ms);
        let main = async {
            match &connector.credential {
                None => Ok(None),
                Some(reference) => self
                    .credentials
                    .fetch_cached(reference, ttl)
                    .await
                    .map(Some),
            }
        };
        let extra = futures_util::future::try_join_all(
            connector
                .extra_credentials
                .iter()
                .map(|x| self.credentials.fetch_cached(&x.credential, ttl)),
        );
        futures_util::future::try_join(main, extra).await
    }

    /// Everything a forward needs before the permit is consumed: the execution receipt draft,
    /// the connector, the request built from `params` and the credentials fetched now. A
    /// failure comes back with its (unwritten) refusal receipt; the caller writes it.
    async fn ready_to_send<'t>(
        &self,
        t: &'t Tenant,
        p: &Principal,
        claims: &PermitClaims,
        params: &Value,
    ) -> Result<Ready<'t>, Refusal> {
        let mut r = execution_draft(t, &p.agent, claims);
        let (connector_name, outbound) = if let Some(prv) = &claims.prv {
            match self
                .profile_outbound(t, &claims.act, prv, params, &claims.jti)
                .await
            {
                Ok(x) => x,
                Err(err) => return Err(Refusal::Receipted(Box::new(r), err)),
            }
        } else {
            let Some(binding) = t.bindings.get(&claims.act) else {
                let err = AppError::new(
                    ErrorKind::UnknownAction,
                    format!("no action {:?}", claims.act),
                );
                return Err(Refusal::Receipted(Box::new(r), err));
            };
            match mapping::build(&binding.request, params, Some(claims.jti.clone())) {
                Ok(o) => (binding.connector.as_str(), o),
                Err(e) => return Err(Refusal::Receipted(Box::new(r), AppError::internal(e))),
            }
        };
        let Some(connector) = t.connectors.get(connector_name) else {
            return Err(Refusal::Bare(AppError::internal(
                "binding to a missing connector",
            )));
        };
        let started = Instant::now();
        let (secret, extra) = match self.fetch_credentials(connector).await {
            Ok(s) => s,
            Err(e) => {
                r.outcome = Some(Outcome::NotForwarded.as_str().into());
                let err = AppError::from(intentrail_core::Error::from(e));
                return Err(Refusal::Receipted(Box::new(r), err));
            }
        };
        self.metrics.stage("credential", started.elapsed());
        Ok(Ready {
            r,
            connector,
            outbound,
            secret,
            extra,
        })
    }

    /// Write a refusal from [`Rail::ready_to_send`] and return its error.
    async fn refuse_ready(&self, t: &Tenant, refusal: Refusal) -> AppError {
        match refusal {
            Refusal::Receipted(r, err) => self.refuse(t, *r, err).await,
            Refusal::Bare(err) => err,
        }
    }

    /// One-shot: the decision was allowed a moment ago in this process. When the request is
    /// built and the credentials are fetched, limits + permit (issued) + decision receipt +
    /// consume (issued → forwarding) are ONE ledger transaction, acknowledged before any byte
    /// leaves; then forward → finish + execution receipt. If the rail is not ready to send,
    /// the decision is recorded alone (permit unspent) and the refusal receipted after it.
    async fn execute_fresh(
        &self,
        t: &Tenant,
        p: &Principal,
        a: &Allowed,
        params: &Value,
    ) -> Result<Value, AppError> {
        let (resp, receipt) = self.execute_fresh_raw(t, p, a, params).await?;
        render(&a.claims, resp, receipt)
    }

    /// [`Rail::execute_fresh`] answering the downstream's response (any status) and the
    /// execution receipt (the transparent proxy returns the response as it is).
    async fn execute_fresh_raw(
        &self,
        t: &Tenant,
        p: &Principal,
        a: &Allowed,
        params: &Value,
    ) -> Result<(crate::forward::DownstreamResponse, Receipt), AppError> {
        let ready = match self.ready_to_send(t, p, &a.claims, params).await {
            Ok(ready) => ready,
            Err(refusal) => {
                self.issue(t, a).await?;
                return Err(self.refuse_ready(t, refusal).await);
            }
        };
        self.record_issue(t, a, true).await?;
        self.forward_and_record(t, &a.claims, ready).await
    }

    /// Two-phase execute: credential → consume into `forwarding` → forward → receipt. The
    /// permit has been verified and its hash matches `params`. The request is built and the
    /// credential fetched first; then ONE conditional update consumes the permit straight into
    /// `forwarding` (one durable commit, as one-shot's `issue_and_consume`), so exactly one
    /// concurrent execute wins and a crash after it is recovered as `unknown`. A refusal before
    /// the consume (no binding, credential store down…) is receipted and leaves the permit
    /// unspent, like a payload hash mismatch; a replay of a spent permit is refused at the
    /// consume, after its credential fetch (the agent's own, verified permit).
    async fn execute_permit(
        &self,
        t: &Tenant,
        p: &Principal,
        claims: &PermitClaims,
        params: &Value,
    ) -> Result<Value, AppError> {
        let ready = match self.ready_to_send(t, p, claims, params).await {
            Ok(ready) => ready,
            Err(Refusal::Receipted(r, err)) => return Err(self.refuse(t, *r, err).await),
            Err(Refusal::Bare(err)) => {
                let r = execution_draft(t, &p.agent, claims);
                return Err(self.refuse(t, r, err).await);
            }
        };
        let consumed = self
            .ledger
            .consume_for_forward(&t.id, &claims.jti)
            .await
            .map_err(|e| AppError::from(intentrail_core::Error::from(e)))?;
        let refused = match consumed {
            ConsumeOutcome::Consumed(_) => None,
            ConsumeOutcome::AlreadyUsed => Some(AppError::new(
                ErrorKind::PermitAlreadyUsed,
                "this permit was already used",
            )),
            ConsumeOutcome::NotFound => Some(AppError::new(
                ErrorKind::PermitInvalid,
                "this rail did not issue the permit",
            )),
        };
        if let Some(err) = refused {
            let r = execution_draft(t, &p.agent, claims);
            return Err(self.refuse(t, r, err).await);
        }
        // From here on the permit is spent: every path finishes it with an outcome.
        self.forward_and_finish(t, claims, ready).await
    }

    /// Forward the request of a consumed permit, then finish it with its execution receipt.
    async fn forward_and_finish(
        &self,
        t: &Tenant,
        claims: &PermitClaims,
        ready: Ready<'_>,
    ) -> Result<Value, AppError> {
        let (resp, receipt) = self.forward_and_record(t, claims, ready).await?;
        render(claims, resp, receipt)
    }

    /// Forward and record: the downstream's (redacted) response, whatever its status, and
    /// the execution receipt.
    async fn forward_and_record(
        &self,
        t: &Tenant,
        claims: &PermitClaims,
        ready: Ready<'_>,
    ) -> Result<(crate::forward::DownstreamResponse, Receipt), AppError> {
        let Ready {
            mut r,
            connector,
            outbound,
            secret,
            extra,
        } = ready;
        let started = Instant::now();
        let sent = self
            .forwarder
            .send_with_extra(connector, outbound, secret.as_ref(), &extra)
            .await;
        self.metrics.stage("forward", started.elapsed());
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let outcome = e.outcome();
                let mut err = AppError::new(e.kind(), e.to_string());
                if outcome != Outcome::NotForwarded {
                    err = err.acted();
                }
                return Err(self.finish_failed(t, r, &claims.jti, outcome, err).await);
            }
        };
        let all: Vec<&Secret> = secret.iter().chain(&extra).collect();
        redact::redact(&mut resp, &all);
        drop(all);
        drop((secret, extra));
        let outcome = if resp.status >= 500 {
            Outcome::DownstreamError
        } else {
            Outcome::Success
        };
        r.outcome = Some(outcome.as_str().into());
        r.downstream = Some(Downstream {
            method: resp.method.clone(),
            url: resp.url.clone(),
            status: Some(resp.status),
            response_hash: Some(sha256_tagged(&resp.body)),
            latency_ms: resp.latency_ms,
        });
        if outcome != Outcome::Success {
            r.code = Some(ErrorKind::DownstreamError.code().into());
        }
        self.metrics.decision(outcome.as_str());
        let started = Instant::now();
        // Kept for `record_later`: the draft is consumed by the call.
        let draft = r.clone();
        let receipt = self
            .ledger
            .finish_with_receipt(&t.id, &claims.jti, outcome, r, t.signer.clone())
            .await;
        self.metrics.stage("receipt", started.elapsed());
        let receipt = match receipt {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(permit = %claims.jti, error = %e, "forwarded but the receipt could not be written");
                let retrying = matches!(e, crate::ledger::LedgerError::Unavailable(_));
                if retrying {
                    self.record_later(t, &claims.jti, outcome, draft);
                }
                let e = intentrail_core::Error::from(e);
                return Err(AppError::new(
                    ErrorKind::LedgerUnavailable,
                    format!(
                        "the action was forwarded (downstream status {}) but its receipt could not be written; {}",
                        resp.status,
                        if retrying {
                            "the rail records it as soon as the ledger is back (as unknown on restart if it stops first)"
                        } else {
                            "it is recorded as unknown on restart"
                        }
                    ),
                )
                .with("code_detail", json!(e.kind().code()))
                .acted());
            }
        };
        Ok((resp, receipt))
    }

    /// The ledger was unavailable when a forwarded action's receipt was written: keep trying in
    /// the background (1 s, doubling to 30 s) until it is recorded with its real outcome, so the
    /// audit trail does not wait for a restart. Stops when the ledger answers anything but
    /// "unavailable" (e.g. the permit was finished after all: its first commit went through).
    /// If the rail stops first, start-up recovery records the permit as `unknown`; it is this
    /// instance's permit, so no other instance's recovery touches it meanwhile.
    fn record_later(&self, t: &Tenant, jti: &str, outcome: Outcome, draft: Receipt) {
        let (ledger, signer) = (Arc::clone(&self.ledger), t.signer.clone());
        let (tenant, jti) = (t.id.clone(), jti.to_owned());
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                tokio::time::sleep(wait).await;
                match ledger
                    .finish_with_receipt(&tenant, &jti, outcome, draft.clone(), signer.clone())
                    .await
                {
                    Ok(r) => {
                        tracing::warn!(permit = %jti, receipt = %r.id, "recorded a forwarded action's receipt after the ledger came back");
                        return;
                    }
                    Err(crate::ledger::LedgerError::Unavailable(_)) => {
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                    Err(e) => {
                        tracing::error!(permit = %jti, error = %e, "stopped retrying a forwarded action's receipt");
                        return;
                    }
                }
            }
        });
    }

    async fn finish_failed(
        &self,
        t: &Tenant,
        mut r: Receipt,
        jti: &str,
        outcome: Outcome,
        err: AppError,
    ) -> AppError {
        r.outcome = Some(outcome.as_str().into());
        r.code = Some(err.kind.code().into());
        self.metrics.decision(err.kind.code());
        match self
            .ledger
            .finish_with_receipt(&t.id, jti, outcome, r, t.signer.clone())
            .await
        {
            Ok(r) => err.with("receipt_id", json!(r.id)),
            Err(e) => {
                tracing::error!(error = %e, permit = %jti, "cannot finish permit");
                err
            }
        }
    }

    /// Run `f` under the idempotency key, replaying a finished answer.
    async fn idempotent<F, Fut>(
        &self,
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
        let ph = payload_hash(params).map_err(AppError::from)?;
        let scoped = format!("{namespace}:{key}");
        let ledger_err =
            |e: crate::ledger::LedgerError| AppError::from(intentrail_core::Error::from(e));
        match self
            .ledger
            .idempotency_begin(&t.id, &p.agent, &scoped, &ph)
            .await
            .map_err(ledger_err)?
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
                self.ledger
                    .idempotency_complete(&t.id, &p.agent, &scoped, &stored)
                    .await
                    .map_err(ledger_err)?;
                Ok((status, body))
            }
            // The action may have happened downstream: this answer is final for the key, so
            // a retry replays it instead of sending again (a new permit would carry a new
            // `Idempotency-Key` downstream, so the downstream could not deduplicate it).
            Err(e) if e.may_have_acted => {
                let stored = json!({"status": e.kind.http_status(), "problem": e.body()});
                if let Err(le) = self
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
                if let Err(le) = self
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
}

/// The JSON answer of an execution: `{status, headers, body, permit_id, receipt}`; a
/// downstream 5xx is `502 downstream_error` (recorded already).
fn render(
    claims: &PermitClaims,
    resp: crate::forward::DownstreamResponse,
    receipt: Receipt,
) -> Result<Value, AppError> {
    if resp.status >= 500 {
        return Err(AppError::new(
            ErrorKind::DownstreamError,
            format!("the downstream answered {}", resp.status),
        )
        .with("receipt_id", json!(receipt.id))
        .with("downstream_status", json!(resp.status))
        .acted());
    }
    let mut headers = Map::new();
    for (k, v) in &resp.headers {
        let k = k.to_ascii_lowercase();
        match headers.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push_str(", ");
                s.push_str(v);
            }
            _ => {
                headers.insert(k, Value::String(v.clone()));
            }
        }
    }
    let is_json = resp
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("json"));
    let body = if is_json {
        serde_json::from_slice::<Value>(&resp.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&resp.body).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&resp.body).into_owned())
    };
    Ok(json!({
        "status": resp.status,
        "headers": headers,
        "body": body,
        "permit_id": claims.jti,
        "receipt": receipt,
    }))
}

/// A decision that allowed, not yet written.
struct Allowed {
    claims: PermitClaims,
    permit: PermitRecord,
    adds: Vec<crate::model::LimitAdd>,
    /// The decision receipt to write (`allow`).
    allowed: Receipt,
    /// The decision receipt draft for a refusal after the fact (a limit without room).
    denied: Receipt,
}

enum Prepared {
    Allowed(Box<Allowed>),
    Pending { body: Value },
}

/// A request ready to forward once its permit is consumed.
struct Ready<'t> {
    r: Receipt,
    connector: &'t ConnectorConfig,
    outbound: crate::forward::Outbound,
    secret: Option<Secret>,
    extra: Vec<Secret>,
}

/// Why a permit cannot be forwarded: with the receipt to write, or (a config bug) without.
enum Refusal {
    Receipted(Box<Receipt>, AppError),
    Bare(AppError),
}

enum Decided {
    Issued {
        token: String,
        claims: Box<PermitClaims>,
        receipt_id: String,
    },
    Pending {
        body: Value,
    },
}

/// The execution receipt draft of a permit.
fn execution_draft(t: &Tenant, agent: &str, claims: &PermitClaims) -> Receipt {
    let mut r = draft(t, agent, ReceiptKind::Execution, &claims.act);
    r.permit_id = Some(claims.jti.clone());
    r.payload_hash = Some(claims.ph.clone());
    r.policy_hash = Some(claims.pol.clone());
    r.profile_version = claims.prv.clone();
    r
}

fn draft(t: &Tenant, agent: &str, kind: ReceiptKind, action: &str) -> Receipt {
    Receipt {
        id: new_id("rct_"),
        seq: 0,
        prev: String::new(),
        ts: now_ms(),
        tenant: t.id.clone(),
        agent: agent.to_string(),
        kind,
        action: action.to_string(),
        decision: None,
        outcome: None,
        code: None,
        reason: None,
        permit_id: None,
        payload_hash: None,
        policy_hash: None,
        profile_version: None,
        downstream: None,
        kid: String::new(),
        hash: String::new(),
        sig: String::new(),
        batch: None,
    }
}

/// Read the body (bounded) and parse it strictly into an object.
async fn read_json(
    rail: &Rail,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, AppError> {
    let bytes = read_body(headers, body, rail.config.max_body_bytes).await?;
    match json::parse_strict(&bytes).map_err(AppError::from)? {
        Value::Object(m) => Ok(m),
        _ => Err(AppError::new(
            ErrorKind::InvalidRequest,
            "the body must be a JSON object",
        )),
    }
}

/// Read the body, at most `limit` bytes (a larger one is `413 payload_too_large`).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, AppError> {
    let drain_limit = DRAIN_LIMIT.max(limit);
    let too_large = || {
        AppError::new(
            ErrorKind::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > drain_limit) {
        // Far too large to be worth reading: answer now (the connection is closed after).
        return Err(too_large());
    }
    let mut body = body;
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            AppError::new(
                ErrorKind::InvalidRequest,
                "the request body could not be read",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > drain_limit {
                return Err(too_large());
            }
            if seen <= limit {
                bytes.extend_from_slice(&data);
            }
        }
    }
    // An oversized body is read to its end (up to DRAIN_LIMIT) and discarded, so the client
    // gets its 413 instead of a reset connection.
    if seen > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Take the request members out of a parsed body; unknown members are refused.
fn members<const N: usize>(
    mut body: Map<String, Value>,
    allowed: [&str; N],
) -> Result<[Option<Value>; N], AppError> {
    let out = allowed.map(|k| body.remove(k));
    if let Some(k) = body.keys().next() {
        return Err(AppError::new(
            ErrorKind::InvalidRequest,
            format!("unknown member {k:?}; expected {}", allowed.join(", ")),
        ));
    }
    Ok(out)
}

fn req_str(v: Option<Value>, name: &str) -> Result<String, AppError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AppError::new(
            ErrorKind::InvalidRequest,
            format!("{name} must be a string"),
        )),
        None => Err(AppError::new(
            ErrorKind::InvalidRequest,
            format!("{name} is required"),
        )),
    }
}

fn opt_str(v: Option<Value>, name: &str) -> Result<Option<String>, AppError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AppError::new(
            ErrorKind::InvalidRequest,
            format!("{name} must be a string"),
        )),
    }
}

fn req_params(v: Option<Value>) -> Result<Value, AppError> {
    match v {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(AppError::new(
            ErrorKind::InvalidRequest,
            "params must be a JSON object",
        )),
        None => Err(AppError::new(
            ErrorKind::InvalidRequest,
            "params is required",
        )),
    }
}

type Shared = State<Arc<Rail>>;

async fn intents(
    State(rail): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = Rail::acting(rail.authenticate(&headers, true)?)?;
    let t = rail.tenant(&p)?;
    let [action, params, idk] = members(
        read_json(&rail, &headers, body).await?,
        ["action", "params", "idempotency_key"],
    )?;
    let action = req_str(action, "action")?;
    let params = req_params(params)?;
    let idk = opt_str(idk, "idempotency_key")?;
    let (status, body) = rail
        .idempotent(t, &p, idk.as_deref(), "intent", &params, || async {
            match rail.decide(t, &p, &action, &params, idk.as_deref()).await? {
                Decided::Pending { body } => Ok((StatusCode::ACCEPTED, body)),
                Decided::Issued {
                    token,
                    claims,
                    receipt_id,
                } => Ok((
                    StatusCode::CREATED,
                    json!({
                        "permit": token,
                        "permit_id": claims.jti,
                        "payload_hash": claims.ph,
                        "expires_at": claims.exp,
                        "action": claims.act,
                        "tenant": claims.tnt,
                        "receipt_id": receipt_id,
                    }),
                )),
            }
        })
        .await?;
    Ok((status, Json(body)).into_response())
}

async fn execute(
    State(rail): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = Rail::acting(rail.authenticate(&headers, true)?)?;
    let t = rail.tenant(&p)?;
    let [token, params] = members(
        read_json(&rail, &headers, body).await?,
        ["permit", "params"],
    )?;
    let token = req_str(token, "permit")?;
    let params = req_params(params)?;
    let started = Instant::now();
    let verified = permit::verify(
        &token,
        &t.resolver,
        &VerifyOptions {
            issuer: &t.issuer,
            audience: &rail.config.audience,
            now: now_ms() / 1000,
        },
    );
    rail.metrics.stage("permit", started.elapsed());
    let claims = match verified {
        Ok(c) => c,
        Err(e) => {
            let r = draft(t, &p.agent, ReceiptKind::Execution, "(unverified)");
            return Err(rail.refuse(t, r, AppError::from(e)).await);
        }
    };
    let mut r = draft(t, &p.agent, ReceiptKind::Execution, &claims.act);
    r.permit_id = Some(claims.jti.clone());
    r.payload_hash = Some(claims.ph.clone());
    if claims.sub != p.agent || claims.tnt != t.id {
        let err = AppError::new(
            ErrorKind::AgentMismatch,
            "the permit was issued to another agent",
        );
        return Err(rail.refuse(t, r, err).await);
    }
    let ph = payload_hash(&params).map_err(AppError::from)?;
    if ph != claims.ph {
        let err = AppError::new(
            ErrorKind::PayloadHashMismatch,
            "the params do not hash to the permit's payload hash",
        )
        .with("payload_hash", json!(ph));
        return Err(rail.refuse(t, r, err).await);
    }
    let out = rail.execute_permit(t, &p, &claims, &params).await?;
    Ok((StatusCode::OK, Json(out)).into_response())
}

async fn one_shot(
    State(rail): Shared,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = Rail::acting(rail.authenticate(&headers, true)?)?;
    let t = rail.tenant(&p)?;
    let [params, idk] = members(
        read_json(&rail, &headers, body).await?,
        ["params", "idempotency_key"],
    )?;
    let params = req_params(params)?;
    let idk = opt_str(idk, "idempotency_key")?;
    let (status, body) = rail
        .idempotent(t, &p, idk.as_deref(), "action", &params, || async {
            match rail
                .prepare(t, &p, &action, &params, idk.as_deref())
                .await?
            {
                Prepared::Pending { body } => Ok((StatusCode::ACCEPTED, body)),
                // The permit is issued by this process for this request and never leaves it:
                // no compact JWS is signed (nobody could ever verify it) and nothing is
                // re-verified; the permit is still recorded with its claims, consumed once and
                // receipted, and both receipts are signed.
                Prepared::Allowed(a) => Ok((
                    StatusCode::OK,
                    rail.execute_fresh(t, &p, &a, &params).await?,
                )),
            }
        })
        .await?;
    Ok((status, Json(body)).into_response())
}

async fn actions(State(rail): Shared, headers: HeaderMap) -> Result<Response, AppError> {
    let p = rail.authenticate(&headers, false)?;
    let t = rail.tenant(&p)?;
    if t.profiles.is_empty() {
        return Ok(Json(t.catalog_json.clone()).into_response());
    }
    let mut all = t.catalog_json.clone();
    if let Some(Value::Array(list)) = all.get_mut("actions") {
        list.extend(rail.profile_catalog(t));
    }
    Ok(Json(all).into_response())
}

async fn whoami(State(rail): Shared, headers: HeaderMap) -> Result<Response, AppError> {
    let p = rail.authenticate(&headers, true)?;
    let t = rail.tenant(&p)?;
    Ok(Json(json!({
        "agent_id": p.agent,
        "tenant": t.id,
        "issuer": t.issuer,
        "audience": rail.config.audience,
        "jwks_url": format!("/v1/tenants/{}/jwks.json", t.id),
    }))
    .into_response())
}

async fn jwks(State(rail): Shared, Path(tenant): Path<String>) -> Result<Response, AppError> {
    let t = rail
        .tenants
        .get(&tenant)
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "no such tenant"))?;
    Ok(Json(t.jwks.clone()).into_response())
}

async fn receipt(
    State(rail): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = rail.authenticate(&headers, false)?;
    let r = rail
        .ledger
        .receipt(&p.tenant, &id)
        .await
        .map_err(|e| AppError::from(intentrail_core::Error::from(e)))?
        .filter(|r| p.admin || r["agent"].as_str() == Some(p.agent.as_str()))
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "no such receipt"))?;
    Ok(Json(r).into_response())
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

async fn receipts(
    State(rail): Shared,
    headers: HeaderMap,
    q: Result<Query<After>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let p = rail.authenticate(&headers, false)?;
    let Query(q) = q.map_err(|_| {
        AppError::new(
            ErrorKind::InvalidRequest,
            "after and limit must be integers",
        )
    })?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = rail
        .ledger
        .receipts_after(&p.tenant, q.after, limit)
        .await
        .map_err(|e| AppError::from(intentrail_core::Error::from(e)))?;
    let next = rows
        .last()
        .and_then(|r| r["seq"].as_u64())
        .unwrap_or(q.after);
    let rows: Vec<Value> = rows
        .into_iter()
        .filter(|r| p.admin || r["agent"].as_str() == Some(p.agent.as_str()))
        .collect();
    Ok(Json(json!({"receipts": rows, "next_after": next})).into_response())
}

/// `GET /v1/checkpoint` (admin key): the head of the tenant's chain, signed now by the tenant
/// key, for an auditor or a witness to keep (`intentrail receipts verify --checkpoint`).
async fn checkpoint(State(rail): Shared, headers: HeaderMap) -> Result<Response, AppError> {
    let p = rail.authenticate(&headers, false)?;
    if !p.admin {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "a checkpoint needs the tenant's admin key",
        ));
    }
    let t = rail.tenant(&p)?;
    let (seq, head) = rail
        .ledger
        .chain_head(&t.id)
        .await
        .map_err(|e| AppError::from(intentrail_core::Error::from(e)))?
        .unwrap_or_else(|| (0, intentrail_core::GENESIS_PREV.to_owned()));
    let at = u64::try_from(now_ms()).unwrap_or_default();
    let cp = intentrail_core::checkpoint::Checkpoint::sign(&t.id, seq, &head, at, &t.signer)
        .map_err(AppError::from)?;
    Ok(Json(cp).into_response())
}

async fn healthz(State(rail): Shared) -> Response {
    match rail.ledger.agent_keys().await {
        Ok(_) => Json(json!({"status": "ok"})).into_response(),
        Err(_) => AppError::new(ErrorKind::LedgerUnavailable, "the ledger does not answer")
            .into_response(),
    }
}

async fn metrics(State(rail): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        rail.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> AppError {
    AppError::new(ErrorKind::UnsupportedEndpoint, "no such endpoint")
}

async fn count(State(rail): Shared, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    rail.metrics.request(&route, resp.status().as_u16());
    resp
}

/// Run a mutating request in its own task, so a caller that hangs up (or a proxy that times
/// out) cannot cancel it half way: hyper drops a handler's future when its connection closes,
/// which would leave a consumed permit without its execution receipt and an idempotency key
/// in progress. Detached, the action finishes, is receipted, and a retry replays its answer.
async fn detached(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => AppError::internal(format!("request task failed: {e}")).into_response(),
    }
}

/// Refuse a request whose `Transfer-Encoding` names any coding but `chunked` (RFC 9112 §6.1):
/// the server decodes only chunked framing, so `gzip, chunked` would otherwise be read as
/// plain chunked and its compressed bytes parsed as the body.
async fn transfer_codings(req: Request, next: Next) -> Response {
    let unknown = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .find(|c| c != "chunked");
    match unknown {
        Some(c) => AppError::new(
            ErrorKind::InvalidRequest,
            format!(
                "Transfer-Encoding {:?} is not supported: send the body plain or chunked",
                c.chars().take(40).collect::<String>()
            ),
        )
        .into_response(),
        None => next.run(req).await,
    }
}

/// The API router.
pub fn router(rail: Arc<Rail>) -> Router {
    let mutating = Router::new()
        .route("/v1/intents", post(intents))
        .route("/v1/execute", post(execute))
        .route("/v1/actions/{action}", post(one_shot))
        .route("/v1/admin/profiles/{name}", put(profiles::put_profile))
        .route("/v1/proxy/{profile}", any(profiles::proxy))
        .route("/v1/proxy/{profile}/{*path}", any(profiles::proxy))
        .route_layer(middleware::from_fn(detached));
    Router::new()
        .merge(mutating)
        .route("/v1/actions", get(actions))
        .route("/v1/agent", get(whoami))
        .route("/v1/receipts", get(receipts))
        .route("/v1/receipts/{id}", get(receipt))
        .route("/v1/checkpoint", get(checkpoint))
        .route("/v1/tenants/{tenant}/jwks.json", get(jwks))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(rail.clone(), count))
        .layer(middleware::from_fn(transfer_codings))
        .with_state(rail)
}

/// Serve the API on `listener` until `shutdown` resolves. Recovers unfinished permits first and
/// refreshes run-time agent keys and profile versions every second.
pub async fn serve(
    rail: Arc<Rail>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match rail.recover().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(count = n, "finished permits left unfinished by a crash"),
        Err(e) => tracing::error!(error = %e, "recovery failed"),
    }
    let refresher = {
        let rail = rail.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                rail.refresh_keys().await;
                rail.refresh_profiles().await;
            }
        })
    };
    let result = axum::serve(listener, router(rail))
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    result
}

/// Hash of an admin or agent key, re-exported for the CLI.
pub fn key_hash(key: &str) -> String {
    hash_key(key)
}
