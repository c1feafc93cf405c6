// Conformance harness: the per-check wire log (every request/response the harness saw), like Autobahn's per-case log.
import { AsyncLocalStorage } from "node:async_hooks";

export interface WireEntry {
  /** `out`: the harness sent it; `in`: an instance under test sent it to the fake peer. */
  dir: "out" | "in";
  /** Which connection: `control@alice`, `federation@bob`, `fake-peer<-alice`... */
  via: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  status?: number;
  response?: string;
  ms?: number;
  /** Schema or protocol problems found in this message. */
  problems?: string[];
}

const MAX_TEXT = 2048;

/** Keeps logs readable: large bodies (e.g. the oversized-body check) are cut, with their size noted. */
export function clip(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= MAX_TEXT) return text;
  return `${text.slice(0, MAX_TEXT)}… (${text.length} chars)`;
}

export function bodyText(body: Uint8Array | string | undefined): string | undefined {
  if (body === undefined) return undefined;
  const text = typeof body === "string" ? body : Buffer.from(body).toString("utf8");
  return clip(text);
}

/** A log being written by one check that runs alongside another: what it sends, and the inbound traffic `accepts` claims. */
interface Capture {
  log: WireEntry[];
  accepts: (entry: WireEntry) => boolean;
}

/**
 * The per-check wire log. Checks usually run one at a time and the runner points `current` at the running one's log;
 * checks the runner runs together (a check's @alice and @bob halves) each write to their own log — what a check sends
 * by its async context, what instances send the fake peer (no check's context) by the log that `accepts` it.
 */
export class WireRecorder {
  private shared: WireEntry[] = [];
  private readonly maxEntries = 400;
  private readonly scope = new AsyncLocalStorage<Capture>();
  private readonly captures = new Set<Capture>();

  /** The log entries go to here: the calling check's own while it runs alongside another, else the shared one. */
  get current(): WireEntry[] {
    return this.own()?.log ?? this.shared;
  }

  record(entry: WireEntry): void {
    const own = this.own();
    if (own || this.captures.size === 0) return append(own?.log ?? this.shared, entry, this.maxEntries);
    // Outside every check's context (an instance's request to the fake peer): the log that claims it, or every one.
    const claimed = [...this.captures].filter((c) => c.accepts(entry));
    for (const c of claimed.length > 0 ? claimed : this.captures) append(c.log, entry, this.maxEntries);
  }

  /**
   * A log of its own for a check that runs alongside others: `run` writes what its function sends there, and inbound
   * traffic `accepts` claims goes there until `close`.
   */
  capture(accepts: (entry: WireEntry) => boolean): { log: WireEntry[]; run<T>(fn: () => Promise<T>): Promise<T>; close(): void } {
    const c: Capture = { log: [], accepts };
    this.captures.add(c);
    return { log: c.log, run: (fn) => this.scope.run(c, fn), close: () => void this.captures.delete(c) };
  }

  /**
   * The capture of the calling context while it is running. A context that outlives its capture (a server or timer a
   * check started) writes as if outside every check.
   */
  private own(): Capture | undefined {
    const c = this.scope.getStore();
    return c && this.captures.has(c) ? c : undefined;
  }

  /** Starts a fresh log for the next check and returns the finished one. */
  rotate(): WireEntry[] {
    const done = this.shared;
    this.shared = [];
    return done;
  }
}

function append(log: WireEntry[], entry: WireEntry, max: number): void {
  if (log.length < max) log.push(entry);
  else if (log.length === max) log.push({ dir: entry.dir, via: entry.via, method: "…", url: "(further wire entries omitted)" });
}
