//! What an operation's schema may cost to compile and to check, and the validator that keeps
//! to it.
//!
//! Guarantees: a schema whose references loop back to the same value (`A` → `allOf` `B` →
//! `allOf` `A`) is refused, since checking it would never end; once every reference that is not
//! part of a cycle is unfolded, the schema and each recursive definition hold at most
//! [`MAX_UNIT_NODES`] schema objects ([`MAX_TOTAL_NODES`] together, [`MAX_PROFILE_NODES`] for
//! all operations of a profile). Recursive definitions
//! are compiled once each and shared through a keyword of the rail's own, so checking params
//! never grows the validator; one check follows at most [`MAX_RECURSIVE_STEPS`] recursive
//! references, nested at most [`MAX_RECURSION_DEPTH`] deep.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use jsonschema::paths::{LazyLocation, Location};
use jsonschema::{Keyword, ValidationError, Validator};
use serde_json::{Map, Value};

use super::document::{cut, percent_decode};
use crate::catalog::{self, Violation};

/// Most schema objects in the unfolded schema of an operation, and in each unfolded recursive
/// definition (a reference that is not part of a cycle counts as the objects it points at).
/// GitHub's largest operation has 236. A compiled schema object costs about 1.6 KB.
pub const MAX_UNIT_NODES: u64 = 10_000;
/// Most schema objects compiled for one operation, recursive definitions included.
pub const MAX_TOTAL_NODES: u64 = 20_000;
/// Most schema objects compiled for all operations of one profile version (about 160 MB once
/// every operation has been called). GitHub's 1,221 operations have 16,926.
pub const MAX_PROFILE_NODES: u64 = 100_000;
/// Most recursive references one check follows.
pub const MAX_RECURSIVE_STEPS: u32 = 100_000;
/// Deepest nesting of recursive references in one check.
pub const MAX_RECURSION_DEPTH: u32 = 128;
/// Most distinct reference targets in one operation's schema.
const MAX_TARGETS: usize = 10_000;

/// The keyword a recursive `$ref` becomes in the compiled form.
const RECURSIVE_REF: &str = "x-intentrail-recursive-ref";
/// The prefix of a violation message that carries the violations found below a recursive
/// reference (JSON: `[[pointer, message], …]`, pointers relative to the reference's value).
const NESTED: &str = "\u{1}intentrail-nested:";

/// Keywords whose subschemas apply to the value itself.
const SAME_ONE: &[&str] = &["not", "if", "then", "else"];
const SAME_LIST: &[&str] = &["allOf", "anyOf", "oneOf"];
const SAME_MAP: &[&str] = &["dependentSchemas"];
/// Keywords whose subschemas apply to the value's members, items or names.
const CHILD_ONE: &[&str] = &[
    "additionalProperties",
    "items",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
];
const CHILD_LIST: &[&str] = &["prefixItems", "items"];
const CHILD_MAP: &[&str] = &["properties", "patternProperties"];

/// Where a subschema sits below its parent.
#[derive(Clone, Copy)]
enum Step<'v> {
    /// `/k`
    Key(&'v str),
    /// `/k/i`
    Item(&'v str, usize),
    /// `/k/name`
    Entry(&'v str, &'v str),
}

impl Step<'_> {
    /// `parent` + this step as an RFC 6901 pointer.
    fn pointer(self, parent: &str) -> String {
        let esc = |s: &str| s.replace('~', "~0").replace('/', "~1");
        match self {
            Step::Key(k) => format!("{parent}/{}", esc(k)),
            Step::Item(k, i) => format!("{parent}/{}/{i}", esc(k)),
            Step::Entry(k, n) => format!("{parent}/{}/{}", esc(k), esc(n)),
        }
    }
}

