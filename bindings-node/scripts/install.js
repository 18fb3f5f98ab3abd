#!/usr/bin/env node
// npm `prepare` script of the `intentrail` package (runs on `npm install` in this folder and
// before `npm pack`): make sure `intentrail.<platform>.node`
// sits next to index.js.
//
// - A packed tarball (`npm pack`) already carries the prebuilt module: it is loaded once to
//   check it, and nothing is built.
// - From the source tree (`npm install ./bindings-node`, or `npm run build`), it runs
//   `cargo build -p intentrail-node` in the workspace — the same target dir (`target/debug`)
//   every other cargo command of the workspace uses, so nothing is built twice — and copies
//   the cdylib, debug info stripped, as `intentrail.<platform>.node`.
//
// Flags: --force (rebuild even if a module loads). Env: INTENTRAIL_NODE_RELEASE=1 builds
// with --release.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const { platformArchABI } = require('../platform.js');

// Same per-package optimisation as the Python wheel (bindings-python/pyproject.toml): EdDSA
// verification is ~100x slower unoptimised. Same settings = shared artifacts in target/debug.
const OPT = [
  'profile.dev.package.curve25519-dalek.opt-level=3',
  'profile.dev.package.ed25519-dalek.opt-level=3',
  'profile.dev.package.sha2.opt-level=3',
  'profile.dev.package.intentrail-core.opt-level=3',
];

function loads(file) {
  try {
    require(file);
    return true;
  } catch {
    return false;
  }
}

function workspaceRoot() {
  const root = path.resolve(pkgDir, '..');
  const manifest = path.join(root, 'Cargo.toml');
  if (!fs.existsSync(path.join(pkgDir, 'Cargo.toml')) || !fs.existsSync(manifest)) return null;
  return /^\s*\[workspace\]/m.test(fs.readFileSync(manifest, 'utf8')) ? root : null;
}

/** Build the cdylib with cargo; return the path cargo reports for it. */
function cargoBuild(root, extraEnv = {}) {
  const args = ['build', '-p', 'intentrail-node', '--message-format=json-render-diagnostics'];
  if (process.env.INTENTRAIL_NODE_RELEASE === '1') args.push('--release');
  for (const c of OPT) args.push('--config', c);
  const r = spawnSync('cargo', args, {
    cwd: root,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`cannot run cargo: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`cargo build -p intentrail-node failed (exit ${r.status})`);
  let lib = null;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      continue;
    }
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'intentrail_node') {
      lib = (msg.filenames || []).find((f) => /\.(so|dylib|dll)$/.test(f)) || lib;
    }
  }
  if (!lib) throw new Error('cargo did not report the intentrail_node cdylib');
  return lib;
}

/** Copy `lib` to `dest` atomically, debug info stripped when `strip` is available. */
function install(lib, dest) {
  const tmp = `${dest}.${process.pid}.tmp`;
  const s = spawnSync('strip', ['--strip-debug', '-o', tmp, lib], { stdio: 'ignore' });
  if (s.status !== 0) fs.copyFileSync(lib, tmp);
  fs.renameSync(tmp, dest);
}

function main() {
  const force = process.argv.includes('--force');
  const abi = platformArchABI();
  const dest = path.join(pkgDir, `intentrail.${abi}.node`);
  if (!force && fs.existsSync(dest) && loads(dest)) return;
  const root = workspaceRoot();
  if (!root) {
    throw new Error(
      `intentrail: no prebuilt native module for ${abi} in this package, and no Rust ` +
        'workspace to build it from. Install from a tarball packed on this platform, or from ' +
        'the source tree (npm install <repo>/bindings-node).',
    );
  }
  const lib = cargoBuild(root);
  install(lib, dest);
  if (!loads(dest)) throw new Error(`intentrail: the built module ${dest} does not load`);
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

module.exports = { cargoBuild, workspaceRoot, OPT };
