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

/** Copy usage.ts into a fresh folder where `intentrail` is the package under test, with
 * @types/node (the test setup's, next to typescript) or with no type package at all, and run
 * `tsc --noEmit` (strict, no skipLibCheck). */
function typeCheck(withNodeTypes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-ts-'));
  try {
    fs.copyFileSync(path.join(__dirname, 'types', 'usage.ts'), path.join(dir, 'usage.ts'));
    const config = JSON.parse(fs.readFileSync(path.join(__dirname, 'types', 'tsconfig.json'), 'utf8'));
    assert.equal(config.compilerOptions.skipLibCheck, false);
    config.compilerOptions.types = withNodeTypes ? ['node'] : [];
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(path.resolve(SDK_PATH), path.join(dir, 'node_modules', 'intentrail'), 'dir');
    if (withNodeTypes) {
      const typesNode = path.resolve(path.dirname(tsc()), '..', '..', '@types', 'node');
      assert.ok(fs.existsSync(typesNode), `@types/node not found at ${typesNode}`);
      fs.mkdirSync(path.join(dir, 'node_modules', '@types'));
      fs.symlinkSync(typesNode, path.join(dir, 'node_modules', '@types', 'node'), 'dir');
    }
    try {
      execFileSync(process.execPath, [tsc(), '--noEmit', '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`tsc failed (${withNodeTypes ? 'with' : 'without'} @types/node):\n${e.stdout}${e.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a TypeScript agent using the package type-checks with tsc --noEmit, without @types/node', () => {
  typeCheck(false);
});

test('and with @types/node installed', () => {
  typeCheck(true);
});
