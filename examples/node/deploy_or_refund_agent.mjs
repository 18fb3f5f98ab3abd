#!/usr/bin/env node
// A small refund agent on IntentRail (Node).
//
// Its tools are governed actions: calling one asks the rail for a permit bound to the exact
// params, checks the permit locally (signature, issuer, audience, action, agent, payload
// hash), and lets the rail execute it. The agent never holds the payments API's key.
//
//   node deploy_or_refund_agent.mjs demo.json   # the file `intentrail demo --env-file demo.json` wrote
//   node deploy_or_refund_agent.mjs             # or INTENTRAIL_URL, INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID
//
// Needs the `intentrail` package: `npm run build` in <repo>/bindings-node, then `npm install
// <repo>/bindings-node` in this folder (or any folder above it).
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Rail, governed, PolicyDenied, IntentRailError } from 'intentrail';

function connect(argv) {
  if (argv.length > 2) {
    const env = JSON.parse(readFileSync(argv[2], 'utf8'));
    return new Rail({ url: env.rail_url, apiKey: env.api_key, agentId: env.agent_id });
  }
  return Rail.fromEnv();
}

let rail;
try {
  rail = connect(process.argv);
} catch (e) {
  console.error(
    'usage: deploy_or_refund_agent.mjs [demo-env.json]  (or set INTENTRAIL_URL, INTENTRAIL_API_KEY, ' +
      `INTENTRAIL_AGENT_ID): ${e.message}`,
  );
  process.exit(2);
}

// The tool, with the metadata an LLM tool-calling API needs (refund.toolDefinition).
const refund = governed(rail, 'money.refund', {
  description: 'Refund (part of) a payment. `amount` is in the currency\'s minor unit (cents).',
  schema: {
    type: 'object',
    properties: {
      payment_id: { type: 'string' },
      amount: { type: 'integer', minimum: 1 },
      currency: { type: 'string', pattern: '^[a-z]{3}$' },
      reason: { type: 'string' },
    },
    required: ['payment_id', 'amount', 'currency'],
    additionalProperties: false,
  },
});

async function main() {
  const payment = `pay_${randomBytes(5).toString('hex')}`;
  console.log(`tool: ${refund.toolDefinition.function.name} -> action ${refund.actionName}`);

  const result = await refund({ payment_id: payment, amount: 2500, currency: 'usd', reason: 'damaged item' });
  console.log(
    `refund of 25.00 usd on ${payment}: downstream status ${result.status}, receipt ${result.receiptId}`,
  );
  console.log(`  downstream answered: ${JSON.stringify(result.body)}`);

  try {
    await refund({ payment_id: payment, amount: 50000, currency: 'usd' });
    console.log('refund of 500.00 usd: unexpectedly allowed');
    return 1;
  } catch (e) {
    if (e instanceof PolicyDenied) {
      console.log(`refund of 500.00 usd: denied by ${e.policyIds.join(', ')} (receipt ${e.receiptId})`);
    } else if (e instanceof IntentRailError) {
      console.log(`refund of 500.00 usd: refused: ${e.message}`);
      return 1;
    } else {
      throw e;
    }
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`error: ${e instanceof IntentRailError ? e.message : e}`);
    process.exit(1);
  },
);
