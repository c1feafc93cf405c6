// Conformance harness: the full, ordered check list. Order matters: state-changing checks run where their
// prerequisites put them (e.g. non-peer checks before the fake peer is invited anywhere).
import type { Check } from "../context.ts";
import { memberCalls, nonPeerCall } from "./calls.ts";
import { callRightsChecks } from "./call-rights.ts";
import { forwardingChecks } from "./forwarding.ts";
import { poisonDataChecks } from "./poison-data.ts";
import { hubChecks } from "./hub.ts";
import { edgeChecks, rateLimit } from "./limits.ts";
import { asParticipant, fakePeerRequestsValid, invited } from "./participant.ts";
import { signingChecks } from "./signing.ts";
import { finalIntegrity, successCriteria } from "./success-criteria.ts";
import { beforeMembership, memberTransactions, routing, setupChannel } from "./transactions.ts";
import { controlCallChecks, controlChecks } from "./control.ts";
import { deliveryChecks } from "./delivery.ts";
import { durabilityChecks } from "./durability.ts";
import { controlMemberChecks, controlOrderChecks, documentChecks } from "./documents.ts";
import { jsonChecks } from "./json.ts";
import { keyChecks } from "./keys.ts";
import { registryAsPeer, registryBeforeMembership } from "./registry.ts";
import { removalChecks } from "./removal.ts";
import { identityAsMembers, identityBeforeMembership, rateBucketPerOrigin, setupSecondIdentity, setupSecondMember } from "./identity.ts";
import { hardeningChecks, lateHardeningChecks, privateFiles } from "./hardening.ts";
import { spec101EdgeChecks, spec101HubChecks, spec101LateChecks, spec101MemberChecks } from "./spec-101.ts";
import { afterRemovalChecks } from "./after-removal.ts";
import { batchEventChecks } from "./batch-events.ts";
import { callRelayChecks } from "./call-relay.ts";
import { discoveryCacheChecks } from "./discovery-cache.ts";
import { discoveryServiceChecks } from "./discovery-services.ts";
import { edgeBoundChecks } from "./edge-bounds.ts";
import { jsonEdgeChecks } from "./json-edges.ts";
import { listDefaultChecks } from "./list-defaults.ts";
import { senderNonceChecks } from "./sender-nonces.ts";
import { windowChecks } from "./window.ts";
import { tlsChecks } from "./tls.ts";
import { gailChecks, gailDurabilityChecks } from "./gail.ts";
import { kathyChecks, kathyDurabilityChecks } from "./kathy.ts";
import { judithChecks, judithDurabilityChecks } from "./judith.ts";
import { v11Checks } from "./v11.ts";

export function allChecks(): Check[] {
  const list = [
    ...successCriteria,
    ...controlCallChecks,
    ...signingChecks,
    ...windowChecks,
    ...discoveryServiceChecks,
    ...discoveryCacheChecks,
    ...documentChecks,
    ...edgeChecks,
    ...edgeBoundChecks,
    ...jsonChecks,
    ...hardeningChecks,
    ...spec101EdgeChecks,
    ...keyChecks,
    ...tlsChecks,
    ...setupChannel,
    ...controlChecks,
    ...controlOrderChecks,
    ...routing,
    ...beforeMembership,
    ...nonPeerCall,
    ...callRightsChecks,
    ...forwardingChecks,
    ...registryBeforeMembership,
    ...invited,
    ...setupSecondIdentity,
    ...identityBeforeMembership,
    ...asParticipant,
    ...spec101MemberChecks,
    ...controlMemberChecks,
    ...deliveryChecks,
    ...memberTransactions,
    ...jsonEdgeChecks,
    ...poisonDataChecks,
    ...memberCalls,
    ...setupSecondMember,
    ...identityAsMembers,
    ...listDefaultChecks,
    ...registryAsPeer,
    ...callRelayChecks,
    ...hubChecks,
    ...spec101HubChecks,
    ...batchEventChecks,
    ...removalChecks,
    ...afterRemovalChecks,
    ...rateLimit,
    ...rateBucketPerOrigin,
    ...lateHardeningChecks,
    ...spec101LateChecks,
    ...senderNonceChecks,
    ...v11Checks,
    ...fakePeerRequestsValid,
    ...privateFiles,
    ...judithChecks,
    ...gailChecks,
    ...kathyChecks,
    finalIntegrity,
    ...durabilityChecks,
    ...judithDurabilityChecks,
    ...gailDurabilityChecks,
    ...kathyDurabilityChecks,
  ];
  const seen = new Set<string>();
  for (const c of list) {
    if (seen.has(c.id)) throw new Error(`duplicate check ID ${c.id}`);
    seen.add(c.id);
  }
  return list;
}
