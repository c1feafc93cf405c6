// Judith (spec §18.1.6): the profile's bounds — steps, workflows, runs in flight, input and definition sizes, retention.
export const JUDITH_LIMITS = {
  /** Steps of one workflow (also the schema's maxItems, JDT-05). */
  maxSteps: 32,
  /** Workflows one instance holds (JDT-06). */
  maxWorkflows: 256,
  /** Canonical bytes of one workflow definition (JDT-06). */
  maxDefinitionBytes: 65_536,
  /** Canonical bytes of a run's input (JDT-11). */
  maxInputBytes: 16_384,
  /** Runs in state `running` at once (JDT-12). */
  maxRunsInFlight: 64,
  /** Finished runs kept; the oldest finished beyond this are pruned (JDT-33). */
  maxStoredRuns: 10_000,
  /** Runs of other owners an observer keeps (JDT-33). */
  maxObservedRuns: 4_096,
  /** A step's output is carried in `judith:step.finished` only up to this many canonical bytes (JDT-24). */
  maxEventOutputBytes: 8_192,
  /** Reference nesting and path length (JDT-08). */
  maxReferenceDepth: 16,
  maxPathSegments: 32,
  maxConcatItems: 32,
  maxConcatBytes: 4_096,
} as const;

/** Defaults of the timeouts a definition may leave out (JDT-13). */
export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
export const DEFAULT_RUN_TIMEOUT_MS = 300_000;
/** A call step's single call waits at most the Roshumba ceiling (CALL-16); longer steps retry under the same call_id. */
export const CALL_ATTEMPT_MAX_MS = 30_000;
