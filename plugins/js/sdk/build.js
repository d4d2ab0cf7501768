#!/usr/bin/env node
// Builds a job type's component:
//   node build.js ./src/job.js -o job.wasm [--wit DIR]
// The module's default export is the `defineJobType(...)` value. It is bundled
// (esbuild, npm imports included) and made a component (componentize-js) for
// jobhost's `job-plugin` world. Both tools are found in JOBHOST_JS_TOOLCHAIN, the
// current project or this SDK's node_modules.

import { mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const COMPONENTIZE_JS = '0.23.0';
export const ESBUILD = '0.25.12';
const SDK = dirname(fileURLToPath(import.meta.url));

/** The ES entry of package `name` installed in a node_modules at or above `place`. */
async function entryOf(name, place) {
  for (let dir = resolve(place); ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name);
    if (existsSync(join(root, 'package.json'))) {
      const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
      const exp = typeof pkg.exports === 'object' ? (pkg.exports['.'] ?? pkg.exports) : pkg.exports;
      const entry = (typeof exp === 'string' ? exp : exp?.import ?? exp?.default) ?? pkg.module ?? pkg.main ?? 'index.js';
      return join(root, typeof entry === 'string' ? entry : entry.default);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

async function tool(name, version) {
  const places = [process.env.JOBHOST_JS_TOOLCHAIN, process.cwd(), SDK].filter(Boolean);
  for (const place of places) {
    const entry = await entryOf(name, place);
    if (entry) return await import(pathToFileURL(entry).href);
  }
  throw new Error(
    `${name} is not installed (looked in ${places.join(', ')}); run: npm install --save-dev ${name}@${version}`,
  );
}

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
