// Finds the build tools a job type's project installs (esbuild,
// componentize-js, ts-json-schema-generator): in JOBHOST_JS_TOOLCHAIN, the
// current project or this SDK's node_modules.

import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

/** Imports the installed package `name`, naming the install command when it is missing. */
export async function tool(name, version) {
  const places = [process.env.JOBHOST_JS_TOOLCHAIN, process.cwd(), SDK].filter(Boolean);
  for (const place of places) {
    const entry = await entryOf(name, place);
    if (entry) return await import(pathToFileURL(entry).href);
  }
  throw new Error(
    `${name} is not installed (looked in ${places.join(', ')}); run: npm install --save-dev ${name}@${version}`,
  );
}

