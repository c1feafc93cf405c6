// Conformance harness: the fake federation peer ("mallory") — a real SMCP endpoint with its own Ed25519 key, composed
// from conformance/fake-peer/ (identity, route table, hub and participant roles, faults, send behaviour, observation),
// that sends arbitrary signed or broken requests and records + validates every request an instance sends it (spec §4-§10).
import type { Dispatcher } from "undici";
import { createDispatcher, type HttpAnswer } from "../protocol/http-client.ts";
import type { VerifyKey } from "../protocol/keys.ts";
import type { ChannelHead, Event, ServerDiscovery, Transaction } from "../protocol/types.ts";
import { WireRecorder, type WireEntry } from "./wire-log.ts";
import { authHeader, type OutboundOptions } from "./fake-peer/crafting.ts";
import { InstanceDirectory } from "./fake-peer/directory.ts";
import { faultHooks, type ReceiverFaults } from "./fake-peer/faults.ts";
import { FakeHub, type EventExtras, type HubChannel } from "./fake-peer/hub.ts";
import { FakeIdentity } from "./fake-peer/identity.ts";
import { FakeForwarding } from "./fake-peer/forwarding.ts";
import { Observation, type InboundRecord, type StrayRecord } from "./fake-peer/observation.ts";
import { Outbound, sendTogether, type PacedSend } from "./fake-peer/outbound.ts";
import { ownRoutes } from "./fake-peer/own-routes.ts";
import { FakeParticipant, type ParticipantChannel } from "./fake-peer/participant.ts";
import { RouteTable } from "./fake-peer/routes.ts";
import { SendGate, type SendBehaviour } from "./fake-peer/send-behaviour.ts";
import { FakeServer } from "./fake-peer/server.ts";
import { TransactionReceiver } from "./fake-peer/transactions.ts";
import type { ServingCert } from "./tls-material.ts";
import { runTls } from "./tls-transport.ts";

export { FAKE_LIMITS } from "./fake-peer/identity.ts";
export { sendTogether } from "./fake-peer/outbound.ts";
export type { PacedSend } from "./fake-peer/outbound.ts";
export type { InboundRecord, OutboundOptions, ReceiverFaults, SendBehaviour, HubChannel, ParticipantChannel, StrayRecord };

export interface FakePeerOptions {
  /** Wire log shared with the harness (a fresh one by default). */
  recorder?: WireRecorder;
  /** Receiver bugs to plant (the fake then plays a broken instance under test). */
  faults?: ReceiverFaults;
  /** Instances already known (a second identity shares the first one's). */
  directory?: InstanceDirectory;
  dispatcher?: Dispatcher;
  /** Serve HTTPS with this certificate (`null`: plain HTTP); by default as the run does (--tls: the run's fake-peer certificate). */
  tls?: ServingCert | null;
}

export class FakePeer {
  readonly records: InboundRecord[];
  readonly participant: Map<string, ParticipantChannel>;
  readonly hubChannels: Map<string, HubChannel>;
  readonly invitedTo: Set<string>;
  readonly removedFrom: Map<string, number>;
  readonly refuseSubmissions: FakeHub["refuseSubmissions"];
  readonly sendBehaviour: SendBehaviour;
  readonly maxInFlight: Map<string, number>;
  /** Second (third, ...) signing identities started from this one; closed with it, their problems charged with its own. */
  readonly siblings: FakePeer[] = [];
  /** 1.1 forwarded calls: what the fake does with one, and the routes it advertises (fake-peer/forwarding.ts). */
  forwarding!: FakeForwarding;
  /** The check running now (set by the runner), so that a sibling started mid-check weighs its problems against it. */
  private runningCheck: string | undefined;

