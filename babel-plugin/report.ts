// The build report of the Babel front-end and the bundler step: instrumented and skipped sites per
// file, written as JSON when asked, and a one-line summary on stderr per build.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SiteDescriptor } from '../rules/index.js';
import type { SkippedSite } from './analyze.js';

export interface FileReport {
  file: string;
  sites: SiteDescriptor[];
  skipped: SkippedSite[];
  /** A dependency file (node_modules) instrumented by dependency rules: its package `name@version`. */
  package?: string;
}

export interface BuildReport {
  frontEnd: 'babel' | 'bundler';
  files: FileReport[];
}

/** Collects per-file results of one build (files re-processed in watch mode replace their entry). */
export class ReportCollector {
  private readonly files = new Map<string, FileReport>();

  constructor(private readonly frontEnd: BuildReport['frontEnd']) {}

  add(entry: FileReport): void {
    if (entry.sites.length === 0 && entry.skipped.length === 0) this.files.delete(entry.file);
    else this.files.set(entry.file, entry);
  }

  report(): BuildReport {
    const files = [...this.files.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    return { frontEnd: this.frontEnd, files };
  }

  /** `spanforge (babel): 12 sites instrumented in 3 files, 1 candidate skipped (see report)` */
  summary(): string {
    let sites = 0;
    let skipped = 0;
    let files = 0;
    let depSites = 0;
    const packages = new Set<string>();
    for (const f of this.files.values()) {
      if (f.package !== undefined) {
        depSites += f.sites.length;
        skipped += f.skipped.length;
        if (f.sites.length) packages.add(f.package);
        continue;
      }
      sites += f.sites.length;
      skipped += f.skipped.length;
      if (f.sites.length) files++;
    }
    return `spanforge (${this.frontEnd}): ${sites} site${sites === 1 ? '' : 's'} instrumented in ${files} file${files === 1 ? '' : 's'}, ${skipped} candidate${skipped === 1 ? '' : 's'} skipped${depSummary(depSites, packages)}`;
  }

  write(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(this.report(), null, 2) + '\n');
  }
}

/** `, 3 driver functions in dependencies (mysql2@3.24.6, pg@8.23.1)`; empty when none. */
export function depSummary(sites: number, packages: ReadonlySet<string>): string {
  if (sites === 0) return '';
  return `, ${sites} driver function${sites === 1 ? '' : 's'} in dependencies (${[...packages].sort().join(', ')})`;
}
