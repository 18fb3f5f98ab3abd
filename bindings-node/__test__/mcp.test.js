// The rail's own MCP server (`/mcp`, Streamable HTTP) driven by the official MCP TypeScript
// SDK's client, with nothing but the agent's IntentRail key, against the real `intentrail demo`
// rail: the catalog as tools, an allowed call forwarded once with its receipt, refusals as tool
// errors a model can act on, and keys checked before any MCP message.
// Mirrors bindings-python/tests/test_rail_mcp.py.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sdk, startDemo, pid, received } = require('./helpers.js');
const { requireFrom } = require('./frameworks.js');

// The MCP SDK is installed beside the package by bindings-node/run-tests.sh (its CommonJS build).
const { Client } = requireFrom('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = requireFrom('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { LATEST_PROTOCOL_VERSION } = requireFrom('@modelcontextprotocol/sdk/types.js');

let demo;
let rail;
test.before(async () => {
  demo = await startDemo();
  rail = demo.rail();
});
test.after(async () => {
  if (demo) await demo.stop();
});

/** Run `body(client, transport)` in an initialized MCP session on the rail, authenticated by `key`. */
async function session(key, body) {
  const client = new Client({ name: 'intentrail-node-tests', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${demo.railUrl}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  try {
    return await body(client, transport);
  } finally {
    await client.close();
  }
}

/** Each `[tool, arguments]` called in one session, in order. */
const calls = (...requests) =>
  session(demo.apiKey, async (client) => {
    const results = [];
    for (const [name, args] of requests) results.push(await client.callTool({ name, arguments: args }));
    return results;
  });

/** The text of a result's only content. */
function text(result) {
  assert.equal(result.content.length, 1, JSON.stringify(result));
  assert.equal(result.content[0].type, 'text');
  return result.content[0].text;
}

test('the catalog is listed as tools with the rail\'s schemas', async () => {
  const { tools, server, capabilities, protocol, sessionId } = await session(demo.apiKey, async (client, transport) => ({
    tools: (await client.listTools()).tools,
    server: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    protocol: transport.protocolVersion,
    sessionId: transport.sessionId,
  }));
  assert.equal(server.name, 'intentrail');
  // The SDK's newest protocol revision is accepted; a session-based revision gets a session,
  // on which the rail says when the tool list changes.
  assert.equal(protocol, LATEST_PROTOCOL_VERSION);
  assert.equal(typeof sessionId, 'string');
  assert.ok(sessionId.length > 0);
  assert.equal(capabilities.tools.listChanged, true);
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  const catalog = (await rail.actions()).actions;
  assert.deepEqual(Object.keys(byName).sort(), catalog.map((a) => sdk.toolName(a.name)).sort());
  for (const a of catalog) {
    const t = byName[sdk.toolName(a.name)];
    assert.deepEqual(t.inputSchema, a.schema, a.name);
    assert.equal(t.description, a.description, a.name);
    assert.equal(t.annotations.destructiveHint, true, a.name);
    assert.equal(t.annotations.readOnlyHint, false, a.name);
  }
});

test('an allowed call is forwarded once with its receipt', async () => {
  const p = pid();
  const [r] = await calls(['money_refund', { payment_id: p, amount: 12, currency: 'usd' }]);
  assert.equal(r.isError, false, JSON.stringify(r));
  const seen = r.structuredContent;
  assert.equal(seen.status, 200);
  assert.equal(seen.body.status, 'succeeded');
  assert.deepEqual(JSON.parse(text(r)), seen);
  const forwarded = await received(demo, p);
  assert.equal(forwarded.length, 1);
  const receipt = await rail.receipt(seen.receipt_id);
  assert.equal(receipt.kind, 'execution');
  assert.equal(receipt.outcome, 'success');
  assert.equal(receipt.action, 'money.refund');
  // The agent's key never reaches the downstream.
  assert.ok(!JSON.stringify(forwarded).includes(demo.apiKey), 'the agent key was forwarded downstream');
});

test('refusals are tool errors a model can act on', async () => {
  const p = pid();
  const [denied, invalid, pending] = await calls(
    ['money_refund', { payment_id: p, amount: 20000, currency: 'usd' }],
    ['money_refund', { payment_id: p, amount: 0, currency: 'USD' }],
    ['money_transfer', { from_account: 'acct_a', to_account: 'acct_b', amount: 5, currency: 'usd' }],
  );
  for (const r of [denied, invalid, pending]) assert.equal(r.isError, true, JSON.stringify(r));
  assert.equal(
    text(denied),
    'policy_denied: denied by policy `refund_cap`. Rules: refund_cap. ' +
      'Calling again with the same request will be refused again.',
  );
  const why = text(invalid);
  assert.ok(why.startsWith('schema_invalid: '), why);
  assert.ok(why.includes('/amount: ') && why.includes('/currency: '), why);
  assert.ok(why.endsWith('Fix the request as described, then call again.'), why);
  const waiting = text(pending);
  assert.ok(waiting.startsWith('approval_pending: the action waits for approval apr_'), waiting);
  assert.ok(waiting.includes('Rules: transfers_need_approval'), waiting);
  assert.deepEqual(await received(demo, p), []);
});

test('an unknown tool is a protocol error', async () => {
  await session(demo.apiKey, async (client) => {
    await assert.rejects(client.callTool({ name: 'money_refund_everything', arguments: {} }), (e) => {
      assert.match(e.message, /no tool/);
      return true;
    });
  });
});

test('keys are checked before any MCP message', async () => {
  const init = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
  };
  const post = (headers) =>
    fetch(`${demo.railUrl}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(init),
    });
  const refused = {
    'no key': {},
    'a wrong key': { Authorization: 'Bearer ir_not_a_key' },
    'another agent': { Authorization: `Bearer ${demo.apiKey}`, 'IntentRail-Agent': 'someone-else' },
  };
  for (const [label, headers] of Object.entries(refused)) {
    const r = await post(headers);
    const body = await r.text();
    assert.equal(r.status, 401, `${label}: ${body}`);
    assert.equal(JSON.parse(body).code, 'unauthenticated', label);
  }
  // The agent header may be sent, and must then match.
  const ok = await post({ Authorization: `Bearer ${demo.apiKey}`, 'IntentRail-Agent': demo.agentId });
  const body = await ok.text();
  assert.equal(ok.status, 200, body);
  // A session-based revision: the answer comes as a server-sent event, with the session's id.
  const data = body.split('\n').find((line) => line.startsWith('data:') && line.slice(5).trim());
  assert.ok(data, body);
  assert.equal(JSON.parse(data.slice(5)).result.serverInfo.name, 'intentrail');
  assert.ok(ok.headers.get('mcp-session-id'));
});

test('20 concurrent calls through one client forward 20 times with 20 receipts', async () => {
  const payments = Array.from({ length: 20 }, pid);
  const results = await session(demo.apiKey, (client) =>
    Promise.all(
      payments.map((p) =>
        client.callTool({ name: 'money_payment', arguments: { customer: p, amount: 100, currency: 'usd' } }),
      ),
    ),
  );
  const failed = results.filter((r) => r.isError).map((r) => r.content[0].text);
  assert.deepEqual(failed.slice(0, 3), []);
  for (const p of payments) assert.equal((await received(demo, p)).length, 1, p);
  const receipts = new Set(results.map((r) => r.structuredContent.receipt_id));
  assert.equal(receipts.size, 20);
  for (const id of [...receipts].slice(0, 5)) assert.equal((await rail.receipt(id)).outcome, 'success');
});
