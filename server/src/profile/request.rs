//! Profile operations on the wire: a vendor-shaped HTTP request → canonical params
//! (`{path, query, headers, body}`), and canonical params → the request the rail forwards.
//!
//! Guarantees: [`outbound`] is a pure function of the canonical params (the value the permit
//! hashes): path variables are percent-encoded and can never add a segment, query pairs and
//! form bodies come out in canonical key order, a JSON body is exactly its RFC 8785 bytes.
//! [`from_http`] only reads what the operation declares; anything else it finds is put
//! where schema validation refuses it.

use intentrail_core::jcs;
use serde_json::{Map, Number, Value};

use super::{BodyKind, Location, Operation, Param, Part, Segment, Style};
use crate::forward::mapping::{encode_segment, form_pairs, FORM, JSON};
use crate::forward::Outbound;

/// Match request path segments against a template; the raw variable values on success.
pub fn match_path(template: &[Segment], parts: &[&str]) -> Option<Vec<(String, String)>> {
    if template.len() != parts.len() {
        return None;
    }
    let mut vars = Vec::new();
    for (seg, part) in template.iter().zip(parts) {
        match seg {
            Segment::Literal(l) => {
                if l != part {
                    return None;
                }
            }
            Segment::Vars(pieces) => {
                let mut rest: &str = part;
                let mut i = 0;
                while i < pieces.len() {
                    match &pieces[i] {
                        Part::Lit(l) => rest = rest.strip_prefix(l.as_str())?,
                        Part::Var(name) => {
                            // A variable runs to the first occurrence of the next literal.
                            let end = match pieces.get(i + 1) {
                                Some(Part::Lit(l)) => rest.find(l.as_str())?,
                                _ => rest.len(),
                            };
                            if end == 0 {
                                return None;
                            }
                            vars.push((name.clone(), rest[..end].to_owned()));
                            rest = &rest[end..];
                        }
                    }
                    i += 1;
                }
                if !rest.is_empty() {
                    return None;
                }
            }
        }
    }
    Some(vars)
}

/// Render one scalar as text (strings as is, numbers in their JSON form).
fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            jcs::format_number(n.as_f64().unwrap_or(f64::NAN))
        }),
        Value::Null => Ok(String::new()),
        _ => Err("a nested value cannot be serialized here".into()),
    }
}

fn joined(list: &[Value], sep: &str) -> Result<String, String> {
    Ok(list
        .iter()
        .map(scalar)
        .collect::<Result<Vec<_>, _>>()?
        .join(sep))
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut e: Vec<_> = m.iter().collect();
    e.sort_by(|a, b| jcs::utf16_cmp(a.0, b.0));
    e
}

