// Paulina (registry) of the reference instance (spec §6.3 DISC-30; issue 10 finding 2): names learned from the
// network never make the instance connect to loopback, private, link-local or otherwise non-public addresses; only
// hosts the operator mapped (test deployments, §6.4) may be such.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NON_PUBLIC.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) {
  NON_PUBLIC.addSubnet(net, bits, "ipv6");
}

/** True for an IP address that is not a public unicast address (IPv4-mapped IPv6 judged as its IPv4). */
export function isNonPublicAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return NON_PUBLIC.check(mapped[1]!, "ipv4");
  const family = isIP(a);
  if (family === 4) return NON_PUBLIC.check(a, "ipv4");
  if (family === 6) return NON_PUBLIC.check(a, "ipv6");
  return false;
}

/** A URL whose host is a non-public IP literal or `localhost` (DNS is not consulted). */
export function isNonPublicLiteral(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || isNonPublicAddress(host);
}

export type Resolver = (hostname: string) => Promise<string[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true }, (err, addrs: LookupAddress[]) => (err ? reject(err) : resolve(addrs.map((a) => a.address)))));

/**
 * A `lookup` for outgoing connections: a hostname resolves only to public addresses, unless `trusted(hostname)` (a
 * host the operator mapped). A name resolving to any non-public address is refused as a whole (no partial answers,
 * which DNS rebinding would exploit).
 */
export function guardedLookup(trusted: (hostname: string) => boolean, resolver: Resolver = systemResolver): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    resolver(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }));
        const blocked = trusted(hostname) ? undefined : addresses.find(isNonPublicAddress);
        if (blocked) {
          return callback(Object.assign(new Error(`${hostname} resolves to non-public ${blocked}: refused (DISC-30)`), { code: "ESMCPBLOCKED" }));
        }
        const list = addresses.map((address) => ({ address, family: isIP(address) }));
        if (options.all) callback(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
      (err: unknown) => callback(err),
    );
  }) as unknown as LookupFunction;
}
