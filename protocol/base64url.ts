// Protocol primitive (all components): unpadded base64url (RFC 4648 §5), strict in what it accepts (spec §3).

const ALPHABET = /^[A-Za-z0-9_-]*$/;

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Decodes unpadded base64url, or returns null for anything else: padding, the standard alphabet,
 * whitespace, an impossible length, or non-zero trailing bits (which would let one value have two spellings).
 */
export function decodeBase64Url(text: string, expectedBytes?: number): Buffer | null {
  if (!ALPHABET.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, "base64url");
  if (bytes.toString("base64url") !== text) return null;
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) return null;
  return bytes;
}