/// The request the rail forwards for validated canonical params.
pub fn outbound(
    op: &Operation,
    params: &Value,
    idempotency_key: Option<String>,
) -> Result<Outbound, String> {
    let obj = params
        .as_object()
        .ok_or_else(|| "params must be a JSON object".to_string())?;
    let empty = Map::new();
    let part = |k: &str| -> Result<&Map<String, Value>, String> {
        match obj.get(k) {
            None => Ok(&empty),
            Some(Value::Object(m)) => Ok(m),
            Some(_) => Err(format!("params.{k} must be an object")),
        }
    };
    let (path_vals, query_vals, header_vals) = (part("path")?, part("query")?, part("headers")?);
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "path" | "query" | "headers" | "body"))
    {
        return Err(format!("params.{k} is not a place in the request"));
    }
    let declared = |m: &Map<String, Value>, loc: Location| -> Result<(), String> {
        match m
            .keys()
            .find(|k| !op.params.iter().any(|p| p.location == loc && &p.name == *k))
        {
            Some(k) => Err(format!("parameter {k:?} is not declared")),
            None => Ok(()),
        }
    };
    declared(path_vals, Location::Path)?;
    declared(query_vals, Location::Query)?;
    declared(header_vals, Location::Header)?;

    let mut path = String::new();
    for seg in &op.segments {
        path.push('/');
        match seg {
            Segment::Literal(l) => path.push_str(l),
            Segment::Vars(pieces) => {
                let mut seg = String::new();
                let mut names = Vec::new();
                for piece in pieces {
                    match piece {
                        Part::Lit(l) => seg.push_str(&encode_segment(l)),
                        Part::Var(name) => {
                            let v = path_vals
                                .get(name)
                                .ok_or_else(|| format!("path parameter {name:?} is missing"))?;
                            let text = match v {
                                Value::Array(a) => joined(a, ",")?,
                                other => scalar(other)?,
                            };
                            if text.is_empty() {
                                return Err(format!("path parameter {name:?} must not be empty"));
                            }
                            seg.push_str(&encode_segment(&text));
                            names.push(name.as_str());
                        }
                    }
                }
                if seg == "." || seg == ".." {
                    return Err(format!(
                        "path parameter {} must not make the segment '.' or '..'",
                        names
                            .iter()
                            .map(|n| format!("{n:?}"))
                            .collect::<Vec<_>>()
                            .join(" + ")
                    ));
                }
                path.push_str(&seg);
            }
        }
    }
    let mut query = Vec::new();
    for (name, v) in sorted(query_vals) {
        let p = op
            .params
            .iter()
            .find(|p| p.location == Location::Query && &p.name == name)
            .ok_or_else(|| format!("query parameter {name:?} is not declared"))?;
        query_pairs(p, v, &mut query)?;
    }
    let mut headers = Vec::new();
    for (name, v) in sorted(header_vals) {
        let text = match v {
            Value::Array(a) => joined(a, ",")?,
            other => scalar(other)?,
        };
        headers.push((name.clone(), text));
    }
    let body = match (op.body, obj.get("body")) {
        (_, None) => None,
        (None, Some(_)) => return Err("the operation takes no body".into()),
        (Some((BodyKind::Json, _)), Some(b)) => Some((
            bytes::Bytes::from(jcs::canonicalize(b).map_err(|e| e.to_string())?),
            JSON,
        )),
        (Some((BodyKind::Form, _)), Some(b)) => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.extend_pairs(form_pairs(b)?);
            Some((bytes::Bytes::from(ser.finish().into_bytes()), FORM))
        }
    };
    Ok(Outbound {
        method: op.method.clone(),
        path,
        query,
        headers,
        body,
        idempotency_key,
    })
}

fn query_pairs(p: &Param, v: &Value, out: &mut Vec<(String, String)>) -> Result<(), String> {
    match v {
        Value::Array(list) => match p.style {
            Style::Form if p.explode => {
                for x in list {
                    out.push((p.name.clone(), scalar(x)?));
                }
            }
            Style::SpaceDelimited => out.push((p.name.clone(), joined(list, " ")?)),
            Style::PipeDelimited => out.push((p.name.clone(), joined(list, "|")?)),
            _ => out.push((p.name.clone(), joined(list, ",")?)),
        },
        Value::Object(m) => match p.style {
            Style::DeepObject => {
                for (k, x) in sorted(m) {
                    out.push((format!("{}[{k}]", p.name), scalar(x)?));
                }
            }
            Style::Form if p.explode => {
                for (k, x) in sorted(m) {
                    out.push((k.clone(), scalar(x)?));
                }
            }
            _ => {
                let mut parts = Vec::new();
                for (k, x) in sorted(m) {
                    parts.push(k.clone());
                    parts.push(scalar(x)?);
                }
                out.push((p.name.clone(), parts.join(",")));
            }
        },
        other => out.push((p.name.clone(), scalar(other)?)),
    }
    Ok(())
}

/// A vendor-shaped request, as received by the transparent proxy.
pub struct HttpRequest<'a> {
    /// The raw path variables the route matched (still percent-encoded).
    pub path_vars: Vec<(String, String)>,
    /// The raw query string (without `?`).
    pub query: Option<&'a str>,
    /// Request headers (any case).
    pub headers: &'a axum::http::HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Why a vendor request cannot become params.
