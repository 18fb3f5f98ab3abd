// `intentrail/ai` in the Vercel AI SDK's own agent loop (`generateText` with a stop condition),
// driven by the AI SDK's mock language model, against the real `intentrail demo` rail: the
// model sees the rail's schemas, an allowed call runs once, a refusal comes back to the model
// as text it can act on and the run goes on, and a tool call sent again never runs twice.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sdk, startDemo, pid, received } = require('./helpers.js');
const { requireFrom, importFrom, callId } = require('./frameworks.js');

let demo;
let rail;
let ai;
let MockLanguageModelV4;
const { aiTools } = requireFrom('intentrail/ai');

test.before(async () => {
  demo = await startDemo();
  rail = demo.rail();
  ai = await importFrom('ai');
  ({ MockLanguageModelV4 } = await importFrom('ai/test'));
});
test.after(async () => {
  if (demo) await demo.stop();
});

const USAGE = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};

/** A model step calling one tool. */
const call = (toolName, input, toolCallId = callId()) => ({
  content: [{ type: 'tool-call', toolCallId, toolName, input: JSON.stringify(input) }],
  finishReason: { unified: 'tool-calls', raw: undefined },
  usage: USAGE,
  warnings: [],
});

/** A model step answering the user. */
const say = (text) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: undefined }, usage: USAGE, warnings: [] });

/** Run `generateText` on a mock model answering `steps` in order; returns the result, what the
 * model was sent at each step, and the tool results in its last prompt (the whole history). */
async function runAgent(steps) {
  const model = new MockLanguageModelV4({ doGenerate: [...steps] });
  const result = await ai.generateText({
    model,
    tools: await aiTools(rail),
    stopWhen: ai.stepCountIs(10),
    prompt: 'Refund the customer.',
  });
  const calls = model.doGenerateCalls;
  const outputs = calls
    .at(-1)
    .prompt.filter((m) => m.role === 'tool')
    .flatMap((m) => m.content)
    .map((part) => ({ toolCallId: part.toolCallId, ...part.output }));
  return { result, calls, outputs };
}

test('the tools are the catalog: tool names, descriptions and the rail\'s own schemas', async () => {
  const { calls } = await runAgent([say('nothing to do')]);
  const sent = Object.fromEntries(calls[0].tools.map((t) => [t.name, t]));
  for (const a of (await rail.actions()).actions) {
    const t = sent[sdk.toolName(a.name)];
    assert.ok(t, `no tool for ${a.name}`);
    assert.equal(t.description, a.description);
    assert.deepEqual(t.inputSchema, a.schema);
  }
  assert.deepEqual(Object.keys(await aiTools(rail, { actions: ['money.refund'] })), ['money_refund']);
  await assert.rejects(aiTools(rail, { actions: ['money.nope'] }), (e) => e.code === 'unknown_action');
});

test('an allowed refund executes once and the model reads its result', async () => {
  const p = pid();
  const { result, outputs } = await runAgent([
    call('money_refund', { payment_id: p, amount: 500, currency: 'usd' }),
    say('Refunded 5.00 usd.'),
  ]);
  assert.equal(result.text, 'Refunded 5.00 usd.');
  assert.equal(outputs.length, 1);
  assert.equal(outputs[0].type, 'text');
  const answer = JSON.parse(outputs[0].value);
  assert.equal(answer.status, 200);
  assert.match(answer.receipt_id, /^rct_/);
  assert.equal((await received(demo, p)).length, 1);
});

test('a denied refund reaches the model as text it can act on, and the run goes on', async () => {
  const p = pid();
  const { result, outputs } = await runAgent([
    call('money_refund', { payment_id: p, amount: 20000, currency: 'usd' }),
    say('The refund is above the cap; a person has to do it.'),
  ]);
  assert.equal(result.finishReason, 'stop');
  assert.equal(result.text, 'The refund is above the cap; a person has to do it.');
  // What the model was sent after the refusal: the AI SDK's error text of the thrown error.
  assert.deepEqual(outputs.map(({ type, value }) => ({ type, value })), [
    {
      type: 'error-text',
      value:
        'PolicyDenied: policy_denied: denied by policy `refund_cap`. Rules: refund_cap. ' +
        'Calling again with the same request will be refused again.',
    },
  ]);
  // The application sees the error itself.
  const [toolError] = result.steps[0].content.filter((part) => part.type === 'tool-error');
  assert.ok(toolError.error instanceof sdk.PolicyDenied);
  assert.deepEqual(toolError.error.policyIds, ['refund_cap']);
  assert.deepEqual(await received(demo, p), []);
});

test('a schema violation names the field, as the rail found it', async () => {
  const p = pid();
  const { result, outputs } = await runAgent([
    call('money_refund', { payment_id: p, amount: 500, currency: 'USD' }),
    say('done'),
  ]);
  assert.equal(result.text, 'done');
  assert.equal(outputs[0].type, 'error-text');
  assert.match(outputs[0].value, /^SchemaInvalid: schema_invalid: .*\/currency: value does not match/);
  assert.match(outputs[0].value, /Fix the request as described, then call again\.$/);
  assert.deepEqual(await received(demo, p), []);
});

test('a transfer waiting for approval tells the model not to call again', async () => {
  const { result, outputs } = await runAgent([
    call('money_transfer', { from_account: 'acc_ops', to_account: 'acc_vendor', amount: 700, currency: 'usd' }),
    say('The transfer waits for an approval.'),
  ]);
  assert.equal(result.text, 'The transfer waits for an approval.');
  assert.match(outputs[0].value, /^ApprovalPending: approval_pending: the action waits for approval apr_\S+ Rules: transfers_need_approval\. /);
  assert.match(outputs[0].value, /do not call again until then\.$/);
});

test('a tool call sent again (same tool call id) executes once and answers the first result', async () => {
  const p = pid();
  const id = callId();
  const args = { payment_id: p, amount: 300, currency: 'usd' };
  const { result, outputs } = await runAgent([call('money_refund', args, id), call('money_refund', args, id), say('done')]);
  assert.equal(result.text, 'done');
  assert.deepEqual(outputs.map((o) => [o.toolCallId, o.type]), [[id, 'text'], [id, 'text']]);
  assert.equal(outputs[1].value, outputs[0].value); // the same body and receipt id
  assert.equal((await received(demo, p)).length, 1);
});
