// Gail (log aggregation, spec §18.2 GAIL-05..GAIL-08): a pino destination that turns the instance's own log lines into
// records — filtered by level and component, bounded and redacted — and queues them in the outbox before anything else sees them.
import type { GailLevel } from "../../protocol/types.ts";
import { levelName, levelNumber } from "./levels.ts";
import type { QueuedRecord } from "./outbox.ts";
import type { Redactor } from "./redaction.ts";

/** Members of a pino line that are the record's own fields, not `fields`. */
const ENVELOPE = new Set(["level", "time", "msg", "server", "svc", "component"]);
const COMPONENT = /^[a-z][a-z0-9_-]{0,63}$/;
/** GAIL-06: one record's `fields`, in JSON bytes, at most. */
export const MAX_FIELDS_BYTES = 8192;

export interface TapFilter {
  minLevel: GailLevel;
  /** Empty: every component. */
  components: readonly string[];
}

export class LogTap {
  private filter: TapFilter | undefined;

  constructor(
    private readonly redactor: () => Redactor,
    private readonly enqueue: (record: QueuedRecord) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Forwarding on (with this filter) or off (undefined). */
  setFilter(filter: TapFilter | undefined): void {
    this.filter = filter;
  }

  /** pino's stream interface: one serialized JSON line per call, synchronously from the logging call. */
  write(line: string): boolean {
    this.take(line);
    return true;
  }

  /** Queues the line's record; false when it was filtered out (or forwarding is off). */
  take(line: string): boolean {
    const f = this.filter;
    if (!f) return false;
    try {
      const raw = JSON.parse(line) as Record<string, unknown>;
      const record = this.toRecord(raw, f);
      if (!record) return false;
      this.enqueue(record);
      return true;
    } catch (err) {
      // A logging call must never throw into the code that logged; the failure is reported to the main log only.
      this.onError(err);
      return false;
    }
  }

  private toRecord(raw: Record<string, unknown>, f: TapFilter): QueuedRecord | undefined {
    const level = typeof raw.level === "number" ? levelName(raw.level) : "info";
    if (levelNumber(level) < levelNumber(f.minLevel)) return undefined;
    const named = typeof raw.component === "string" ? raw.component : typeof raw.svc === "string" ? raw.svc : "instance";
    const component = COMPONENT.test(named) ? named : "instance";
    if (f.components.length > 0 && !f.components.includes(component)) return undefined;
    const redact = this.redactor();
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if (!ENVELOPE.has(k)) rest[k] = v;
    let fields = redact.value(rest) as Record<string, unknown>;
    const fieldsBytes = Buffer.byteLength(JSON.stringify(fields));
    if (fieldsBytes > MAX_FIELDS_BYTES) fields = { truncated: true, fields_bytes: fieldsBytes };
    const ts = typeof raw.time === "number" && Number.isSafeInteger(raw.time) && raw.time >= 0 ? raw.time : Date.now();
    return { ts, level, component, msg: redact.text(typeof raw.msg === "string" ? raw.msg : ""), fields };
  }
}
