// Conformance harness: every implementation it starts runs in a process group of its own, so that stopping it stops
// everything it spawned (a `/bin/sh -c` wrapper, a launcher script that forks) — also when the harness is interrupted.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Groups started and not yet seen empty; the `exit` hook kills whatever is left if the harness dies abruptly. */
const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort (uncaught error, process.exit elsewhere): the orderly TERM-then-KILL needs the event loop.
  process.on("exit", () => {
    for (const pgid of live) signalGroup(pgid, "SIGKILL");
  });
}

/** Starts `command` as the leader of a new process group (setsid), in the caller's working directory. */
export function spawnGroup(command: string, args: string[], shell: boolean, cwd = process.cwd()): ChildProcess {
  installExitHook();
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], shell, env: process.env, detached: true });
  if (child.pid !== undefined) live.add(child.pid);
  return child;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is already empty
  }
}

/**
 * Whether any non-zombie process is still in the group. Zombies count as gone: where PID 1 does not reap orphans
 * (as in some containers) they linger, but they hold no port, file or CPU. Linux reads /proc; elsewhere kill(0).
 */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp ... — comm may contain spaces and parentheses, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
  }
  return false;
}

/** Whether one process is alive (and not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // The members of a group are not our children, so no event says they are gone: look every 25 ms, bounded.
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

/** SIGTERM to the whole group, SIGKILL after `graceMs` if anything in it still runs; resolves once it is empty. */
export async function stopGroup(pgid: number, graceMs = 5_000): Promise<void> {
  signalGroup(pgid, "SIGTERM");
  if (!(await until(() => !groupAlive(pgid), graceMs))) {
    signalGroup(pgid, "SIGKILL");
    await until(() => !groupAlive(pgid), 2_000);
  }
  live.delete(pgid);
}

/**
 * SIGKILL to the whole group at once — a crash, not a shutdown: nothing in it gets to flush or clean up. Resolves
 * once the group is empty (bounded); the group stays registered for the orderly stop at the end unless it is empty.
 */
export async function killGroup(pgid: number, timeoutMs = 5_000): Promise<boolean> {
  signalGroup(pgid, "SIGKILL");
  const gone = await until(() => !groupAlive(pgid), timeoutMs);
  if (gone) live.delete(pgid);
  return gone;
}

/** Stops every group still running (the harness's SIGINT/SIGTERM handler). */
export async function stopAllGroups(): Promise<void> {
  await Promise.all([...live].map((pgid) => stopGroup(pgid)));
}
