// IntentRail SDK for Node.js: every call of a governed tool is an action executed by the rail.
//
//   const { Rail, governed } = require('intentrail');
//   const rail = Rail.fromEnv();               // INTENTRAIL_URL, INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID
//   const refund = governed(rail, 'money.refund');
//   const result = await refund({ payment_id: 'pay_1', amount: 5000, currency: 'usd' });
//
// This file is the thin JS layer over the native module (Rust, napi-rs): JSON conversion,
// the Error classes (built from the native error's `code`, in `fromNative` only), and the
// idioms (`governed`, tool definitions). Canonicalization, hashing and permit verification
// are the Rust core's. Every network call returns a Promise resolved on the native tokio
// runtime: the event loop never waits on the rail.
'use strict';

const path = require('node:path');
const { platformArchABI } = require('./platform.js');

function loadNative() {
  const file = path.join(__dirname, `intentrail.${platformArchABI()}.node`);
  try {
    return require(file);
  } catch (e) {
    const err = new Error(
      `intentrail: cannot load the native module ${file} (${e.message}). Reinstall the ` +
        'package (npm install <repo>/bindings-node builds it with cargo).',
    );
    err.cause = e;
    throw err;
  }
}

const native = loadNative();

// ---------------------------------------------------------------------------------------------
// Errors: one base, one subclass per family of the API's stable codes (as the Python SDK).

/** Base of every IntentRail error. */
class IntentRailError extends Error {
  constructor(code, detail, options = {}) {
    super(typeof options.text === 'string' ? options.text : native.explainError(String(code), String(detail)));
    this.name = new.target.name;
    /** The stable error code (`policy_denied`, `schema_invalid`, ...). */
    this.code = code;
    /** The human detail (never a secret). */
    this.detail = detail;
    /** The receipt the rail recorded for this refusal, if any. */
    this.receiptId = options.receiptId ?? null;
    /** The HTTP status of the rail's answer, if there was one. */
    this.status = options.status ?? null;
    /** The whole problem+json document, if the rail sent one. */
    this.problem = options.problem ?? {};
  }
}

/** A policy or a stateful limit refused the action (`policy_denied`, `rate_limited`). */
class PolicyDenied extends IntentRailError {
  constructor(code, detail, options = {}) {
    super(code, detail, options);
    /** The rules that decided (or the limit, for `rate_limited`). */
    this.policyIds = [...(options.policyIds ?? [])];
  }
}

/** The action waits for a human approval (`approval_pending`); nothing was executed. */
class ApprovalPending extends IntentRailError {
  constructor(code, detail, options = {}) {
    super(code, detail, options);
    /** The approval to wait for. */
    this.approvalId = options.approvalId ?? null;
    /** The rules that asked for approval. */
    this.policyIds = [...(options.policyIds ?? [])];
  }
}

/** The params do not match the action's schema; `violations` lists every one. */
class SchemaInvalid extends IntentRailError {
  constructor(code, detail, options = {}) {
    super(code, detail, options);
    /** Every violation as the rail sent it (`{pointer, message, ...}`). */
    this.violations = [...(options.violations ?? [])];
  }

  /** The JSON pointers the violations name. */
  get fields() {
    const out = [];
    for (const v of this.violations) {
      if (v && typeof v === 'object') {
        const p = v.pointer ?? v.path ?? v.instance_path;
        if (typeof p === 'string') out.push(p);
      }
    }
    return out;
  }
}

/** The permit was refused (by the rail, or by this SDK before executing): invalid, expired,
 * already used, issued to another agent, or bound to other params. */
class PermitRejected extends IntentRailError {}

/** The downstream failed (`downstream_error`) or did not answer in time
 * (`downstream_timeout`: the outcome is unknown; never retry blindly). */
class DownstreamError extends IntentRailError {}

/** The rail, its ledger or its credential store is unavailable (or unreachable). */
class RailUnavailable extends IntentRailError {}

/** The API key or agent id was refused (`unauthenticated`, `forbidden`). */
class AuthenticationError extends IntentRailError {}

