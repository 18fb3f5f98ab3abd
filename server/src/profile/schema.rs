//! OpenAPI schema objects → JSON Schema draft 2020-12.
//!
//! Guarantees: a `$ref` to `#/components/schemas/X` (or below it) becomes `#/$defs/X…` and X
//! is converted once into the operation's `$defs`, so recursive schemas stay references and
//! conversion always ends; any other local `$ref` is inlined at most [`MAX_INLINE_DEPTH`]
//! deep. OpenAPI 3.0's `nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum` get their
//! 2020-12 meaning; 3.1 schemas are JSON Schema already and keep their keywords.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::document::{cut, percent_decode, pointer};

const COMPONENTS: &str = "#/components/schemas/";
/// Deepest nesting of schema objects (and inlined non-component `$ref`s) converted.
pub const MAX_INLINE_DEPTH: usize = 128;
/// Most schema objects converted for one operation (inlined references included), so
/// references that fan out cannot expand a small document into a huge schema.
pub const MAX_NODES: usize = 200_000;

/// Keywords whose value is a map of subschemas.
const MAP_KEYWORDS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is one subschema.
const ONE_KEYWORDS: &[&str] = &[
    "additionalProperties",
    "items",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
];
/// Keywords whose value is a list of subschemas.
const LIST_KEYWORDS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

/// Converts the schemas of one operation, collecting the component schemas they use.
pub struct Converter<'d> {
    doc: &'d Value,
    v30: bool,
    /// Converted component schemas, by name (the operation schema's `$defs`).
    pub defs: Map<String, Value>,
    queued: BTreeSet<String>,
    pending: Vec<String>,
    nodes: usize,
}

impl<'d> Converter<'d> {
    /// A converter for `doc` (`v30`: the document is OpenAPI 3.0).
    pub fn new(doc: &'d Value, v30: bool) -> Self {
        Converter {
            doc,
            v30,
            defs: Map::new(),
            queued: BTreeSet::new(),
            pending: Vec::new(),
            nodes: 0,
        }
    }

    /// Convert one schema of the document.
    pub fn convert(&mut self, s: &Value) -> Result<Value, String> {
        self.node(s, 0)
    }

    /// Convert every component schema referenced so far (and those they reference).
    pub fn finish(&mut self) -> Result<(), String> {
        while let Some(name) = self.pending.pop() {
            let escaped = name.replace('~', "~0").replace('/', "~1");
            let src = pointer(self.doc, &format!("{COMPONENTS}{escaped}"))
                .ok_or_else(|| format!("$ref to missing schema {:?}", cut(&name)))?;
            let converted = self.node(src, 0)?;
            self.defs.insert(name, converted);
        }
        Ok(())
    }

