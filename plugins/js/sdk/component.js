// The component's exports bound to a job type: the build's entry module is
//   import job from './your-job.js';
//   export const { describe, run } = bind(job);
// Nothing here runs outside a component.

import * as host from 'jobhost:plugin/host@0.2.0';
import { get as getSecret } from 'jobhost:plugin/secrets@0.2.0';
import { Cancelled, Context, InvalidConfig, SecretUnavailable, execute } from './index.js';

const backend = {
  log: (level, message) => host.log(level, message),
  progress: (percent, message) => host.progress(percent, message),
  cancelled: () => host.cancelled(),
  checkpoint: (state) => host.checkpoint(state),
  secret(name) {
    try {
      return getSecret(name);
    } catch (e) {
      throw new SecretUnavailable(name, e?.payload ?? String(e));
    }
  },
};

function destinations(job) {
  if (job.httpChosenByOperator !== undefined) {
    return { tag: 'operator-chosen', val: String(job.httpChosenByOperator) };
  }
  if (!job.http.length) return { tag: 'none' };
  return {
    tag: 'destinations',
    val: job.http.map(({ url, reason }) => {
      const u = new URL(url);
      if (!['http:', 'https:'].includes(u.protocol) || (u.pathname !== '/' && u.pathname !== '') || u.search) {
        throw new TypeError(`http destination ${url}: a scheme, host and port only`);
      }
      return { scheme: u.protocol.slice(0, -1), host: u.hostname, port: u.port ? Number(u.port) : undefined, reason };
    }),
  };
}

function info(job) {
  return {
    jobType: job.jobType,
    version: job.version,
    displayName: job.displayName,
    description: job.description,
    userFacingDescription: job.userFacingDescription ?? job.description,
    configSchema: JSON.stringify(job.schema),
    creatableOnUi: job.creatableOnUi ?? true,
    creatableByAgent: job.creatableByAgent ?? true,
    visibleOnUi: job.visibleOnUi ?? true,
    limits: {
      timeoutMs: job.timeoutMs === undefined ? undefined : BigInt(job.timeoutMs),
      memoryBytes: job.memoryBytes === undefined ? undefined : BigInt(job.memoryBytes),
    },
    interrupted: job.interrupted,
    capabilities: {
      http: destinations(job),
      secrets: Object.entries(job.secrets).map(([name, description]) => ({ name, description })),
    },
    sideEffects: job.sideEffects,
    retry: job.retry && {
      maxAttempts: job.retry.maxAttempts,
      initialDelayMs: BigInt(job.retry.initialDelayMs ?? 1000),
      multiplier: job.retry.multiplier ?? 2,
      maxDelayMs: BigInt(job.retry.maxDelayMs ?? 60000),
    },
  };
}

function reference(r) {
  const data = r.location !== undefined ? { tag: 'location', val: r.location } : { tag: 'inline', val: r.data };
  return { name: r.name, mediaType: r.mediaType, data };
}

/** The `job-plugin` world's exports for `job`. */
export function bind(job) {
  const described = info(job);
  return {
    describe: () => described,
    async run(config, context) {
      const ctx = new Context(backend, context.runId, context.attempt, context.checkpoint);
      const { value, error } = await execute(job, config, ctx);
      if (!error) return { value, references: ctx.references.map(reference) };
      if (error instanceof InvalidConfig) throw { tag: 'invalid-config', val: error.message };
      if (error instanceof Cancelled) throw { tag: 'cancelled' };
      throw { tag: 'failed', val: error.message };
    },
  };
}