/** The request itself is wrong: bad JSON, unknown action or endpoint, idempotency key reused
 * with other params or still in progress, body too large, no such resource. */
class InvalidRequest extends IntentRailError {}

/** A receipt chain does not verify (`receipt_invalid`). */
class ReceiptInvalid extends IntentRailError {}

/** The one map from a code to its class (the same as the Python SDK's `_BY_CODE`). */
const BY_CODE = Object.freeze({
  policy_denied: PolicyDenied,
  rate_limited: PolicyDenied,
  approval_pending: ApprovalPending,
  schema_invalid: SchemaInvalid,
  permit_invalid: PermitRejected,
  permit_expired: PermitRejected,
  permit_already_used: PermitRejected,
  agent_mismatch: PermitRejected,
  payload_hash_mismatch: PermitRejected,
  downstream_error: DownstreamError,
  downstream_timeout: DownstreamError,
  rail_unavailable: RailUnavailable,
  ledger_unavailable: RailUnavailable,
  credential_unavailable: RailUnavailable,
  unauthenticated: AuthenticationError,
  forbidden: AuthenticationError,
  invalid_json: InvalidRequest,
  invalid_request: InvalidRequest,
  unknown_action: InvalidRequest,
  unsupported_endpoint: InvalidRequest,
  idempotency_conflict: InvalidRequest,
  request_in_progress: InvalidRequest,
  payload_too_large: InvalidRequest,
  not_found: InvalidRequest,
  receipt_invalid: ReceiptInvalid,
});

/** The error class of a code (`IntentRailError` for `internal` and unknown codes). */
function errorClass(code) {
  return Object.prototype.hasOwnProperty.call(BY_CODE, code) ? BY_CODE[code] : IntentRailError;
}

/** Build the error of `code` from the native error document's members (snake_case). */
function makeError(code, detail, doc = {}) {
  const Cls = errorClass(code);
  const problem = doc.problem && typeof doc.problem === 'object' ? doc.problem : {};
  const options = {
    receiptId: typeof doc.receipt_id === 'string' ? doc.receipt_id : null,
    status: typeof doc.status === 'number' ? doc.status : null,
    problem,
    text: typeof doc.text === 'string' ? doc.text : undefined,
  };
  const policyIds = Array.isArray(doc.policy_ids) ? doc.policy_ids : [];
  if (Cls === PolicyDenied) {
    options.policyIds =
      policyIds.length === 0 && typeof problem.limit_id === 'string' ? [problem.limit_id] : policyIds;
  } else if (Cls === ApprovalPending) {
    options.policyIds = policyIds;
    const aid = problem.approval_id ?? doc.approval_id;
    options.approvalId = typeof aid === 'string' ? aid : null;
  } else if (Cls === SchemaInvalid) {
    options.violations = Array.isArray(doc.violations) ? doc.violations : [];
  }
  return new Cls(code, detail, options);
}

/** The one place a native error becomes an IntentRail error: its message is the JSON document
 * `{"$intentrail":1, code, detail, status, receipt_id, violations, policy_ids, problem}`.
 * Anything else (e.g. a napi argument TypeError) is returned unchanged. */
function fromNative(err) {
  if (!(err instanceof Error) || typeof err.message !== 'string' || err.message[0] !== '{') {
    return err;
  }
  let doc;
  try {
    doc = JSON.parse(err.message);
  } catch {
    return err;
  }
  if (!doc || doc.$intentrail !== 1 || typeof doc.code !== 'string') return err;
  return makeError(doc.code, String(doc.detail ?? ''), doc);
}

/** Run a synchronous native call, mapping its error. */
function sync(f) {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Await a native Promise, mapping its error. */
async function later(promise) {
  try {
    return await promise;
  } catch (e) {
    throw fromNative(e);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON conversion. JS values are serialized with JSON.stringify and parsed strictly by the
// core (I-JSON). Values JSON.stringify would silently change are refused here instead:
// non-finite numbers (it writes `null`), BigInts beyond ±(2^53−1) (it throws a TypeError).
// Lone surrogates are escaped by JSON.stringify (`\ud800`) and refused by the core.

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function replacer(key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw makeError('invalid_json', `non_finite_number at ${JSON.stringify(key)}: ${value} is not JSON`);
  }
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw makeError(
        'invalid_json',
        `integer_out_of_range at ${JSON.stringify(key)}: ${value} is beyond ±(2^53−1)`,
      );
    }
    return Number(value);
  }
  return value;
}

