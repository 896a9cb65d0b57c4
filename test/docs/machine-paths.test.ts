// The README and docs/ never cite absolute paths of the machine they were written on (/work, /tmp,
// /root, /home): no user has them. Paths are relative to the checkout, or named by what they hold.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..');

test('README.md and docs/*.md cite no absolute path of this machine', { timeout: 10_000 }, () => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  assert.ok(files.length > 5, `found the docs: ${files.join(', ')}`);
  const hits: string[] = [];
  for (const f of files) {
    readFileSync(join(ROOT, f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        // `/tmp` etc. at the start of a path: after a quote, backtick, bracket, space or line start
        // (`/home/` only with its slash: a route may be called `/home`).
        if (/(^|[\s`'"(=:])\/(?:(?:work|tmp|root)(?:\/|\b)|home\/)/.test(line)) hits.push(`${f}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(hits, []);
});
