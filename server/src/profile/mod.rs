//! Mirrored profiles: an uploaded OpenAPI 3.0/3.1 document, compiled into governed actions.
//!
//! Guarantees: each operation of the document becomes the action `<profile>.<operationId>`
//! (or `<profile>.<method>_<path>` without an id) whose params are `{path, query, headers,
//! body}`, checked against a JSON Schema derived from the operation; nothing that is not an
//! operation of the document exists. Headers named `Authorization`, `Cookie`, `Host` and the
//! like are never declared, so they can never pass. Compiling never loops (local `$ref`s only,
//! bounded chains, recursive schemas kept as `$defs` references).

pub mod bounds;
pub mod document;
mod operation;
pub mod request;
pub mod schema;
pub mod store;

pub use operation::derived_id;
use operation::operation;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{json, Value};

use crate::catalog::Violation;

/// HTTP methods an operation may use (TRACE is not forwarded).
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// Request headers an operation can never declare (the rail owns them, or they carry
/// credentials): the forwarder's list, one source for both.
use crate::forward::REQUEST_RESERVED_HEADERS as RESERVED_HEADERS;

/// Longest profile name.
pub const MAX_NAME_LEN: usize = 64;

/// Is `name` a valid profile name (`[a-z0-9_-]`, 1–64, starting with a letter or digit)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A path template variable.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
}

/// How a parameter value is serialized (OpenAPI `style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `simple` (path, header): comma-separated.
    Simple,
    /// `form` (query).
    Form,
    /// `spaceDelimited` (query arrays).
    SpaceDelimited,
    /// `pipeDelimited` (query arrays).
    PipeDelimited,
    /// `deepObject` (query objects: `name[key]=value`).
    DeepObject,
}

/// One declared parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Name (header names lower-cased).
    pub name: String,
    /// Where it goes.
    pub location: Location,
    /// Required by the operation.
    pub required: bool,
    /// Serialization style.
    pub style: Style,
    /// OpenAPI `explode`.
    pub explode: bool,
    /// Its converted schema.
    pub schema: Value,
}

/// How the request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (canonical RFC 8785 bytes are sent).
    Json,
    /// `application/x-www-form-urlencoded` (nested keys as `a[b]`, arrays as `a[0]`).
    Form,
}

/// A segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Literal(String),
    /// Literal text and variables, e.g. `{base}...{head}` or `v{version}.json`.
    Vars(Vec<Part>),
}

/// A piece of a templated path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A variable.
    Var(String),
}

impl Segment {
    /// The variables of this segment.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        let parts: &[Part] = match self {
            Segment::Literal(_) => &[],
            Segment::Vars(p) => p,
        };
        parts.iter().filter_map(|p| match p {
            Part::Var(n) => Some(n.as_str()),
            Part::Lit(_) => None,
        })
    }
}

/// One operation of a profile: an action.
pub struct Operation {
    /// `<profile>.<operationId>`.
    pub action: String,
    /// The operation id (or the derived name).
    pub operation_id: String,
    /// One line for humans and tool definitions.
    pub description: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template as in the document.
    pub path: String,
    /// The parsed path template.
    pub segments: Vec<Segment>,
    /// Declared parameters (path, query, header), in document order.
    pub params: Vec<Param>,
    /// The request body, when the operation takes one: encoding and whether it is required.
    pub body: Option<(BodyKind, bool)>,
    /// The derived params JSON Schema (draft 2020-12), as `GET /v1/actions` publishes it.
    pub schema: Value,
    /// How the validator is compiled ([`bounds::plan`]).
    plan: bounds::Plan,
    /// Compiled on first use: compiling all of a large document's validators up front costs
    /// hundreds of MB of allocator working set (GitHub: ~280 MB for 1221), most of them for
    /// operations no agent calls. Its size is bounded by [`bounds`].
    validator: OnceLock<Result<bounds::Checker, String>>,
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("action", &self.action)
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Operation {
    /// Check params against the derived schema (violations with JSON pointers, no values), and
    /// that they make a request (e.g. no path variable that is `.` or `..`).
    pub fn validate(&self, params: &Value) -> Result<(), Vec<Violation>> {
        match self.validator() {
            Ok(v) => {
                v.check(params)?;
                request::outbound(self, params, None)
                    .map(drop)
                    .map_err(|message| {
                        vec![Violation {
                            pointer: String::new(),
                            message,
                        }]
                    })
            }
            Err(e) => {
                tracing::error!(action = %self.action, error = %e, "a profile operation's schema does not compile");
                Err(vec![Violation {
                    pointer: String::new(),
                    message: "this operation's schema cannot be checked; nothing is accepted"
                        .into(),
                }])
            }
        }
    }

    /// Schema objects its validator compiles (references unfolded; [`bounds`]).
    pub fn schema_nodes(&self) -> u64 {
        self.plan.nodes
    }

    /// The compiled validator (compiled now if this is its first use).
    pub fn validator(&self) -> Result<&bounds::Checker, &str> {
        self.validator
            .get_or_init(|| bounds::Checker::build(&self.schema, &self.plan))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The params schema of one location (`path`, `query`, `headers`, `body`), with `$defs`
    /// reachable through [`Operation::schema`].
    fn part(&self, part: &str) -> Option<&Value> {
        self.schema.get("properties").and_then(|p| p.get(part))
    }

    /// How specific the template is: more literal segments first, then a literal earlier in
    /// the path (`/a/b/{y}` before `/a/{x}/c`), then more literal text in templated segments.
    fn specificity(&self) -> (usize, Vec<bool>, usize) {
        let literal = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let shape = self
            .segments
            .iter()
            .map(|s| matches!(s, Segment::Literal(_)))
            .collect();
        let text = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.len(),
                Segment::Vars(parts) => parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(l) => l.len(),
                        Part::Var(_) => 0,
                    })
                    .sum(),
            })
            .sum();
        (literal, shape, text)
    }
}