/** JSON text of a JS value, for the core's strict parser. */
function toJson(value) {
  let text;
  try {
    text = JSON.stringify(value, replacer);
  } catch (e) {
    if (e instanceof IntentRailError) throw e;
    throw makeError('invalid_json', `syntax at "": ${e.message}`);
  }
  if (text === undefined) {
    throw makeError('invalid_json', 'syntax at "": the value is not JSON (undefined, a function or a symbol)');
  }
  return text;
}

/** JSON text given by the caller (string or bytes), checked for what napi would alter: a JS
 * string with a lone surrogate cannot become UTF-8 (napi would replace it with U+FFFD). */
function jsonText(doc) {
  if (typeof doc === 'string') {
    if (LONE_SURROGATE.test(doc)) {
      throw makeError('invalid_json', 'lone_surrogate at "": a string holds a lone surrogate (not valid Unicode)');
    }
    return doc;
  }
  if (Buffer.isBuffer(doc)) return doc;
  if (doc instanceof Uint8Array) return Buffer.from(doc.buffer, doc.byteOffset, doc.byteLength);
  throw new TypeError('expected JSON text as a string, Buffer or Uint8Array');
}

/** JSON text of `x`: given as text (checked), or serialized. */
function docText(x) {
  if (typeof x === 'string') return jsonText(x);
  if (x instanceof Uint8Array) return jsonText(x).toString('utf8');
  return toJson(x);
}

function paramsText(params) {
  if (typeof params === 'string') return jsonText(params);
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw makeError('invalid_request', 'params must be an object (a JSON object)');
  }
  return toJson(params);
}

// ---------------------------------------------------------------------------------------------
// Core helpers.

/** RFC 8785 canonical bytes of a JSON-compatible JS value (I-JSON enforced). */
function canonicalize(value) {
  const text = toJson(value);
  return sync(() => native.canonicalize(text));
}

/** RFC 8785 canonical bytes of JSON text (string or bytes), strictly parsed: duplicate keys,
 * lone surrogates, integers beyond 2^53−1 and the like are refused with `invalid_json`. */
function canonicalizeJson(doc) {
  const text = jsonText(doc);
  return sync(() => (typeof text === 'string' ? native.canonicalize(text) : native.canonicalizeBytes(text)));
}

/** `sha256:` + base64url(SHA-256(JCS(value))): the `ph` a permit binds. */
function payloadHash(value) {
  const text = toJson(value);
  return sync(() => native.payloadHash(text));
}

/** `payloadHash` of JSON text (string), strictly parsed. */
function payloadHashJson(doc) {
  const text = docText(doc);
  return sync(() => native.payloadHash(text));
}

/** Verify a permit strictly (EdDSA, header, key, issuer, audience, time) against a JWKS
 * (object or JSON text) and return its claims; throws `PermitRejected` otherwise. */
function verifyPermit(token, jwks, options = {}) {
  const { audience, issuer } = options;
  if (typeof token !== 'string') throw new TypeError('verifyPermit: token must be a string');
  if (typeof audience !== 'string' || typeof issuer !== 'string') {
    throw new TypeError('verifyPermit: options.audience and options.issuer are required strings');
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(now)) throw new TypeError('verifyPermit: options.now must be an integer (Unix seconds)');
  const jwksText = docText(jwks);
  return JSON.parse(sync(() => native.verifyPermit(token, jwksText, audience, issuer, now)));
}

/** Verify a receipt chain (hashes, links, signatures) from seq 1, or after
 * `options.after = { seq, hash }`; returns `{ count, lastSeq, lastHash }` or throws
 * `ReceiptInvalid` naming the first bad seq. */
