// Protocol primitive (all components): parsing server names, channel IDs and component identities (spec §2).

const HOST = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[1-9][0-9]{0,4})?";
/** Regular-expression source of a server name, shared with the request-signing header grammar. */
export const SERVER_NAME_SOURCE = HOST;

const SERVER_NAME = new RegExp(`^${HOST}$`);
const CHANNEL_ID = new RegExp(`^!([a-z0-9][a-z0-9._-]{0,63}):(${HOST})$`);
const COMPONENT_URI = new RegExp(`^smcp://(${HOST})/([a-z][a-z0-9_-]{0,63})$`);

export function isServerName(text: string): boolean {
  return text.length <= 255 && SERVER_NAME.test(text);
}

/** `!name:server` → its parts, or null. The server part is the channel's hub (spec §2.3). */
export function parseChannelId(id: string): { name: string; hub: string } | null {
  const m = CHANNEL_ID.exec(id);
  return m && m[2]!.length <= 255 ? { name: m[1]!, hub: m[2]! } : null;
}

export function channelId(name: string, hub: string): string {
  return `!${name}:${hub}`;
}

/** `smcp://server/component` → its parts, or null (spec §2.2). */
export function parseComponentUri(uri: string): { server: string; component: string } | null {
  const m = COMPONENT_URI.exec(uri);
  return m ? { server: m[1]!, component: m[2]! } : null;
}

export function componentUri(server: string, component: string): string {
  return `smcp://${server}/${component}`;
}

/** True for addresses where plain HTTP is allowed: the loopback range (spec §6.3). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
