// End to end against the real `intentrail demo` rail: governed tools, refusals, tampering,
// tool definitions, errors. Keys are never printed.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const net = require('node:net');
const { sdk, startDemo, startProxy, pid, received } = require('./helpers.js');

const { Rail, governed, PolicyDenied, SchemaInvalid, PermitRejected, ApprovalPending } = sdk;

let demo;
let rail;
test.before(async () => {
  demo = await startDemo();
  rail = demo.rail();
});
test.after(async () => {
  if (demo) await demo.stop();
});

/** A proxy for one test, closed after it. */
async function withProxy(t) {
  const p = await startProxy(demo.railUrl);
  t.after(() => p.close());
  return p;
}

test('a governed refund goes through the demo downstream', async () => {
  const refund = governed(rail, 'money.refund');
  const p = pid();
  const r = await refund({ payment_id: p, amount: 500, currency: 'usd', reason: undefined });
  assert.ok(r instanceof sdk.Result);
  assert.equal(r.status, 200);
  assert.ok(r.ok);
  assert.equal(typeof r.body, 'object');
  assert.equal(r.receipt.kind, 'execution');
  assert.equal(r.receipt.outcome, 'success');
  assert.equal(r.receipt.payload_hash, sdk.payloadHash({ payment_id: p, amount: 500, currency: 'usd' }));
  const got = await received(demo, p);
  assert.equal(got.length, 1);
  assert.equal(got[0].path, '/v1/refunds');
  assert.ok(got[0].authorized);
  assert.deepEqual(JSON.parse(got[0].body), { payment_id: p, amount: 500, currency: 'usd' });
  // The receipt the rail returned is the one it stores.
  assert.equal((await rail.receipt(r.receiptId)).hash, r.receipt.hash);
});

test('a denied refund raises PolicyDenied naming refund_cap', async () => {
  const refund = governed(rail, 'money.refund');
  const p = pid();
  const e = await refund({ payment_id: p, amount: 20000, currency: 'usd' }).then(
    () => assert.fail('allowed'),
    (e) => e,
  );
  assert.ok(e instanceof PolicyDenied, String(e));
  assert.ok(e instanceof sdk.IntentRailError && e instanceof Error);
  assert.equal(e.code, 'policy_denied');
  assert.ok(e.policyIds.includes('refund_cap'));
  assert.equal(e.status, 403);
  assert.ok(e.receiptId);
  assert.equal(e.name, 'PolicyDenied');
  // What a model reads: the code, the rule, and that calling again will not help.
  assert.ok(e.message.startsWith('policy_denied: '), e.message);
  assert.ok(e.message.includes('Rules: refund_cap'), e.message);
  assert.ok(e.message.endsWith('Calling again with the same request will be refused again.'), e.message);
  assert.deepEqual(await received(demo, p), []);
  assert.equal((await rail.receipt(e.receiptId)).decision, 'deny');
});

test('schema errors raise SchemaInvalid listing the fields', async () => {
  const refund = governed(rail, 'money.refund');
  const p = pid();
  await assert.rejects(refund({ payment_id: p, amount: -5, currency: 'USD' }), (e) => {
    assert.ok(e instanceof SchemaInvalid, String(e));
    assert.equal(e.code, 'schema_invalid');
    assert.ok(e.fields.includes('/amount') && e.fields.includes('/currency'), String(e.fields));
    assert.ok(e.violations.every((v) => typeof v.message === 'string'));
    // What a model reads names every field with its reason, and says to fix them.
    for (const v of e.violations) assert.ok(e.message.includes(`${v.pointer}: ${v.message}`), e.message);
    assert.ok(e.message.endsWith('Fix the request as described, then call again.'), e.message);
    return true;
  });
  await assert.rejects(refund({ payment_id: p, amount: 5, currency: 'usd', note: 'hi' }), (e) => {
    assert.ok(e instanceof SchemaInvalid);
    assert.ok(e.fields.includes('/note'));
    return true;
  });
  assert.deepEqual(await received(demo, p), []);
});