  private constructor(
    readonly identity: FakeIdentity,
    private readonly directory: InstanceDirectory,
    private readonly outbound: Outbound,
    private readonly hub: FakeHub,
    fakeParticipant: FakeParticipant,
    private readonly gate: SendGate,
    private readonly observation: Observation,
    private readonly server: FakeServer,
    private readonly recorder: WireRecorder,
    private readonly ownsDispatcher: boolean,
  ) {
    this.records = observation.records;
    this.participant = fakeParticipant.channels;
    this.hubChannels = hub.channels;
    this.invitedTo = fakeParticipant.invitedTo;
    this.removedFrom = fakeParticipant.removedFrom;
    this.refuseSubmissions = hub.refuseSubmissions;
    this.sendBehaviour = gate.behaviour;
    this.maxInFlight = gate.maxInFlight;
  }

  /** Starts a fake server answering as `name`, with a fresh key, on 127.0.0.1 and a free port. */
  static async start(name: string, recorder = new WireRecorder(), faults: ReceiverFaults = {}, opts: Omit<FakePeerOptions, "recorder" | "faults"> = {}): Promise<FakePeer> {
    const identity = new FakeIdentity(name);
    const ca = runTls()?.caPem;
    const dispatcher = opts.dispatcher ?? createDispatcher({ connections: 64, ...(ca ? { ca } : {}) });
    const directory = opts.directory ?? new InstanceDirectory(dispatcher);
    const outbound = new Outbound(identity, directory, dispatcher, recorder);
    const hub = new FakeHub(identity, directory, outbound);
    const participant = new FakeParticipant(identity, directory);
    const gate = new SendGate();
    const observation = new Observation();
    const receiver = new TransactionReceiver(participant, hub, gate);
    const forwarding = new FakeForwarding();
    const routes = new RouteTable([...ownRoutes(() => forwarding.forwardsTo), participant.inviteRoute, receiver.route, hub.backfillRoute, hub.leaveRoute, forwarding.route]);
    const server = await FakeServer.listen({ identity, directory, routes, observation, recorder, faults: faultHooks(faults), ...(opts.tls !== undefined ? { tls: opts.tls } : {}) });
    const peer = new FakePeer(identity, directory, outbound, hub, participant, gate, observation, server, recorder, opts.dispatcher === undefined);
    peer.forwarding = forwarding;
    return peer;
  }

  /**
   * A second signing identity: another server name with its own key and server, knowing the same instances and
   * writing to the same wire log (per-origin state — txn_id, call_id, nonce, rate bucket — is per identity).
   */
  async startSibling(name: string, recorder: WireRecorder, faults: ReceiverFaults = {}): Promise<FakePeer> {
    const sibling = await FakePeer.start(name, recorder, faults, { directory: this.directory, dispatcher: this.dispatcher });
    this.siblings.push(sibling);
    if (this.runningCheck) sibling.observation.begin(this.runningCheck);
    return sibling;
  }

  /** This identity and its siblings. */
  get identities(): FakePeer[] {
    return [this, ...this.siblings];
  }