/// An operation that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// `METHOD /path`.
    pub operation: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Operations imported (actions created).
    pub imported: usize,
    /// Operations skipped, each with its reason.
    pub skipped: Vec<Skipped>,
}

/// (method, number of path segments) → (template, action name), most specific first.
type Routes = HashMap<(String, usize), Vec<(Vec<Segment>, String)>>;

/// A compiled profile version.
#[derive(Debug)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// Version number (1, 2, …).
    pub version: i64,
    /// `sha256:` hash of the stored (normalized JSON) document.
    pub hash: String,
    /// The operations, by action name.
    pub operations: BTreeMap<String, Operation>,
    /// Per (method, number of path segments): templates and their action names, most
    /// specific first.
    routes: Routes,
}

impl Profile {
    /// `name@version#hash`: what permits (`prv`) and receipts (`profile_version`) record.
    pub fn tag(&self) -> String {
        format!("{}@{}#{}", self.name, self.version, self.hash)
    }

    /// The operation of an action name.
    pub fn operation(&self, action: &str) -> Option<&Operation> {
        self.operations.get(action)
    }

    /// The operation a request `method` + `path` (below the profile's base) is for, with the
    /// raw (still percent-encoded) values of its path variables. Most specific template first.
    pub fn route(&self, method: &str, path: &str) -> Option<(&Operation, Vec<(String, String)>)> {
        let parts: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let candidates = self
            .routes
            .get(&(method.to_ascii_uppercase(), parts.len()))?;
        for (segments, action) in candidates {
            if let Some(vars) = request::match_path(segments, &parts) {
                return self.operations.get(action).map(|op| (op, vars));
            }
        }
        None
    }

    /// The catalog entries of every operation (`GET /v1/actions`).
    pub fn catalog_entries(&self) -> impl Iterator<Item = Value> + '_ {
        self.operations.values().map(move |op| {
            json!({
                "name": op.action,
                "description": op.description,
                "schema": op.schema,
                "profile": {"name": self.name, "version": self.version, "hash": self.hash,
                            "method": op.method, "path": op.path},
            })
        })
    }
}

/// Parse and normalize an uploaded document: the JSON bytes that are stored and hashed.
pub fn normalize(bytes: &[u8]) -> Result<(Value, Vec<u8>), String> {
    let doc = document::parse(bytes)?;
    let stored = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    Ok((doc, stored))
}

