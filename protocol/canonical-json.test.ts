// Tests of a protocol primitive (all components): RFC 8785 canonical JSON with SMCP's I-JSON limits (spec §3.1).
import canonicalize from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CanonicalJsonError, canonicalBytes, canonicalJson, parseIJson } from "./canonical-json.ts";
import { textWithinDepth, tooDeep } from "./json-depth.ts";

/** Rebuilds every object with its keys in reverse insertion order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
  }
  return value;
}

const safeJson = fc.jsonValue().filter((v) => {
  try {
    canonicalJson(v);
    return true;
  } catch {
    return false;
  }
});

describe("canonical JSON (spec §3.1: RFC 8785 JCS)", () => {
  it("JCS-06: sorts keys by UTF-16 code units at every depth and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [{ z: 0, y: 1 }] } })).toBe('{"a":{"c":[{"y":1,"z":0}],"d":2},"b":1}');
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 although its code point is larger.
    expect(canonicalJson({ "\ufb33": 1, "😀": 2, "€": 3 })).toBe('{"\u20ac":3,"\ud83d\ude00":2,"\ufb33":1}');
  });

  it("JCS-05: escapes only what JSON requires, control characters as lower-case \\u00xx", () => {
    expect(canonicalJson("\u0000\u001f\b\f\n\r\t\"\\/\u007fé😀")).toBe('"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\/\u007fé😀"');
  });

  it("JCS-05: numbers use the ECMAScript shortest form; -0 is 0", () => {
    expect(canonicalJson([-0, 0.1, 1e-7, 4.5, 2e-3, 9007199254740991, -9007199254740991, 1e-27])).toBe(
      "[0,0.1,1e-7,4.5,0.002,9007199254740991,-9007199254740991,1e-27]",
    );
  });

  it("JCS-08: refuses non-finite numbers (spec §3.1)", () => {
    for (const v of [NaN, Infinity, -Infinity, { a: [NaN] }]) expect(() => canonicalJson(v)).toThrow(CanonicalJsonError);
  });

  it("JCS-08: refuses integers beyond ±(2^53−1), including large numbers written with exponents (spec §3.1, I-JSON)", () => {
    for (const v of [2 ** 53, -(2 ** 53), 1e21, 1e30, { deep: [{ n: 2 ** 60 }] }]) expect(() => canonicalJson(v)).toThrow(/2\^53/);
  });

  it("JCS-08: refuses values that are not JSON (undefined members or items, functions, bigint, symbols)", () => {
    for (const v of [undefined, { a: undefined }, [undefined], () => 1, 1n, Symbol("s"), { f: () => 1 }]) {
      expect(() => canonicalJson(v)).toThrow(CanonicalJsonError);
    }
  });

  it("JCS-08: refuses strings and member names with unpaired surrogates (they have no UTF-8 form)", () => {
    for (const v of ["\ud800", "a\udc00", { "\udbff": 1 }, ["\ude00\ud83d"]]) expect(() => canonicalJson(v)).toThrow(/surrogate/);
    expect(canonicalJson("\ud83d\ude00")).toBe('"😀"');
  });

  it("JCS-07: canonicalBytes is the UTF-8 encoding of the canonical text", () => {
    expect(canonicalBytes({ k: "é" }).toString("hex")).toBe(Buffer.from('{"k":"é"}', "utf8").toString("hex"));
  });

  it("JCS-05: output is independent of key insertion order and stable under re-parsing (property, fixed seed)", () => {
    fc.assert(
      fc.property(safeJson, (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reverseKeys(value))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { seed: 8785, numRuns: 300 },
    );
  });
});

describe("canonical JSON fast path (issue 16: one pass for plain values)", () => {
  const reference = canonicalize as (v: unknown) => string | undefined;

  it("JCS-05: plain values give exactly the canonicalize package's text (property, fixed seed)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        let expected: string | undefined;
        try {
          expected = canonicalJson(JSON.parse(JSON.stringify(value)));
        } catch {
          return; // refused values are covered below
        }
        expect(expected).toBe(reference(value));
      }),
      { seed: 16, numRuns: 500 },
    );
  });

  it("JCS-08: anything else is refused or formed exactly as by the checked path (property, fixed seed)", () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withNullPrototype: true, withTypedArray: true }), (value) => {
        let text: string | undefined;
        let error: unknown;
        try {
          text = canonicalJson(value);
        } catch (err) {
          error = err;
        }
        if (error !== undefined) expect(error).toBeInstanceOf(CanonicalJsonError);
        else expect(text).toBe(reference(value));
      }),
      { seed: 1616, numRuns: 500 },
    );
  });

  it("JCS-08: a lone surrogate or unsafe integer deep in a value and a toJSON object take the checked path", () => {
    expect(() => canonicalJson({ a: [{ b: "x\ud800" }] })).toThrow("/a/0/b: string contains an unpaired surrogate");
    expect(() => canonicalJson({ n: [1, 2 ** 53] })).toThrow("/n/1: integer outside ±(2^53−1)");
    expect(canonicalJson({ d: new Date(0) })).toBe('{"d":"1970-01-01T00:00:00.000Z"}');
    expect(canonicalJson({ "😀": "é", a: [true, null, -0, 1e-7] })).toBe('{"a":[true,null,0,1e-7],"😀":"é"}');
  });
});

describe("received JSON is I-JSON (spec §3.1 JCS-01..04)", () => {
  const bytes = (text: string) => Buffer.from(text, "utf8");

  it("JCS-01: parseIJson refuses a byte order mark and invalid UTF-8 that JSON.parse would accept", () => {
    expect(() => parseIJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes("{}")]))).toThrow(/byte order mark/);
    expect(() => parseIJson(Buffer.concat([bytes('{"a":"'), Buffer.from([0xff]), bytes('"}')]))).toThrow(/UTF-8/);
    expect(() => parseIJson(bytes("{"))).toThrow(CanonicalJsonError);
  });

  it("JCS-02: parseIJson refuses duplicate member names, after unescaping, at any depth", () => {
    for (const t of ['{"a":1,"a":1}', '{"a":1,"\\u0061":2}', '[{"b":{"x":1,"y":2,"x":3}}]']) expect(() => parseIJson(bytes(t)), t).toThrow(/duplicate/);
    // The same name in sibling objects, and a value equal to a name, are fine.
    expect(parseIJson(bytes('{"a":{"a":"a"},"b":[{"a":1},{"a":2}]}'))).toEqual({ a: { a: "a" }, b: [{ a: 1 }, { a: 2 }] });
  });

  it("JCS-03: parseIJson refuses integer literals beyond ±(2^53−1) but not fractions or exponents", () => {
    for (const t of ["9007199254740992", "-9007199254740992", '{"a":[0,1e2,99999999999999999999]}']) expect(() => parseIJson(bytes(t)), t).toThrow(/integer literal/);
    expect(parseIJson(bytes("[9007199254740991,-9007199254740991,1e21,0.5,-0]"))).toEqual([9007199254740991, -9007199254740991, 1e21, 0.5, -0]);
  });

  it("JCS-04: parseIJson refuses unpaired surrogate escapes in values and names", () => {
    for (const t of ['"\\ud800"', '"\\udfff"', '"\\ude00\\ud83d"', '{"\\udbff":1}']) expect(() => parseIJson(bytes(t)), t).toThrow(/surrogate/);
    expect(parseIJson(bytes('"\\ud83d\\ude00"'))).toBe("😀");
  });

  it("JCS-02..04: the scan accepts what JSON.parse reads without duplicates, and refuses a duplicate added anywhere (property)", () => {
    fc.assert(
      fc.property(safeJson, (value) => {
        const text = JSON.stringify(value);
        expect(parseIJson(bytes(text))).toEqual(JSON.parse(text));
        const dup = text.replace(/\{"((?:[^"\\]|\\.)*)":/, (m, k: string) => `{"${k}":0,"${k}":`);
        if (dup !== text) expect(() => parseIJson(bytes(dup))).toThrow(/duplicate/);
      }),
      { seed: 8259, numRuns: 500 },
    );
    expect(parseIJson(bytes("[999999999999999,-999999999999999,1234567890123456e0]"))).toEqual([999999999999999, -999999999999999, 1234567890123456]);
    expect(() => parseIJson(bytes("[-9007199254740993]"))).toThrow(/integer literal/);
  });

  it("JCS-03: escaped quotes and backslashes inside strings do not confuse the scan", () => {
    expect(parseIJson(bytes('{"k\\"1":"v\\\\","n":"99999999999999999999"}'))).toEqual({ 'k"1': "v\\", n: "99999999999999999999" });
  });
});

/** The scan as it was written first (one step per character, JSON.parse of every string): the reference outcome. */
function referenceScan(text: string): string | null {
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const value = JSON.parse(text.slice(i, end + 1)) as string;
      if (lone.test(value)) return "surrogate";
      const top = stack.at(-1);
      if (top?.keys && top.expectKey) {
        if (top.keys.has(value)) return "duplicate";
        top.keys.add(value);
        top.expectKey = false;
      }
      i = end + 1;
    } else if (c === "{" || c === "[") {
      stack.push({ keys: c === "{" ? new Set() : null, expectKey: c === "{" });
      i++;
    } else if (c === "}" || c === "]") {
      stack.pop();
      i++;
    } else if (c === ",") {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
      i++;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      let end = i;
      while (end < text.length && /[-+0-9.eE]/.test(text[end]!)) end++;
      const literal = text.slice(i, end);
      if (!/[.eE]/.test(literal) && (BigInt(literal) > BigInt(Number.MAX_SAFE_INTEGER) || -BigInt(literal) > BigInt(Number.MAX_SAFE_INTEGER))) return "integer literal";
      i = end;
    } else i++;
  }
  return null;
}

