// The examples of examples/node run against the test's rail, as subprocesses, from a folder
// where `intentrail` resolves to the package under test and `ai` to the AI SDK it resolves.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SDK_PATH, REPO, startDemo, received } = require('./helpers.js');
const { packageDir } = require('./frameworks.js');

const EXAMPLES = path.join(REPO, 'examples', 'node');

let demo;
let dir;
test.before(async () => {
  demo = await startDemo();
  // `import ... from 'intentrail'` resolves through node_modules: link the packages.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-example-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.resolve(SDK_PATH), path.join(dir, 'node_modules', 'intentrail'), 'dir');
  fs.symlinkSync(packageDir('ai'), path.join(dir, 'node_modules', 'ai'), 'dir');
  for (const f of fs.readdirSync(EXAMPLES)) fs.copyFileSync(path.join(EXAMPLES, f), path.join(dir, f));
});
test.after(async () => {
  if (demo) await demo.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Run an example; its output must not hold the API key. */
async function run(example, args, env) {
  const out = await new Promise((resolve) => {
    execFile(process.execPath, [path.join(dir, example), ...args], { env, timeout: 120000 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }),
    );
  });
  assert.equal(out.code, 0, out.stderr.slice(-2000));
  assert.ok(!(out.stdout + out.stderr).includes(demo.apiKey), "the API key appears in the example's output");
  return out.stdout;
}

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INTENTRAIL_')));

test('the refund agent example does an allowed and a denied refund', async () => {
  const stdout = await run('deploy_or_refund_agent.mjs', [demo.envFile], cleanEnv());
  assert.match(stdout, /downstream status 200/);
  assert.match(stdout, /denied by refund_cap/);
  const payment = stdout.split(' on ')[1].split(':')[0];
  assert.ok((await demo.requests()).some((r) => r.body.includes(payment)));
});

test('the refund agent example reads the environment', async () => {
  const env = { ...cleanEnv(), INTENTRAIL_URL: demo.railUrl, INTENTRAIL_API_KEY: demo.apiKey, INTENTRAIL_AGENT_ID: demo.agentId };
  assert.match(await run('deploy_or_refund_agent.mjs', [], env), /denied by refund_cap/);
});

test('the AI SDK agent example refunds once, reads a denial and an approval, and answers', async () => {
  const stdout = await run('refund_agent_ai_sdk.mjs', [demo.envFile], cleanEnv());
  const payment = /payment (pay_\w+)/.exec(stdout)[1];
  const turns = stdout.split(/^customer: /m).slice(1);
  assert.equal(turns.length, 3, stdout);
  const [refund, denied, transfer] = turns;
  assert.match(refund, /calls money_refund .*"amount":2500/);
  assert.match(refund, /rail: \{"status":200,/);
  assert.match(refund, /^agent: Done: the payments API answered 200 \(refund re_\w+\); receipt rct_\w+\.$/m);
  assert.match(denied, /rail refused: policy_denied: denied by policy `refund_cap`\./);
  assert.match(denied, /^agent: I can't do that myself: the policy refund_cap refused it/m);
  assert.match(transfer, /rail refused: approval_pending: the action waits for approval (apr_\w+)\./);
  const approval = /approval (apr_\w+)\./.exec(transfer)[1];
  assert.match(transfer, new RegExp(`^agent: The transfer waits for a person's approval \\(${approval}, transfers_need_approval\\)`, 'm'));
  assert.equal((await received(demo, payment)).length, 1); // the allowed refund, once
});