/// Visit each direct subschema of `s`, saying whether it applies to the same value as `s`.
/// Definitions (`$defs`, `definitions`) are visited only when `with_defs` (they apply only
/// where referenced).
fn subschemas<'v>(s: &'v Value, with_defs: bool, f: &mut impl FnMut(&'v Value, bool, Step<'v>)) {
    let Value::Object(m) = s else { return };
    for (k, v) in m {
        let k = k.as_str();
        let same = SAME_ONE.contains(&k) || SAME_LIST.contains(&k) || SAME_MAP.contains(&k);
        let defs = with_defs && (k == "$defs" || k == "definitions");
        match v {
            Value::Array(list) if SAME_LIST.contains(&k) || CHILD_LIST.contains(&k) => {
                for (i, x) in list.iter().enumerate() {
                    f(x, same, Step::Item(k, i));
                }
            }
            Value::Object(map) if SAME_MAP.contains(&k) || CHILD_MAP.contains(&k) || defs => {
                for (name, x) in map {
                    f(x, same, Step::Entry(k, name));
                }
            }
            Value::Object(_) | Value::Bool(_)
                if SAME_ONE.contains(&k) || CHILD_ONE.contains(&k) =>
            {
                f(v, same, Step::Key(k));
            }
            _ => {}
        }
    }
}

/// A schema's `$ref` as a JSON pointer into the operation schema (`#/$defs/A` → `/$defs/A`).
fn ref_pointer(s: &Value) -> Option<Result<String, String>> {
    let r = s.get("$ref")?;
    Some(match r.as_str().and_then(|r| r.strip_prefix('#')) {
        Some(p) => Ok(percent_decode(p)),
        None => Err(format!(
            "$ref {:?} is not a local reference",
            cut(&r.to_string())
        )),
    })
}

/// One reference target: its own schema objects and the references inside it.
#[derive(Default)]
struct Target {
    /// Schema objects in its subtree, references not followed.
    local: u64,
    /// (target index, applies to the same value) for each reference in its subtree.
    refs: Vec<(usize, bool)>,
}

/// The reference graph of an operation schema: index 0 is the schema itself.
struct Graph<'s> {
    schema: &'s Value,
    pointers: Vec<String>,
    index: HashMap<String, usize>,
    targets: Vec<Target>,
}

impl<'s> Graph<'s> {
    fn build(schema: &'s Value) -> Result<Graph<'s>, String> {
        let mut g = Graph {
            schema,
            pointers: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
            targets: vec![Target::default()],
        };
        let mut next = 0;
        while next < g.pointers.len() {
            let body = g.body(next)?;
            let mut target = Target::default();
            // (subschema, reached from the target's root through same-value keywords only)
            let mut stack = vec![(body, true)];
            while let Some((s, same)) = stack.pop() {
                target.local += 1;
                if let Some(p) = ref_pointer(s) {
                    let i = g.intern(p?)?;
                    target.refs.push((i, same));
                }
                subschemas(s, false, &mut |sub, sub_same, _| {
                    stack.push((sub, same && sub_same));
                });
            }
            g.targets[next] = target;
            next += 1;
        }
        Ok(g)
    }

    fn body(&self, i: usize) -> Result<&'s Value, String> {
        let p = &self.pointers[i];
        self.schema
            .pointer(p)
            .ok_or_else(|| format!("a reference points at nothing ({:?})", cut(p)))
    }

    fn intern(&mut self, pointer: String) -> Result<usize, String> {
        if let Some(&i) = self.index.get(&pointer) {
            return Ok(i);
        }
        if self.pointers.len() >= MAX_TARGETS {
            return Err(format!(
                "its schemas reference more than {MAX_TARGETS} distinct definitions"
            ));
        }
        let i = self.pointers.len();
        self.index.insert(pointer.clone(), i);
        self.pointers.push(pointer);
        self.targets.push(Target::default());
        Ok(i)
    }