    fn node(&mut self, s: &Value, depth: usize) -> Result<Value, String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(format!(
                "its schemas expand to more than {MAX_NODES} schema objects"
            ));
        }
        if depth > MAX_INLINE_DEPTH {
            return Err(
                "a schema is nested too deeply (or has a $ref cycle outside components/schemas)"
                    .into(),
            );
        }
        let m = match s {
            Value::Object(m) => m,
            Value::Bool(_) => return Ok(s.clone()),
            _ => return Err("a schema must be an object or a boolean".into()),
        };
        if let Some(r) = m.get("$ref") {
            let r = r
                .as_str()
                .ok_or_else(|| "a $ref must be a string".to_string())?;
            let target = if let Some(rest) = r.strip_prefix(COMPONENTS) {
                let name_escaped = rest.split('/').next().unwrap_or_default();
                let name = name_escaped.replace("~1", "/").replace("~0", "~");
                let name = percent_decode(&name);
                if name.is_empty() {
                    return Err(format!("$ref {:?} names no schema", cut(r)));
                }
                if self.queued.insert(name.clone()) {
                    if pointer(self.doc, &format!("{COMPONENTS}{name_escaped}")).is_none() {
                        return Err(format!("$ref {:?} points at nothing", cut(r)));
                    }
                    self.pending.push(name);
                }
                let tail = &rest[name_escaped.len()..];
                json!({ "$ref": format!("#/$defs/{name_escaped}{tail}") })
            } else {
                let target = pointer(self.doc, r)
                    .ok_or_else(|| format!("$ref {:?} points at nothing", cut(r)))?;
                self.node(target, depth + 1)?
            };
            if self.v30 || m.len() == 1 {
                // OpenAPI 3.0: siblings of `$ref` are ignored.
                return Ok(target);
            }
            let mut rest = m.clone();
            rest.remove("$ref");
            let rest = self.node(&Value::Object(rest), depth + 1)?;
            return Ok(json!({ "allOf": [target, rest] }));
        }
        let mut out = Map::new();
        for (k, v) in m {
            let k = k.as_str();
            let converted = if MAP_KEYWORDS.contains(&k) {
                match v {
                    Value::Object(props) => {
                        let mut o = Map::new();
                        for (name, sub) in props {
                            o.insert(name.clone(), self.node(sub, depth + 1)?);
                        }
                        Value::Object(o)
                    }
                    _ => return Err(format!("`{k}` must be an object")),
                }
            } else if ONE_KEYWORDS.contains(&k) {
                match (k, v) {
                    // Draft 4 tuple form.
                    ("items", Value::Array(list)) => {
                        let items = list
                            .iter()
                            .map(|x| self.node(x, depth + 1))
                            .collect::<Result<Vec<_>, _>>()?;
                        out.insert("prefixItems".into(), Value::Array(items));
                        continue;
                    }
                    _ => self.node(v, depth + 1)?,
                }
            } else if LIST_KEYWORDS.contains(&k) {
                match v {
                    Value::Array(list) => Value::Array(
                        list.iter()
                            .map(|x| self.node(x, depth + 1))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => return Err(format!("`{k}` must be a list")),
                }
            } else {
                match k {
                    // Annotations only: dropped so they cost no memory.
                    "example" | "examples" | "description" | "title" | "externalDocs" | "xml"
                    | "discriminator" | "deprecated" => continue,
                    "nullable" | "exclusiveMinimum" | "exclusiveMaximum" if self.v30 => continue,
                    _ => v.clone(),
                }
            };
            out.insert(k.to_owned(), converted);
        }
        if self.v30 {
            self.v30_keywords(m, &mut out);
        }
        Ok(Value::Object(out))
    }

    fn v30_keywords(&self, m: &Map<String, Value>, out: &mut Map<String, Value>) {
        for (flag, bound) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            match m.get(flag) {
                Some(Value::Bool(true)) => {
                    if let Some(b) = out.remove(bound) {
                        out.insert(flag.into(), b);
                    }
                }
                // A 3.1-style number in a 3.0 document: keep its 2020-12 meaning.
                Some(n @ Value::Number(_)) => {
                    out.insert(flag.into(), n.clone());
                }
                _ => {}
            }
        }
        if m.get("nullable") == Some(&Value::Bool(true)) {
            match out.get_mut("type") {
                Some(Value::String(t)) => {
                    let t = t.clone();
                    out.insert("type".into(), json!([t, "null"]));
                }
                Some(Value::Array(ts)) if !ts.iter().any(|t| t == "null") => {
                    ts.push(json!("null"));
                }
                _ => {}
            }
            if let Some(Value::Array(e)) = out.get_mut("enum") {
                if !e.iter().any(Value::is_null) {
                    e.push(Value::Null);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_exclusive_bounds_of_3_0() {
        let doc = json!({});
        let mut c = Converter::new(&doc, true);
        let s = c
            .convert(&json!({"type": "integer", "nullable": true, "minimum": 0, "exclusiveMinimum": true}))
            .expect("converts");
        assert_eq!(
            s,
            json!({"type": ["integer", "null"], "exclusiveMinimum": 0})
        );
    }

    #[test]
    fn fanned_out_references_are_bounded() {
        // Each level references the one below twice: 2^30 nodes if inlined naively.
        let mut params = serde_json::Map::new();
        for i in 0..30 {
            params.insert(
                format!("p{i}"),
                json!({"schema": {"type": "array", "prefixItems": [
                    {"$ref": format!("#/components/parameters/p{}/schema", i + 1)},
                    {"$ref": format!("#/components/parameters/p{}/schema", i + 1)}
                ]}}),
            );
        }
        params.insert("p30".into(), json!({"schema": {"type": "string"}}));
        let doc = json!({"components": {"parameters": params}});
        let mut c = Converter::new(&doc, false);
        let err = c
            .convert(&json!({"$ref": "#/components/parameters/p0/schema"}))
            .expect_err("bounded");
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn recursive_components_become_defs() {
        let doc = json!({"components": {"schemas": {
            "node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/node"}}}
        }}});
        let mut c = Converter::new(&doc, false);
        let s = c
            .convert(&json!({"$ref": "#/components/schemas/node"}))
            .expect("converts");
        c.finish().expect("finishes");
        assert_eq!(s, json!({"$ref": "#/$defs/node"}));
        assert_eq!(
            c.defs["node"]["properties"]["child"],
            json!({"$ref": "#/$defs/node"})
        );
    }
}
