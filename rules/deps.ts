// Dependency-code rules (integrations/<name>/rules.ts `deps`): which files under node_modules hold a
// driver function to instrument. The match is by path first (package name and file, string operations
// only), then by the package's version read from its package.json, once per package folder. Plain
// functions: no compiler, no parser; the bundler step and spanforge/register do the rewriting.
import type { DependencyRule } from './integration.js';
import { INTEGRATIONS } from './integrations.js';

export type { DependencyRule } from './integration.js';

/** Every integration's dependency rules, in rules/integrations.ts order. */
export const DEPENDENCY_RULES: readonly DependencyRule[] = INTEGRATIONS.flatMap((i) => i.deps ?? []);

/** Where a file sits in node_modules: the package, its folder and the file relative to it. */
export interface PackageFile {
  name: string;
  /** The package folder (absolute, '/'-separated like the input). */
  root: string;
  /** The file relative to the package folder, '/'-separated. */
  file: string;
}

/** `/app/node_modules/@scope/x/lib/a.js` → `{ name: '@scope/x', root: '/app/node_modules/@scope/x', file: 'lib/a.js' }`; undefined outside node_modules. */
export function packageFile(path: string): PackageFile | undefined {
  const p = path.replace(/\\/g, '/');
  const i = p.lastIndexOf('/node_modules/');
  if (i < 0) return undefined;
  const start = i + '/node_modules/'.length;
  const first = p.indexOf('/', start);
  if (first < 0) return undefined;
  let end = first;
  if (p[start] === '@') {
    end = p.indexOf('/', first + 1);
    if (end < 0) return undefined;
  }
  return { name: p.slice(start, end), root: p.slice(0, end), file: p.slice(end + 1) };
}

/**
 * Whether `version` (x.y.z, a pre-release tag ignored) satisfies `range`: comparators (`>=3.2`, `<4`,
 * `=8.1.0`, `8.x`) joined by spaces, alternatives by `||`. Missing minor/patch count as 0.
 */
export function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  if (!v) return false;
  return range.split('||').some((alt) => {
    const parts = alt.trim().split(/\s+/).filter(Boolean);
    return parts.every((c) => {
      const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+|x|\*)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?/.exec(c);
      if (!m) return false;
      const op = m[1] ?? '=';
      const wild = (s: string | undefined) => s === undefined || s === 'x' || s === '*';
      if (m[2] === 'x' || m[2] === '*') return true;
      const want = [Number(m[2]), wild(m[3]) ? 0 : Number(m[3]), wild(m[4]) ? 0 : Number(m[4])] as const;
      const cmp = compare(v, want);
      switch (op) {
        case '>=': return cmp >= 0;
        case '>': return cmp > 0;
        case '<=': return cmp <= 0;
        case '<': return cmp < 0;
        case '^': return cmp >= 0 && v[0] === want[0];
        case '~': return cmp >= 0 && v[0] === want[0] && v[1] === want[1];
        default:
          // `=8`, `8.x`: every given part equal
          if (v[0] !== want[0]) return false;
          if (!wild(m[3]) && v[1] !== want[1]) return false;
          return wild(m[4]) || v[2] === want[2];
      }
    });
  });
}

function parse(v: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * Finds the rules for a file. `candidates` is the cheap check (path only, no I/O); `rulesFor` reads the
 * package version (through `readVersion`, cached per package folder) and filters by range.
 */
export class DependencyMatcher {
  private readonly byPackage = new Map<string, DependencyRule[]>();
  private readonly versions = new Map<string, string | undefined>();

  constructor(rules: readonly DependencyRule[], private readonly readVersion: (packageRoot: string) => string | undefined) {
    for (const r of rules) {
      const list = this.byPackage.get(r.package) ?? [];
      list.push(r);
      this.byPackage.set(r.package, list);
    }
  }

  get size(): number {
    return this.byPackage.size;
  }

  /** The rules whose package and file fit the path (no version check, no I/O); empty for almost every file. */
  candidates(path: string): { pkg: PackageFile; rules: DependencyRule[] } | undefined {
    if (this.byPackage.size === 0) return undefined;
    const pkg = packageFile(path);
    if (!pkg) return undefined;
    const rules = this.byPackage.get(pkg.name)?.filter((r) => r.file === pkg.file);
    return rules && rules.length ? { pkg, rules } : undefined;
  }

  /** The rules for a file, version checked; `version` is the package version read. */
  rulesFor(path: string): { pkg: PackageFile; version: string; rules: DependencyRule[] } | undefined {
    const c = this.candidates(path);
    if (!c) return undefined;
    let version = this.versions.get(c.pkg.root);
    if (!this.versions.has(c.pkg.root)) {
      try {
        version = this.readVersion(c.pkg.root);
      } catch {
        version = undefined;
      }
      this.versions.set(c.pkg.root, version);
    }
    if (version === undefined) return undefined;
    const rules = c.rules.filter((r) => satisfies(version!, r.versions));
    return rules.length ? { pkg: c.pkg, version, rules } : undefined;
  }
}