    /// A loop of references that never leaves the value, as `A → B → A`.
    fn same_value_loop(&self) -> Option<String> {
        const WHITE: u8 = 0;
        const GREY: u8 = 1;
        const BLACK: u8 = 2;
        let n = self.targets.len();
        let mut colour = vec![WHITE; n];
        for start in 0..n {
            if colour[start] != WHITE {
                continue;
            }
            // (node, next edge to look at)
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            colour[start] = GREY;
            while let Some(&mut (node, ref mut edge)) = path.last_mut() {
                let refs = &self.targets[node].refs;
                let Some(&(to, same)) = refs.get(*edge) else {
                    colour[node] = BLACK;
                    path.pop();
                    continue;
                };
                *edge += 1;
                if !same {
                    continue;
                }
                match colour[to] {
                    WHITE => {
                        colour[to] = GREY;
                        path.push((to, 0));
                    }
                    GREY => {
                        let from = path.iter().position(|&(x, _)| x == to).unwrap_or(0);
                        let mut names: Vec<String> =
                            path[from..].iter().map(|&(x, _)| self.name(x)).collect();
                        names.push(self.name(to));
                        return Some(names.join(" → "));
                    }
                    _ => {}
                }
            }
        }
        None
    }

    fn name(&self, i: usize) -> String {
        let p = &self.pointers[i];
        cut(p.strip_prefix("/$defs/").unwrap_or(p))
    }

    /// The targets that lie on a cycle of references (Tarjan's strongly connected components,
    /// iterative).
    fn cyclic(&self) -> Vec<bool> {
        let n = self.targets.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0usize; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut cyclic = vec![false; n];
        let mut counter = 0;
        for start in 0..n {
            if index[start] != usize::MAX {
                continue;
            }
            let mut work: Vec<(usize, usize)> = vec![(start, 0)];
            index[start] = counter;
            low[start] = counter;
            counter += 1;
            stack.push(start);
            on_stack[start] = true;
            while let Some(&mut (v, ref mut edge)) = work.last_mut() {
                if let Some(&(w, _)) = self.targets[v].refs.get(*edge) {
                    *edge += 1;
                    if w == v {
                        cyclic[v] = true;
                    }
                    if index[w] == usize::MAX {
                        index[w] = counter;
                        low[w] = counter;
                        counter += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut members = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if members.len() > 1 {
                        members.iter().for_each(|&w| cyclic[w] = true);
                    }
                }
            }
        }
        cyclic
    }

    /// Each target's unfolded size: its own objects plus, for every reference to a target not
    /// on a cycle, that target's unfolded size (a reference to a cyclic target counts 1).
    fn unfolded(&self, cyclic: &[bool]) -> Vec<u64> {
        let n = self.targets.len();
        let mut size: Vec<Option<u64>> = vec![None; n];
        for start in 0..n {
            let mut work = vec![start];
            while let Some(&v) = work.last() {
                if size[v].is_some() {
                    work.pop();
                    continue;
                }
                let pending: Vec<usize> = self.targets[v]
                    .refs
                    .iter()
                    .filter(|&&(w, _)| !cyclic[w] && size[w].is_none())
                    .map(|&(w, _)| w)
                    .collect();
                if pending.is_empty() {
                    let total =
                        self.targets[v]
                            .refs
                            .iter()
                            .fold(self.targets[v].local, |acc, &(w, _)| {
                                acc.saturating_add(if cyclic[w] { 1 } else { size[w].unwrap_or(1) })
                            });
                    size[v] = Some(total);
                    work.pop();
                } else {
                    // Targets off every cycle form a DAG, so this ends.
                    work.extend(pending);
                }
            }
        }
        size.into_iter().map(|s| s.unwrap_or(u64::MAX)).collect()
    }
}

/// How an operation schema is compiled.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The pointers of the recursive definitions compiled on their own.
    pub recursive: BTreeSet<String>,
    /// Schema objects compiled in all (references unfolded, recursive definitions once each).
    pub nodes: u64,
}

