// Nothing blocks the event loop: many governed calls in flight at once, timers keep ticking.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sdk, startDemo, startProxy, pid } = require('./helpers.js');

let demo;
test.before(async () => {
  demo = await startDemo();
});
test.after(async () => {
  if (demo) await demo.stop();
});

test('200 governed calls in flight at once complete while a timer keeps ticking', async (t) => {
  const rail = demo.rail();
  const refund = sdk.governed(rail, 'money.refund');
  await refund({ payment_id: pid(), amount: 1, currency: 'usd' }); // warm agent + JWKS caches
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const ids = Array.from({ length: 200 }, pid);
  const t0 = performance.now();
  let results;
  try {
    results = await Promise.all(ids.map((p) => refund({ payment_id: p, amount: 1, currency: 'usd' })));
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - t0;
  assert.equal(results.length, 200);
  assert.ok(results.every((r) => r.status === 200));
  const seen = new Set((await demo.requests()).map((r) => JSON.parse(r.body).payment_id));
  assert.ok(ids.every((p) => seen.has(p)));
  t.diagnostic(`200 governed calls in ${ms.toFixed(0)} ms; ${ticks} timer ticks (10 ms interval), longest gap ${maxGap.toFixed(0)} ms`);
  assert.ok(ticks > 5, `only ${ticks} ticks in ${ms.toFixed(0)} ms: the event loop was blocked`);
});

test('slow rail answers overlap: 20 calls take about as long as one', async (t) => {
  const proxy = await startProxy(demo.railUrl);
  t.after(() => proxy.close());
  const slow = new sdk.Rail({ url: proxy.url, apiKey: demo.apiKey, agentId: demo.agentId });
  await slow.agent();
  await slow.jwks(); // each act is then two slow round trips
  proxy.delayMs = 300; // the proxy waits with a timer in THIS event loop
  const refund = sdk.governed(slow, 'money.refund');
  let t0 = performance.now();
  await refund({ payment_id: pid(), amount: 1, currency: 'usd' });
  const one = performance.now() - t0;
  t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: 20 }, () => refund({ payment_id: pid(), amount: 1, currency: 'usd' })));
  const twenty = performance.now() - t0;
  assert.ok(rs.every((r) => r.status === 200));
  t.diagnostic(`one slow governed call ${one.toFixed(0)} ms; 20 at once ${twenty.toFixed(0)} ms`);
  assert.ok(one >= 600);
  assert.ok(twenty < 3 * one, `${twenty} ms for 20 vs ${one} ms for one`);
});
