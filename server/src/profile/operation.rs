//! One OpenAPI operation → an [`Operation`]: its id, parameters (path-level ones overridden by
//! operation-level ones), request body, and the params JSON Schema checked against the bounds.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use super::{
    bounds, document, schema, BodyKind, Location, Operation, Param, Part, Segment, Style,
    RESERVED_HEADERS,
};

/// Derive the action name part of an operation without an `operationId`:
/// `<method>_<path with every run of non-alphanumerics as one '_'>`.
pub fn derived_id(method: &str, path: &str) -> String {
    let mut out = method.to_ascii_lowercase();
    let mut last_sep = true;
    out.push('_');
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        } else if !last_sep {
            out.push('_');
            last_sep = true;
        }
    }
    out.trim_end_matches('_').to_owned()
}

fn valid_operation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
}

fn parse_template(path: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("the path does not start with '/'".into());
    };
    let mut out = Vec::new();
    for seg in rest.split('/') {
        match seg.find('{') {
            None => {
                if seg.contains('}') {
                    return Err("unbalanced '}' in the path".into());
                }
                out.push(Segment::Literal(seg.to_owned()));
            }
            Some(_) => {
                let mut parts = Vec::new();
                let mut rest = seg;
                while let Some(open) = rest.find('{') {
                    let lit = &rest[..open];
                    if lit.contains('}') {
                        return Err("unbalanced '}' in the path".into());
                    }
                    let close = rest
                        .find('}')
                        .filter(|c| *c > open)
                        .ok_or_else(|| "unbalanced '{' in the path".to_string())?;
                    let name = &rest[open + 1..close];
                    if name.is_empty() || name.contains('{') {
                        return Err("an empty or nested path variable".into());
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(lit.to_owned()));
                    } else if matches!(parts.last(), Some(Part::Var(_))) {
                        return Err("two path variables with nothing between them".into());
                    }
                    parts.push(Part::Var(name.to_owned()));
                    rest = &rest[close + 1..];
                }
                if rest.contains('}') {
                    return Err("unbalanced '}' in the path".into());
                }
                if !rest.is_empty() {
                    parts.push(Part::Lit(rest.to_owned()));
                }
                out.push(Segment::Vars(parts));
            }
        }
    }
    Ok(out)
}

pub(super) fn operation(
    doc: &Value,
    v30: bool,
    profile: &str,
    path: &str,
    method: &str,
    item: &Map<String, Value>,
    op: &Value,
) -> Result<Operation, String> {
    let op = document::resolve(doc, op)?;
    let segments = parse_template(path)?;
    let operation_id = operation_id(op, method, path)?;
    let description = op
        .get("summary")
        .and_then(Value::as_str)
        .or_else(|| op.get("description").and_then(Value::as_str))
        .map(|s| document::cut(s.lines().next().unwrap_or_default()))
        .unwrap_or_default();
    let mut conv = schema::Converter::new(doc, v30);
    let mut params = Vec::new();
    for (name, loc, p) in declared_parameters(doc, item, op)? {
        if let Some(param) = parameter(&mut conv, name, &loc, p, &segments)? {
            params.push(param);
        }
    }
    for name in segments.iter().flat_map(Segment::vars) {
        if !params
            .iter()
            .any(|p| p.location == Location::Path && p.name == name)
        {
            // An undeclared template variable: a string.
            params.push(Param {
                name: name.to_owned(),
                location: Location::Path,
                required: true,
                style: Style::Simple,
                explode: false,
                schema: json!({"type": "string"}),
            });
        }
    }
    let (body, body_schema) = match op.get("requestBody") {
        Some(rb) => {
            let (kind, required, schema) = request_body(doc, &mut conv, rb)?;
            (Some((kind, required)), Some(schema))
        }
        None => (None, None),
    };
    conv.finish()?;
    let schema = params_schema(&params, body_schema, body.is_some_and(|b| b.1), conv.defs);
    let plan = bounds::plan(&schema)?;
    Ok(Operation {
        action: format!("{profile}.{operation_id}"),
        operation_id,
        description,
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        segments,
        params,
        body,
        schema,
        plan,
        validator: OnceLock::new(),
    })
}

/// The operation's id, or one derived from its method and path.
fn operation_id(op: &Value, method: &str, path: &str) -> Result<String, String> {
    match op.get("operationId").and_then(Value::as_str) {
        Some(id) if valid_operation_id(id) => Ok(id.to_owned()),
        Some(id) => Err(format!(
            "operationId {:?} has characters outside [A-Za-z0-9-_./:]",
            document::cut(id)
        )),
        None => Ok(derived_id(method, path)),
    }
}

/// The parameters of an operation as (name, `in`, object): path-level ones, overridden by
/// operation-level ones with the same name and place. Header names are lower-cased.
fn declared_parameters<'d>(
    doc: &'d Value,
    item: &'d Map<String, Value>,
    op: &'d Value,
) -> Result<Vec<(String, String, &'d Value)>, String> {
    let mut declared: Vec<(String, String, &Value)> = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
    {
        let list = list
            .as_array()
            .ok_or_else(|| "`parameters` must be a list".to_string())?;
        for p in list {
            let p = document::resolve(doc, p)?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| "a parameter has no name".to_string())?;
            let loc = p
                .get("in")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("parameter {name:?} has no `in`"))?;
            let key = if loc == "header" {
                name.to_ascii_lowercase()
            } else {
                name.to_owned()
            };
            declared.retain(|(n, l, _)| !(n == &key && l == loc));
            declared.push((key, loc.to_owned(), p));
        }
    }
    Ok(declared)
}

