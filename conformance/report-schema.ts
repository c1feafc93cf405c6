// Conformance harness: the published JSON Schema of the `--json` report (report.schema.json) and a validator for it.
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export const REPORT_SCHEMA_FILE = new URL("./report.schema.json", import.meta.url);

let validator: ReturnType<Ajv2020["compile"]> | undefined;

/** Problems of a parsed report against the schema (`[]` when valid), as `path: message` lines. */
export function validateReport(report: unknown): string[] {
  if (!validator) {
    const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    validator = ajv.compile(JSON.parse(readFileSync(REPORT_SCHEMA_FILE, "utf8")) as object);
  }
  return validator(report) ? [] : (validator.errors ?? []).map((e) => `${e.instancePath || "/"}: ${e.message ?? "invalid"}`);
}
