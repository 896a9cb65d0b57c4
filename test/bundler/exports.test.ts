// Pins the public export lists of spanforge/babel and spanforge/bundler (a small, deliberate API).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as babelEntry from '../../babel-plugin/index.js';
import * as bundlerEntry from '../../bundler/index.js';

test('spanforge/babel exports only the plugin', () => {
  assert.deepEqual(Object.keys(babelEntry).filter((k) => k !== '__esModule').sort(), ['default']);
  assert.equal(typeof babelEntry.default, 'function');
});

test('spanforge/bundler exports the unplugin instance, one plugin per bundler and the text instrumenter', () => {
  assert.deepEqual(Object.keys(bundlerEntry).filter((k) => k !== '__esModule').sort(), [
    // the dependency-code rewriter (issue 14), for tools that bundle or load node_modules themselves
    'dependencyMatcher',
    'esbuildPlugin',
    'instrumentCode',
    'instrumentDependency',
    'precheck',
    'rollupPlugin',
    'spanforge',
    'vitePlugin',
    'webpackPlugin',
  ]);
  for (const k of ['esbuildPlugin', 'rollupPlugin', 'vitePlugin', 'webpackPlugin'] as const) assert.equal(typeof bundlerEntry[k], 'function');
});