#[derive(Debug)]
pub enum FromHttpError {
    /// Not valid I-JSON (the body).
    Json(intentrail_core::Error),
    /// Anything else (message for the agent, no values).
    Invalid(String),
}

/// Build the canonical params for `op` from a vendor-shaped request. Values are typed by the
/// parameter's schema (`"5"` becomes `5` where an integer is declared). Undeclared query keys
/// are kept as strings so that schema validation names them; undeclared headers are ignored
/// (HTTP clients add many), and never `Authorization` or cookies.
pub fn from_http(op: &Operation, req: &HttpRequest<'_>) -> Result<Value, FromHttpError> {
    let defs = &op.schema;
    let invalid = |m: String| FromHttpError::Invalid(m);
    let mut out = Map::new();
    let mut path = Map::new();
    for (name, raw) in &req.path_vars {
        let decoded = super::document::percent_decode(raw);
        let schema = param_schema(op, Location::Path, name);
        path.insert(name.clone(), typed(&decoded, schema, defs));
    }
    if !path.is_empty() {
        out.insert("path".into(), Value::Object(path));
    }
    let pairs: Vec<(String, String)> = req
        .query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let query = query_from_pairs(op, defs, &pairs).map_err(invalid)?;
    if !query.is_empty() {
        out.insert("query".into(), Value::Object(query));
    }
    let mut headers = Map::new();
    for p in op.params.iter().filter(|p| p.location == Location::Header) {
        let values: Vec<&str> = req
            .headers
            .get_all(p.name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            continue;
        }
        let text = values.join(",");
        headers.insert(p.name.clone(), typed_param(&text, p, defs, ","));
    }
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Object(headers));
    }
    if !req.body.iter().all(u8::is_ascii_whitespace) {
        let Some((kind, _)) = op.body else {
            return Err(invalid("this operation takes no request body".into()));
        };
        let body_schema = op.part("body");
        let body = match kind {
            BodyKind::Json => {
                intentrail_core::json::parse_strict(req.body).map_err(FromHttpError::Json)?
            }
            BodyKind::Form => {
                let text = std::str::from_utf8(req.body)
                    .map_err(|_| invalid("the form body is not UTF-8".into()))?;
                let pairs: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                form_to_value(&pairs, body_schema, defs).map_err(invalid)?
            }
        };
        out.insert("body".into(), body);
    }
    Ok(Value::Object(out))
}

fn param_schema<'a>(op: &'a Operation, loc: Location, name: &str) -> Option<&'a Value> {
    op.params
        .iter()
        .find(|p| p.location == loc && p.name == name)
        .map(|p| &p.schema)
}

