// Per-file entry of the shared analysis, used by the Babel plugin and the bundler step: include/exclude,
// already-instrumented modules, and the project-relative file name.
import type { NodePath } from '@babel/core';
import type * as BT from '@babel/types';
import { relative, sep } from 'node:path';
import { ABI_BINDING, isIncluded, type ResolvedOptions } from '../rules/index.js';
import { analyzeProgram, type Analysis } from './analyze.js';
import { PRODUCERS } from './producers.js';

/** The project-relative, '/'-separated name of a file (what site tables and reports show). */
export function projectPath(root: string, filename: string): string {
  const rel = relative(root, filename);
  return (rel.startsWith('..') ? filename : rel).split(sep).join('/');
}

/** Analyses a parsed program under resolved options; undefined when the file is excluded or already instrumented. */
/** `absFile`: the file's absolute path (relative imports of generated clients are read from there). */
export function analyzeFile(program: NodePath<BT.Program>, opts: ResolvedOptions, relPath: string, source: string, absFile?: string): Analysis | undefined {
  if (!isIncluded(opts, relPath)) return undefined;
  if (program.scope.hasBinding(ABI_BINDING)) return undefined; // instrumenting twice changes nothing
  return analyzeProgram(program, opts.rules, PRODUCERS, source, relPath, absFile);
}

