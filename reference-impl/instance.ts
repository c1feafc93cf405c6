// The reference SMCP instance: composes storage, the HTTP edge, Paulina, Vendela, Naomi, the component host and Roshumba.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pino, type Logger } from "pino";
import type { Dispatcher } from "undici";
import { createDispatcher } from "../protocol/http-client.ts";
import { signingKeyFromSeed, verifyKeyOf } from "../protocol/keys.ts";
import { randomId } from "../protocol/random-id.ts";
import { highestCommon, SUPPORTED_VERSIONS } from "../protocol/versions.ts";
import { ReplayCache } from "../protocol/request-auth.ts";
import { validate } from "../protocol/schemas.ts";
import type { Limits } from "../protocol/types.ts";
import { ComponentHost } from "./components/host.ts";
import { DEFAULTS, fromEnvironment, type InstanceConfig } from "./config.ts";
import { buildRoutes, SMCP_SERVICES } from "./http/routes.ts";
import { HttpServer } from "./http/server.ts";
import { Judith } from "./judith/judith.ts";
import { Naomi } from "./naomi/naomi.ts";
import { guardedLookup } from "./paulina/address-guard.ts";
import { Discovery } from "./paulina/discovery.ts";
import { PaulinaSender } from "./paulina/sender.ts";
import { ForwardConsent } from "./roshumba/forward-consent.ts";
import { ForwardEnvelopeStore } from "./roshumba/forward-envelopes.ts";
import { ForwardOrigin } from "./roshumba/forward-origin.ts";
import { ForwardRoutes } from "./roshumba/forward-routes.ts";
import { Forwarder } from "./roshumba/forwarder.ts";
import { Roshumba } from "./roshumba/router.ts";
import { openDatabase, Store } from "./storage/db.ts";
import { KEY_FILE, loadSeed } from "./storage/key-file.ts";
import { ensurePrivateDir, ensurePrivateFile, FILE_MODE, tightenIfPresent, writePrivateFileAtomic } from "./storage/private-files.ts";
import { Vendela } from "./vendela/vendela.ts";
import { Gail } from "./gail/gail.ts";
import { LEVELS } from "./gail/levels.ts";
import { InstanceSecrets } from "./profiles/instance-secrets.ts";
import { Kathy } from "./kathy/kathy.ts";
import type { GailEmit, GailLevel } from "../protocol/types.ts";

export type { InstanceConfig } from "./config.ts";

export interface Instance {
  serverName: string;
  /** Base URL of the federation and control API. */
  url: string;
  controlToken: string;
  controlTokenFile: string;
  keyId: string;
  store: Store;
  discovery: Discovery;
  naomi: Naomi;
  vendela: Vendela;
  roshumba: Roshumba;
  /** 1.1 forwarded calls: the receiving side (intermediate and destination) and the routes (spec §10.6). */
  forwarder: Forwarder;
  forwardRoutes: ForwardRoutes;
  components: ComponentHost;
  /** The Judith profile (spec §18.1), absent when disabled. */
  judith: Judith | undefined;
  logger: Logger;
  /** The optional profiles (spec §18), when enabled. */
  gail?: Gail;
  kathy?: Kathy;
  /** The HTTP edge (tests count the bytes its sockets read). */
  http: HttpServer;
  /** Stops accepting, finishes in-flight requests, stops components and closes the database. */
  close(): Promise<void>;
}

