// Write jobhost job types in JavaScript: `defineJobType({...})` with a JSON
// Schema for the config and a `run(config, ctx)` function. `build.js` makes the
// component; `testing.js` runs the job natively in tests.

/** The key naming the job type in every config the host hands over; dropped before `run`. */
export const JOB_TYPE_KEY = 'job_type';

/** Base of the errors a job throws on purpose. */
export class JobError extends Error {}

/** The config does not make sense for this job type; retrying will not help. */
export class InvalidConfig extends JobError {
  constructor(message) { super(message); this.name = 'InvalidConfig'; }
}

/** The job failed while doing its work (a retry policy may try again). */
export class Failed extends JobError {
  constructor(message) { super(message); this.name = 'Failed'; }
}

/** The job saw `ctx.cancelled()` return true and stopped early. */
export class Cancelled extends JobError {
  constructor() { super('cancelled'); this.name = 'Cancelled'; }
}

/** A secret was not given: `reason` is `not-declared`, `not-granted` or `not-set`. */
export class SecretUnavailable extends Failed {
  constructor(name, reason) {
    const hint = {
      'not-declared': 'declare it in defineJobType({ secrets })',
      'not-granted': 'an operator has not approved it for this version',
      'not-set': "the run's tenant has not set it",
    }[reason] ?? reason;
    super(`secret '${name}' is unavailable: ${hint}`);
    this.name = 'SecretUnavailable';
    this.secret = name;
    this.reason = reason;
  }
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const ID = /^[a-z][a-z0-9_]{0,63}$/;

/** What a running job sees: its run and the host's functions for it. */
export class Context {
  #backend;
  constructor(backend, runId, attempt, checkpoint) {
    this.#backend = backend;
    /** Identifier of the run (a UUID in text form). */
    this.runId = runId;
    /** 1 for the first attempt, growing by one on each retry. */
    this.attempt = attempt;
    /** The last checkpoint saved (Uint8Array), when this attempt resumes one. */
    this.checkpoint = checkpoint ?? undefined;
    /** Artefacts added so far; returned with the run's result. */
    this.references = [];
  }
  /** The last checkpoint decoded as JSON, or undefined. */
  resumeFrom() {
    if (!this.checkpoint) return undefined;
    try { return JSON.parse(new TextDecoder().decode(this.checkpoint)); } catch { return undefined; }
  }
  /** Records a log line at `level` (trace, debug, info, warn, error). */
  log(level, message) {
    if (!LEVELS.includes(level)) throw new TypeError(`log level must be one of ${LEVELS.join(', ')}`);
    this.#backend.log(level, String(message));
  }
  debug(message) { this.log('debug', message); }
  info(message) { this.log('info', message); }
  warn(message) { this.log('warn', message); }
  error(message) { this.log('error', message); }
  /** Reports how far the run has got (0 to 100, clamped). */
  progress(percent, message = '') {
    this.#backend.progress(Math.max(0, Math.min(100, Math.trunc(percent) || 0)), String(message));
  }
  /** True once someone asked to cancel this run: stop soon and throw `new Cancelled()`. */
  cancelled() { return this.#backend.cancelled(); }
  /** Saves state (bytes) a later attempt resumes from; replaces the previous one. */
  saveCheckpoint(state) { this.#backend.checkpoint(toBytes(state)); }
  /** Saves a JSON checkpoint; read it back with `resumeFrom()`. */
  saveCheckpointJson(state) { this.saveCheckpoint(JSON.stringify(state)); }
  /** Adds an artefact whose bytes (or UTF-8 text) travel with the result. */
  addInlineReference(name, mediaType, data) {
    this.references.push({ name, mediaType, data: toBytes(data) });
  }
  /** Adds an artefact stored elsewhere (a URL or path). */
  addLocationReference(name, mediaType, location) {
    this.references.push({ name, mediaType, location: String(location) });
  }
  /** The value of a declared secret; throws `SecretUnavailable` when it is not given. */
  secret(name) { return this.#backend.secret(name); }
}

function toBytes(data) {
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError('expected a string, Uint8Array or ArrayBuffer');
}

/**
 * Defines the job type of this component. `spec.config` is the JSON Schema
 * (draft 2020-12) of its config as a plain object; `spec.run(config, ctx)`
 * returns a JSON-encodable result (or a Promise of one).
 */
export function defineJobType(spec) {
  const need = (key, ok, what) => {
    if (!ok(spec[key])) throw new TypeError(`defineJobType: ${key} must be ${what}`);
  };
  need('jobType', (v) => typeof v === 'string' && ID.test(v), 'lowercase letters, digits and _, starting with a letter (at most 64)');
  need('version', (v) => typeof v === 'string' && /^\d+\.\d+\.\d+/.test(v), 'a semantic version such as 1.0.0');
  need('displayName', (v) => typeof v === 'string' && v.trim() !== '', 'a non-empty string');
  need('description', (v) => typeof v === 'string' && v.trim() !== '', 'a non-empty string (operators and agents read it)');
  need('config', (v) => v && typeof v === 'object' && v.type === 'object', 'a JSON Schema object with type "object"');
  need('run', (v) => typeof v === 'function', 'a function (config, ctx) => result');
  const schema = { $schema: 'https://json-schema.org/draft/2020-12/schema', ...spec.config };
  if (spec.examples?.length) schema.examples = spec.examples;
  return Object.freeze({
    ...spec,
    interrupted: spec.interrupted ?? 'restart',
    sideEffects: { readOnly: false, idempotent: false, destructive: false, ...spec.sideEffects },
    secrets: spec.secrets ?? {},
    http: spec.http ?? [],
    schema,
  });
}

/**
 * Runs `job` on the config text the host hands over. Resolves to
 * `{ value }` (the result as JSON text) or `{ error }` (a JobError).
 */
export async function execute(job, configJson, ctx) {
  let config;
  try {
    config = JSON.parse(configJson);
  } catch (e) {
    return { error: new InvalidConfig(`config is not JSON: ${e.message}`) };
  }
  if (config && typeof config === 'object' && !Array.isArray(config)) delete config[JOB_TYPE_KEY];
  try {
    const result = await job.run(config, ctx);
    const value = JSON.stringify(result === undefined ? null : result);
    return { value };
  } catch (e) {
    if (e instanceof JobError) return { error: e };
    ctx.error(String(e?.stack ?? e).slice(0, 4000));
    return { error: new Failed(`${e?.name ?? 'Error'}: ${e?.message ?? e}`) };
  }
}
