#!/usr/bin/env node
// Writes the JSON Schema of a TypeScript type, for `defineJobType({ config })`:
//   jobhost-plugin-schema src/config.ts --type Config -o src/config.schema.json
// Descriptions come from the type's doc comments; JSDoc tags add keywords
// (`@minimum 1`, `@maxLength 200`, `@pattern ^[a-z]+$`, `@default 10`,
// `@examples ["a"]`, `@asType integer` for a whole number). Objects refuse
// unknown properties. Uses ts-json-schema-generator (and TypeScript) from the
// project's node_modules; the result is draft 2020-12, like the other SDKs'.

import { writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tool } from './tools.js';

export const TS_JSON_SCHEMA_GENERATOR = '2.4.0';
const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/** The JSON Schema (draft 2020-12) of type `type` exported by `source`. */
export async function schemaOfType(source, type) {
  const generator = await tool('ts-json-schema-generator', TS_JSON_SCHEMA_GENERATOR);
  const createGenerator = generator.createGenerator ?? generator.default?.createGenerator;
  const schema = createGenerator({
    path: resolve(source),
    type,
    topRef: false,
    expose: 'none',
    jsDoc: 'extended',
    additionalProperties: false,
    // Types are checked by `tsc --noEmit`; this reads them only.
    skipTypeCheck: true,
  }).createSchema(type);
  return toDraft2020(schema);
}

/** Rewrites draft-07 output as draft 2020-12: `$defs`, `prefixItems`. */
export function toDraft2020(schema) {
  const walk = (node) => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const out = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === 'definitions') continue;
      if (key === '$ref' && typeof value === 'string') out.$ref = value.replace('#/definitions/', '#/$defs/');
      else if (key === 'items' && Array.isArray(value)) out.prefixItems = walk(value);
      else if (key === 'additionalItems' && Array.isArray(node.items)) out.items = walk(value);
      else out[key] = walk(value);
    }
    const defs = node.definitions;
    if (defs && Object.keys(defs).length) out.$defs = walk(defs);
    return out;
  };
  const { $schema: _draft07, ...rest } = walk(schema);
  return { $schema: DRAFT_2020_12, ...rest };
}

/** Property paths without a description: users and agents would see none. */
export function undescribed(schema, path = 'config') {
  const missing = [];
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const at = `${path}.${name}`;
    if (!property.description) missing.push(at);
    missing.push(...undescribed(property, at));
    if (property.items && typeof property.items === 'object') missing.push(...undescribed(property.items, `${at}[]`));
  }
  return missing;
}

function usage(message) {
  console.error(`${message}\nusage: jobhost-plugin-schema SOURCE.ts --type NAME -o OUTPUT.json`);
  process.exit(2);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let source;
  let type = 'Config';
  let output;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-o' || args[i] === '--output') output = args[++i];
    else if (args[i] === '--type') type = args[++i];
    else if (!source) source = args[i];
    else usage(`unexpected argument ${args[i]}`);
  }
  if (!source || !output || !type) usage('SOURCE, --type and -o OUTPUT are required');
  let schema;
  try {
    schema = await schemaOfType(source, type);
  } catch (e) {
    console.error(`error: the schema of ${type} in ${source}: ${e.message ?? e}`);
    process.exit(1);
  }
  if (schema.type !== 'object') {
    console.error(`error: ${type} in ${source} is not an object type (its schema says type ${JSON.stringify(schema.type)})`);
    process.exit(1);
  }
  for (const path of undescribed(schema)) {
    console.warn(`warning: ${path} has no description (write a doc comment on it: users and agents read it)`);
  }
  await writeFile(output, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${output}: the schema of ${type}`);
}