export async function startInstance(config: InstanceConfig): Promise<Instance> {
  // The limits are advertised as they are enforced (DISC-09): refuse, before touching anything, ones peers would reject.
  const limits = limitsOf(config);
  const limitIssues = validate("Limits", limits);
  if (limitIssues.length > 0) throw new Error(`configured limits are not valid Limits (spec §6.2): ${JSON.stringify(limitIssues)}`);
  const dataDir = resolve(config.dataDir);
  // The data directory may be a bind mount or VOLUME with 0755: its mode is left alone, every file in it is 0600.
  ensurePrivateDir(dataDir, false);
  // Gail's tap (spec §18.2) sees every line the logger writes; it is bound once Gail exists.
  const tap: { gail?: Gail; write(line: string): void } = { write(line) { this.gail?.tap.write(line); } };
  const logger = makeLogger(config, tap);
  const now = config.now ?? Date.now;
  const dbFile = join(dataDir, "smcp.sqlite");
  const store = new Store(openDatabase(dbFile));
  let key;
  let seed: Buffer;
  try {
    seed = loadSeed(join(dataDir, KEY_FILE), store);
    key = signingKeyFromSeed(seed);
  } catch (err) {
    store.close();
    throw err;
  }
  const tokenFile = join(dataDir, "control-token");
  const controlToken = loadControlToken(tokenFile, config.controlToken);
  // DISC-30: hostnames resolve to public addresses only, unless the operator mapped them (the discovery knows which).
  let trusted: (hostname: string) => boolean = () => false;
  const lookup = guardedLookup((h) => trusted(h), config.discovery?.resolve);
  const dispatcher = createDispatcher({ lookup, ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}) });
  const self = config.serverName;
  const discovery = new Discovery({
    self, store, dispatcher, logger: logger.child({ svc: "paulina" }), hosts: config.peers ?? {}, now,
    maxPeers: config.discovery?.maxPeers, fetchDeadlineMs: config.discovery?.deadlineMs,
  });
  trusted = (h) => discovery.isTrustedHostname(h);
  const sender = new PaulinaSender(self, key, discovery, dispatcher);
  let components: ComponentHost | undefined;
  try {
    components = await ComponentHost.start({
      dataDir: privateDir(join(dataDir, "components")), components: config.components ?? [], logger: logger.child({ svc: "components" }),
      includeVikunja: config.includeVikunja ?? true,
    });
  } catch (err) {
    store.close();
    throw err;
  }
  const host = components;
  const versions = config.protocolVersions ?? [...SUPPORTED_VERSIONS];
  const naomi = new Naomi({
    self, key, store, sender, logger: logger.child({ svc: "naomi" }), now, versions,
    peerVersions: (server) => discovery.cached(server)?.versions,
    resolveSender: async (server) => {
      if (server === self) return { key: verifyKeyOf(key), versions };
      const peer = await discovery.discover(server).catch(() => undefined);
      return peer ? { key: peer.key, versions: peer.versions } : null;
    },
    discoverVersions: async (server) => (await discovery.discover(server)).versions,
    hubKey: async (hub) => (await discovery.discover(hub).catch(() => undefined))?.key ?? null,
    hubMaxEventDataBytes: (hub) => discovery.cached(hub)?.limits.max_event_data_bytes,
    destinationLimits: (destination) => discovery.cached(destination)?.limits,
    maxTxnItems: limits.max_txn_items, maxEventDataBytes: limits.max_event_data_bytes,
    queueBound: config.queueBound ?? DEFAULTS.queueBound, inviteAllowList: config.inviteAllowList,
    acceptAllInvites: config.acceptAllInvites,
    maxParticipationsPerHub: config.maxParticipationsPerHub ?? DEFAULTS.maxParticipationsPerHub,
    maxParticipations: config.maxParticipations ?? DEFAULTS.maxParticipations,
    backfillRetryMaxMs: config.backfillRetryMaxMs ?? DEFAULTS.backfillRetryMaxMs,
    backfillGiveUpAfter: config.backfillGiveUpAfter ?? DEFAULTS.backfillGiveUpAfter,
    gapDelayMs: config.gapDelayMs ?? DEFAULTS.gapDelayMs,
    idleBackfillMs: config.idleBackfillMs ?? DEFAULTS.idleBackfillMs, backoffBaseMs: config.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
    backoffMaxMs: config.backoffMaxMs ?? DEFAULTS.backoffMaxMs,
    lingerMs: config.lingerMs ?? fromEnvironment().lingerMs ?? DEFAULTS.lingerMs,
  });
  const vendela = new Vendela({
    self, sender, components: () => host.health(), peers: () => discovery.known().map((p) => p.serverName),
    onPeerUp: (server) => naomi.peerAlive(server), logger: logger.child({ svc: "vendela" }),
    intervalMs: config.pingIntervalMs ?? DEFAULTS.pingIntervalMs, now,
  });
  const callAllow = new Set(config.callAllowList ?? []);
  const consent = new ForwardConsent(config.forwardAllow);
  const forwardRoutes = new ForwardRoutes({ self, configured: config.forwardRoutes, federation: sender, peers: () => discovery.known(), now });
  const forwardOrigin = new ForwardOrigin({
    self, key, skewMs: limits.max_clock_skew_ms, federation: sender, envelopes: new ForwardEnvelopeStore(store.db), now,
    knownPeer: (server) => discovery.cached(server), discover: (server) => discovery.discover(server),
  });
  const roshumba = new Roshumba({
    self, db: store.db, components: host, federation: sender, now, logger: logger.child({ svc: "roshumba" }),
    mayCall: (origin) => mayCall(origin, naomi, callAllow),
    forwarding: { origin: forwardOrigin, routes: forwardRoutes, consent },
  });
  let http: HttpServer | undefined;
  const forwarder = new Forwarder({
    self, key, skewMs: limits.max_clock_skew_ms, consent, routes: forwardRoutes, federation: sender, now,
    logger: logger.child({ svc: "roshumba" }), mayCall: (origin) => mayCall(origin, naomi, callAllow),
    chargeOrigin: (origin) => http?.chargeOrigin(origin), lookupKey: (origin, keyId) => discovery.lookupKey(origin, keyId),
    discover: (server) => discovery.discover(server),
    execute: (origin, call, identity) => roshumba.runForwarded(origin, call, identity),
  });
  const secrets = new InstanceSecrets(controlToken, seed);
  const gail = config.gail?.enabled === false ? undefined : new Gail({
    self, db: store.db, secrets, now,
    channel: (c) => naomi.get(c), read: (...a) => naomi.read(...a), publish: (...a) => naomi.publish(...a),
    queuedFor: (hub) => store.queuedSubmissionCount(hub), hubMaxEventDataBytes: (hub) => discovery.cached(hub)?.limits.max_event_data_bytes,
    log: (e) => emitLine(logger, e), onError: (err, what) => logger.child({ svc: "gail" }).warn({ err: (err as Error).message }, what),
    maxRecordsPerSource: config.gail?.maxRecordsPerSource, forward: config.gail?.forward,
  });
  tap.gail = gail;
  const kathy = config.kathy?.enabled === false ? undefined : new Kathy({
    db: store.db, secrets, channel: (c) => naomi.get(c), read: (...a) => naomi.read(...a), publish: (...a) => naomi.publish(...a),
    onError: (err, what) => logger.child({ svc: "kathy" }).warn({ err: (err as Error).message }, what), subscriptions: config.kathy?.subscriptions,
  });
  const judith = config.judith?.enabled === false ? undefined : new Judith({
    self, db: store.db, now, logger: logger.child({ svc: "judith" }), tickMs: config.judith?.tickMs,
    retry: { baseMs: config.judith?.retryBaseMs ?? 250, maxMs: config.judith?.retryMaxMs ?? 5_000 },
    services: {
      callTool: (req) => roshumba.callRemote(req), channel: (c) => naomi.get(c), channels: () => naomi.list(),
      read: (c: string, after: number, limit: number, waitMs: number, signal?: AbortSignal) => naomi.read(c, after, limit, waitMs, signal), publish: (c, type, data) => naomi.publish(c, type, data),
    },
  });
  let endpoint = config.publicUrl ?? "";
  const tls = config.tlsCertFile && config.tlsKeyFile ? { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) } : undefined;
  http = new HttpServer({
    routes: buildRoutes({
      self, endpoint: () => endpoint, key, limits, now, discovery, naomi, vendela, roshumba: () => roshumba, forwarder: () => forwarder,
      versions, version: highestCommon(versions, SUPPORTED_VERSIONS) ?? "1.0",
      components: () => [...new Set([...SMCP_SERVICES, ...(judith ? ["judith"] : []), ...host.names()])].sort(),
      judith: () => judith,
      profiles: { ...(gail ? { gail } : {}), ...(kathy ? { kathy } : {}) },
    }),
    logger: logger.child({ svc: "http" }),
    maxBodyBytes: limits.max_body_bytes,
    rate: { perSecond: limits.rate_per_second, burst: limits.rate_burst },
    auth: {
      self, now, maxSkewMs: limits.max_clock_skew_ms, replay: new ReplayCache(config.replayCache?.entries, config.replayCache?.perOrigin), notBefore: now(), // SIGN-42: the cache is not persistent
      lookupKey: (origin, keyId, charge) => discovery.lookupKey(origin, keyId, charge),
      onVerified: (origin) => discovery.confirm(origin),
    },
    ...(config.unauthenticatedBudget ? { unauthenticated: config.unauthenticatedBudget } : {}),
    controlToken,
    validateResponses: config.validateResponses ?? process.env.NODE_ENV !== "production",
    tls,
    now,
    ...(config.edge ? { edge: config.edge } : {}),
  });
  let address;
  try {
    address = await http.listen(config.listenHost ?? DEFAULTS.listenHost, config.listenPort ?? DEFAULTS.listenPort);
  } catch (err) {
    await shutdown([], host, dispatcher, store);
    throw err;
  }
  const url = `${tls ? "https" : "http"}://${urlHost(address.address)}:${address.port}`;
  if (!endpoint) endpoint = url;
  naomi.start();
  vendela.start();
  gail?.start();
  kathy?.start();
  judith?.start();
  logger.info({ server_name: self, url, key_id: key.keyId }, "instance listening");
  let closing: Promise<void> | undefined;
  return {
    serverName: self, url, controlToken, controlTokenFile: tokenFile, keyId: key.keyId, store, discovery, naomi, vendela, roshumba,
    forwarder, forwardRoutes, components: host, judith, logger, http, ...(gail ? { gail } : {}), ...(kathy ? { kathy } : {}),
    close: () => (closing ??= (async () => {
      judith?.close();
      tap.gail = undefined;
      await gail?.close();
      await kathy?.close();
      vendela.close();
      naomi.close();
      await http.close();
      await shutdown([], host, dispatcher, store);
      logger.flush?.();
    })()),
  };
}

