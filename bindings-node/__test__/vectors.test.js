// Golden vectors replayed through the Node SDK: the same bytes as the Rust core and Python.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sdk, REPO } = require('./helpers.js');

const OWN = path.join(REPO, 'tests', 'vectors');

/** `<repo>/tests/vectors/external` (sources and licences in its README), or
 * `$INTENTRAIL_EXTERNAL_VECTORS` when set (another copy of the same layout). */
function externalVectors() {
  const dir = process.env.INTENTRAIL_EXTERNAL_VECTORS || path.join(OWN, 'external');
  assert.ok(fs.existsSync(dir) && fs.statSync(dir).isDirectory(), `external vectors: ${dir} is not a directory`);
  return dir;
}

function lines(name) {
  const file = path.join(OWN, name);
  const out = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  assert.ok(out.length > 0, `no vectors in ${file}`);
  return out;
}

test('canonical vectors give the recorded bytes and hashes', () => {
  let n = 0;
  for (const v of lines('canonical.jsonl')) {
    const canonical = Buffer.from(v.canonical, 'utf8');
    assert.deepEqual(sdk.canonicalizeJson(v.input), canonical, v.name);
    assert.deepEqual(sdk.canonicalizeJson(Buffer.from(v.input, 'utf8')), canonical, v.name);
    assert.equal(sdk.payloadHashJson(v.input), v.hash, v.name);
    // The JS-value path: JSON.parse, then the SDK's own serialization.
    if (v.name === 'large_integral_float') continue; // canonical output beyond 2^53 is not strict input
    const value = JSON.parse(v.input);
    assert.deepEqual(sdk.canonicalize(value), canonical, v.name);
    assert.equal(sdk.payloadHash(value), v.hash, v.name);
    n++;
  }
  assert.ok(n > 10);
});

test('reject vectors are refused with their rule', () => {
  for (const v of lines('rejects.jsonl')) {
    const doc = v.input_hex !== undefined ? Buffer.from(v.input_hex, 'hex') : v.input;
    assert.throws(
      () => sdk.canonicalizeJson(doc),
      (e) => {
        assert.ok(e instanceof sdk.InvalidRequest, `${v.name}: ${e}`);
        assert.equal(e.code, 'invalid_json', v.name);
        assert.ok(e.detail.startsWith(`${v.rule} at `), `${v.name}: ${e.detail}`);
        return true;
      },
    );
  }
});

test('JS values the rail refuses are refused locally, never normalized', () => {
  const bad = [
    ['lone_surrogate', { a: '\ud800' }], // JSON.stringify escapes it; the core refuses the escape
    ['lone_surrogate', { a: 'x\udc00y' }],
    ['lone_surrogate', { '\udbff': 1 }],
    ['integer_out_of_range', { a: 2 ** 53 }],
    ['integer_out_of_range', { a: 2n ** 64n }],
    ['non_finite_number', { a: Infinity }],
    ['non_finite_number', { a: NaN }],
  ];
  for (const [rule, value] of bad) {
    for (const f of [sdk.canonicalize, sdk.payloadHash]) {
      assert.throws(
        () => f(value),
        (e) => e instanceof sdk.InvalidRequest && e.code === 'invalid_json' && e.detail.startsWith(`${rule} at `),
        `${rule}: ${Object.keys(value)}`,
      );
    }
  }
  // A raw lone surrogate in JSON text cannot become UTF-8: refused, not replaced by U+FFFD.
  assert.throws(() => sdk.canonicalizeJson('["\ud800"]'), (e) => e.code === 'invalid_json' && e.detail.startsWith('lone_surrogate at '));
  // A well-formed pair is fine, escaped or not.
  assert.equal(sdk.canonicalize({ a: '\ud83d\ude00' }).toString('utf8'), '{"a":"😀"}');
  assert.equal(sdk.canonicalizeJson('{"a":"\\ud83d\\ude00"}').toString('utf8'), '{"a":"😀"}');
  // BigInts within ±(2^53−1) are plain integers.
  assert.equal(sdk.canonicalize({ a: 5n }).toString(), '{"a":5}');
  assert.throws(() => sdk.canonicalize(undefined), sdk.InvalidRequest);
});

