#!/usr/bin/env node
// Builds a job type's component:
//   node build.js ./src/job.js -o job.wasm [--wit DIR]
// The module (JavaScript or TypeScript) default-exports the `defineJobType(...)`
// value. It is bundled (esbuild, npm imports included; TypeScript types are
// stripped, not checked: run `tsc --noEmit` for that) and made a component
// (componentize-js) for jobhost's `job-plugin` world. Both tools are found in
// JOBHOST_JS_TOOLCHAIN, the current project or this SDK's node_modules.

import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tool } from './tools.js';

export const COMPONENTIZE_JS = '0.23.0';
export const ESBUILD = '0.25.12';
const SDK = dirname(fileURLToPath(import.meta.url));

/** Builds the component of `module` into `output`. */
export async function build(module, output, wit) {
  if (!existsSync(join(wit, 'plugin.wit'))) {
    throw new Error(`no plugin.wit in ${wit}; pass --wit DIR (the wit/ of a jobhost checkout)`);
  }
  const [{ componentize }, esbuild] = [
    await tool('@bytecodealliance/componentize-js', COMPONENTIZE_JS),
    await tool('esbuild', ESBUILD),
  ];
  const dir = await mkdtemp(join(tmpdir(), 'jobhost-js-'));
  try {
    const entry = join(dir, 'entry.js');
    await writeFile(
      entry,
      `import job from ${JSON.stringify(resolve(module))};\n` +
        `import { bind } from ${JSON.stringify(join(SDK, 'component.js'))};\n` +
        'export const { describe, run } = bind(job);\n',
    );
    const bundle = join(dir, 'bundle.js');
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      outfile: bundle,
      external: ['jobhost:*', 'wasi:*'],
      alias: { 'jobhost-plugin': SDK },
      logLevel: 'error',
    });
    const { component } = await componentize({
      sourcePath: bundle,
      witPath: resolve(wit, 'plugin.wit'),
      worldName: 'job-plugin',
      // `fetch` stays (outbound HTTP through the host); serving HTTP does not.
      disableFeatures: ['fetch-event'],
    });
    await writeFile(output, component);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function usage(message) {
  console.error(`${message}\nusage: node build.js MODULE -o OUTPUT.wasm [--wit DIR]`);
  process.exit(2);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let module;
  let output;
  let wit = resolve(SDK, '../../../wit');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-o' || args[i] === '--output') output = args[++i];
    else if (args[i] === '--wit') wit = args[++i];
    else if (!module) module = args[i];
    else usage(`unexpected argument ${args[i]}`);
  }
  if (!module || !output) usage('MODULE and -o OUTPUT are required');
  const started = Date.now();
  try {
    await build(module, output, wit);
  } catch (e) {
    console.error(`error: building ${module}: ${e.message ?? e}`);
    process.exit(1);
  }
  const { size } = await stat(output);
  console.log(`built ${output} (${size.toLocaleString('en')} bytes) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
