// Runs a job natively, as the host would, recording what it did:
//   import { testRun } from 'jobhost-plugin/testing';
//   const out = await testRun(job, { config: { name: 'Ada' } });
//   assert.deepEqual(out.output, { greeting: 'Hello, Ada!' });

import { randomUUID } from 'node:crypto';
import { Context, SecretUnavailable, execute } from './index.js';

/**
 * Runs `job` with `config` (an object or JSON text). Options: `checkpoint`
 * (bytes or string) and `attempt` to resume, `secrets` ({name: value}),
 * `cancelAfter` (ctx.cancelled() answers true after this many calls).
 * Resolves to { output, error, logs, progress, checkpoints, references }.
 */
export async function testRun(job, { config = {}, checkpoint, attempt, secrets = {}, cancelAfter } = {}) {
  const out = { output: undefined, error: undefined, logs: [], progress: [], checkpoints: [], references: [] };
  let checks = 0;
  const backend = {
    log: (level, message) => out.logs.push([level, message]),
    progress: (percent, message) => out.progress.push([percent, message]),
    cancelled: () => cancelAfter !== undefined && ++checks > cancelAfter,
    checkpoint: (state) => out.checkpoints.push(state),
    secret(name) {
      if (!(name in job.secrets)) throw new SecretUnavailable(name, 'not-declared');
      if (!(name in secrets)) throw new SecretUnavailable(name, 'not-set');
      return secrets[name];
    },
  };
  const bytes = typeof checkpoint === 'string' ? new TextEncoder().encode(checkpoint) : checkpoint;
  const ctx = new Context(backend, randomUUID(), attempt ?? (bytes ? 2 : 1), bytes);
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  const { value, error } = await execute(job, text, ctx);
  out.output = value === undefined ? undefined : JSON.parse(value);
  out.error = error;
  out.references = ctx.references;
  out.lastCheckpointJson = () =>
    out.checkpoints.length ? JSON.parse(new TextDecoder().decode(out.checkpoints.at(-1))) : undefined;
  return out;
}
