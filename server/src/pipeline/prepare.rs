//! Stage 6, prepare: everything a forward needs before the permit is consumed — the request,
//! built from the canonical params alone, and the connector's credentials, fetched now.
//!
//! Guarantees: the forwarded request is a pure function of the params the permit hashes; the
//! credentials are fetched at forward time (or from a cache bounded by the connector's TTL)
//! and never leave the rail; a failure here comes back with its unwritten refusal receipt, so
//! the permit stays unspent.

use std::time::{Duration, Instant};

use intentrail_core::permit::PermitClaims;
use intentrail_core::receipt::Receipt;
use intentrail_core::ErrorKind;
use serde_json::Value;

use super::{receipt, target};
use crate::auth::Principal;
use crate::credentials::CredentialError;
use crate::forward::{mapping, ConnectorConfig, Outbound};
use crate::model::Outcome;
use crate::problem::AppError;
use crate::rail::{Rail, Tenant};
use crate::secret::Secret;

/// A request ready to forward once its permit is consumed.
pub(crate) struct Ready<'t> {
    /// The execution receipt draft.
    pub(crate) receipt: Receipt,
    /// The connector it goes through.
    pub(crate) connector: &'t ConnectorConfig,
    /// The request.
    pub(crate) outbound: Outbound,
    /// The connector's credential.
    pub(crate) secret: Option<Secret>,
    /// Its `extra_credentials`, in order.
    pub(crate) extra: Vec<Secret>,
}

/// Why a permit cannot be forwarded: with the receipt to write, or (a config bug) without.
pub(crate) enum Refusal {
    /// Receipt this refusal.
    Receipted(Box<Receipt>, AppError),
    /// No receipt draft to write.
    Bare(AppError),
}

impl Refusal {
    /// Write the refusal's receipt (a bare one gets the permit's execution draft when
    /// `claims` are given) and return its error.
    pub(crate) async fn record(
        self,
        rail: &Rail,
        t: &Tenant,
        p: &Principal,
        claims: Option<&PermitClaims>,
    ) -> AppError {
        match (self, claims) {
            (Refusal::Receipted(r, err), _) => receipt::refuse(rail, t, *r, err).await,
            (Refusal::Bare(err), Some(claims)) => {
                let r = receipt::execution(t, p, claims);
                receipt::refuse(rail, t, r, err).await
            }
            (Refusal::Bare(err), None) => err,
        }
    }
}

/// The request and credentials of a permit's action.
pub(crate) async fn ready_to_send<'t>(
    rail: &Rail,
    t: &'t Tenant,
    p: &Principal,
    claims: &PermitClaims,
    params: &Value,
) -> Result<Ready<'t>, Refusal> {
    let mut r = receipt::execution(t, p, claims);
    let (connector_name, outbound) = match request(rail, t, claims, params).await {
        Ok(x) => x,
        Err(err) => return Err(Refusal::Receipted(Box::new(r), err)),
    };
    let Some(connector) = t.connectors.get(connector_name) else {
        return Err(Refusal::Bare(AppError::internal(
            "binding to a missing connector",
        )));
    };
    let started = Instant::now();
    let (secret, extra) = match credentials(rail, connector).await {
        Ok(s) => s,
        Err(e) => {
            r.outcome = Some(Outcome::NotForwarded.as_str().into());
            return Err(Refusal::Receipted(Box::new(r), AppError::from(e)));
        }
    };
    rail.metrics.stage("credential", started.elapsed());
    Ok(Ready {
        receipt: r,
        connector,
        outbound,
        secret,
        extra,
    })
}

/// The connector name and request of a permit's action.
async fn request<'t>(
    rail: &Rail,
    t: &'t Tenant,
    claims: &PermitClaims,
    params: &Value,
) -> Result<(&'t str, Outbound), AppError> {
    if let Some(prv) = &claims.prv {
        return target::profile_outbound(rail, t, &claims.act, prv, params, &claims.jti).await;
    }
    let binding = t.bindings.get(&claims.act).ok_or_else(|| {
        AppError::new(
            ErrorKind::UnknownAction,
            format!("no action {:?}", claims.act),
        )
    })?;
    let out = mapping::build(&binding.request, params, Some(claims.jti.clone()))
        .map_err(AppError::internal)?;
    Ok((binding.connector.as_str(), out))
}

/// The connector's credential and its `extra_credentials`, fetched concurrently now (or from
/// the cache within the connector's `cache_ttl_ms`). Any failure fails the whole.
async fn credentials(
    rail: &Rail,
    connector: &ConnectorConfig,
) -> Result<(Option<Secret>, Vec<Secret>), CredentialError> {
    let ttl = Duration::from_millis(connector.cache_ttl_ms);
    let main = async {
        match &connector.credential {
            None => Ok(None),
            Some(reference) => rail
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
            .map(|x| rail.credentials.fetch_cached(&x.credential, ttl)),
    );
    futures_util::future::try_join(main, extra).await
}
