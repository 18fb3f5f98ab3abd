#!/usr/bin/env node
// Measure the SDK's own cost per governed call (not a test; prints numbers).
//
//   node bindings-node/bench/overhead.js path/to/demo.json [N]
//
// 1. local work only: everything `act` does besides waiting for the rail — JSON.stringify,
//    strict parse, JCS + SHA-256, EdDSA permit verification, result JSON.parse + objects —
//    timed in a loop with no network.
// 2. end to end, sequential: `governed` refund against the local rail vs. a bare keep-alive
//    node:http client making the same two requests (intent, execute) with no checks; the
//    difference is the SDK's overhead including its HTTP stack (reqwest on tokio) and the
//    hop between the event loop and the runtime.
// 3. CPU time of this process per governed call (JS + native threads; the rail is another
//    process), from process.cpuUsage().
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const sdk = require(process.env.INTENTRAIL_SDK || '..');

async function perCall(n, f) {
  await f();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f();
  return Number(process.hrtime.bigint() - t0) / n / 1000; // µs
}

function post(agent, base, path, headers, body) {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': data.length } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  const env = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const n = Number(process.argv[3] || 300);
  const rail = new sdk.Rail({ url: env.rail_url, apiKey: env.api_key, agentId: env.agent_id });
  const agent = await rail.agent();
  const jwks = await rail.jwks();
  const params = { payment_id: 'pay_bench', amount: 1, currency: 'usd', reason: 'bench' };
  const permit = await rail.intent('money.refund', params);
  const now = Math.floor(Date.now() / 1000);
  const fake = JSON.stringify({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: { id: 're_1', status: 'succeeded', amount: 1 },
    receipt: { id: 'rct_1', seq: 1, hash: 'sha256:x' },
  });

  const local = await perCall(n * 10, async () => {
    sdk.payloadHash(params);
    sdk.verifyPermit(permit.token, jwks, { audience: agent.audience, issuer: agent.issuer, now });
    return new sdk.Result(JSON.parse(fake));
  });
  console.log(`local work per call (stringify + strict parse + JCS + SHA-256 + EdDSA verify + result): ${local.toFixed(1)} µs`);

  // Interleaved (one SDK call, one bare call, ...) so load and ledger growth hit both alike.
  const refund = sdk.governed(rail, 'money.refund');
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { authorization: `Bearer ${env.api_key}`, 'intentrail-agent': env.agent_id, accept: 'application/json' };
  const bareCall = async (p) => {
    const it = await post(keepAlive, env.rail_url, '/v1/intents', headers, { action: 'money.refund', params: p });
    return post(keepAlive, env.rail_url, '/v1/execute', headers, { permit: it.permit, params: p });
  };
  await refund({ payment_id: 'pay_warm', amount: 1, currency: 'usd' });
  await bareCall({ payment_id: 'pay_warm2', amount: 1, currency: 'usd' });
  const sdkTimes = [];
  const bareTimes = [];
  let cpuSdk = 0;
  let cpuBare = 0;
  for (let i = 0; i < n; i++) {
    let c0 = process.cpuUsage();
    let t0 = process.hrtime.bigint();
    await refund({ payment_id: `pay_b${i}`, amount: 1, currency: 'usd' });
    sdkTimes.push(Number(process.hrtime.bigint() - t0) / 1e3);
    const c = process.cpuUsage(c0);
    cpuSdk += c.user + c.system;
    c0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
    await bareCall({ payment_id: `pay_r${i}`, amount: 1, currency: 'usd' });
    bareTimes.push(Number(process.hrtime.bigint() - t0) / 1e3);
    const cb = process.cpuUsage(c0);
    cpuBare += cb.user + cb.system;
  }
  keepAlive.destroy();
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  const sdkCall = median(sdkTimes);
  const bare = median(bareTimes);
  const cpuPer = cpuSdk / n;
  console.log(`means: SDK ${(mean(sdkTimes) / 1000).toFixed(2)} ms, bare ${(mean(bareTimes) / 1000).toFixed(2)} ms`);
  console.log(`medians: governed call via the SDK ${(sdkCall / 1000).toFixed(2)} ms; bare node:http intent+execute: ${(bare / 1000).toFixed(2)} ms; difference ${((sdkCall - bare) / 1000).toFixed(2)} ms`);
  console.log(`CPU time of this process per call: SDK ${(cpuPer / 1000).toFixed(2)} ms (JS + native threads), bare node:http ${(cpuBare / n / 1000).toFixed(2)} ms`);
}

main().catch((e) => {
  console.error(e instanceof sdk.IntentRailError ? e.message : e);
  process.exit(1);
});
