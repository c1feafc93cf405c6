// Unit tests of Naomi (event bus): the long-poll read of the control API — answered up to the local_seq a commit
// woke it with, one row read per woken channel, the abort signal made only when the read waits (spec §12.3).
import { describe, expect, it } from "vitest";
import type { Event } from "../../protocol/types.ts";
import { openDatabase, Store } from "../storage/db.ts";
import { Waiters } from "./waiters.ts";

const CHANNEL = "!general:hub.example";

function setup(): { store: Store; waiters: Waiters; commit: (seq: number) => void; reads: () => number } {
  const store = new Store(openDatabase(":memory:"));
  store.insertChannel({ channel: CHANNEL, hub: "hub.example", role: "participant", joined: 1, local_seq: 0, known_seq: 0, created_ts: 0 });
  let rowReads = 0;
  const channel = store.channel.bind(store);
  store.channel = (c) => (rowReads++, channel(c));
  const waiters = new Waiters(store);
  const commit = (seq: number) => {
    store.tx(() => {
      const event = { channel: CHANNEL, seq, event_id: `$e${seq}`, prev_event: seq === 1 ? null : `$e${seq - 1}` } as Event;
      store.insertEvent(event);
      store.setSeqs(CHANNEL, seq, seq);
    });
    waiters.wake([CHANNEL]);
  };
  return { store, waiters, commit, reads: () => rowReads };
}

describe("long-poll reads (spec §12.3)", () => {
  it("answers at once without an abort signal when events are there", async () => {
    const { waiters, commit } = setup();
    commit(1);
    let made = 0;
    const list = await waiters.read(CHANNEL, 0, 10, 1000, () => (made++, new AbortController().signal));
    expect(list.events.map((e) => e.seq)).toEqual([1]);
    expect(list.local_seq).toBe(1);
    expect(made).toBe(0);
  });

  it("wakes every waiting read of a channel with one row read, and answers up to the woken local_seq", async () => {
    const { waiters, commit, reads } = setup();
    const a = waiters.read(CHANNEL, 0, 10, 60_000);
    const b = waiters.read(CHANNEL, 0, 1, 60_000);
    const before = reads();
    commit(1);
    expect(reads() - before).toBe(1);
    expect((await a).events.map((e) => e.seq)).toEqual([1]);
    expect(await b).toMatchObject({ local_seq: 1, events: [{ seq: 1 }] });
    expect(reads() - before).toBe(1);
  });

  it("a read waiting past the new local_seq keeps waiting; an abort answers it with what is committed", async () => {
    const { waiters, commit } = setup();
    const controller = new AbortController();
    const read = waiters.read(CHANNEL, 1, 10, 60_000, () => controller.signal);
    commit(1);
    let settled = false;
    void read.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    controller.abort();
    expect(await read).toEqual({ channel: CHANNEL, events: [], local_seq: 1 });
  });

  it("close answers every waiting read", async () => {
    const { waiters } = setup();
    const read = waiters.read(CHANNEL, 0, 10, 60_000);
    waiters.close();
    expect(await read).toEqual({ channel: CHANNEL, events: [], local_seq: 0 });
  });
});
