// examples/node/deploy_or_refund_agent.mjs runs against the test's rail, as a subprocess, from
// a folder where `intentrail` resolves to the package under test.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SDK_PATH, REPO, startDemo } = require('./helpers.js');

const EXAMPLE = path.join(REPO, 'examples', 'node', 'deploy_or_refund_agent.mjs');

let demo;
let dir;
test.before(async () => {
  demo = await startDemo();
  // `import ... from 'intentrail'` resolves through node_modules: link the package under test.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-example-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.resolve(SDK_PATH), path.join(dir, 'node_modules', 'intentrail'), 'dir');
  fs.copyFileSync(EXAMPLE, path.join(dir, path.basename(EXAMPLE)));
});
test.after(async () => {
  if (demo) await demo.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function run(args, env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(dir, path.basename(EXAMPLE)), ...args], { env, timeout: 120000 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }),
    );
  });
}

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INTENTRAIL_')));

test('the refund agent example does an allowed and a denied refund', async () => {
  const out = await run([demo.envFile], cleanEnv());
  assert.equal(out.code, 0, out.stderr.slice(-2000));
  assert.match(out.stdout, /downstream status 200/);
  assert.match(out.stdout, /denied by refund_cap/);
  assert.ok(!(out.stdout + out.stderr).includes(demo.apiKey), "the API key appears in the example's output");
  const payment = out.stdout.split(' on ')[1].split(':')[0];
  assert.ok((await demo.requests()).some((r) => r.body.includes(payment)));
});

test('the refund agent example reads the environment', async () => {
  const env = { ...cleanEnv(), INTENTRAIL_URL: demo.railUrl, INTENTRAIL_API_KEY: demo.apiKey, INTENTRAIL_AGENT_ID: demo.agentId };
  const out = await run([], env);
  assert.equal(out.code, 0, out.stderr.slice(-2000));
  assert.match(out.stdout, /denied by refund_cap/);
  assert.ok(!(out.stdout + out.stderr).includes(demo.apiKey), "the API key appears in the example's output");
});