/// Compile a document into a profile. Operations that cannot be governed are skipped (and
/// reported); a document that is not OpenAPI 3.0/3.1, has a remote `$ref` or a refused
/// `servers` URL is an error.
pub fn compile(
    name: &str,
    version: i64,
    hash: &str,
    doc: &Value,
) -> Result<(Profile, ImportReport), String> {
    if !valid_name(name) {
        return Err(format!(
            "profile name {:?} must match [a-z0-9][a-z0-9_-]{{0,63}}",
            document::cut(name)
        ));
    }
    let root = doc
        .as_object()
        .ok_or_else(|| "the document must be an object".to_string())?;
    let oas = root
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or_else(|| "not an OpenAPI 3 document (no `openapi` version string)".to_string())?;
    let v30 = if oas.starts_with("3.0.") || oas == "3.0" {
        true
    } else if oas.starts_with("3.1.") || oas == "3.1" {
        false
    } else {
        return Err(format!(
            "OpenAPI version {:?} is not supported (3.0.x or 3.1.x)",
            document::cut(oas)
        ));
    };
    document::check_refs(doc)?;
    check_servers(root.get("servers"))?;
    let paths = match root.get("paths") {
        Some(Value::Object(p)) => p,
        None => return Err("the document has no `paths`".into()),
        Some(_) => return Err("`paths` must be an object".into()),
    };
    let mut report = ImportReport::default();
    let mut operations = BTreeMap::new();
    let mut ids = HashSet::new();
    for (path, item) in paths {
        let item = document::resolve(doc, item)?;
        let Some(item) = item.as_object() else {
            return Err(format!(
                "path item {:?} is not an object",
                document::cut(path)
            ));
        };
        check_servers(item.get("servers"))?;
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            check_servers(op.get("servers"))?;
            let label = format!("{} {}", method.to_ascii_uppercase(), path);
            match operation(doc, v30, name, path, method, item, op) {
                Ok(op) => {
                    if !ids.insert(op.operation_id.clone()) {
                        report.skipped.push(Skipped {
                            operation: label,
                            reason: format!(
                                "operationId {:?} is used twice",
                                document::cut(&op.operation_id)
                            ),
                        });
                        continue;
                    }
                    operations.insert(op.action.clone(), op);
                }
                Err(reason) => report.skipped.push(Skipped {
                    operation: label,
                    reason,
                }),
            }
        }
        if item.contains_key("trace") {
            report.skipped.push(Skipped {
                operation: format!("TRACE {path}"),
                reason: "TRACE is never forwarded".into(),
            });
        }
    }
    if operations.is_empty() {
        return Err(if report.skipped.is_empty() {
            "the document has no operations".into()
        } else {
            format!(
                "no operation could be imported (first problem: {}: {})",
                report.skipped[0].operation, report.skipped[0].reason
            )
        });
    }
    let nodes = operations
        .values()
        .fold(0u64, |n, op| n.saturating_add(op.plan.nodes));
    if nodes > bounds::MAX_PROFILE_NODES {
        return Err(format!(
            "its operations' schemas expand to more than {} schema objects in all",
            bounds::MAX_PROFILE_NODES
        ));
    }
    report.imported = operations.len();
    let mut routes = Routes::new();
    let mut ordered: Vec<&Operation> = operations.values().collect();
    // Most specific first (more literal segments), then by name for a stable order.
    ordered.sort_by(|a, b| {
        b.specificity()
            .cmp(&a.specificity())
            .then_with(|| a.action.cmp(&b.action))
    });
    for op in ordered {
        routes
            .entry((op.method.clone(), op.segments.len()))
            .or_default()
            .push((op.segments.clone(), op.action.clone()));
    }
    Ok((
        Profile {
            name: name.to_owned(),
            version,
            hash: hash.to_owned(),
            operations,
            routes,
        },
        report,
    ))
}

fn check_servers(servers: Option<&Value>) -> Result<(), String> {
    let Some(servers) = servers else {
        return Ok(());
    };
    let list = servers
        .as_array()
        .ok_or_else(|| "`servers` must be a list".to_string())?;
    for s in list {
        let url = s
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| "a server has no `url`".to_string())?;
        document::check_server_url(url)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The document cannot be governed (the message says why, without secrets).
    #[error("{0}")]
    Invalid(String),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
}

/// What [`import`] stored.
#[derive(Debug)]
pub struct Imported {
    /// The compiled profile (with its stored version).
    pub profile: Profile,
    /// Operations imported and skipped.
    pub report: ImportReport,
    /// `false` when the newest stored version already had this document.
    pub created: bool,
}

/// Parse, check and compile a document, then store it as the next version of `tenant`'s
/// profile `name`. The CPU work runs on the blocking pool.
pub async fn import(
    ledger: &dyn crate::ledger::Ledger,
    tenant: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Result<Imported, ImportError> {
    let owned = name.to_owned();
    let (mut profile, report, stored) = tokio::task::spawn_blocking(move || {
        let (doc, stored) = normalize(&bytes)?;
        drop(bytes);
        let hash = intentrail_core::hash::sha256_tagged(&stored);
        let (profile, report) = compile(&owned, 0, &hash, &doc)?;
        Ok::<_, String>((profile, report, stored))
    })
    .await
    .map_err(|e| ImportError::Invalid(format!("the import task failed: {e}")))?
    .map_err(ImportError::Invalid)?;
    let (row, created) = ledger
        .put_profile(tenant, name, &profile.hash, &stored)
        .await?;
    profile.version = row.version;
    Ok(Imported {
        profile,
        report,
        created,
    })
}

/// Load and compile one stored version (`None` when it does not exist).
pub async fn load(
    ledger: &dyn crate::ledger::Ledger,
    tenant: &str,
    name: &str,
    version: i64,
) -> Result<Option<Profile>, ImportError> {
    let Some((row, bytes)) = ledger.profile_document(tenant, name, version).await? else {
        return Ok(None);
    };
    let owned = name.to_owned();
    let profile = tokio::task::spawn_blocking(move || {
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("stored profile document is not JSON: {e}"))?;
        drop(bytes);
        compile(&owned, row.version, &row.hash, &doc).map(|(p, _)| p)
    })
    .await
    .map_err(|e| ImportError::Invalid(format!("the load task failed: {e}")))?
    .map_err(ImportError::Invalid)?;
    Ok(Some(profile))
}