fn query_from_pairs(
    op: &Operation,
    defs: &Value,
    pairs: &[(String, String)],
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut used = vec![false; pairs.len()];
    for p in op.params.iter().filter(|p| p.location == Location::Query) {
        let schema = deref(&p.schema, defs);
        if p.style == Style::DeepObject || (is_type(schema, "object") && !p.explode) {
            // name[key]=value (deepObject), or name=k,v,k,v.
            let prefix = format!("{}[", p.name);
            let mut obj = Map::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                if let Some(key) = k.strip_prefix(&prefix).and_then(|r| r.strip_suffix(']')) {
                    let sub = property_schema(schema, key, defs);
                    obj.insert(key.to_owned(), typed(v, sub, defs));
                    used[i] = true;
                } else if k == &p.name && p.style != Style::DeepObject {
                    let items: Vec<&str> = v.split(',').collect();
                    for kv in items.chunks(2) {
                        let key = kv[0];
                        let val = kv.get(1).copied().unwrap_or_default();
                        let sub = property_schema(schema, key, defs);
                        obj.insert(key.to_owned(), typed(val, sub, defs));
                    }
                    used[i] = true;
                }
            }
            if !obj.is_empty() {
                out.insert(p.name.clone(), Value::Object(obj));
            }
            continue;
        }
        let alt = format!("{}[]", p.name);
        let found: Vec<(usize, &String)> = pairs
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k == &p.name || k == &alt)
            .map(|(i, (_, v))| (i, v))
            .collect();
        if found.is_empty() {
            continue;
        }
        for (i, _) in &found {
            used[*i] = true;
        }
        if is_type(schema, "array") {
            let sep = match p.style {
                Style::SpaceDelimited => Some(" "),
                Style::PipeDelimited => Some("|"),
                _ if !p.explode => Some(","),
                _ => None,
            };
            let item_schema = schema.get("items");
            let mut items = Vec::new();
            for (_, v) in &found {
                match sep {
                    Some(s) => {
                        for x in v.split(s) {
                            items.push(typed(x, item_schema, defs));
                        }
                    }
                    None => items.push(typed(v, item_schema, defs)),
                }
            }
            out.insert(p.name.clone(), Value::Array(items));
        } else {
            if found.len() > 1 {
                return Err(format!(
                    "query parameter {:?} is given more than once",
                    super::document::cut(&p.name)
                ));
            }
            out.insert(p.name.clone(), typed(found[0].1, Some(&p.schema), defs));
        }
    }
    // Undeclared keys stay, as strings, for the validator to refuse by name.
    for (i, (k, v)) in pairs.iter().enumerate() {
        if !used[i] && !out.contains_key(k) {
            out.insert(k.clone(), Value::String(v.clone()));
        }
    }
    Ok(out)
}

fn typed_param(text: &str, p: &Param, defs: &Value, sep: &str) -> Value {
    let schema = deref(&p.schema, defs);
    if is_type(schema, "array") {
        Value::Array(
            text.split(sep)
                .map(|x| typed(x.trim(), schema.get("items"), defs))
                .collect(),
        )
    } else {
        typed(text, Some(&p.schema), defs)
    }
}

/// Follow a `#/$defs/…` reference of a derived schema (a few hops at most).
fn deref<'a>(s: &'a Value, defs: &'a Value) -> &'a Value {
    let mut cur = s;
    for _ in 0..8 {
        match cur.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| defs.pointer(p)) {
                Some(t) => cur = t,
                None => return cur,
            },
            None => {
                // `allOf: [{$ref}, …]` from a 3.1 `$ref` with siblings: look through.
                match cur.get("allOf").and_then(|a| a.get(0)) {
                    Some(first) if cur.get("type").is_none() => cur = first,
                    _ => return cur,
                }
            }
        }
    }
    cur
}

/// The types a schema allows (`type`, or the union over `anyOf`/`oneOf` branches).
fn types(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => {
            let mut out = Vec::new();
            for k in ["anyOf", "oneOf"] {
                if let Some(Value::Array(list)) = s.get(k) {
                    for b in list {
                        out.extend(b.get("type").and_then(Value::as_str));
                    }
                }
            }
            out
        }
    }
}

fn is_type(s: &Value, t: &str) -> bool {
    types(s).contains(&t)
}