/// Check an operation schema against the bounds (see the module docs).
pub fn plan(schema: &Value) -> Result<Plan, String> {
    let g = Graph::build(schema)?;
    if let Some(path) = g.same_value_loop() {
        return Err(format!(
            "its schema references loop back to the same value ({path}): checking it would never end"
        ));
    }
    let cyclic = g.cyclic();
    let size = g.unfolded(&cyclic);
    let mut total = size[0];
    let too_big = |what: String| {
        format!("{what} expands to more than {MAX_UNIT_NODES} schema objects when its references are followed")
    };
    if size[0] > MAX_UNIT_NODES {
        return Err(too_big("its schema".into()));
    }
    let mut recursive = BTreeSet::new();
    for (i, &c) in cyclic.iter().enumerate() {
        if !c {
            continue;
        }
        if size[i] > MAX_UNIT_NODES {
            return Err(too_big(format!("the recursive schema {}", g.name(i))));
        }
        total = total.saturating_add(size[i]);
        recursive.insert(g.pointers[i].clone());
    }
    if total > MAX_TOTAL_NODES {
        return Err(format!(
            "its schemas expand to more than {MAX_TOTAL_NODES} schema objects when their references are followed"
        ));
    }
    Ok(Plan {
        recursive,
        nodes: total,
    })
}

/// The compiled recursive definitions of one operation, by pointer.
type Units = OnceLock<HashMap<String, Validator>>;

/// A compiled operation schema: the schema itself and its recursive definitions.
pub struct Checker {
    root: Validator,
    /// Owns the recursive definitions the keyword instances reach (through a `Weak`).
    units: Arc<Units>,
}

impl fmt::Debug for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = self.units.get().map_or(0, HashMap::len);
        f.debug_struct("Checker")
            .field("recursive_units", &units)
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// Compile `schema` as [`plan`] said.
    pub fn build(schema: &Value, plan: &Plan) -> Result<Checker, String> {
        let units = &plan.recursive;
        let compiled_form = replace_recursive_refs(schema, units);
        let table: Arc<Units> = Arc::new(OnceLock::new());
        let weak = Arc::downgrade(&table);
        // The factory's signature is the library's; its error type is not ours to shrink.
        #[allow(clippy::result_large_err)]
        let options = move || {
            let weak = weak.clone();
            jsonschema::draft202012::options().with_keyword(
                RECURSIVE_REF,
                move |_parent: &Map<String, Value>, value: &Value, location: Location| {
                    let target = value.as_str().unwrap_or_default().to_owned();
                    Ok(Box::new(RecursiveRef {
                        target,
                        units: weak.clone(),
                        location,
                    }) as Box<dyn Keyword>)
                },
            )
        };
        let compile = |s: &Value| {
            options().build(s).map_err(|e| {
                format!(
                    "its derived schema does not compile: {}",
                    cut(&e.to_string())
                )
            })
        };
        let root = compile(&compiled_form)?;
        let defs = compiled_form.get("$defs").cloned().unwrap_or(Value::Null);
        let mut map = HashMap::new();
        for pointer in units {
            let body = compiled_form
                .pointer(pointer)
                .cloned()
                .ok_or_else(|| format!("a reference points at nothing ({:?})", cut(pointer)))?;
            let mut unit = Map::new();
            if !defs.is_null() {
                unit.insert("$defs".into(), defs.clone());
            }
            unit.insert("allOf".into(), Value::Array(vec![body]));
            map.insert(pointer.clone(), compile(&Value::Object(unit))?);
        }
        // Only this function sets it, once.
        let _ = table.set(map);
        Ok(Checker { root, units: table })
    }

    /// Check `params`: every violation with its pointer, messages without values.
    pub fn check(&self, params: &Value) -> Result<(), Vec<Violation>> {
        Steps::reset();
        if self.root.is_valid(params) {
            return Ok(());
        }
        Steps::reset();
        let _keep = &self.units;
        let mut found = catalog::collect(&self.root, params);
        if found.is_empty() {
            found.push(Violation {
                pointer: String::new(),
                message: "params do not match the schema".to_owned(),
            });
        }
        Err(found)
    }
}

