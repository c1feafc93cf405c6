// Conformance harness: the per-check wire log (every request/response the harness saw), like Autobahn's per-case log.

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

/** Checks run one at a time, so the runner points `current` at the running check's log. */
export class WireRecorder {
  current: WireEntry[] = [];
  private readonly maxEntries = 400;

  record(entry: WireEntry): void {
    if (this.current.length < this.maxEntries) this.current.push(entry);
    else if (this.current.length === this.maxEntries) {
      this.current.push({ dir: entry.dir, via: entry.via, method: "…", url: "(further wire entries omitted)" });
    }
  }

  /** Starts a fresh log for the next check and returns the finished one. */
  rotate(): WireEntry[] {
    const done = this.current;
    this.current = [];
    return done;
  }
}
