// Types of `jobhost-plugin`: write job types in TypeScript with these.

/** A JSON Schema (draft 2020-12) object. */
export type JsonSchema = { [keyword: string]: unknown };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface JobSpec<Config = any, Output = unknown> {
  /** `[a-z][a-z0-9_]*`, at most 64 bytes. */
  jobType: string;
  /** Semantic version, such as `1.0.0`. */
  version: string;
  displayName: string;
  /** What the job does, for operators and agents (required). */
  description: string;
  /** For the people who create jobs of this type (defaults to `description`). */
  userFacingDescription?: string;
  /** JSON Schema of the config: `type: "object"`, with `properties` and
   * `required` (checked when defined). Written by hand, or generated from a
   * TypeScript type by `jobhost-plugin-schema` and imported from its JSON file. */
  config: JsonSchema;
  /** Configs that pass the schema, shown to users and agents. */
  examples?: Config[];
  creatableOnUi?: boolean;
  creatableByAgent?: boolean;
  visibleOnUi?: boolean;
  timeoutMs?: number;
  memoryBytes?: number;
  /** What the host does with a run interrupted by a crash (default `restart`). */
  interrupted?: 'resume' | 'restart' | 'fail';
  /** Destinations it calls with `fetch`: `{ url: 'https://api.example.com', reason }`. */
  http?: { url: string; reason: string }[];
  /** Destinations an operator chooses; the text says what for. */
  httpChosenByOperator?: string;
  /** Secrets it reads: `{ name: description }`. */
  secrets?: Record<string, string>;
  sideEffects?: { readOnly?: boolean; idempotent?: boolean; destructive?: boolean };
  retry?: { maxAttempts: number; initialDelayMs?: number; multiplier?: number; maxDelayMs?: number };
  run(config: Config, ctx: Context): Output | Promise<Output>;
}

export type JobTypeDefinition<Config = any, Output = unknown> = Readonly<JobSpec<Config, Output>> & {
  readonly schema: JsonSchema;
};

export function defineJobType<Config = any, Output = unknown>(
  spec: JobSpec<Config, Output>,
): JobTypeDefinition<Config, Output>;

export interface Reference {
  name: string;
  mediaType: string;
  data?: Uint8Array;
  location?: string;
}

export class Context {
  readonly runId: string;
  readonly attempt: number;
  readonly checkpoint: Uint8Array | undefined;
  readonly references: Reference[];
  resumeFrom<T = unknown>(): T | undefined;
  log(level: LogLevel, message: unknown): void;
  debug(message: unknown): void;
  info(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
  progress(percent: number, message?: unknown): void;
  cancelled(): boolean;
  saveCheckpoint(state: Uint8Array | string): void;
  saveCheckpointJson(state: unknown): void;
  addInlineReference(name: string, mediaType: string, data: Uint8Array | ArrayBuffer | string): void;
  addLocationReference(name: string, mediaType: string, location: string): void;
  secret(name: string): string;
}

export const JOB_TYPE_KEY: 'job_type';
export class JobError extends Error {}
export class InvalidConfig extends JobError {}
export class Failed extends JobError {}
export class Cancelled extends JobError {
  constructor();
}
export class SecretUnavailable extends Failed {
  readonly secret: string;
  readonly reason: 'not-declared' | 'not-granted' | 'not-set';
}
