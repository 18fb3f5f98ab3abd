// A TypeScript file using the package type-checks with `tsc --noEmit` (strict), from a folder
// where `intentrail` resolves to the package under test.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SDK_PATH } = require('./helpers.js');

function tsc() {
  const from = [process.env.INTENTRAIL_TEST_HOME, process.cwd(), path.resolve(__dirname, '..')].filter(Boolean);
  try {
    return require.resolve('typescript/bin/tsc', { paths: from });
  } catch {
    assert.fail(`typescript not found from ${from.join(', ')}: npm install typescript (bindings-node/run-tests.sh does)`);
  }
}

test('a TypeScript agent using the package type-checks with tsc --noEmit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-ts-'));
  try {
    for (const f of ['usage.ts', 'tsconfig.json']) fs.copyFileSync(path.join(__dirname, 'types', f), path.join(dir, f));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(path.resolve(SDK_PATH), path.join(dir, 'node_modules', 'intentrail'), 'dir');
    // @types/node: next to typescript (the test setup's devDependencies).
    const typesNode = path.resolve(path.dirname(tsc()), '..', '..', '@types', 'node');
    assert.ok(fs.existsSync(typesNode), `@types/node not found at ${typesNode}`);
    fs.mkdirSync(path.join(dir, 'node_modules', '@types'));
    fs.symlinkSync(typesNode, path.join(dir, 'node_modules', '@types', 'node'), 'dir');
    try {
      execFileSync(process.execPath, [tsc(), '--noEmit', '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