function verifyReceipts(receipts, jwks, options = {}) {
  const receiptsText = typeof receipts === 'string' || receipts instanceof Uint8Array ? docText(receipts) : toJson([...receipts]);
  const jwksText = docText(jwks);
  const after = options.after;
  const r = JSON.parse(
    sync(() =>
      native.verifyReceipts(receiptsText, jwksText, after ? after.seq : undefined, after ? after.hash : undefined),
    ),
  );
  return { count: r.count, lastSeq: r.last_seq, lastHash: r.last_hash };
}

// ---------------------------------------------------------------------------------------------
// Results.

/** A permit the rail issued. `claims` were decoded, not verified, by `Rail.intent`:
 * `Rail.act` verifies them before executing. */
class Permit {
  constructor(d) {
    this.token = d.permit;
    this.claims = d.claims;
    this.permitId = d.permit_id;
    this.payloadHash = d.payload_hash;
    this.expiresAt = d.expires_at;
    this.receiptId = d.receipt_id ?? null;
  }

  toString() {
    return this.token;
  }
}

/** The answer of a governed execution: the downstream's own `status`, `headers` and `body`
 * (parsed JSON when it was JSON), and the rail's signed `receipt`. */
class Result {
  constructor(d) {
    this.status = d.status;
    this.headers = d.headers ?? {};
    this.body = d.body ?? null;
    this.receipt = d.receipt ?? {};
    this.permitId = d.permit_id ?? null;
  }

  /** Whether the downstream answered 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The execution receipt's id. */
  get receiptId() {
    return typeof this.receipt.id === 'string' ? this.receipt.id : null;
  }

  /** `{ status, body, receipt_id, permit_id }`: the result as plain JSON values (what
   * `JSON.stringify(result)` writes; the headers and the full receipt stay on the object). */
  toJSON() {
    return { status: this.status, body: this.body, receipt_id: this.receiptId, permit_id: this.permitId };
  }

  /** What a tool hands back to a model: `{"status","body","receipt_id"}` as compact JSON text
   * (the downstream's answer and where it is recorded; not the receipt's signature). The
   * Python and Kotlin SDKs answer the same. */
  forModel() {
    return JSON.stringify({ status: this.status, body: this.body, receipt_id: this.receiptId });
  }
}

function permitOf(d) {
  if (d.status === 'approval_pending') {
    throw makeError('approval_pending', `the action waits for approval ${d.approval_id}`, {
      status: 202,
      receipt_id: d.receipt_id,
      policy_ids: d.policy_ids,
      problem: d,
    });
  }
  return new Permit(d);
}

// ---------------------------------------------------------------------------------------------
// Tool names: LLM tool-calling APIs accept names matching ^[A-Za-z0-9_-]{1,64}$, so an action
// name maps to a tool name by replacing every other character with `_` (`money.refund` →
// `money_refund`). `Rail.toolDefinitions()` refuses a catalog where two actions would share
// a tool name, and `Rail.actionForTool()` maps back.

/** The tool name of an action (`money.refund` → `money_refund`). */
function toolName(action) {
  const name = String(action).replace(/[^A-Za-z0-9_-]/g, '_');
  if (name.length === 0 || name.length > 64) {
    throw makeError('invalid_request', `action ${JSON.stringify(action)} has no tool name of 1 to 64 characters`);
  }
  return name;
}

/** The tool definition of an action: `{ type: 'function', function: { name, description,
 * parameters } }` (the OpenAI chat-completions shape; Anthropic's is `{ name, description,
 * input_schema }` from the same members). */
function toolDefinition(action, description, schema, format = 'openai') {
  const name = toolName(action);
  const desc = description ?? `IntentRail governed action ${action}`;
  const params = schema ?? { type: 'object' };
  switch (format) {
    case 'openai':
      return { type: 'function', function: { name, description: desc, parameters: params } };
    case 'anthropic':
      return { name, description: desc, input_schema: params };
    case 'mcp':
      return { name, description: desc, inputSchema: params };
    default:
      throw makeError('invalid_request', `tool format ${JSON.stringify(format)} is not one of openai, anthropic, mcp`);
  }
}

