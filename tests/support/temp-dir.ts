// Test support (all components): throw-away data directories under the OS temp dir.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `smcp-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
