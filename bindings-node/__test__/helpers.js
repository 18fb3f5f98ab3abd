// Shared by the tests: the SDK under test, the real `intentrail demo` rail, the demo payments
// API's request log, and a scriptable HTTP proxy in front of the rail.
//
// Env: INTENTRAIL_SDK (the installed package to test; default: this source folder),
// INTENTRAIL_REPO (default: two levels up), INTENTRAIL_BIN (default: <repo>/target/debug/intentrail).
// Connection details hold keys: nothing here prints them.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const SDK_PATH = process.env.INTENTRAIL_SDK || path.resolve(__dirname, '..');
const sdk = require(SDK_PATH);
const REPO = process.env.INTENTRAIL_REPO || path.resolve(__dirname, '..', '..');

function binary() {
  const b = process.env.INTENTRAIL_BIN || path.join(REPO, 'target', 'debug', 'intentrail');
  if (!fs.existsSync(b)) {
    throw new Error(`rail binary ${b} not found: run \`cargo build -p intentrail-server --bin intentrail\` or set INTENTRAIL_BIN`);
  }
  return b;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function getJson(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, body: data ? JSON.parse(data) : null });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** Start `intentrail demo` on free ports; resolves to its connection details. */
async function startDemo() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-node-'));
  const envFile = path.join(tmp, 'demo.json');
  const log = fs.openSync(path.join(tmp, 'rail.log'), 'w');
  const proc = spawn(
    binary(),
    ['demo', '--port', '0', '--no-tour', '--env-file', envFile, '--dir', path.join(tmp, 'work')],
    { stdio: ['ignore', log, log] },
  );
  let exited = null;
  proc.on('exit', (code) => (exited = code));
  const stop = async () => {
    if (exited === null) {
      proc.kill('SIGTERM');
      for (let i = 0; i < 100 && exited === null; i++) await sleep(50);
      if (exited === null) proc.kill('SIGKILL');
    }
    fs.closeSync(log);
  };
  let env = null;
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline && exited === null) {
    try {
      env = JSON.parse(fs.readFileSync(envFile, 'utf8'));
      break;
    } catch {
      await sleep(50);
    }
  }
  if (env === null) {
    await stop();
    const text = fs.readFileSync(path.join(tmp, 'rail.log'), 'utf8');
    const shown = text.split('\n').filter((l) => !/key/i.test(l)).join('\n');
    throw new Error(`the demo rail did not start (exit ${exited}):\n${shown.slice(-3000)}`);
  }
  for (;;) {
    try {
      if ((await getJson(`${env.rail_url}/healthz`)).status === 200) break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await sleep(50);
  }
  return {
    envFile,
    railUrl: env.rail_url,
    apiKey: env.api_key,
    adminKey: env.admin_key,
    agentId: env.agent_id,
    downstreamUrl: env.downstream_url,
    /** What the demo payments API has received so far. */
    async requests() {
      return (await getJson(`${env.downstream_url}/__requests`)).body.requests;
    },
    rail(options = {}) {
      return new sdk.Rail({ url: env.rail_url, apiKey: env.api_key, agentId: env.agent_id, ...options });
    },
    stop,
    // Keep keys out of any printed form of this object.
    [Symbol.for('nodejs.util.inspect.custom')]() {
      return `Demo(${env.rail_url})`;
    },
    toJSON() {
      return { railUrl: env.rail_url };
    },
  };
}

/** A proxy in front of `target`: `rewrite(path, body)` may change JSON request bodies (a
 * tampering rail); `delayMs` is waited before forwarding (with a timer: the event loop stays
 * free); `seen` lists the paths forwarded. */
async function startProxy(target) {
  const t = new URL(target);
  const proxy = { rewrite: null, delayMs: 0, seen: [] };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let body = Buffer.concat(chunks);
      proxy.seen.push(req.url);
      if (proxy.rewrite && body.length) {
        body = Buffer.from(JSON.stringify(proxy.rewrite(req.url, JSON.parse(body.toString('utf8')))));
      }
      if (proxy.delayMs) await sleep(proxy.delayMs);
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers.host;
      delete headers.connection;
      const up = http.request(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers, agent },
        (ur) => {
          const out = [];
          ur.on('data', (c) => out.push(c));
          ur.on('end', () => {
            const data = Buffer.concat(out);
            const h = { ...ur.headers, 'content-length': String(data.length) };
            delete h['transfer-encoding'];
            delete h.connection;
            res.writeHead(ur.statusCode, h);
            res.end(data);
          });
        },
      );
      up.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e.message));
      });
      up.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${server.address().port}`;
  proxy.count = (p) => proxy.seen.filter((s) => s.split('?')[0] === p).length;
  proxy.close = () =>
    new Promise((r) => {
      agent.destroy();
      server.closeAllConnections?.();
      server.close(() => r());
    });
  return proxy;
}

const pid = () => `pay_${crypto.randomBytes(6).toString('hex')}`;

/** The demo API's requests whose body mentions `paymentId`. */
async function received(demo, paymentId) {
  return (await demo.requests()).filter((r) => r.body.includes(paymentId));
}

module.exports = { sdk, SDK_PATH, REPO, startDemo, startProxy, pid, received, sleep, getJson };
