//! What an action name is: a native action bound in the config, or an operation of a profile
//! version the tenant binds. Nothing else exists.
//!
//! Guarantees: a decision resolves against the newest version of a bound profile; an execute
//! resolves against the version its permit was validated against (`prv`), whose hash must
//! match the permit's.

use std::sync::Arc;

use intentrail_core::ErrorKind;
use serde_json::Value;

use crate::config::{ActionBinding, ProfileBinding};
use crate::forward::Outbound;
use crate::problem::AppError;
use crate::profile::{request, Profile};
use crate::rail::{Rail, Tenant};

/// What an action name resolves to.
pub(crate) enum Target<'t> {
    /// A native action bound in the config.
    Native(&'t ActionBinding),
    /// An operation of a profile version.
    Profile {
        /// The tenant's binding of the profile.
        binding: &'t ProfileBinding,
        /// The version.
        profile: Arc<Profile>,
    },
}

impl Target<'_> {
    /// The connector the action is forwarded with (the Cedar resource).
    pub(crate) fn connector(&self) -> &str {
        match self {
            Target::Native(b) => &b.connector,
            Target::Profile { binding, .. } => &binding.connector,
        }
    }

    /// `name@version#hash` of a profile action.
    pub(crate) fn profile_tag(&self) -> Option<String> {
        match self {
            Target::Native(_) => None,
            Target::Profile { profile, .. } => Some(profile.tag()),
        }
    }
}

fn unknown(action: &str) -> AppError {
    AppError::new(ErrorKind::UnknownAction, format!("no action {action:?}"))
}

/// The newest version of a profile the tenant binds.
pub(crate) fn latest_profile(rail: &Rail, t: &Tenant, name: &str) -> Option<Arc<Profile>> {
    if !t.profiles.contains_key(name) {
        return None;
    }
    rail.profiles.latest(&t.id, name)
}

/// Resolve an action name for a decision.
pub(crate) fn resolve<'t>(
    rail: &Rail,
    t: &'t Tenant,
    action: &str,
) -> Result<Target<'t>, AppError> {
    if let Some(b) = t.bindings.get(action) {
        return Ok(Target::Native(b));
    }
    let (name, _) = action.split_once('.').ok_or_else(|| unknown(action))?;
    let binding = t.profiles.get(name).ok_or_else(|| unknown(action))?;
    let profile = latest_profile(rail, t, name).ok_or_else(|| unknown(action))?;
    if profile.operation(action).is_none() {
        return Err(unknown(action));
    }
    Ok(Target::Profile { binding, profile })
}

/// Split `name@version#hash`.
fn parse_tag(tag: &str) -> Option<(&str, i64, &str)> {
    let (name, rest) = tag.split_once('@')?;
    let (version, hash) = rest.split_once('#')?;
    Some((name, version.parse().ok()?, hash))
}

/// The connector and request of a permit's profile action, from the profile version the
/// permit was validated against (`prv`).
pub(crate) async fn profile_outbound<'t>(
    rail: &Rail,
    t: &'t Tenant,
    action: &str,
    prv: &str,
    params: &Value,
    jti: &str,
) -> Result<(&'t str, Outbound), AppError> {
    let (name, version, hash) = parse_tag(prv).ok_or_else(|| unknown(action))?;
    let binding = t.profiles.get(name).ok_or_else(|| unknown(action))?;
    let profile = rail
        .profiles
        .version(rail.ledger.as_ref(), &t.id, name, version)
        .await
        .map_err(|e| match e {
            crate::profile::ImportError::Ledger(e) => AppError::from(e),
            crate::profile::ImportError::Invalid(e) => AppError::internal(e),
        })?
        .ok_or_else(|| unknown(action))?;
    if profile.hash != hash {
        return Err(AppError::internal(format!(
            "profile {name}@{version} hash differs from the permit's"
        )));
    }
    let op = profile.operation(action).ok_or_else(|| unknown(action))?;
    let out = request::outbound(op, params, Some(jti.to_owned())).map_err(AppError::internal)?;
    Ok((binding.connector.as_str(), out))
}

/// The tenant's catalog (`GET /v1/actions`): its native actions, then every operation of the
/// newest version of each bound profile.
pub(crate) fn catalog(rail: &Rail, t: &Tenant) -> Value {
    let mut all = t.catalog_json.clone();
    let mut names: Vec<&String> = t.profiles.keys().collect();
    names.sort();
    if let Some(Value::Array(list)) = all.get_mut("actions") {
        for name in names {
            if let Some(p) = latest_profile(rail, t, name) {
                list.extend(p.catalog_entries());
            }
        }
    }
    all
}