test('permit vectors verify as recorded', () => {
  for (const v of lines('permits.jsonl')) {
    const { audience, issuer, now } = v.verify;
    if (v.expect === 'ok') {
      assert.deepEqual(sdk.verifyPermit(v.permit, v.jwks, { audience, issuer, now }), v.claims, v.name);
      assert.deepEqual(sdk.verifyPermit(v.permit, JSON.stringify(v.jwks), { audience, issuer, now }), v.claims, v.name);
    } else {
      assert.throws(
        () => sdk.verifyPermit(v.permit, v.jwks, { audience, issuer, now }),
        (e) => e instanceof sdk.PermitRejected && e.code === v.expect,
        v.name,
      );
    }
  }
});

test('external JCS vectors give the reference bytes', () => {
  const jcs = path.join(externalVectors(), 'jcs');
  const inputs = fs.readdirSync(path.join(jcs, 'input')).filter((f) => f.endsWith('.json')).sort();
  assert.ok(inputs.length > 0, `no JCS vectors in ${jcs}`);
  for (const f of inputs) {
    const input = fs.readFileSync(path.join(jcs, 'input', f));
    const expected = fs.readFileSync(path.join(jcs, 'output', f));
    assert.deepEqual(sdk.canonicalizeJson(input), expected, f);
    assert.deepEqual(sdk.canonicalize(JSON.parse(input.toString('utf8'))), expected, f);
  }
});

test('external number vectors serialize like ECMAScript', () => {
  const text = fs.readFileSync(path.join(externalVectors(), 'jcs', 'numbers.txt'), 'utf8');
  const buf = Buffer.alloc(8);
  let n = 0;
  let refused = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [bits, expected] = line.split(',');
    buf.writeBigUInt64BE(BigInt(`0x${bits}`));
    const x = buf.readDoubleBE(0);
    if (/^-?\d+$/.test(expected) && Math.abs(x) > Number.MAX_SAFE_INTEGER) {
      // ECMAScript prints it as an integer literal beyond ±(2^53−1): not strict input, refused
      // however written (tests/vectors/README.md, `integral_float_beyond_2_pow_53`).
      assert.throws(() => sdk.canonicalize(x), (e) => e.detail.startsWith('integer_out_of_range at '), line);
      refused++;
    } else {
      assert.equal(sdk.canonicalize(x).toString('utf8'), expected, line);
    }
    n++;
  }
  assert.equal(n, 20000);
  assert.ok(refused < n / 10, `${refused} refused`);
});

test('every code the core knows maps to a class, and the families match the Python SDK', () => {
  assert.ok(sdk.errorCodes.includes('policy_denied'));
  const families = {
    policy_denied: sdk.PolicyDenied,
    rate_limited: sdk.PolicyDenied,
    approval_pending: sdk.ApprovalPending,
    schema_invalid: sdk.SchemaInvalid,
    payload_hash_mismatch: sdk.PermitRejected,
    permit_already_used: sdk.PermitRejected,
    downstream_timeout: sdk.DownstreamError,
    ledger_unavailable: sdk.RailUnavailable,
    unauthenticated: sdk.AuthenticationError,
    invalid_json: sdk.InvalidRequest,
    unknown_action: sdk.InvalidRequest,
    receipt_invalid: sdk.ReceiptInvalid,
    internal: sdk.IntentRailError,
  };
  for (const [code, cls] of Object.entries(families)) assert.equal(sdk.errorClass(code), cls, code);
  for (const code of sdk.errorCodes) {
    const cls = sdk.errorClass(code);
    assert.ok(cls === sdk.IntentRailError || cls.prototype instanceof sdk.IntentRailError, code);
  }
  for (const cls of [sdk.PolicyDenied, sdk.SchemaInvalid, sdk.PermitRejected, sdk.RailUnavailable]) {
    assert.ok(new cls('x', 'y') instanceof Error);
  }
});
