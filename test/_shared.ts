// Where the shared reference material lives: `../shared` beside the repository (as in CI), or
// SPANFORGE_SHARED_DIR. The official intake-v2 schemas and the APM Server's own test payloads are
// read from there; a missing folder is an error naming the path, never a silent skip.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '..');
const SHARED_DIR = process.env.SPANFORGE_SHARED_DIR ?? join(REPO_ROOT, '..', 'shared');

/** `<shared>/reference/apm-intake-v2`: holds `schemas/`, `testdata/` and PROTOCOL.md. */
export const INTAKE_REFERENCE = join(SHARED_DIR, 'reference', 'apm-intake-v2');
export const INTAKE_SCHEMAS = join(INTAKE_REFERENCE, 'schemas');
export const INTAKE_TESTDATA = join(INTAKE_REFERENCE, 'testdata');

if (!existsSync(INTAKE_SCHEMAS)) {
  throw new Error(
    `spanforge tests: the official intake-v2 schemas are missing at ${INTAKE_SCHEMAS}; ` +
      'put the shared reference folder beside the repository (../shared) or set SPANFORGE_SHARED_DIR',
  );
}
