// Shared by the Babel and bundler tests: runs a fixture input through the Babel plugin and through the
// bundler's text emitter, with the fixture's options.json.
import { transformSync } from '@babel/core';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import plugin from '../../babel-plugin/index.js';
import { instrumentCode } from '../../bundler/index.js';
import type { BuildReport, FileReport } from '../../babel-plugin/report.js';
import { resolveOptions } from '../../rules/index.js';

export const root = join(__dirname, '..', '..');

export interface FixtureCase {
  name: string;
  dir: string;
  inputFile: string;
  input: string;
  options: Record<string, unknown>;
}

export function cases(folder: string): FixtureCase[] {
  const base = join(root, folder);
  if (!existsSync(base)) return [];
  const filter = process.env.SPANFORGE_FIXTURE;
  return readdirSync(base, { withFileTypes: true })
    .filter((d) => d.isDirectory() && (!filter || d.name.includes(filter)))
    .map((d) => {
      const dir = join(base, d.name);
      const inputName = readdirSync(dir).find((f) => /^input\.[cm]?[jt]sx?$/.test(f));
      if (!inputName) return undefined;
      const optionsFile = join(dir, 'options.json');
      return {
        name: d.name,
        dir,
        inputFile: join(dir, inputName),
        input: readFileSync(join(dir, inputName), 'utf8'),
        options: existsSync(optionsFile) ? (JSON.parse(readFileSync(optionsFile, 'utf8')) as Record<string, unknown>) : {},
      };
    })
    .filter((c): c is FixtureCase => c !== undefined);
}

/** Every integration's fixture cases (integrations/<name>/fixtures/<case>/), in name order. */
export function integrationCases(): FixtureCase[] {
  return readdirSync(join(root, 'integrations')).sort().flatMap((unit) => cases(join('integrations', unit, 'fixtures')));
}

/** Babel with the plugin (and preset-typescript for .ts input); returns code and the file's report entry. */
export function babel(c: Pick<FixtureCase, 'inputFile' | 'input' | 'options'>, extra: Record<string, unknown> = {}): { code: string; report: FileReport | undefined } {
  const report = join(mkdtempSync(join(tmpdir(), 'spanforge-babel-')), 'report.json');
  const isTs = /\.[cm]?tsx?$/.test(c.inputFile);
  const out = transformSync(c.input, {
    filename: c.inputFile,
    cwd: root,
    root,
    configFile: false,
    babelrc: false,
    sourceType: 'unambiguous',
    parserOpts: { plugins: ['decorators'] },
    plugins: [[plugin, { summary: false, report, ...c.options, ...extra }]],
    presets: isTs ? [['@babel/preset-typescript', { onlyRemoveTypeImports: false }]] : [],
  });
  const parsed = existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as BuildReport) : undefined;
  return { code: out!.code!, report: parsed?.files[0] };
}

/** The bundler's text emitter on the same input. */
export function bundlerText(c: Pick<FixtureCase, 'inputFile' | 'input' | 'options'>) {
  const rel = c.inputFile.slice(root.length + 1);
  return instrumentCode(c.input, c.inputFile, rel, resolveOptions(c.options));
}
