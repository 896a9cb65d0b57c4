// Test helper: compiles one fixture input in memory with TypeScript + the spanforge transformer.
import * as ts from 'typescript';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import spanforgeTransformer from '../../transformer/index.js';

export const root = resolve(__dirname, '..', '..');
const sourceCache = new Map<string, ts.SourceFile>();

export interface CompileResult {
  js: string;
  map: string | undefined;
  dts: string | undefined;
  diagnostics: string[];
}

export function compileFile(file: string, pluginOptions: Record<string, unknown> = {}, compilerOptions: ts.CompilerOptions = {}): CompileResult {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    esModuleInterop: true,
    paths: {
      'spanforge/runtime': [join(root, 'runtime', 'abi.ts')],
      spanforge: [join(root, 'runtime', 'index.ts')],
    },
    ...compilerOptions,
  };
  const host = ts.createCompilerHost(options);
  // Declaration files and the runtime sources are parsed once per test process (they dominate the time).
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError, shouldCreate) => {
    const cacheable = name.includes('/node_modules/') || name.startsWith(join(root, 'runtime'));
    if (!cacheable) return getSourceFile(name, lang, onError, shouldCreate);
    const key = `${name}|${typeof lang === 'object' ? lang.languageVersion + ':' + (lang.impliedNodeFormat ?? '') : lang}`;
    let sf = sourceCache.get(key);
    if (!sf) {
      sf = getSourceFile(name, lang, onError, shouldCreate);
      if (sf) sourceCache.set(key, sf);
    }
    return sf;
  };
  const program = ts.createProgram({ rootNames: [file], options, host });
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  const out: Record<string, string> = {};
  const factory = spanforgeTransformer(program, { summary: false, ...pluginOptions }, { ts });
  const sf = program.getSourceFile(file)!;
  program.emit(sf, (name, text) => {
    out[name.endsWith('.js.map') ? 'map' : name.endsWith('.d.ts') ? 'dts' : 'js'] = text;
  }, undefined, false, { before: [factory] });
  return { js: out.js ?? '', map: out.map, dts: out.dts, diagnostics };
}

/**
 * The transform fixture cases: fixtures/transform/<case>/ (the front-ends' own corners) and each
 * integration's integrations/<name>/fixtures/<case>/ (that library's calls and look-alikes).
 */
export function transformCases(): Array<{ name: string; dir: string }> {
  const out: Array<{ name: string; dir: string }> = [];
  const add = (base: string) => {
    if (!existsSync(base)) return;
    for (const name of readdirSync(base).sort()) if (existsSync(join(base, name, 'input.ts'))) out.push({ name, dir: join(base, name) });
  };
  add(join(root, 'fixtures', 'transform'));
  for (const unit of readdirSync(join(root, 'integrations')).sort()) add(join(root, 'integrations', unit, 'fixtures'));
  return out;
}

/** The directory of one transform fixture case, by name (see transformCases). */
export function caseDir(name: string): string {
  const c = transformCases().find((x) => x.name === name);
  if (!c) throw new Error(`no transform fixture ${name}`);
  return c.dir;
}

export function readOptions(dir: string): { plugin: Record<string, unknown>; compiler: ts.CompilerOptions } {
  const p = join(dir, 'options.json');
  if (!existsSync(p)) return { plugin: {}, compiler: {} };
  const raw = JSON.parse(readFileSync(p, 'utf8')) as { plugin?: Record<string, unknown>; compilerOptions?: Record<string, unknown> };
  const conv = ts.convertCompilerOptionsFromJson(raw.compilerOptions ?? {}, dir);
  return { plugin: raw.plugin ?? {}, compiler: conv.options };
}