/// One declared parameter, converted; `None` for what never passes from the agent (reserved
/// headers, cookies) and path parameters the template does not use.
fn parameter(
    conv: &mut schema::Converter<'_>,
    name: String,
    loc: &str,
    p: &Value,
    segments: &[Segment],
) -> Result<Option<Param>, String> {
    let location = match loc {
        "path" => Location::Path,
        "query" => Location::Query,
        // Never passed from the agent; the rail sets (or refuses) it.
        "header" if RESERVED_HEADERS.contains(&name.as_str()) => return Ok(None),
        "header" => Location::Header,
        // Cookies from the agent never pass.
        "cookie" => return Ok(None),
        other => {
            return Err(format!(
                "parameter {name:?} is in {:?}",
                document::cut(other)
            ))
        }
    };
    let required =
        location == Location::Path || p.get("required").and_then(Value::as_bool).unwrap_or(false);
    let style = match (location, p.get("style").and_then(Value::as_str)) {
        (Location::Path | Location::Header, None | Some("simple")) => Style::Simple,
        (Location::Query, None | Some("form")) => Style::Form,
        (Location::Query, Some("spaceDelimited")) => Style::SpaceDelimited,
        (Location::Query, Some("pipeDelimited")) => Style::PipeDelimited,
        (Location::Query, Some("deepObject")) => Style::DeepObject,
        (_, Some(s)) => {
            return Err(format!(
                "parameter {name:?} uses style {:?}, which the rail does not serialize",
                document::cut(s)
            ))
        }
    };
    let explode = p
        .get("explode")
        .and_then(Value::as_bool)
        .unwrap_or(style == Style::Form);
    let raw = match (p.get("schema"), p.get("content")) {
        (Some(s), _) => s.clone(),
        (None, Some(_)) => {
            return Err(format!(
                "parameter {name:?} is described by `content`, which the rail does not serialize"
            ))
        }
        (None, None) => json!({}),
    };
    let schema = conv.convert(&raw)?;
    if location == Location::Path && !segments.iter().any(|s| s.vars().any(|n| n == name)) {
        // Declared but not in the template (common in real documents): nothing to fill.
        return Ok(None);
    }
    Ok(Some(Param {
        name,
        location,
        required,
        style,
        explode,
        schema,
    }))
}

/// The request body: its encoding (JSON wins over form when both are offered), whether it is
/// required, and its converted schema. Only other media types: the operation is skipped.
fn request_body(
    doc: &Value,
    conv: &mut schema::Converter<'_>,
    rb: &Value,
) -> Result<(BodyKind, bool, Value), String> {
    let rb = document::resolve(doc, rb)?;
    let required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
    let content = rb
        .get("content")
        .and_then(Value::as_object)
        .ok_or_else(|| "the request body has no `content`".to_string())?;
    let mut pick = None;
    for (ct, media) in content {
        let base = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let kind = if base == "application/json" || base.ends_with("+json") {
            BodyKind::Json
        } else if base == "application/x-www-form-urlencoded" {
            BodyKind::Form
        } else {
            continue;
        };
        if pick.is_none()
            || kind == BodyKind::Json
                && pick.map(|p: (BodyKind, &Value)| p.0) == Some(BodyKind::Form)
        {
            pick = Some((kind, media));
        }
    }
    let Some((kind, media)) = pick else {
        let types: Vec<&str> = content.keys().map(String::as_str).collect();
        return Err(format!(
            "the request body is only offered as {}, which the rail does not govern",
            document::cut(&types.join(", "))
        ));
    };
    let s = media.get("schema").cloned().unwrap_or_else(|| json!({}));
    Ok((kind, required, conv.convert(&s)?))
}

fn params_schema(
    params: &[Param],
    body: Option<Value>,
    body_required: bool,
    defs: Map<String, Value>,
) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (part, loc) in [
        ("path", Location::Path),
        ("query", Location::Query),
        ("headers", Location::Header),
    ] {
        let mut p = Map::new();
        let mut req = Vec::new();
        for x in params.iter().filter(|x| x.location == loc) {
            p.insert(x.name.clone(), x.schema.clone());
            if x.required {
                req.push(Value::String(x.name.clone()));
            }
        }
        if !req.is_empty() {
            required.push(Value::String(part.into()));
        }
        props.insert(
            part.into(),
            json!({"type": "object", "properties": p, "required": req, "additionalProperties": false}),
        );
    }
    if let Some(b) = body {
        props.insert("body".into(), b);
        if body_required {
            required.push(json!("body"));
        }
    }
    let mut s = json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    });
    if !defs.is_empty() {
        s["$defs"] = Value::Object(defs);
    }
    s
}