fn property_schema<'a>(s: &'a Value, key: &str, defs: &'a Value) -> Option<&'a Value> {
    let s = deref(s, defs);
    s.get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

/// A text value typed by its schema: integer, number, boolean where the schema allows them
/// and the text is one; a string otherwise (validation then decides).
fn typed(text: &str, schema: Option<&Value>, defs: &Value) -> Value {
    let Some(schema) = schema else {
        return Value::String(text.to_owned());
    };
    let s = deref(schema, defs);
    let ts = types(s);
    if ts.contains(&"string") {
        return Value::String(text.to_owned());
    }
    if ts.contains(&"integer") || ts.contains(&"number") {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(Number::from(i));
        }
    }
    if ts.contains(&"number") {
        if let Some(n) = text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    if ts.contains(&"boolean") && (text == "true" || text == "false") {
        return Value::Bool(text == "true");
    }
    if ts.contains(&"null") && text.is_empty() {
        return Value::Null;
    }
    Value::String(text.to_owned())
}

/// Split a form key `a[b][0]` into `["a", "b", "0"]` (`a[]` gives an empty last part).
fn key_parts(k: &str) -> Result<Vec<&str>, String> {
    let (head, mut rest) = match k.find('[') {
        None => return Ok(vec![k]),
        Some(i) => (&k[..i], &k[i..]),
    };
    let mut parts = vec![head];
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .and_then(|r| r.find(']').map(|c| (&r[..c], &r[c + 1..])))
            .ok_or_else(|| format!("form key {:?} is not well formed", super::document::cut(k)))?;
        parts.push(inner.0);
        rest = inner.1;
    }
    if head.is_empty() {
        return Err(format!(
            "form key {:?} is not well formed",
            super::document::cut(k)
        ));
    }
    Ok(parts)
}

/// Deepest nesting of a form key.
const MAX_FORM_DEPTH: usize = 16;

/// Decode form pairs (`metadata[order]=1`, `items[0][price]=5`, `expand[]=a`) into a nested
/// value, typed by the body schema.
pub fn form_to_value(
    pairs: &[(String, String)],
    schema: Option<&Value>,
    defs: &Value,
) -> Result<Value, String> {
    let mut root = Value::Object(Map::new());
    for (k, v) in pairs {
        let parts = key_parts(k)?;
        if parts.len() > MAX_FORM_DEPTH {
            return Err("a form key is nested too deeply".into());
        }
        insert(&mut root, &parts, v.clone())?;
    }
    Ok(shape(root, schema, defs))
}

fn insert(node: &mut Value, parts: &[&str], v: String) -> Result<(), String> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    let Value::Object(m) = node else {
        return Err("a form key is used both as a value and as a container".into());
    };
    let key = if first.is_empty() {
        // `a[]`: the next position.
        format!("\u{0}{}", m.len())
    } else {
        (*first).to_owned()
    };
    if rest.is_empty() {
        if m.insert(key, Value::String(v)).is_some() {
            return Err("a form key is given more than once".into());
        }
        return Ok(());
    }
    let child = m.entry(key).or_insert_with(|| Value::Object(Map::new()));
    insert(child, rest, v)
}

/// Turn containers into arrays where the schema says array (or every key is a position), and
/// type the leaves.
fn shape(v: Value, schema: Option<&Value>, defs: &Value) -> Value {
    let s = schema.map(|s| deref(s, defs));
    match v {
        Value::String(text) => typed(&text, s, defs),
        Value::Object(m) => {
            let positional = !m.is_empty()
                && m.keys().all(|k| {
                    let k = k.strip_prefix('\u{0}').unwrap_or(k);
                    k.parse::<usize>().is_ok()
                });
            let wants_array = s.is_some_and(|s| is_type(s, "array"));
            if positional && (wants_array || s.is_none_or(|s| !is_type(s, "object"))) {
                let mut items: Vec<(usize, Value)> = m
                    .into_iter()
                    .map(|(k, x)| {
                        let i = k
                            .strip_prefix('\u{0}')
                            .unwrap_or(&k)
                            .parse::<usize>()
                            .unwrap_or(usize::MAX);
                        (i, x)
                    })
                    .collect();
                items.sort_by_key(|x| x.0);
                let item_schema = s.and_then(|s| s.get("items"));
                Value::Array(
                    items
                        .into_iter()
                        .map(|(_, x)| shape(x, item_schema, defs))
                        .collect(),
                )
            } else {
                let mut out = Map::new();
                for (k, x) in m {
                    let sub = s.and_then(|s| property_schema(s, &k, defs));
                    out.insert(k, shape(x, sub, defs));
                }
                Value::Object(out)
            }
        }
        other => other,
    }
}
