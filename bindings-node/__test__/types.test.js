// TypeScript files using the package type-check with `tsc --noEmit` (strict, no skipLibCheck),
// from a folder where `intentrail` resolves to the package under test: the main entry (module
// node10, with and without @types/node), and `intentrail/ai` and `intentrail/langchain` with
// the frameworks installed (module nodenext, as ES module and CommonJS applications).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SDK_PATH, REPO } = require('./helpers.js');
const { packageDir } = require('./frameworks.js');

function tsc() {
  const from = [process.env.INTENTRAIL_TEST_HOME, process.cwd(), path.resolve(__dirname, '..')].filter(Boolean);
  try {
    return require.resolve('typescript/bin/tsc', { paths: from });
  } catch {
    assert.fail(`typescript not found from ${from.join(', ')}: npm install typescript (bindings-node/run-tests.sh does)`);
  }
}

/** @types/node of the test setup, next to typescript. */
function typesNode() {
  const dir = path.resolve(path.dirname(tsc()), '..', '..', '@types', 'node');
  assert.ok(fs.existsSync(dir), `@types/node not found at ${dir}`);
  return dir;
}

/** Copy the files of `source` (a folder of __test__/types with its tsconfig.json, edited by
 * `configure`) and the `extra` files (name → text) into a fresh folder whose node_modules links
 * `packages` (name → folder; always `intentrail` → the package under test), and run `tsc
 * --noEmit` there. */
function typeCheck(source, packages, configure = () => {}, extra = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-ts-'));
  try {
    const from = path.join(__dirname, 'types', source);
    const config = JSON.parse(fs.readFileSync(path.join(from, 'tsconfig.json'), 'utf8'));
    assert.equal(config.compilerOptions.skipLibCheck, false);
    assert.equal(config.compilerOptions.strict, true);
    configure(config);
    for (const f of config.files) fs.copyFileSync(path.join(from, f), path.join(dir, f));
    for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), text);
    config.files.push(...Object.keys(extra));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
    for (const [name, target] of Object.entries({ intentrail: path.resolve(SDK_PATH), ...packages })) {
      const link = path.join(dir, 'node_modules', name);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(target, link, 'dir');
    }
    try {
      execFileSync(process.execPath, [tsc(), '--noEmit', '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`tsc failed on ${source}/:\n${e.stdout}${e.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a TypeScript agent using the package type-checks with tsc --noEmit, without @types/node', () => {
  typeCheck('.', {}, (config) => (config.compilerOptions.types = []));
});

test('and with @types/node installed', () => {
  typeCheck('.', { '@types/node': typesNode() }, (config) => (config.compilerOptions.types = ['node']));
});

/** The TypeScript example of the repository's README (its Node section). */
function readmeExample() {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('Node (`bindings-node/`'));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'no TypeScript example in the README\'s Node section');
  return block[1];
}

test('intentrail/ai, intentrail/langchain and the README example type-check with the frameworks, as ES modules and CommonJS', () => {
  const frameworks = ['ai', '@langchain/core', '@langchain/langgraph'];
  const example = readmeExample();
  assert.match(example, /aiTools\(rail\)/);
  typeCheck(
    'frameworks',
    { '@types/node': typesNode(), ...Object.fromEntries(frameworks.map((name) => [name, packageDir(name)])) },
    () => {},
    { 'readme.mts': example },
  );
});
