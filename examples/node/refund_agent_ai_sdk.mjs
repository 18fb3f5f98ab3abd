#!/usr/bin/env node
// A support agent on the Vercel AI SDK whose tools are the rail's governed actions
// (`intentrail/ai`): an allowed refund, a refund the rail's policy denies, and a transfer that
// waits for a person's approval. The model is the AI SDK's mock (`ai/test`) playing a scripted
// agent that reads every tool answer, so this runs offline; give `generateText` a real model
// (e.g. `openai('gpt-4.1')`) and nothing else changes.
//
//   npm install <repo>/bindings-node ai@7          # intentrail (`npm run build` there first), the AI SDK
//   node refund_agent_ai_sdk.mjs demo.json          # the file `intentrail demo --env-file demo.json` wrote
//   node refund_agent_ai_sdk.mjs                    # or INTENTRAIL_URL, INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID
import { readFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { generateText, stepCountIs } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { Rail } from 'intentrail';
import { aiTools } from 'intentrail/ai';

function connect(argv) {
  if (argv.length > 2) {
    const env = JSON.parse(readFileSync(argv[2], 'utf8'));
    return new Rail({ url: env.rail_url, apiKey: env.api_key, agentId: env.agent_id });
  }
  return Rail.fromEnv();
}

const payment = `pay_${randomBytes(5).toString('hex')}`;

// What the customer asks, and the tool call the scripted model answers it with.
const REQUESTS = [
  ['Please refund 25.00 usd of my order, the item arrived damaged.', 'money_refund', { payment_id: payment, amount: 2500, currency: 'usd', reason: 'damaged item' }],
  ['Actually, refund the whole 200.00 usd.', 'money_refund', { payment_id: payment, amount: 20000, currency: 'usd' }],
  ['Also pay 7.00 usd from acc_ops to the vendor account acc_vendor.', 'money_transfer', { from_account: 'acc_ops', to_account: 'acc_vendor', amount: 700, currency: 'usd' }],
];

/** The scripted model's answer to a tool's answer: it acts on what the rail said. */
function react(output) {
  if (output.type !== 'error-text') {
    const { status, body, receipt_id: receipt } = JSON.parse(output.value);
    return `Done: the payments API answered ${status} (${body.object ?? 'ok'} ${body.id ?? ''}); receipt ${receipt}.`;
  }
  const text = output.value;
  const rules = /Rules: ([^.]+)\./.exec(text)?.[1] ?? 'a rule';
  if (text.includes('policy_denied')) {
    return `I can't do that myself: the policy ${rules} refused it, and asking again would be refused again. ` +
      'A colleague will review the rest of your refund.';
  }
  if (text.includes('approval_pending')) {
    const approval = /approval (apr_\w+)/.exec(text)?.[1];
    return `The transfer waits for a person's approval (${approval}, ${rules}); I won't send it again until then.`;
  }
  return `The request was refused: ${text}`;
}

/** A scripted model: a customer's request gets its tool call, a tool's answer gets `react`. */
function scriptedModel() {
  const usage = { inputTokens: { total: 0, noCache: 0, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 0, text: 0, reasoning: 0 } };
  return new MockLanguageModelV4({
    doGenerate: async ({ prompt }) => {
      const last = prompt.at(-1);
      if (last.role === 'tool') {
        const text = react(last.content[0].output);
        return { content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] };
      }
      const asked = last.content.map((part) => part.text).join('');
      const [, toolName, input] = REQUESTS.find(([request]) => request === asked);
      const call = { type: 'tool-call', toolCallId: `call_${randomUUID()}`, toolName, input: JSON.stringify(input) };
      return { content: [call], finishReason: { unified: 'tool-calls', raw: undefined }, usage, warnings: [] };
    },
  });
}

async function main(rail) {
  const tools = await aiTools(rail);
  const model = scriptedModel();
  console.log(`tools: ${Object.keys(tools).join(', ')}; payment ${payment}`);
  for (const [request] of REQUESTS) {
    console.log(`customer: ${request}`);
    const { text, steps } = await generateText({ model, tools, stopWhen: stepCountIs(4), prompt: request });
    for (const part of steps.flatMap((step) => step.content)) {
      if (part.type === 'tool-call') console.log(`  calls ${part.toolName} ${JSON.stringify(part.input)}`);
      if (part.type === 'tool-result') console.log(`  rail: ${part.output}`);
      if (part.type === 'tool-error') console.log(`  rail refused: ${part.error.message}`);
    }
    console.log(`agent: ${text}`);
  }
}

let rail;
try {
  rail = connect(process.argv);
} catch (e) {
  console.error(
    'usage: refund_agent_ai_sdk.mjs [demo-env.json]  (or set INTENTRAIL_URL, INTENTRAIL_API_KEY, ' +
      `INTENTRAIL_AGENT_ID): ${e.message}`,
  );
  process.exit(2);
}
main(rail).catch((e) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