/// `schema` with each `{"$ref": p}` whose target is in `units` replaced by the rail's keyword
/// (schema positions only: a `const` or `enum` value holding `$ref` is data).
fn replace_recursive_refs(schema: &Value, units: &BTreeSet<String>) -> Value {
    let mut out = schema.clone();
    if units.is_empty() {
        return out;
    }
    let mut at = Vec::new();
    let mut stack: Vec<(&Value, String)> = vec![(schema, String::new())];
    while let Some((s, here)) = stack.pop() {
        if let Some(Ok(p)) = ref_pointer(s) {
            if units.contains(&p) {
                at.push((here.clone(), p));
            }
        }
        subschemas(s, true, &mut |sub, _, step| {
            stack.push((sub, step.pointer(&here)))
        });
    }
    for (here, p) in at {
        if let Some(Value::Object(m)) = out.pointer_mut(&here) {
            m.remove("$ref");
            m.insert(RECURSIVE_REF.into(), Value::String(p));
        }
    }
    out
}

thread_local! {
    /// (recursive references followed, current nesting) of the check running on this thread.
    static STEPS: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// One recursive reference being followed; leaving it (drop) lowers the nesting.
struct Steps;

impl Steps {
    fn reset() {
        STEPS.with(|s| s.set((0, 0)));
    }

    fn enter() -> Result<Steps, &'static str> {
        STEPS.with(|s| {
            let (steps, depth) = s.get();
            if steps >= MAX_RECURSIVE_STEPS {
                return Err("the value is too large to check against this recursive schema");
            }
            if depth >= MAX_RECURSION_DEPTH {
                return Err(
                    "the value is nested too deeply to check against this recursive schema",
                );
            }
            s.set((steps + 1, depth + 1));
            Ok(Steps)
        })
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        STEPS.with(|s| {
            let (steps, depth) = s.get();
            s.set((steps, depth.saturating_sub(1)));
        });
    }
}

/// A recursive reference: checks the value against the shared compiled definition.
struct RecursiveRef {
    target: String,
    units: Weak<Units>,
    location: Location,
}

impl RecursiveRef {
    fn error<'i>(
        &self,
        instance: &'i Value,
        at: &LazyLocation,
        message: String,
    ) -> ValidationError<'i> {
        ValidationError::custom(self.location.clone(), at.into(), instance, message)
    }
}

impl Keyword for RecursiveRef {
    fn validate<'i>(
        &self,
        instance: &'i Value,
        location: &LazyLocation,
    ) -> Result<(), ValidationError<'i>> {
        let _step = Steps::enter().map_err(|m| self.error(instance, location, m.into()))?;
        let units = self.units.upgrade();
        let Some(unit) = units
            .as_ref()
            .and_then(|u| u.get())
            .and_then(|m| m.get(&self.target))
        else {
            return Err(self.error(instance, location, "the schema is not available".into()));
        };
        let found = catalog::collect(unit, instance);
        if found.is_empty() {
            return if unit.is_valid(instance) {
                Ok(())
            } else {
                Err(self.error(instance, location, "value does not match the schema".into()))
            };
        }
        let pairs: Vec<(String, String)> =
            found.into_iter().map(|v| (v.pointer, v.message)).collect();
        let encoded = serde_json::to_string(&pairs).unwrap_or_default();
        Err(self.error(instance, location, format!("{NESTED}{encoded}")))
    }

    fn is_valid(&self, instance: &Value) -> bool {
        let Ok(_step) = Steps::enter() else {
            return false;
        };
        let units = self.units.upgrade();
        units
            .as_ref()
            .and_then(|u| u.get())
            .and_then(|m| m.get(&self.target))
            .is_some_and(|unit| unit.is_valid(instance))
    }
}

/// The violations a recursive reference found below its value, if `message` carries them
/// (pointers relative to that value).
pub(crate) fn nested(message: &str) -> Option<Vec<(String, String)>> {
    serde_json::from_str(message.strip_prefix(NESTED)?).ok()
}
