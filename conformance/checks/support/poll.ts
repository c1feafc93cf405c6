// Conformance harness, check support: waiting for state an instance reaches asynchronously and offers no long-poll
// for (the optional profiles' records and audit trails, spec §18): re-reads every 50 ms up to a deadline.

/** The probe's first defined, non-false value, or undefined once `timeoutMs` has passed. */
export async function pollFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}
