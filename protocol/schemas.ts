// Protocol primitive (all components and the harness): validation of every wire message against the generated JSON Schemas.
import { readdirSync, readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsImport from "ajv-formats";
import type { ErrorObject, ValidateFunction } from "ajv";
import type { ValidationIssue } from "./types.ts";

export const SCHEMA_BASE = "https://smcp-federation.dev/schemas/v1/";
const SCHEMA_DIR = new URL("../schemas/json-schema/", import.meta.url);
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

function instance(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ strict: true, allErrors: false, allowUnionTypes: true });
  addFormats(ajv);
  for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json")).sort()) {
    ajv.addSchema(JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), "utf8")));
  }
  return ajv;
}

/** Names of every schema the spec defines (file names without `.json`). */
export function schemaNames(): string[] {
  return readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}

function validatorFor(name: string): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    v = instance().getSchema(SCHEMA_BASE + name + ".json");
    if (!v) throw new Error(`no schema named ${name}`);
    validators.set(name, v);
  }
  return v;
}

/** Validates `value` against schema `name`; returns the violations (empty when valid). */
export function validate(name: string, value: unknown): ValidationIssue[] {
  const v = validatorFor(name);
  return v(value) ? [] : (v.errors ?? []).map(toIssue);
}

function toIssue(e: ErrorObject): ValidationIssue {
  const extra = e.keyword === "required" ? ` (${String((e.params as { missingProperty?: string }).missingProperty)})` : "";
  return { path: e.instancePath, message: `${e.message ?? e.keyword}${extra}` };
}
