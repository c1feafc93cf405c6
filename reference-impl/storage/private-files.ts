// Storage of the reference instance (all SMCP components, spec §4.4 KEY-26): every file the instance writes is
// created, or re-moded, 0600 and every directory it makes 0700, whatever the umask and the data directory's mode.
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, writeSync } from "node:fs";

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Creates `file` empty with mode 0600 if absent; sets 0600 if it exists (data directories of earlier versions). */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, "a", FILE_MODE));
  chmodSync(file, FILE_MODE);
}

/** Sets 0600 on `file` when it exists. */
export function tightenIfPresent(file: string): void {
  if (existsSync(file)) chmodSync(file, FILE_MODE);
}

/** Makes `dir` (and parents) with 0700; a directory this instance owns exclusively is also re-moded 0700. */
export function ensurePrivateDir(dir: string, exclusive: boolean): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  if (exclusive && (statSync(dir).mode & 0o777) !== DIR_MODE) chmodSync(dir, DIR_MODE);
}

/** Writes `data` to `file` atomically (temp file 0600, fsync, rename): a crash leaves the old file or the new one. */
export function writePrivateFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", FILE_MODE);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, FILE_MODE);
  renameSync(tmp, file);
}