/** The name of a definition of any format. */
function definitionName(def) {
  return def.function ? def.function.name : def.name;
}

// ---------------------------------------------------------------------------------------------
// The client.

const NATIVE = Symbol('native');
const TOOLS = Symbol('tools');

function requireString(name, v) {
  if (typeof v !== 'string' || v.length === 0) {
    throw makeError('invalid_request', `${name} must be a non-empty string`);
  }
}

/** The client of one agent. Share one per process: it pools connections and caches the
 * agent's identity and the tenant's JWKS. */
class Rail {
  /** @param {{url: string, apiKey: string, agentId: string, timeoutMs?: number}} options */
  constructor(options = {}) {
    const { url, apiKey, agentId, timeoutMs = 30000 } = options;
    requireString('url', url);
    requireString('apiKey', apiKey);
    requireString('agentId', agentId);
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw makeError('invalid_request', 'timeoutMs must be a positive number of milliseconds');
    }
    Object.defineProperty(this, NATIVE, {
      value: sync(() => new native.NativeRail(url, apiKey, agentId, timeoutMs)),
    });
    Object.defineProperty(this, TOOLS, { value: new Map(), writable: false });
  }

  /** A client from `INTENTRAIL_URL`, `INTENTRAIL_API_KEY`, `INTENTRAIL_AGENT_ID` (and
   * `INTENTRAIL_TIMEOUT`, seconds, if set — as the Python SDK). */
  static fromEnv(options = {}) {
    const env = options.env ?? process.env;
    const names = ['INTENTRAIL_URL', 'INTENTRAIL_API_KEY', 'INTENTRAIL_AGENT_ID'];
    const missing = names.filter((n) => !env[n]);
    if (missing.length) throw makeError('invalid_request', `missing environment variables: ${missing.join(', ')}`);
    let timeoutMs = options.timeoutMs;
    if (timeoutMs === undefined) {
      const raw = env.INTENTRAIL_TIMEOUT;
      timeoutMs = raw ? Number(raw) * 1000 : 30000;
      if (!Number.isFinite(timeoutMs)) throw makeError('invalid_request', 'INTENTRAIL_TIMEOUT must be a number of seconds');
    }
    return new Rail({ url: env.INTENTRAIL_URL, apiKey: env.INTENTRAIL_API_KEY, agentId: env.INTENTRAIL_AGENT_ID, timeoutMs });
  }

  /** The rail URL. */
  get url() {
    return this[NATIVE].url;
  }

  /** The agent id. */
  get agentId() {
    return this[NATIVE].agentId;
  }

  /** The per-request timeout, in milliseconds. */
  get timeoutMs() {
    return this[NATIVE].timeoutMs;
  }

  toString() {
    return `Rail(url=${JSON.stringify(this.url)}, agentId=${JSON.stringify(this.agentId)})`;
  }

  toJSON() {
    return { url: this.url, agentId: this.agentId };
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return this.toString();
  }

  /** `GET /v1/agent`: `{ agent_id, tenant, issuer, audience, jwks_url }`. */
  async agent() {
    return JSON.parse(await later(this[NATIVE].agent()));
  }

  /** The tenant's JWKS (cached; reloaded when a permit names an unknown key). */
  async jwks() {
    return JSON.parse(await later(this[NATIVE].jwks()));
  }

  /** `POST /v1/intents`: a permit for `action` with `params` (not executed). Throws
   * `ApprovalPending` when a human must approve. */
  async intent(action, params, options = {}) {
    requireString('action', action);
    const text = paramsText(params);
    const d = JSON.parse(await later(this[NATIVE].intent(action, text, options.idempotencyKey ?? undefined)));
    return permitOf(d);
  }

  /** `POST /v1/execute`: run a permit (a `Permit` or its token) with exactly these params. */
  async execute(permit, params) {
    const token = permit instanceof Permit ? permit.token : permit;
    if (typeof token !== 'string') throw new TypeError('execute: permit must be a Permit or a token string');
    const text = paramsText(params);
    return new Result(JSON.parse(await later(this[NATIVE].execute(token, text))));
  }

  /** The governed path: intent, then local verification of the permit (signature, issuer,
   * audience, time, action, agent, and that `ph` is the hash of these params), then execute.
   * A permit that fails a check is refused (`PermitRejected`) before anything runs.
   * `params` is an object, or JSON text (e.g. an LLM tool call's `arguments`), parsed
   * strictly by the core. */
  async act(action, params, options = {}) {
    requireString('action', action);
    const text = paramsText(params);
    return new Result(JSON.parse(await later(this[NATIVE].act(action, text, options.idempotencyKey ?? undefined))));
  }

  /** `GET /v1/actions`: `{ actions: [{ name, description, schema }] }`. */
  async actions() {
    return JSON.parse(await later(this[NATIVE].actions()));
  }

  /** `GET /v1/receipts/{id}`. */
  async receipt(receiptId) {
    requireString('receiptId', receiptId);
    return JSON.parse(await later(this[NATIVE].receipt(receiptId)));
  }

  /** `GET /v1/receipts?after=&limit=`: `{ receipts, next_after }`. */
  async receipts(options = {}) {
    const after = options.after ?? 0;
    if (!Number.isSafeInteger(after) || after < 0) throw makeError('invalid_request', 'after must be a non-negative integer');
    return JSON.parse(await later(this[NATIVE].receipts(after, options.limit ?? undefined)));
  }

  /** The catalog as LLM tool definitions in `options.format`: `'openai'` (the default,
   * `[{ type: 'function', function: { name: 'money_refund', description, parameters } }]`),
   * `'anthropic'` (`{ name, description, input_schema }`) or `'mcp'` (`{ name, description,
   * inputSchema }`); the schema is the action's own JSON Schema, as the rail validates it.
   * `options.actions` (action names) keeps only those, in that order. Remembers the tool
   * names of the whole catalog for `actionForTool` / `callTool`. */
  async toolDefinitions(options = {}) {
    const format = options.format ?? 'openai';
    const actions = catalogActions(await this.actions());
    const names = new Map();
    const defs = new Map(); // action entry -> its definition
    for (const a of actions) {
      const def = toolDefinition(a.name, a.description, a.schema, format);
      const name = definitionName(def);
      const prev = names.get(name);
      if (prev !== undefined && prev !== a.name) {
        throw makeError(
          'invalid_request',
          `actions ${JSON.stringify(prev)} and ${JSON.stringify(a.name)} map to the same tool name ${name}`,
        );
      }
      names.set(name, a.name);
      defs.set(a, def);
    }
    this[TOOLS].clear();
    for (const [k, v] of names) this[TOOLS].set(k, v);
    return selectActions(actions, options.actions).map((a) => defs.get(a));
  }

  /** The action a tool name of the last `toolDefinitions()` stands for, or `null`. */
  actionForTool(name) {
    return this[TOOLS].get(name) ?? null;
  }

  /** Run an LLM tool call: `name` from `toolDefinitions()`, `args` an object or the JSON text
   * the model produced (parsed strictly by the core: a duplicate key is refused, not
   * silently resolved). `options.idempotencyKey` is passed to `act`: give it the framework's
   * tool-call id, and a retried call never executes twice. Loads the catalog on first use. */
  async callTool(name, args, options = {}) {
    if (this[TOOLS].size === 0) await this.toolDefinitions();
    const action = this.actionForTool(name);
    if (action === null) throw makeError('unknown_action', `no action has the tool name ${JSON.stringify(name)}`);
    return this.act(action, args, { idempotencyKey: options.idempotencyKey });
  }

  /** `governed(this, action, …)` with the description and JSON Schema of `action` as the
   * catalog publishes them (`GET /v1/actions`): the schema the rail validates, so a framework
   * shows the model every field, bound and pattern. `options.idempotencyKey` as `governed`. */
  async governedTool(action, options = {}) {
    const [a] = selectActions(catalogActions(await this.actions()), [action]);
    return governed(this, a.name, { description: a.description, schema: a.schema, idempotencyKey: options.idempotencyKey });
  }
}