test('a permit bound to other params is refused before execute', async (t) => {
  const proxy = await withProxy(t);
  // A tampering rail: it asks for a permit over other params than the SDK sent.
  proxy.rewrite = (path, body) => {
    if (path === '/v1/intents') body.params.amount = 9999;
    return body;
  };
  const evil = new Rail({ url: proxy.url, apiKey: demo.apiKey, agentId: demo.agentId });
  const refund = governed(evil, 'money.refund');
  const p = pid();
  await assert.rejects(refund({ payment_id: p, amount: 100, currency: 'usd' }), (e) => {
    assert.ok(e instanceof PermitRejected, String(e));
    assert.equal(e.code, 'payload_hash_mismatch');
    return true;
  });
  assert.equal(proxy.count('/v1/intents'), 1);
  assert.equal(proxy.count('/v1/execute'), 0);
  assert.deepEqual(await received(demo, p), []);
});

test('a permit for another action is refused before execute', async (t) => {
  const proxy = await withProxy(t);
  proxy.rewrite = (path, body) => {
    if (path === '/v1/intents') {
      body.action = 'money.payment';
      body.params = { amount: 100, currency: 'usd', customer: 'cus_evil' };
    }
    return body;
  };
  const evil = new Rail({ url: proxy.url, apiKey: demo.apiKey, agentId: demo.agentId });
  const p = pid();
  await assert.rejects(evil.act('money.refund', { payment_id: p, amount: 100, currency: 'usd' }), (e) => {
    assert.ok(e instanceof PermitRejected);
    assert.equal(e.code, 'permit_invalid');
    return true;
  });
  assert.equal(proxy.count('/v1/execute'), 0);
  assert.deepEqual(await received(demo, p), []);
});

test('approval required raises ApprovalPending', async () => {
  const params = { amount: 5, currency: 'usd', from_account: 'acct_a', to_account: 'acct_node' };
  await assert.rejects(rail.act('money.transfer', params), (e) => {
    assert.ok(e instanceof ApprovalPending, String(e));
    assert.equal(e.code, 'approval_pending');
    assert.equal(e.status, 202);
    assert.match(e.approvalId, /^apr_/);
    assert.ok(e.policyIds.includes('transfers_need_approval'));
    return true;
  });
  await assert.rejects(rail.intent('money.transfer', params), ApprovalPending);
  assert.ok(!(await demo.requests()).some((r) => r.body.includes('acct_node')));
});

test('intent then execute; a replay is refused', async () => {
  const p = pid();
  const params = { payment_id: p, amount: 3, currency: 'usd' };
  const permit = await rail.intent('money.refund', params);
  assert.ok(permit instanceof sdk.Permit);
  assert.equal(permit.claims.ph, sdk.payloadHash(params));
  assert.equal(permit.payloadHash, permit.claims.ph);
  const agent = await rail.agent();
  const claims = sdk.verifyPermit(permit.token, await rail.jwks(), { audience: agent.audience, issuer: agent.issuer });
  assert.deepEqual(claims, permit.claims);
  assert.throws(
    () => sdk.verifyPermit(permit.token, { keys: [] }, { audience: agent.audience, issuer: agent.issuer }),
    PermitRejected,
  );
  assert.equal((await rail.execute(permit, params)).status, 200);
  await assert.rejects(rail.execute(permit.token, params), (e) => e instanceof PermitRejected && e.code === 'permit_already_used');
  assert.equal((await received(demo, p)).length, 1);
});


test('receipts verify as a chain, and an edit is found', async () => {
  const admin = new Rail({ url: demo.railUrl, apiKey: demo.adminKey, agentId: demo.agentId });
  await rail.act('money.refund', { payment_id: pid(), amount: 2, currency: 'usd' });
  const chain = (await admin.receipts({ after: 0, limit: 1000 })).receipts;
  const jwks = await rail.jwks();
  const report = sdk.verifyReceipts(chain, jwks);
  assert.equal(report.count, chain.length);
  assert.ok(report.count >= 1);
  assert.equal(report.lastSeq, chain[chain.length - 1].seq);
  chain[0].action = 'money.payment';
  assert.throws(() => sdk.verifyReceipts(chain, jwks), sdk.ReceiptInvalid);
});