/** Call policy (spec §10.5 CALL-21): consent comes from the callee — its operator's allow-list, or a channel it hubs. */
export function mayCall(origin: string, naomi: Naomi, allow: Set<string>): boolean {
  return allow.has(origin) || naomi.memberOfOwnChannel(origin);
}

async function shutdown(_: unknown[], host: ComponentHost, dispatcher: Dispatcher, store: Store): Promise<void> {
  await host.close().catch(() => undefined);
  await dispatcher.close().catch(() => undefined);
  store.close();
}

function limitsOf(config: InstanceConfig): Limits {
  return {
    max_body_bytes: config.limits?.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    max_txn_items: config.limits?.maxTxnItems ?? DEFAULTS.maxTxnItems,
    max_event_data_bytes: config.limits?.maxEventDataBytes ?? DEFAULTS.maxEventDataBytes,
    rate_per_second: config.rateLimit?.perSecond ?? DEFAULTS.ratePerSecond,
    rate_burst: config.rateLimit?.burst ?? DEFAULTS.rateBurst,
    max_clock_skew_ms: config.limits?.maxClockSkewMs ?? DEFAULTS.maxClockSkewMs,
  };
}

/** The control token: given, or stored in `<data>/control-token` (mode 0600), or generated there. */
function loadControlToken(file: string, given: string | undefined): string {
  if (given !== undefined && !/^[\x21-\x7e]{32,512}$/.test(given)) {
    throw new Error("the control token must be 32 to 512 printable ASCII characters without spaces (CTRL-39)");
  }
  if (given) {
    writePrivateFileAtomic(file, given + "\n");
    return given;
  }
  if (existsSync(file)) {
    tightenIfPresent(file);
    const text = readFileSync(file, "utf8").trim();
    if (text) return text;
  }
  const token = randomId(32, "hex");
  writePrivateFileAtomic(file, token + "\n");
  return token;
}