function outcome(text: string): string {
  try {
    parseIJson(Buffer.from(text, "utf8"));
    return "ok";
  } catch (err) {
    const m = (err as Error).message;
    return ["surrogate", "duplicate", "integer literal"].find((k) => m.includes(k)) ?? m;
  }
}

describe("parseIJson's scan against the character-by-character reference (JCS-02, JCS-03, JCS-04)", () => {
  /** Strings made of the characters that matter to the scan: quotes, backslashes, surrogate escapes, look-alikes. */
  const tricky = fc.array(fc.constantFrom('"', "\\", "\\u", "d", "D", "8", "0", "a", "é", "😀", "\ud83d", "\ude00", "u", " ", "/"), { maxLength: 8 })
    .map((parts) => parts.join(""));
  const literal = fc.oneof(
    fc.constantFrom("9007199254740991", "-9007199254740991", "9007199254740992", "-9007199254740992", "999999999999999", "-999999999999999",
      "1000000000000000", "12345678901234567890", "1e400", "-0", "0.5", "1E+2", "123456789012345678.5"),
    fc.integer().map(String),
  );
  /** JSON text built by hand so that escapes are spelled in every way JSON allows, not only JSON.stringify's way. */
  const spell = (s: string) => '"' + [...s].map((ch) => (ch === '"' ? '\\"' : ch === "\\" ? "\\\\" : ch)).join("") + '"';
  const escapeAll = (s: string) => '"' + [...s].map((ch) => [...ch].map((u) => "\\u" + u.charCodeAt(0).toString(16).padStart(4, "0")).join("")).join("") + '"';
  const raw = fc.oneof(tricky.map(spell), tricky.map(escapeAll), fc.constantFrom('"\\ud800"', '"\\uD83D\\uDE00"', '"\\uDe00"', '"a\\\\"', '"\\\\\\""', '"\\u0061"', '"a"'));
  const text: fc.Arbitrary<string> = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small" }, raw, literal, fc.constantFrom("true", "null"), tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 4 }).map((xs) => `[${xs.join(",")}]`),
    object: fc.array(fc.tuple(raw, tie("value")), { maxLength: 4 }).map((kv) => `{${kv.map(([k, v]) => `${k} : ${v}`).join(" ,")}}`),
  })).object as fc.Arbitrary<string>;

  it("refuses exactly what the reference refuses, for the same reason (property, fixed seed)", () => {
    fc.assert(
      fc.property(text, (t) => {
        let valid = true;
        try {
          JSON.parse(t);
        } catch {
          valid = false;
        }
        fc.pre(valid);
        // The reference reads the text as parseIJson does: decoded from its UTF-8 bytes (a raw lone surrogate is U+FFFD there).
        expect(outcome(t), t).toBe(referenceScan(Buffer.from(t, "utf8").toString("utf8")) ?? "ok");
      }),
      { seed: 16, numRuns: 3000 },
    );
  });

  it("the 15/16-digit boundary and escaped quotes next to backslashes", () => {
    for (const t of ['{"a":999999999999999}', '{"a":-999999999999999}', '{"a":9007199254740991}', '{"a":9007199254740993}', '{"a":-9007199254740993}',
      '{"k\\\\":1,"k\\\\":2}', '{"\\"":1,"\\u0022":2}', '{"x":"\\\\\\"","x\\"":"\\ud800"}', '{"a":"\\\\ud800"}']) {
      expect(outcome(t), t).toBe(referenceScan(t) ?? "ok");
    }
  });
});