/** The actions of a catalog document. */
function catalogActions(catalog) {
  return Array.isArray(catalog && catalog.actions) ? catalog.actions : [];
}

/** The catalog's actions named in `names` (in that order), or all of them when `names` is
 * not given; a name the catalog does not hold is refused (`unknown_action`). */
function selectActions(actions, names) {
  if (names == null) return actions;
  if (!Array.isArray(names)) throw new TypeError('options.actions must be an array of action names');
  return names.map((name) => {
    const a = actions.find((x) => x.name === name);
    if (a === undefined) throw makeError('unknown_action', `the agent's catalog has no action ${JSON.stringify(name)}`);
    return a;
  });
}

// ---------------------------------------------------------------------------------------------
// governed

/** An async function that performs the governed action `action` with its params object.
 *
 * `rail` is a `Rail`, a function returning one, or `null`/`undefined` for `Rail.fromEnv()`
 * (created at the first call). `options.description` and `options.schema` (JSON Schema of the
 * params) fill `fn.toolDefinition`; `options.idempotencyKey(params)` returns the key to send.
 * The function has `actionName`, `toolName` and `toolDefinition`; its `name` is the tool name.
 * Members that are `undefined` are left out of the params (JSON.stringify semantics), like an
 * absent optional field. */
function governed(rail, action, options = {}) {
  if (typeof action !== 'string' || action.length === 0) {
    throw new TypeError('governed(rail, action): action must be the action name, e.g. "money.refund"');
  }
  if (!(rail == null || rail instanceof Rail || typeof rail === 'function')) {
    throw new TypeError('governed(rail, action): rail must be a Rail, a function returning one, or null');
  }
  const { description, schema, idempotencyKey } = options;
  if (idempotencyKey !== undefined && typeof idempotencyKey !== 'function') {
    throw new TypeError('governed: options.idempotencyKey must be a function of the params');
  }
  let resolved = rail instanceof Rail ? rail : null;
  const resolve = () => {
    if (resolved === null) {
      const r = rail == null ? Rail.fromEnv() : rail();
      if (!(r instanceof Rail)) throw new TypeError('governed: the rail function did not return a Rail');
      resolved = r;
    }
    return resolved;
  };
  const name = toolName(action);
  const fn = {
    async [name](params) {
      const key = idempotencyKey ? idempotencyKey(params) : undefined;
      return resolve().act(action, params, { idempotencyKey: key ?? undefined });
    },
  }[name];
  Object.defineProperties(fn, {
    actionName: { value: action, enumerable: true },
    toolName: { value: name, enumerable: true },
    description: { value: description ?? null, enumerable: true },
    schema: { value: schema ?? null, enumerable: true },
    toolDefinition: { value: toolDefinition(action, description, schema), enumerable: true },
  });
  return fn;
}

// ---------------------------------------------------------------------------------------------

exports.Rail = Rail;
exports.Result = Result;
exports.Permit = Permit;
exports.governed = governed;
exports.toolName = toolName;
exports.toolDefinition = toolDefinition;
exports.canonicalize = canonicalize;
exports.canonicalizeJson = canonicalizeJson;
exports.payloadHash = payloadHash;
exports.payloadHashJson = payloadHashJson;
exports.verifyPermit = verifyPermit;
exports.verifyReceipts = verifyReceipts;
exports.errorClass = errorClass;
exports.errorCodes = native.errorCodes();
exports.version = native.nativeVersion();
exports.IntentRailError = IntentRailError;
exports.PolicyDenied = PolicyDenied;
exports.ApprovalPending = ApprovalPending;
exports.SchemaInvalid = SchemaInvalid;
exports.PermitRejected = PermitRejected;
exports.DownstreamError = DownstreamError;
exports.RailUnavailable = RailUnavailable;
exports.AuthenticationError = AuthenticationError;
exports.InvalidRequest = InvalidRequest;
exports.ReceiptInvalid = ReceiptInvalid;