test('fromEnv, and governed(null, ...) takes the rail from the environment', async () => {
  const env = { INTENTRAIL_URL: demo.railUrl, INTENTRAIL_API_KEY: demo.apiKey, INTENTRAIL_AGENT_ID: demo.agentId };
  const r = Rail.fromEnv({ env });
  assert.equal((await r.agent()).agent_id, demo.agentId);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const refund = governed(null, 'money.refund');
    const p = pid();
    assert.equal((await refund({ payment_id: p, amount: 4, currency: 'usd' })).status, 200);
    assert.equal((await received(demo, p)).length, 1);
  } finally {
    for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
  }
  assert.throws(
    () => Rail.fromEnv({ env: { INTENTRAIL_URL: demo.railUrl, INTENTRAIL_AGENT_ID: 'a' } }),
    (e) =>
      e instanceof sdk.InvalidRequest &&
      e.message.includes('INTENTRAIL_API_KEY') &&
      // The JavaScript layer's own errors read like the rail's (core's rendering).
      e.message.endsWith('Fix the request as described, then call again.'),
  );
});

test('the API key never shows in the printed forms of a Rail or its errors', async () => {
  for (const shown of [util.inspect(rail), String(rail), JSON.stringify(rail), util.inspect(rail, { showHidden: true })]) {
    assert.ok(!shown.includes(demo.apiKey), 'the API key appears in a printed Rail');
  }
  const bad = new Rail({ url: demo.railUrl, apiKey: `ir_${'x'.repeat(43)}`, agentId: demo.agentId });
  await assert.rejects(bad.actions(), (e) => e instanceof sdk.AuthenticationError && e.code === 'unauthenticated');
});

test('an unreachable rail raises RailUnavailable without the key', async () => {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const r = new Rail({ url: `http://127.0.0.1:${port}`, apiKey: 'ir_secret_value', agentId: 'a', timeoutMs: 2000 });
  await assert.rejects(r.act('money.refund', { payment_id: 'p', amount: 1 }), (e) => {
    assert.ok(e instanceof sdk.RailUnavailable, String(e));
    assert.ok(!util.inspect(e).includes('ir_secret_value'), 'the API key appears in the error');
    return true;
  });
});

test('bad params are refused locally, before any request', async (t) => {
  const proxy = await withProxy(t);
  const r = new Rail({ url: proxy.url, apiKey: demo.apiKey, agentId: demo.agentId });
  const refund = governed(r, 'money.refund');
  for (const [params, cls] of [
    [{ payment_id: 'p\ud800', amount: 1, currency: 'usd' }, sdk.InvalidRequest],
    [{ payment_id: 'p', amount: 2 ** 60, currency: 'usd' }, sdk.InvalidRequest],
    [{ payment_id: 'p', amount: NaN, currency: 'usd' }, sdk.InvalidRequest],
    [[1, 2], sdk.InvalidRequest],
    ['{"amount":1,"amount":2}', sdk.InvalidRequest],
  ]) {
    await assert.rejects(refund(params), cls);
  }
  assert.deepEqual(proxy.seen, []);
  assert.throws(() => new Rail({ url: 'ftp://x', apiKey: 'k', agentId: 'a' }), sdk.InvalidRequest);
  assert.throws(() => new Rail({ url: demo.railUrl, apiKey: 'k', agentId: 'a', timeoutMs: 0 }), sdk.InvalidRequest);
});

test('tool definitions: the catalog in the LLM tool shape, names mapped back', async () => {
  const defs = await rail.toolDefinitions();
  const names = defs.map((d) => d.function.name);
  for (const n of ['money_refund', 'money_payment', 'money_transfer']) assert.ok(names.includes(n), n);
  const refundDef = defs.find((d) => d.function.name === 'money_refund');
  assert.equal(refundDef.type, 'function');
  assert.equal(typeof refundDef.function.description, 'string');
  assert.equal(refundDef.function.parameters.type, 'object');
  assert.ok('payment_id' in refundDef.function.parameters.properties);
  assert.equal(rail.actionForTool('money_refund'), 'money.refund');
  assert.equal(rail.actionForTool('nope'), null);
  // The same schema, the rail's own, in the Anthropic and MCP shapes.
  const anthropic = (await rail.toolDefinitions({ format: 'anthropic' })).find((d) => d.name === 'money_refund');
  assert.deepEqual(anthropic.input_schema, refundDef.function.parameters);
  const mcp = (await rail.toolDefinitions({ format: 'mcp' })).find((d) => d.name === 'money_refund');
  assert.deepEqual(mcp.inputSchema, refundDef.function.parameters);
  await assert.rejects(rail.toolDefinitions({ format: 'gemini' }), (e) => e.code === 'invalid_request');
  // A tool call as the model sends it: JSON text, parsed strictly by the core.
  const p = pid();
  const r = await rail.callTool('money_refund', JSON.stringify({ payment_id: p, amount: 7, currency: 'usd' }));
  assert.equal(r.status, 200);
  // What the model is handed: the body and the receipt id, not the receipt's signature.
  assert.deepEqual(JSON.parse(r.forModel()), { status: 200, body: r.body, receipt_id: r.receiptId });
  assert.ok(!r.forModel().includes(r.receipt.sig));
  assert.deepEqual(JSON.parse(JSON.stringify(r)), { status: 200, body: r.body, receipt_id: r.receiptId, permit_id: r.permitId });
  await assert.rejects(rail.callTool('money_refund', `{"payment_id":"${p}","amount":1,"amount":9000}`), (e) => e.code === 'invalid_json');
  await assert.rejects(rail.callTool('no_such_tool', {}), (e) => e.code === 'unknown_action');
  assert.equal((await received(demo, p)).length, 1);
});

