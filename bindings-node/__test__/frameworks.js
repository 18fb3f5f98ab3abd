// The agent frameworks of the adapter tests (the Vercel AI SDK, LangChain.js), loaded from where
// the SDK under test resolves them, so the adapter and the test share ONE copy of each.
// bindings-node/run-tests.sh installs them next to the SDK; a missing one fails the test.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');
const { SDK_PATH } = require('./helpers.js');

/** Resolves and loads modules as code inside the SDK's folder would (`require` conditions). */
const sdkRequire = createRequire(path.join(path.resolve(SDK_PATH), 'package.json'));

/** `require(spec)` from the SDK's folder (`intentrail/ai` is the package's own entry point). */
function requireFrom(spec) {
  return sdkRequire(spec);
}

let resolver = null;

/** `import(spec)` from where the SDK is installed (`import` conditions): a module written in
 * a temporary folder there resolves it (Node 20 has no `import.meta.resolve(spec, parent)`). */
async function importFrom(spec) {
  if (resolver === null) {
    const home = process.env.INTENTRAIL_TEST_HOME || SDK_PATH;
    const dir = fs.mkdtempSync(path.join(home, '.resolve-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'resolve.mjs'), 'export const resolve = (spec) => import.meta.resolve(spec);\n');
    resolver = (await import(pathToFileURL(path.join(dir, 'resolve.mjs')).href)).resolve;
  }
  return import(resolver(spec));
}

/** The folder of an installed package, as the SDK resolves it. */
function packageDir(name) {
  return path.dirname(sdkRequire.resolve(`${name}/package.json`));
}

/** A fresh tool call id (an idempotency key: unique per call, as a model's are). */
const callId = () => `call_${crypto.randomBytes(8).toString('hex')}`;

module.exports = { requireFrom, importFrom, packageDir, callId };
