// Naomi (event bus): what a committed SQLite transaction leaves to do once it has committed — queue kicks, long-poll
// wake-ups and gap timers (spec §8.3 TXN-13: answered only after everything is stored; §9.4, §12.3).

/** Effects of a committed SQLite transaction that run after commit (after-commit.ts runs them). */
export interface Effects {
  /** Destinations with newly queued events. */
  kicks: Set<string>;
  /** Channels whose local_seq moved: their long-polls wake. */
  advanced: Set<string>;
  /** Participant channels left with a gap: their backfill timer starts. */
  gaps: Set<string>;
}

export function newEffects(): Effects {
  return { kicks: new Set(), advanced: new Set(), gaps: new Set() };
}