test('governed functions carry their action, tool name and definition', () => {
  const schema = { type: 'object', properties: { payment_id: { type: 'string' } }, required: ['payment_id'] };
  const refund = governed(rail, 'money.refund', { description: 'Refund a payment.', schema });
  assert.equal(refund.actionName, 'money.refund');
  assert.equal(refund.name, 'money_refund');
  assert.equal(refund.toolName, 'money_refund');
  assert.deepEqual(refund.toolDefinition, {
    type: 'function',
    function: { name: 'money_refund', description: 'Refund a payment.', parameters: schema },
  });
  const bare = governed(rail, 'github.repos/create-release');
  assert.equal(bare.toolDefinition.function.name, 'github_repos_create-release');
  assert.deepEqual(bare.toolDefinition.function.parameters, { type: 'object' });
  assert.throws(() => governed(rail, ''), TypeError);
  assert.throws(() => governed({}, 'money.refund'), TypeError);
});

test('an idempotency key replays the first answer instead of refunding twice', async () => {
  const p = pid();
  const refund = governed(rail, 'money.refund', { idempotencyKey: (params) => `idk-${params.payment_id}` });
  const a = await refund({ payment_id: p, amount: 8, currency: 'usd' });
  const b = await refund({ payment_id: p, amount: 8, currency: 'usd' }).catch((e) => e);
  assert.equal(a.status, 200);
  // Either the rail replays the first answer, or it refuses the reuse; it never runs twice.
  assert.ok(b instanceof sdk.Result || b instanceof sdk.IntentRailError, String(b));
  assert.equal((await received(demo, p)).length, 1);
});

test('rail.governedTool takes the description and schema from the catalog', async () => {
  const { actions } = await rail.actions();
  const catalog = actions.find((a) => a.name === 'money.refund');
  const refund = await rail.governedTool('money.refund', { idempotencyKey: (params) => `gt-${params.payment_id}` });
  assert.deepEqual(refund.schema, catalog.schema);
  assert.equal(refund.description, catalog.description);
  assert.deepEqual(refund.toolDefinition, (await rail.toolDefinitions({ actions: ['money.refund'] }))[0]);
  const p = pid();
  assert.equal((await refund({ payment_id: p, amount: 6, currency: 'usd' })).status, 200);
  assert.equal((await refund({ payment_id: p, amount: 6, currency: 'usd' })).status, 200); // replayed
  assert.equal((await received(demo, p)).length, 1);
  await assert.rejects(rail.governedTool('money.nope'), (e) => e instanceof sdk.InvalidRequest && e.code === 'unknown_action');
});

test('tool definitions of chosen actions, and callTool with the tool call id as idempotency key', async () => {
  const defs = await rail.toolDefinitions({ format: 'mcp', actions: ['money.transfer', 'money.refund'] });
  assert.deepEqual(defs.map((d) => d.name), ['money_transfer', 'money_refund']);
  assert.equal(rail.actionForTool('money_payment'), 'money.payment'); // the whole catalog is mapped
  await assert.rejects(rail.toolDefinitions({ actions: ['money.nope'] }), (e) => e.code === 'unknown_action');
  const p = pid();
  const args = { payment_id: p, amount: 5, currency: 'usd' };
  const first = await rail.callTool('money_refund', args, { idempotencyKey: `call-${p}` });
  const again = await rail.callTool('money_refund', JSON.stringify(args), { idempotencyKey: `call-${p}` });
  assert.equal(again.forModel(), first.forModel());
  assert.equal((await received(demo, p)).length, 1);
});
