#!/usr/bin/env node
// npm `prepack` and `build` script of the `intentrail` package (runs before `npm pack` and
// `npm publish`, and on `npm run build` in this folder; never on a consumer's install): make
// sure `intentrail.<platform>.node` sits next to index.js.
//
// - A packed tarball (`npm pack`) already carries the prebuilt module: it is loaded once to
//   check it, and nothing is built.
// - In the source tree (`npm pack`, `npm run build` in this folder) it always
//   runs `cargo build -p intentrail-node` (a no-op when current) and copies the cdylib,
//   stripped, as `intentrail.<platform>.node`: the module next to the sources is the one built
//   from them, never a leftover of another profile.
//
// Profile: release (optimized, target/release), because the module built here is the one a
// packed tarball ships. `INTENTRAIL_NODE_PROFILE=dev` builds the dev profile instead, into
// target/debug beside the workspace's tests, with the crypto crates optimized (EdDSA
// verification is ~100x slower unoptimized): for local iteration, never for a tarball.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const { platformArchABI } = require('../platform.js');

// The dev profile's per-package optimisation (INTENTRAIL_NODE_PROFILE=dev).
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

function profile() {
  const p = process.env.INTENTRAIL_NODE_PROFILE || 'release';
  if (p !== 'release' && p !== 'dev') {
    throw new Error(`INTENTRAIL_NODE_PROFILE must be release or dev, not ${JSON.stringify(p)}`);
  }
  return p;
}

/** Build the cdylib with cargo; return the path cargo reports for it. */
function cargoBuild(root, extraEnv = {}) {
  const args = ['build', '-p', 'intentrail-node', '--message-format=json-render-diagnostics'];
  if (profile() === 'release') args.push('--release');
  else for (const c of OPT) args.push('--config', c);
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

/** Copy `lib` to `dest` atomically, stripped when `strip` is available: the symbol table too
 * for release (Node finds the module by its dynamic symbols, which stay), debug info only for
 * dev (panics still name functions). */
function install(lib, dest, buildProfile) {
  const tmp = `${dest}.${process.pid}.tmp`;
  const how = buildProfile === 'release' ? '--strip-unneeded' : '--strip-debug';
  const s = spawnSync('strip', [how, '-o', tmp, lib], { stdio: 'ignore' });
  if (s.status !== 0) fs.copyFileSync(lib, tmp);
  fs.renameSync(tmp, dest);
}

function main() {
  const abi = platformArchABI();
  const dest = path.join(pkgDir, `intentrail.${abi}.node`);
  const root = workspaceRoot();
  if (!root && fs.existsSync(dest) && loads(dest)) return;
  if (!root) {
    throw new Error(
      `intentrail: no prebuilt native module for ${abi} in this package, and no Rust ` +
        'workspace to build it from. Install from a tarball packed on this platform, or from ' +
        'the source tree (npm install <repo>/bindings-node).',
    );
  }
  const lib = cargoBuild(root);
  install(lib, dest, profile());
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
