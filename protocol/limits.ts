// Protocol constants (all components, reference and harness): the defaults the spec names, once (spec §5–§10, §12).
// protocol/limits.test.ts reads each value back out of spec/smcp-federation.md and the OpenAPI `Limits` schema.
import type { Limits } from "./types.ts";

/** The advertised `limits` defaults of the spec §6.2 table (DISC-10, SIGN-26, RATE-02). */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  max_body_bytes: 1_048_576,
  max_txn_items: 100,
  max_event_data_bytes: 65_536,
  rate_per_second: 200,
  rate_burst: 400,
  max_clock_skew_ms: 60_000,
});

/** A fetcher refuses a discovery document larger than this, and gives up a fetch after the timeout (DISC-12). */
export const DISCOVERY_MAX_DOCUMENT_BYTES = 64 * 1024;
export const DISCOVERY_FETCH_TIMEOUT_MS = 10_000;

/** An unknown key ID makes a receiver re-fetch an origin's keys at most once per this interval (KEY-10). */
export const KEY_REFETCH_INTERVAL_MS = 5_000;

/** A failed discovery is cached 1 s after the first consecutive failure, doubling, never more than 1 hour (DISC-17). */
export const DISCOVERY_FAILURE_BACKOFF = Object.freeze({ baseMs: 1_000, maxMs: 3_600_000 });

/** Between attempts of one transaction: 250 ms after the first failure, doubling, at most 30 s (TXN-31). */
export const TXN_RETRY_BACKOFF = Object.freeze({ baseMs: 250, maxMs: 30_000 });

/** Each outbound queue holds at most this many events before the destination is suspended (DLV-04). */
export const OUTBOUND_QUEUE_BOUND = 10_000;

/** Backfill and control event pages: `limit` defaults to 100 and is at most 1000 (DLV-18, CTRL-22). */
export const PAGE_LIMIT_DEFAULT = 100;
export const PAGE_LIMIT_MAX = 1_000;

/** The control API's long-poll `wait_ms` is at most 30 000 (CTRL-22). */
export const LONG_POLL_MAX_WAIT_MS = 30_000;

/** Vendela's recommended interval between pings of each known peer (DISC-27). */
export const DEFAULT_PING_INTERVAL_MS = 10_000;

/** A valid discovery document is cached for `max-age`, capped at 48 hours, and 24 hours without one (DISC-16). */
export const DISCOVERY_CACHE = Object.freeze({ defaultMs: 24 * 3_600_000, maxMs: 48 * 3_600_000 });

/** A participant backfills a joined channel whose hub has sent nothing for this long (DLV-14). */
export const IDLE_BACKFILL_MS = 30_000;

/** A call's effective timeout: its `timeout_ms`, at most and by default 30 000 ms (CALL-16). */
export const CALL_TIMEOUT_MAX_MS = 30_000;
/** The caller waits this much longer than the call's timeout for the HTTP answer (CALL-19). */
export const CALL_ANSWER_MARGIN_MS = 5_000;

/** Transaction results and call outcomes are kept at least 24 hours (TXN-18, CALL-14). */
export const MIN_RESULT_RETENTION_MS = 24 * 3_600_000;

/** 1.1 forwarded calls (spec §10.6): the hop ceiling's maximum (FWD-02) and an envelope's grace past W (FWD-09). */
export const FORWARD_MAX_HOPS = 8;
export const FORWARD_ENVELOPE_GRACE_MS = 60_000;
/** An intermediate's forwarded calls in flight, per envelope origin and in total (FWD-15, reference values). */
export const FORWARD_INFLIGHT_PER_ORIGIN = 8;
export const FORWARD_INFLIGHT_TOTAL = 64;
/** Registry listings an origin fetches to find a route for one call, and how long it keeps each (FWD-35). */
export const FORWARD_ROUTE_PROBES = 4;
export const FORWARD_ROUTE_CACHE_MS = 60_000;
