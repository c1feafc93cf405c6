// Start-up of the TypeScript entry points (reference instance, its vikunja component, the harness): each entry is
// bundled once per state of its sources with esbuild (which tsx already ships) and the bundle is imported, instead
// of compiling ~100 modules one by one through tsx's loader thread on every start — that was about half of an
// instance's start-up CPU, and the conformance run starts instances seven times (issue 16). Without a usable cache
// directory or esbuild, the entry runs through tsx as before.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = process.env.SMCP_BUNDLE_CACHE ?? join(ROOT, "node_modules", ".cache", "smcp-bundle");
/** Bundles of an earlier source state are removed once this old (a process may still be about to import one). */
const STALE_MS = 60 * 60 * 1000;

/** Runs the TypeScript module at `entry` (a file URL), bundled when possible. */
export async function runEntry(entry) {
  const bundle = await bundleFor(fileURLToPath(entry));
  if (bundle) {
    // Stack traces name the TypeScript sources (the bundle carries an inline source map).
    process.setSourceMapsEnabled(true);
    await import(pathToFileURL(bundle).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(entry.href);
}

/** Builds the bundles of `entries` (file URLs) now, e.g. while an image is built; throws when one cannot be built. */
export async function prebuild(entries) {
  for (const entry of entries) if (!(await bundleFor(fileURLToPath(entry)))) throw new Error(`could not bundle ${entry.href}`);
}

/** The path of an up-to-date bundle of `entryPath`, building it when the sources changed; null when it cannot. */
async function bundleFor(entryPath) {
  // SMCP_NO_BUNDLE=1: through tsx, module by module (e.g. to compare start-up or rule the bundler out).
  if (process.env.SMCP_NO_BUNDLE === "1") return null;
  const dir = join(CACHE, sha256(entryPath).slice(0, 16));
  try {
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    if (manifest.key === stateKey(manifest.inputs)) return join(dir, manifest.bundle);
  } catch {
    // No manifest yet, or an input is gone: build.
  }
  try {
    return await build(entryPath, dir);
  } catch {
    return null;
  }
}

/**
 * What a bundle depends on: the toolchain and the content of every source file esbuild read (content, not mtime: a
 * checkout or a copy that keeps times must still rebuild). Hashing ~100 files costs a few milliseconds.
 */
function stateKey(inputs) {
  const h = createHash("sha256").update(`${process.version}\0${esbuildVersion()}\0`);
  for (const file of inputs) h.update(file).update("\0").update(readFileSync(file)).update("\0");
  return h.digest("hex");
}

async function build(entryPath, dir) {
  const esbuild = createRequire(import.meta.url)("esbuild");
  const result = await esbuild.build({
    entryPoints: [entryPath], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external",
    sourcemap: "inline", metafile: true, write: false, logLevel: "silent", absWorkingDir: ROOT, outfile: join(dir, "bundle.mjs"),
    plugins: [ownMetaUrl],
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => resolve(ROOT, p)).sort();
  const key = stateKey(inputs);
  const name = `${key.slice(0, 16)}.mjs`;
  mkdirSync(dir, { recursive: true });
  atomicWrite(join(dir, name), result.outputFiles[0].contents);
  atomicWrite(join(dir, "manifest.json"), JSON.stringify({ entry: entryPath, key, bundle: name, inputs }));
  prune(dir, name);
  pruneGone();
  return join(dir, name);
}

/** Files that locate their neighbours (schemas, package.json, the vikunja server) keep their own import.meta.url. */
const ownMetaUrl = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
      loader: "ts",
    }));
  },
};

function atomicWrite(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function prune(dir, keep) {
  for (const f of readdirSync(dir)) {
    if (f === keep || f === "manifest.json") continue;
    const p = join(dir, f);
    try {
      if (Date.now() - statSync(p).mtimeMs > STALE_MS) rmSync(p, { force: true });
    } catch {
      // Another process pruned it first.
    }
  }
}

/** Cache folders of entries that no longer exist (scratch copies of the mutation runner) are removed. */
function pruneGone() {
  for (const d of readdirSync(CACHE)) {
    try {
      const { entry } = JSON.parse(readFileSync(join(CACHE, d, "manifest.json"), "utf8"));
      if (!existsSync(entry)) rmSync(join(CACHE, d), { recursive: true, force: true });
    } catch {
      // Being written by another process, or already gone.
    }
  }
}

function esbuildVersion() {
  return createRequire(import.meta.url)("esbuild/package.json").version;
}

function sha256(text) {
  return createHash("sha256").update(text).digest("hex");
}
