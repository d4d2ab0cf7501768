import type { JobTypeDefinition, JobError, Reference } from './index.js';

export interface TestOutcome<Output = unknown> {
  output: Output | undefined;
  error: JobError | undefined;
  logs: [string, string][];
  progress: [number, string][];
  checkpoints: Uint8Array[];
  references: Reference[];
  lastCheckpointJson<T = unknown>(): T | undefined;
}

export function testRun<Config, Output>(
  job: JobTypeDefinition<Config, Output>,
  options?: {
    config?: Config | string;
    checkpoint?: Uint8Array | string;
    attempt?: number;
    secrets?: Record<string, string>;
    cancelAfter?: number;
  },
): Promise<TestOutcome<Output>>;