  async close(): Promise<void> {
    await Promise.all(this.siblings.splice(0).map((s) => s.close()));
    await this.server.close();
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  get name(): string {
    return this.identity.name;
  }
  get key(): FakeIdentity["key"] {
    return this.identity.key;
  }
  get url(): string {
    return this.identity.url;
  }
  /** TLS handshakes with its server that failed: a client refused its certificate (adv/tls). */
  get handshakeFailures(): number {
    return this.server.handshakeFailures;
  }
  get dispatcher(): Dispatcher {
    return this.outbound.dispatcher;
  }
  get keyId(): string {
    return this.identity.keyId;
  }
  /** Components it claims (none as the harness's peer; `vikunja` when it plays an instance under test). */
  get components(): string[] {
    return this.identity.components;
  }
  set components(names: string[]) {
    this.identity.components = names;
  }
  /** The protocol versions it plays (spec §14): ["1.0"] by default; `playVersions(["1.0", "1.1"])` plays a 1.1 peer. */
  get versions(): string[] {
    return this.identity.versions;
  }
  playVersions(versions: string[]): void {
    this.identity.versions = [...versions];
  }

  /** Lies in its own discovery document (a malicious peer: small-order key, wrong key ID, wrong server name). */
  get discoveryOverride(): Partial<ServerDiscovery> {
    return this.identity.discoveryOverride;
  }
  set discoveryOverride(lie: Partial<ServerDiscovery>) {
    this.identity.discoveryOverride = lie;
  }
  advertiseKey(publicKey: string): void {
    this.identity.advertiseKey(publicKey);
  }
  discoveryDocument(): ServerDiscovery {
    return this.identity.discoveryDocument();
  }

  /** Lets the fake verify (and reach) an instance under test. */
  addInstance(name: string, baseUrl: string, key: VerifyKey): void {
    this.directory.add(name, baseUrl, key);
  }
  /** Learns an instance from its discovery document (for tests that do not hold its key). */
  discover(name: string, baseUrl: string): Promise<void> {
    return this.directory.discover(name, baseUrl);
  }

  // Outbound: requests the harness makes as this identity.
  send(target: string, opts: OutboundOptions): Promise<HttpAnswer> {
    return this.outbound.send(target, opts);
  }

  /** Sends the requests so that they overlap at `target` (each signed on its own; last-byte sync). */
  sendTogether(target: string, list: OutboundOptions[]): Promise<HttpAnswer[]> {
    return sendTogether(list.map((opts) => this.outbound.paced(target, opts)));
  }

  /** This identity's part of a sendTogether over several identities. */
  paced(target: string, opts: OutboundOptions): PacedSend {
    return this.outbound.paced(target, opts);
  }
  authHeader(target: string, opts: OutboundOptions): string {
    return authHeader(this.identity, target, opts);
  }
  nextTxnId(): string {
    return this.outbound.nextTxnId();
  }
  sendTransaction(target: string, txn: Omit<Transaction, "origin" | "origin_ts">, txnId?: string): Promise<HttpAnswer> {
    return this.outbound.sendTransaction(target, txn, txnId);
  }
  sendInvite(target: string, channel: string): Promise<HttpAnswer> {
    return this.outbound.sendInvite(target, channel);
  }

  // The fake as a hub.
  hubCreate(name: string): HubChannel {
    return this.hub.create(name);
  }
  hubAppend(channel: string, type: string, data: Record<string, unknown>, sender?: string, extra?: EventExtras): Event {
    return this.hub.append(channel, type, data, sender, extra);
  }
  /** 1.1: leave events the fake hub sequenced for members that left on their own (spec §9.8). */
  get hubLeaves(): readonly Event[] {
    return this.hub.leaves;
  }
  hubHead(channel: string, seq?: number): ChannelHead {
    return this.hub.head(channel, seq);
  }
  hubChannel(channel: string): HubChannel {
    return this.hub.channel(channel);
  }

  // How transactions sent to the fake are answered, and what was observed.
  /** With `origin`, the patch applies to that instance's transactions only (checks of two instances side by side). */
  withSendBehaviour<T>(patch: Partial<SendBehaviour>, fn: () => Promise<T>, origin?: string): Promise<T> {
    return this.gate.with(patch, fn, origin);
  }
  waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    return this.observation.waitUntil(cond, timeoutMs);
  }
  /** A check starts (the runner calls this): problems found from now on are weighed against what this check does. */
  beginCheck(checkId: string): void {
    this.runningCheck = checkId;
    for (const p of this.identities) p.observation.begin(checkId);
  }
  /**
   * Problems in requests (to any identity) that the running check caused, since it began; the rest are kept as strays.
   * Reads the running check's wire log (by default from the shared recorder, so call it before the runner rotates
   * that log; checks run side by side pass their logs together).
   */
  takeProblems(wire: WireEntry[] = this.recorder.current): InboundRecord[] {
    this.runningCheck = undefined;
    return this.identities.flatMap((p) => p.observation.takeProblems(wire));
  }
  /** Requests with problems no check was charged with (late traffic of an earlier check, or between checks). */
  strays(): StrayRecord[] {
    return this.identities.flatMap((p) => p.observation.strays);
  }
  /** When this identity first sent `target`, after `since`, a correctly signed request it authenticated (any answer but 401). */
  authenticatedSendAfter(target: string, since: number): number | undefined {
    return this.outbound.authenticatedSendAfter(target, since);
  }
}
