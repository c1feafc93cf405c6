// Conformance harness, TLS runs (`--tls`, spec §6.3): the transport of the run in progress — whether the fake peers
// serve HTTPS and which CA the harness's own clients trust. Scoped to the run's async call tree (AsyncLocalStorage),
// so that every fake peer a check starts (whichever check file it is in) serves HTTPS, and two runs never mix.
import { AsyncLocalStorage } from "node:async_hooks";
import type { RunTls } from "./tls-material.ts";

const current = new AsyncLocalStorage<RunTls>();

/** Runs `fn` (a whole run: its checks and every fake peer they start) over HTTPS with `tls`. */
export function withRunTls<T>(tls: RunTls, fn: () => Promise<T>): Promise<T> {
  return current.run(tls, fn);
}

/** The TLS material of the run in progress; undefined in a plain-HTTP run. */
export function runTls(): RunTls | undefined {
  return current.getStore();
}