/**
 * Logs are written asynchronously (one request line costs ~4 µs, never a blocking write) through a buffer bounded at
 * LOG_BUFFER_BYTES: logs are not durability-critical, so when the disk or stderr cannot keep up, lines over the bound
 * are dropped rather than growing memory or stalling requests. pino flushes the buffer synchronously on exit.
 */
function makeLogger(config: InstanceConfig, tap: { write(line: string): void }): Logger {
  const level = config.logLevel ?? "info";
  const dest = config.logDestination && config.logDestination !== "stderr"
    ? pino.destination({ dest: privateLogFile(config.logDestination), mkdir: true, sync: false, maxLength: LOG_BUFFER_BYTES, mode: FILE_MODE })
    : pino.destination({ dest: 2, sync: false, maxLength: LOG_BUFFER_BYTES });
  if (config.gail?.enabled === false) return pino({ level, base: { server: config.serverName } }, dest);
  // Gail forwards records at its own level (default info), which may be below the local log's: the logger produces
  // the lower of the two, each destination keeps its own ("silent" or another non-level name: nothing locally).
  const gailLevel = config.gail?.forward?.min_level ?? "info";
  const local = Object.hasOwn(LEVELS, level) ? (level as GailLevel) : undefined;
  const lowest = local && LEVELS[local] < LEVELS[gailLevel] ? local : gailLevel;
  const streams = [...(local ? [{ level: local, stream: dest }] : []), { level: "trace" as const, stream: tap }];
  return pino({ level: lowest, base: { server: config.serverName } }, pino.multistream(streams));
}

/** Gail's emit endpoint: one line through the logger, as a component would log it (reserved members stay the logger's). */
function emitLine(logger: Logger, e: GailEmit): void {
  const fields = Object.fromEntries(Object.entries(e.fields ?? {}).filter(([k]) => !["level", "time", "msg", "server", "svc", "component"].includes(k)));
  logger[e.level]({ ...fields, component: e.component }, e.msg);
}

const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

/** A log file is created 0600 (and an existing one re-moded): request lines name peers and addresses. */
function privateLogFile(file: string): string {
  ensurePrivateDir(dirname(resolve(file)), false);
  ensurePrivateFile(file);
  return file;
}

function privateDir(dir: string): string {
  ensurePrivateDir(dir, true);
  return dir;
}

function urlHost(address: string): string {
  if (address === "0.0.0.0" || address === "::") return "127.0.0.1";
  return address.includes(":") ? `[${address}]` : address;
}
