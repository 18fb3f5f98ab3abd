// `intentrail/langchain` in a LangGraph agent (`createReactAgent`, whose `ToolNode` runs the
// tools), driven by LangChain's own scripted chat model, against the real `intentrail demo`
// rail, through both entry points (`import`: the ES module builds, `require`: the CommonJS
// ones): the model is bound to the rail's schemas, an allowed call runs once, a refusal is an
// error ToolMessage with the rail's text and the graph goes on, and a tool call sent again
// never runs twice.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sdk, startDemo, pid, received } = require('./helpers.js');
const { requireFrom, importFrom, callId } = require('./frameworks.js');

let demo;
let rail;
test.before(async () => {
  demo = await startDemo();
  rail = demo.rail();
});
test.after(async () => {
  if (demo) await demo.stop();
});

/** The frameworks and the adapter, all loaded by `load` (`importFrom` or `requireFrom`). */
async function frameworks(load) {
  const specs = [
    '@langchain/langgraph/prebuilt',
    '@langchain/core/utils/testing',
    '@langchain/core/messages',
    '@langchain/core/tools',
    'intentrail/langchain',
  ];
  const [prebuilt, testing, messages, tools, adapter] = await Promise.all(specs.map((spec) => load(spec)));
  /** LangChain's fake chat model, answering the AI messages of its script in order (its own
   * answers are text only); `bindTools` keeps the tools and returns the model itself. */
  class ScriptedChatModel extends testing.FakeListChatModel {
    bound = [];
    prompts = [];

    bindTools(tools) {
      this.bound = tools;
      return this;
    }

    async _generate(messages, options, runManager) {
      this.prompts.push(messages);
      return super._generate(messages, options, runManager);
    }

    _formatGeneration(message) {
      return { message, text: typeof message.content === 'string' ? message.content : '' };
    }
  }
  return { ...prebuilt, ...messages, StructuredTool: tools.StructuredTool, ...adapter, ScriptedChatModel };
}

for (const [via, load] of [
  ['import', importFrom],
  ['require', requireFrom],
]) {
  let fw;
  const setup = async () => {
    fw ??= await frameworks(load);
    return fw;
  };

  /** An AI message calling one tool. */
  const call = (name, args, id = callId()) => new fw.AIMessage({ content: '', tool_calls: [{ name, args, id, type: 'tool_call' }] });

  /** Run a LangGraph ReAct agent on a model answering `script`; returns the graph's messages,
   * its tool messages, and the model. */
  async function runAgent(script) {
    const model = new fw.ScriptedChatModel({ responses: script });
    const agent = fw.createReactAgent({ llm: model, tools: await fw.langchainTools(rail) });
    const { messages } = await agent.invoke({ messages: [{ role: 'user', content: 'Refund the customer.' }] });
    return { messages, tools: messages.filter((m) => fw.ToolMessage.isInstance(m)), model };
  }

  test(`(${via}) the model is bound to the catalog: tool names, descriptions and the rail's own schemas`, async () => {
    await setup();
    const { model, messages } = await runAgent([new fw.AIMessage('nothing to do')]);
    assert.equal(messages.at(-1).content, 'nothing to do');
    const bound = Object.fromEntries(model.bound.map((t) => [t.name, t]));
    for (const a of (await rail.actions()).actions) {
      const t = bound[sdk.toolName(a.name)];
      assert.ok(t, `no tool for ${a.name}`);
      assert.ok(t instanceof fw.StructuredTool, 'a tool of another @langchain/core copy');
      assert.equal(t.description, a.description);
      assert.deepEqual(t.schema, a.schema);
    }
    assert.deepEqual((await fw.langchainTools(rail, { actions: ['money.refund'] })).map((t) => t.name), ['money_refund']);
  });

  test(`(${via}) an allowed refund executes once; its result is a success ToolMessage`, async () => {
    await setup();
    const p = pid();
    const id = callId();
    const { messages, tools } = await runAgent([call('money_refund', { payment_id: p, amount: 500, currency: 'usd' }, id), new fw.AIMessage('Refunded.')]);
    assert.deepEqual(tools.map((m) => [m.tool_call_id, m.name, m.status]), [[id, 'money_refund', 'success']]);
    const answer = JSON.parse(tools[0].content);
    assert.equal(answer.status, 200);
    assert.match(answer.receipt_id, /^rct_/);
    assert.equal(messages.at(-1).content, 'Refunded.');
    assert.equal((await received(demo, p)).length, 1);
  });

  test(`(${via}) a denied refund is an error ToolMessage the model reads, and the graph goes on`, async () => {
    await setup();
    const p = pid();
    const { messages, tools, model } = await runAgent([
      call('money_refund', { payment_id: p, amount: 20000, currency: 'usd' }),
      new fw.AIMessage('The refund is above the cap; a person has to do it.'),
    ]);
    assert.deepEqual(tools.map((m) => [m.status, m.content]), [
      [
        'error',
        'policy_denied: denied by policy `refund_cap`. Rules: refund_cap. Calling again with the same request will be refused again.',
      ],
    ]);
    // The model's next prompt ends with that message; the graph ended on the model's answer.
    assert.equal(model.prompts.at(-1).at(-1).content, tools[0].content);
    assert.equal(messages.at(-1).content, 'The refund is above the cap; a person has to do it.');
    assert.deepEqual(await received(demo, p), []);
  });

  test(`(${via}) a schema violation names the field, as the rail found it (LangChain does not validate first)`, async () => {
    await setup();
    const p = pid();
    const { messages, tools } = await runAgent([call('money_refund', { payment_id: p, amount: 500, currency: 'USD' }), new fw.AIMessage('done')]);
    assert.equal(tools[0].status, 'error');
    assert.match(tools[0].content, /^schema_invalid: .*\/currency: value does not match/);
    assert.equal(messages.at(-1).content, 'done');
    assert.deepEqual(await received(demo, p), []);
  });

  test(`(${via}) a transfer waiting for approval tells the model not to call again`, async () => {
    await setup();
    const transfer = { from_account: 'acc_ops', to_account: 'acc_vendor', amount: 700, currency: 'usd' };
    const { messages, tools } = await runAgent([call('money_transfer', transfer), new fw.AIMessage('It waits for an approval.')]);
    assert.equal(tools[0].status, 'error');
    assert.match(tools[0].content, /^approval_pending: the action waits for approval apr_\S+ Rules: transfers_need_approval\. /);
    assert.equal(messages.at(-1).content, 'It waits for an approval.');
  });

  test(`(${via}) a tool call run again (a graph re-run, same tool call id) executes once`, async () => {
    await setup();
    const p = pid();
    const id = callId();
    const args = { payment_id: p, amount: 300, currency: 'usd' };
    // ToolNode skips a call already answered in the thread; a re-run after a crash starts over.
    const first = await runAgent([call('money_refund', args, id), new fw.AIMessage('done')]);
    const again = await runAgent([call('money_refund', args, id), new fw.AIMessage('done')]);
    assert.equal(first.tools[0].status, 'success');
    assert.equal(again.tools[0].status, 'success');
    assert.equal(again.tools[0].content, first.tools[0].content); // the first answer, replayed
    assert.equal((await received(demo, p)).length, 1);
  });
}
