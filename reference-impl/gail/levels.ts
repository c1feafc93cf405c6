// Gail (log aggregation, spec §18.2): log level names and their pino numbers, lowest first.
import type { GailLevel } from "../../protocol/types.ts";

export const LEVELS: Record<GailLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export function levelNumber(level: GailLevel): number {
  return LEVELS[level];
}

/** The name of a pino level number (a custom number maps to the highest named level at or below it). */
export function levelName(n: number): GailLevel {
  let best: GailLevel = "trace";
  for (const [name, value] of Object.entries(LEVELS) as Array<[GailLevel, number]>) if (n >= value) best = name;
  return best;
}
