#!/usr/bin/env node
// Generate `native.d.ts` (the types of the native module) with the napi-rs CLI's own type-def
// generator, from the definitions `#[napi]` writes while the crate compiles.
//
//   node scripts/dts.js           write native.d.ts
//   node scripts/dts.js --check   fail if the committed native.d.ts differs (CI)
//
// Why not `napi build --dts`: the CLI always passes `--target <host>`, so cargo builds every
// dependency a second time into target/<triple>/ (measured: see README). Here the crate is
// built with plain `cargo build` into the workspace's usual target/debug, with
// NAPI_TYPE_DEF_TMP_FOLDER set exactly as the CLI sets it, and the CLI's `generateTypeDef`
// turns the intermediate files into the .d.ts — the same output as `napi build --dts`.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { cargoBuild, workspaceRoot } = require('./install.js');

async function main() {
  const check = process.argv.includes('--check');
  const pkgDir = path.resolve(__dirname, '..');
  const root = workspaceRoot();
  if (!root) throw new Error('dts.js runs in the source tree only');
  const { generateTypeDef } = await import('@napi-rs/cli');
  const typeDefDir = fs.mkdtempSync(path.join(os.tmpdir(), 'intentrail-typedef-'));
  try {
    // A new folder each time: napi-build reruns on its change, so the crate recompiles and
    // the macros write their definitions.
    cargoBuild(root, { NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir });
    const { dts } = await generateTypeDef({ typeDefDir, cwd: pkgDir });
    if (!dts.includes('class NativeRail')) throw new Error('the generated type defs are empty: is @napi-rs/cli the same major as the napi crate?');
    const dest = path.join(pkgDir, 'native.d.ts');
    if (check) {
      const committed = fs.existsSync(dest) ? fs.readFileSync(dest, 'utf8') : '';
      if (committed !== dts) {
        fs.writeFileSync(`${dest}.generated`, dts);
        throw new Error(`native.d.ts is out of date: compare with ${dest}.generated (npm run dts)`);
      }
      console.log('native.d.ts is up to date');
    } else {
      fs.writeFileSync(dest, dts);
      console.log(`wrote ${dest}`);
    }
  } finally {
    fs.rmSync(typeDefDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