describe("nesting bound (spec §3.1 JCS-18, issue 10 finding 6)", () => {
  const deepText = (n: number) => "[".repeat(n) + "]".repeat(n);
  const deepValue = (n: number) => {
    let v: unknown = 0;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };

  it("JCS-18: 100,000-deep text is refused with a clear error, not a stack overflow", () => {
    expect(() => parseIJson(Buffer.from(deepText(100_000)))).toThrow(/deeper than 64 levels/);
    expect(() => parseIJson(Buffer.from('{"a":' + deepText(100_000) + "}"))).toThrow(/deeper than 64/);
    // Unbalanced and unterminated deep input is refused too.
    expect(() => parseIJson(Buffer.from("[".repeat(100_000)))).toThrow(CanonicalJsonError);
  });

  it("JCS-18: exactly 64 levels parse; 65 do not; brackets inside strings do not count", () => {
    expect(parseIJson(Buffer.from(deepText(64)))).toBeDefined();
    expect(() => parseIJson(Buffer.from(deepText(65)))).toThrow(/deeper than 64/);
    expect(parseIJson(Buffer.from(JSON.stringify({ s: "[".repeat(1000) + '\\"{' })))).toEqual({ s: "[".repeat(1000) + '\\"{' });
  });

  it("JCS-18: the canonicaliser refuses a 100,000-deep value without recursing", () => {
    expect(() => canonicalJson(deepValue(100_000))).toThrow(/deeper than 64 levels/);
    expect(canonicalJson(deepValue(63))).toBe("[".repeat(63) + "0" + "]".repeat(63));
    expect(() => canonicalJson(deepValue(65))).toThrow(CanonicalJsonError);
  });

  it("tooDeep and textWithinDepth count levels iteratively and stop past their limit", () => {
    expect(tooDeep(0, 0)).toBeNull();
    expect(tooDeep({ a: [1, { b: [] }] }, 4)).toBeNull();
    expect(tooDeep({ a: [1, { b: [] }] }, 3)).toBe("/a/1/b");
    expect(tooDeep(deepValue(100_000), 32)).not.toBeNull();
    expect(textWithinDepth('{"a":[1,{"b":[]}],"s":"[[[["}', 4)).toBe(true);
    expect(textWithinDepth('{"a":[1,{"b":[]}]}', 3)).toBe(false);
  });
});
