// Test helper: validates intake-v2 metricsets against the official schema (ajv 8, allowUnionTypes).
import Ajv from 'ajv';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { INTAKE_SCHEMAS } from '../_shared.js';

// The receiver keeps a copy of the official schemas in the repository; the shared reference copy is
// the fallback for checkouts where it has not landed yet.
const candidates = [
  join(__dirname, '..', '..', 'receiver', 'schemas', 'metricset.json'),
  join(INTAKE_SCHEMAS, 'metricset.json'),
];
const schemaPath = candidates.find((p) => existsSync(p));
if (schemaPath === undefined) throw new Error(`metricset.json schema not found in: ${candidates.join(', ')}`);
const ajv = new Ajv({ allowUnionTypes: true, strict: false });
const validateFn = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);

/** Throws with ajv's messages when the inner metricset object does not validate. */
export function assertValidMetricset(inner: unknown): void {
  if (!validateFn(inner)) {
    throw new Error(`metricset does not validate: ${ajv.errorsText(validateFn.errors)}\n${JSON.stringify(inner)}`);
  }
}
