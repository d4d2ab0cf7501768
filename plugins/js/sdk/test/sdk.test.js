// The SDK natively: `node --test test/` from plugins/js/sdk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cancelled, Failed, InvalidConfig, defineJobType } from '../index.js';
import { testRun } from '../testing.js';

const base = {
  jobType: 'probe',
  version: '1.0.0',
  displayName: 'Probe',
  description: 'Probes the SDK.',
  config: { type: 'object', properties: { n: { type: 'integer' } }, additionalProperties: false },
};

test('defineJobType checks what it is given, naming the field', () => {
  assert.throws(() => defineJobType({ ...base, jobType: 'Bad-Id', run() {} }), /jobType/);
  assert.throws(() => defineJobType({ ...base, description: ' ', run() {} }), /description/);
  assert.throws(() => defineJobType({ ...base, config: { type: 'array' }, run() {} }), /config/);
  const job = defineJobType({ ...base, examples: [{ n: 1 }], run() {} });
  assert.equal(job.schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.deepEqual(job.schema.examples, [{ n: 1 }]);
});

test('results, errors and thrown values become what the host expects', async () => {
  const job = (run) => defineJobType({ ...base, run });
  assert.deepEqual((await testRun(job(({ n }) => ({ twice: n * 2 })), { config: { n: 2 } })).output, { twice: 4 });
  assert.deepEqual((await testRun(job(async () => 'later'))).output, 'later');
  assert.ok((await testRun(job(() => { throw new InvalidConfig('n: too big'); }))).error instanceof InvalidConfig);
  assert.ok((await testRun(job(() => { throw new Cancelled(); }))).error instanceof Cancelled);
  const bug = await testRun(job(() => null.x));
  assert.ok(bug.error instanceof Failed);
  assert.match(bug.error.message, /^TypeError: /);
  assert.equal(bug.logs[0][0], 'error', 'the stack is logged');
  const notJson = await testRun(job(() => 1), { config: '{' });
  assert.match(notJson.error.message, /config is not JSON/);
});

test('the context records progress, checkpoints, references and secrets', async () => {
  const job = defineJobType({
    ...base,
    secrets: { token: 'a token' },
    run(_, ctx) {
      ctx.progress(150, 'over');
      ctx.saveCheckpointJson({ at: ctx.resumeFrom()?.at ?? 0 });
      ctx.addInlineReference('a.txt', 'text/plain', 'hi');
      return { token: ctx.secret('token'), attempt: ctx.attempt };
    },
  });
  const out = await testRun(job, { secrets: { token: 's3' }, checkpoint: '{"at":5}' });
  assert.deepEqual(out.output, { token: 's3', attempt: 2 });
  assert.deepEqual(out.progress, [[100, 'over']]);
  assert.deepEqual(out.lastCheckpointJson(), { at: 5 });
  assert.equal(new TextDecoder().decode(out.references[0].data), 'hi');
  const missing = await testRun(job);
  assert.match(missing.error.message, /secret 'token' is unavailable: the run's tenant has not set it/);
});

test('schemas generated from TypeScript types become draft 2020-12 and undescribed properties are named', async () => {
  const { toDraft2020, undescribed } = await import('../schema.js');
  const draft07 = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: {
      pair: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }], minItems: 2, additionalItems: false, description: 'A pair.' },
      tree: { $ref: '#/definitions/Tree' },
      list: { type: 'array', items: { type: 'object', properties: { n: { type: 'integer' } } }, description: 'Items.' },
    },
    definitions: { Tree: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/definitions/Tree' } } } } },
  };
  const out = toDraft2020(draft07);
  assert.equal(out.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(Object.keys(out)[0], '$schema');
  assert.deepEqual(out.properties.pair, {
    type: 'array',
    prefixItems: [{ type: 'string' }, { type: 'integer' }],
    minItems: 2,
    items: false,
    description: 'A pair.',
  });
  assert.equal(out.properties.tree.$ref, '#/$defs/Tree');
  assert.equal(out.$defs.Tree.properties.kids.items.$ref, '#/$defs/Tree');
  assert.equal(out.definitions, undefined);
  assert.deepEqual(toDraft2020({ type: 'object', definitions: {} }), {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
  });
  assert.deepEqual(undescribed(out), ['config.tree', 'config.list[].n']);
});
