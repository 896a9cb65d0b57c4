// Configuration: every option with its ELASTIC_APM_* environment variable, default, parser and central-config name;
// resolves environment > start() > config file (spanforge.config.*) > default, and records each value's source.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { LabelValue } from './types.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';
export type CaptureBody = 'off' | 'all' | 'errors' | 'transactions';

/** The options accepted by start({...}); every one can also come from its ELASTIC_APM_* variable. */
export interface AgentOptions {
  active?: boolean | string;
  serverUrl?: string;
  serviceName?: string;
  serviceVersion?: string;
  serviceNodeName?: string;
  environment?: string;
  secretToken?: string;
  apiKey?: string;
  transactionSampleRate?: number | string;
  logLevel?: LogLevel | string;
  captureBody?: CaptureBody | string;
  captureHeaders?: boolean | string;
  captureExceptions?: boolean | string;
  sanitizeFieldNames?: string[] | string;
  transactionMaxSpans?: number | string;
  /** "30s", "500ms", or a number of seconds; 0 disables metrics. */
  metricsInterval?: string | number;
  apiRequestTime?: string | number;
  /** "768kb", "1mb", or a number of bytes. */
  apiRequestSize?: string | number;
  serverTimeout?: string | number;
  serverCaCertFile?: string;
  globalLabels?: Record<string, LabelValue> | string;
  transactionIgnoreUrls?: string[] | string;
  /** Queue/topic/exchange names (wildcards) whose sends and receives are not traced. */
  ignoreMessageQueues?: string[] | string;
  verifyServerCert?: boolean | string;
  breakdownMetrics?: boolean | string;
  disableMetrics?: string[] | string;
  maxQueueSize?: number | string;
  stackTraceLimit?: number | string;
  sourceLinesErrorAppFrames?: number | string;
  sourceLinesErrorLibraryFrames?: number | string;
  longFieldMaxLength?: number | string;
  hostname?: string;
  disableSend?: boolean | string;
  usePathAsTransactionName?: boolean | string;
  /** Exit spans shorter than this ("10ms", "1us"; a bare number is ms) are dropped and counted in dropped_spans_stats. */
  exitSpanMinDuration?: string | number;
  spanCompressionEnabled?: boolean | string;
  spanCompressionExactMatchMaxDuration?: string | number;
  spanCompressionSameKindMaxDuration?: string | number;
  /** Spans at least this long get a captured stack trace; negative (the default, -1ms) never captures one. */
  spanStackTraceMinDuration?: string | number;
  /** Poll the server's /config/v1/agents and apply what it says at run time. */
  centralConfig?: boolean | string;
  /** false: record nothing (a pause that central configuration can lift) while the agent stays started. */
  recording?: boolean | string;
  /** One app/graphql/resolve span per resolver call (Apollo Server, Yoga's createSchema resolvers); off by default. Env: SPANFORGE_GRAPHQL_RESOLVER_SPANS. */
  graphqlResolverSpans?: boolean | string;
  /**
   * Where events go: 'elastic' (intake v2, the default) or 'otlp' (OTLP/HTTP, configured by the
   * standard OTEL_EXPORTER_OTLP_* variables; docs/opentelemetry.md). Env: SPANFORGE_EXPORTER. Unset,
   * OTLP is chosen when an OTLP endpoint variable is set and ELASTIC_APM_SERVER_URL is not.
   */
  exporter?: 'elastic' | 'otlp';
  /** Spans started through @opentelemetry/api become spanforge spans (docs/opentelemetry.md). */
  opentelemetryBridgeEnabled?: boolean | string;
}

/** The resolved configuration: every value parsed, units normalised (durations in ms, sizes in bytes). */
export interface AgentConfig {
  active: boolean;
  serverUrl: string;
  serviceName: string;
  serviceVersion: string | undefined;
  serviceNodeName: string | undefined;
  environment: string;
  secretToken: string | undefined;
  apiKey: string | undefined;
  transactionSampleRate: number;
  logLevel: LogLevel;
  captureBody: CaptureBody;
  captureHeaders: boolean;
  captureExceptions: boolean;
  sanitizeFieldNames: string[];
  /** -1 = unlimited. */
  transactionMaxSpans: number;
  metricsInterval: number;
  apiRequestTime: number;
  apiRequestSize: number;
  serverTimeout: number;
  serverCaCertFile: string | undefined;
  globalLabels: Record<string, LabelValue>;
  transactionIgnoreUrls: string[];
  ignoreMessageQueues: string[];
  verifyServerCert: boolean;
  breakdownMetrics: boolean;
  disableMetrics: string[];
  maxQueueSize: number;
  stackTraceLimit: number;
  sourceLinesErrorAppFrames: number;
  sourceLinesErrorLibraryFrames: number;
  longFieldMaxLength: number;
  hostname: string | undefined;
  disableSend: boolean;
  /** Requests no route matched are named `GET /the/path` instead of `GET unknown route`. */
  usePathAsTransactionName: boolean;
  /** ms (fractional: "1us" = 0.001). */
  exitSpanMinDuration: number;
  spanCompressionEnabled: boolean;
  /** ms */
  spanCompressionExactMatchMaxDuration: number;
  /** ms */
  spanCompressionSameKindMaxDuration: number;
  /** ms; negative = never capture span stack traces. */
  spanStackTraceMinDuration: number;
  centralConfig: boolean;
  recording: boolean;
  graphqlResolverSpans: boolean;
  opentelemetryBridgeEnabled: boolean;
}

type Kind =
  | { t: 'bool' }
  | { t: 'string' }
  | { t: 'url' }
  | { t: 'select'; values: readonly string[] }
  | { t: 'sampleRate' }
  | { t: 'int'; min: number; infinity?: boolean }
  | { t: 'duration'; unit: 's' | 'ms'; positive?: boolean; maxMs?: number; negative?: boolean }
  | { t: 'bytes'; positive?: boolean }
  | { t: 'list' }
  | { t: 'labels' };

interface OptionSpec {
  name: keyof AgentConfig;
  env: string;
  kind: Kind;
  /** In the option's configured form (what a user would write); parsed like user input. */
  def: unknown;
  /** The key APM Server's /config/v1/agents uses when the option can change at run time. */
  central?: string;
}

/** setTimeout's limit (2^31 - 1 ms, ~24.8 days); a longer duration would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

export const DEFAULT_SANITIZE_FIELD_NAMES = [
  'password', 'passwd', 'pwd', 'secret', '*key', '*token*', '*session*', '*credit*', '*card*', '*auth*',
  'set-cookie', '*principal*', 'pw', 'pass', 'connect.sid',
  // elastic-apm-node 4.x added this one: the Cookie request header is often sensitive.
  'cookie',
];

const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'fatal', 'off'] as const;

/** The option table; docs/configuration.md documents the same rows. */
export const OPTIONS: readonly OptionSpec[] = [
  { name: 'active', env: 'ELASTIC_APM_ACTIVE', kind: { t: 'bool' }, def: true },
  { name: 'serverUrl', env: 'ELASTIC_APM_SERVER_URL', kind: { t: 'url' }, def: 'http://127.0.0.1:8200' },
  { name: 'serviceName', env: 'ELASTIC_APM_SERVICE_NAME', kind: { t: 'string' }, def: undefined },
  { name: 'serviceVersion', env: 'ELASTIC_APM_SERVICE_VERSION', kind: { t: 'string' }, def: undefined },
  { name: 'serviceNodeName', env: 'ELASTIC_APM_SERVICE_NODE_NAME', kind: { t: 'string' }, def: undefined },
  { name: 'environment', env: 'ELASTIC_APM_ENVIRONMENT', kind: { t: 'string' }, def: undefined },
  { name: 'secretToken', env: 'ELASTIC_APM_SECRET_TOKEN', kind: { t: 'string' }, def: undefined },
  { name: 'apiKey', env: 'ELASTIC_APM_API_KEY', kind: { t: 'string' }, def: undefined },
  { name: 'transactionSampleRate', env: 'ELASTIC_APM_TRANSACTION_SAMPLE_RATE', kind: { t: 'sampleRate' }, def: 1, central: 'transaction_sample_rate' },
  { name: 'logLevel', env: 'ELASTIC_APM_LOG_LEVEL', kind: { t: 'select', values: LOG_LEVELS }, def: 'info', central: 'log_level' },
  { name: 'captureBody', env: 'ELASTIC_APM_CAPTURE_BODY', kind: { t: 'select', values: ['off', 'all', 'errors', 'transactions'] }, def: 'off', central: 'capture_body' },
  { name: 'captureHeaders', env: 'ELASTIC_APM_CAPTURE_HEADERS', kind: { t: 'bool' }, def: true, central: 'capture_headers' },
  { name: 'captureExceptions', env: 'ELASTIC_APM_CAPTURE_EXCEPTIONS', kind: { t: 'bool' }, def: true },
  { name: 'sanitizeFieldNames', env: 'ELASTIC_APM_SANITIZE_FIELD_NAMES', kind: { t: 'list' }, def: DEFAULT_SANITIZE_FIELD_NAMES, central: 'sanitize_field_names' },
  { name: 'transactionMaxSpans', env: 'ELASTIC_APM_TRANSACTION_MAX_SPANS', kind: { t: 'int', min: -1, infinity: true }, def: 500, central: 'transaction_max_spans' },
  { name: 'metricsInterval', env: 'ELASTIC_APM_METRICS_INTERVAL', kind: { t: 'duration', unit: 's', maxMs: MAX_TIMER_MS }, def: '30s' },
  { name: 'apiRequestTime', env: 'ELASTIC_APM_API_REQUEST_TIME', kind: { t: 'duration', unit: 's', positive: true, maxMs: MAX_TIMER_MS }, def: '10s' },
  { name: 'apiRequestSize', env: 'ELASTIC_APM_API_REQUEST_SIZE', kind: { t: 'bytes', positive: true }, def: '768kb' },
  { name: 'serverTimeout', env: 'ELASTIC_APM_SERVER_TIMEOUT', kind: { t: 'duration', unit: 's', maxMs: MAX_TIMER_MS }, def: '30s' },
  { name: 'serverCaCertFile', env: 'ELASTIC_APM_SERVER_CA_CERT_FILE', kind: { t: 'string' }, def: undefined },
  { name: 'globalLabels', env: 'ELASTIC_APM_GLOBAL_LABELS', kind: { t: 'labels' }, def: {} },
  { name: 'transactionIgnoreUrls', env: 'ELASTIC_APM_TRANSACTION_IGNORE_URLS', kind: { t: 'list' }, def: [], central: 'transaction_ignore_urls' },
  { name: 'ignoreMessageQueues', env: 'ELASTIC_APM_IGNORE_MESSAGE_QUEUES', kind: { t: 'list' }, def: [], central: 'ignore_message_queues' },
  { name: 'verifyServerCert', env: 'ELASTIC_APM_VERIFY_SERVER_CERT', kind: { t: 'bool' }, def: true },
  { name: 'breakdownMetrics', env: 'ELASTIC_APM_BREAKDOWN_METRICS', kind: { t: 'bool' }, def: true },
  { name: 'disableMetrics', env: 'ELASTIC_APM_DISABLE_METRICS', kind: { t: 'list' }, def: [] },
  { name: 'maxQueueSize', env: 'ELASTIC_APM_MAX_QUEUE_SIZE', kind: { t: 'int', min: 1 }, def: 1024 },
  { name: 'stackTraceLimit', env: 'ELASTIC_APM_STACK_TRACE_LIMIT', kind: { t: 'int', min: 0 }, def: 50 },
  { name: 'sourceLinesErrorAppFrames', env: 'ELASTIC_APM_SOURCE_LINES_ERROR_APP_FRAMES', kind: { t: 'int', min: 0 }, def: 5 },
  { name: 'sourceLinesErrorLibraryFrames', env: 'ELASTIC_APM_SOURCE_LINES_ERROR_LIBRARY_FRAMES', kind: { t: 'int', min: 0 }, def: 5 },
  { name: 'longFieldMaxLength', env: 'ELASTIC_APM_LONG_FIELD_MAX_LENGTH', kind: { t: 'int', min: 1 }, def: 10000 },
  { name: 'hostname', env: 'ELASTIC_APM_HOSTNAME', kind: { t: 'string' }, def: undefined },
  { name: 'disableSend', env: 'ELASTIC_APM_DISABLE_SEND', kind: { t: 'bool' }, def: false },
  { name: 'usePathAsTransactionName', env: 'ELASTIC_APM_USE_PATH_AS_TRANSACTION_NAME', kind: { t: 'bool' }, def: false },
  { name: 'exitSpanMinDuration', env: 'ELASTIC_APM_EXIT_SPAN_MIN_DURATION', kind: { t: 'duration', unit: 'ms' }, def: '0ms', central: 'exit_span_min_duration' },
  { name: 'spanCompressionEnabled', env: 'ELASTIC_APM_SPAN_COMPRESSION_ENABLED', kind: { t: 'bool' }, def: true, central: 'span_compression_enabled' },
  { name: 'spanCompressionExactMatchMaxDuration', env: 'ELASTIC_APM_SPAN_COMPRESSION_EXACT_MATCH_MAX_DURATION', kind: { t: 'duration', unit: 'ms' }, def: '50ms', central: 'span_compression_exact_match_max_duration' },
  { name: 'spanCompressionSameKindMaxDuration', env: 'ELASTIC_APM_SPAN_COMPRESSION_SAME_KIND_MAX_DURATION', kind: { t: 'duration', unit: 'ms' }, def: '0ms', central: 'span_compression_same_kind_max_duration' },
  { name: 'spanStackTraceMinDuration', env: 'ELASTIC_APM_SPAN_STACK_TRACE_MIN_DURATION', kind: { t: 'duration', unit: 'ms', negative: true }, def: '-1ms', central: 'span_stack_trace_min_duration' },
  { name: 'centralConfig', env: 'ELASTIC_APM_CENTRAL_CONFIG', kind: { t: 'bool' }, def: true },
  { name: 'recording', env: 'ELASTIC_APM_RECORDING', kind: { t: 'bool' }, def: true, central: 'recording' },
  { name: 'graphqlResolverSpans', env: 'SPANFORGE_GRAPHQL_RESOLVER_SPANS', kind: { t: 'bool' }, def: false },
  { name: 'opentelemetryBridgeEnabled', env: 'ELASTIC_APM_OPENTELEMETRY_BRIDGE_ENABLED', kind: { t: 'bool' }, def: false },
];

/** Central-config keys accepted as other names for an option (the Java agent's older `ignore_urls`). */
export const CENTRAL_ALIASES: Readonly<Record<string, keyof AgentConfig>> = { ignore_urls: 'transactionIgnoreUrls' };

export class BadValue extends Error {}

function parseBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  throw new BadValue('expected true or false');
}

const DURATION_RE = /^(-?\d+(?:\.\d+)?)\s*(us|ms|s|m)?$/i;
/** Parses "10s", "500ms", "1m", "250us" or a bare number in the option's default unit; returns milliseconds. */
export function parseDuration(v: unknown, defaultUnit: 's' | 'ms', allowNegative = false): number {
  let n: number;
  let unit: string = defaultUnit;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = DURATION_RE.exec(v.trim());
    if (!m) throw new BadValue('expected a duration like "10s", "500ms" or "1m"');
    n = Number(m[1]);
    if (m[2]) unit = m[2].toLowerCase();
  } else throw new BadValue('expected a duration like "10s", "500ms" or "1m"');
  if (!Number.isFinite(n) || (n < 0 && !allowNegative)) throw new BadValue('expected a duration of zero or more');
  return unit === 'ms' ? n : unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n * 60_000;
}

const BYTES_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;
/** Parses "768kb", "1mb", "2gb", "100b" or a bare number of bytes (units are ×1024). */
export function parseBytes(v: unknown): number {
  let n: number;
  let unit = 'b';
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = BYTES_RE.exec(v.trim());
    if (!m) throw new BadValue('expected a size like "768kb", "1mb" or a number of bytes');
    n = Number(m[1]);
    if (m[2]) unit = m[2].toLowerCase();
  } else throw new BadValue('expected a size like "768kb", "1mb" or a number of bytes');
  if (!Number.isFinite(n) || n < 0) throw new BadValue('expected a size of zero or more');
  const mult = unit === 'kb' ? 1024 : unit === 'mb' ? 1024 ** 2 : unit === 'gb' ? 1024 ** 3 : 1;
  return Math.floor(n * mult);
}

function parseList(v: unknown): string[] {
  if (Array.isArray(v)) {
    if (!v.every((x) => typeof x === 'string')) throw new BadValue('expected a list of strings');
    return v.map((x: string) => x.trim()).filter(Boolean);
  }
  if (typeof v === 'string') return v.split(',').map((x) => x.trim()).filter(Boolean);
  throw new BadValue('expected a comma-separated list or an array of strings');
}

function parseLabels(v: unknown): Record<string, LabelValue> {
  const out: Record<string, LabelValue> = {};
  if (typeof v === 'string') {
    for (const pair of v.split(',')) {
      if (!pair.trim()) continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new BadValue('expected key=value pairs separated by commas');
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return out;
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, val] of Object.entries(v)) {
      if (val === null || typeof val === 'string' || typeof val === 'number' || typeof val === 'boolean') out[k] = val;
      else throw new BadValue(`label "${k}" must be a string, number, boolean or null`);
    }
    return out;
  }
  throw new BadValue('expected key=value pairs separated by commas, or an object');
}

export function parseValue(kind: Kind, v: unknown): unknown {
  switch (kind.t) {
    case 'bool':
      return parseBool(v);
    case 'string':
      if (typeof v !== 'string') throw new BadValue('expected a string');
      return v;
    case 'url': {
      if (typeof v !== 'string') throw new BadValue('expected a URL string');
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw new BadValue('expected an http(s) URL');
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BadValue('expected an http(s) URL');
      return v.replace(/\/+$/, '');
    }
    case 'select': {
      const s = typeof v === 'string' ? v.trim().toLowerCase() : undefined;
      if (s === undefined || !kind.values.includes(s)) throw new BadValue(`expected one of ${kind.values.join(', ')}`);
      return s;
    }
    case 'sampleRate': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n) || n < 0 || n > 1) throw new BadValue('expected a number from 0 to 1');
      // The sampling spec: rates have at most 4 decimals, and a non-zero rate never rounds to 0.
      const r = Math.round(n * 10000) / 10000;
      return r === 0 && n > 0 ? 0.0001 : r;
    }
    case 'int': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < kind.min) throw new BadValue(`expected an integer of at least ${kind.min}`);
      return kind.infinity && n < 0 ? -1 : n;
    }
    case 'duration': {
      const ms = parseDuration(v, kind.unit, kind.negative);
      if (kind.positive && ms <= 0) throw new BadValue('expected a duration greater than zero');
      if (kind.maxMs !== undefined && ms > kind.maxMs) throw new BadValue('expected a duration of at most 24 days');
      return ms;
    }
    case 'bytes': {
      const n = parseBytes(v);
      if (kind.positive && n <= 0) throw new BadValue('expected a size greater than zero');
      return n;
    }
    case 'list':
      return parseList(v);
    case 'labels':
      return parseLabels(v);
  }
}

/** Writes one line to stderr without going through the (not yet configured) logger. */
export type WarnFn = (msg: string) => void;

function show(v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Reads the nearest package.json above dir (inclusive); undefined when none or unreadable. */
export function findPackageJson(dir: string): { name?: unknown; version?: unknown } | undefined {
  let d = dir;
  for (let i = 0; i < 64; i++) {
    try {
      return JSON.parse(readFileSync(join(d, 'package.json'), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') return undefined;
    }
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
  return undefined;
}

/** Makes a name valid for the server's `^[a-zA-Z0-9 _-]+$`: "@acme/api.v2" → "acme-api-v2"; "" stays "". */
export function sanitizeServiceName(name: string): string {
  return name
    .replace(/^@/, '')
    .replace(/[^a-zA-Z0-9 _-]/g, '-');
}

const SERVICE_NAME_RE = /^[a-zA-Z0-9 _-]+$/;
/** The shortest metrics interval accepted (a non-zero value below it is raised to it, with a warning). */
const MIN_METRICS_INTERVAL_MS = 1000;
/** The intake schemas' maxLength of keyword fields. */
const KEYWORD_MAX = 1024;
/** Options sent as metadata keywords (service.name, .version, .environment, .node.configured_name, system.configured_hostname). */
const KEYWORD_OPTIONS = new Set<string>(['serviceName', 'serviceVersion', 'environment', 'serviceNodeName', 'hostname']);

/** Where an option's value came from (the start-up preamble names it). */
export type ConfigSource = 'default' | 'file' | 'start' | 'environment';

export interface ResolvedConfig {
  config: AgentConfig;
  /** The source of each option whose value is not the built-in default. */
  sources: Partial<Record<keyof AgentConfig, ConfigSource>>;
  /** The config file read (absolute path), when there was one. */
  file: string | undefined;
}

/** The file names looked for in the working directory, in this order, when ELASTIC_APM_CONFIG_FILE is not set. */
export const CONFIG_FILE_NAMES = ['spanforge.config.js', 'spanforge.config.cjs', 'spanforge.config.mjs', 'spanforge.config.json'];

/**
 * Reads the config file: ELASTIC_APM_CONFIG_FILE (relative to cwd) or the first spanforge.config.{js,cjs,mjs,json}
 * in cwd. JavaScript files export the options object (`module.exports = {...}` or `export default {...}`); they are
 * loaded with require(), so an ES module file needs Node's require(esm) (20.19+, 22.12+). Never throws: a missing
 * named file, a syntax error or a non-object export is one warning and no file options.
 */
export function loadConfigFile(env: NodeJS.ProcessEnv, cwd: string, warn: WarnFn): { file: string | undefined; options: Record<string, unknown> } {
  try {
    return readConfigFile(env, cwd, warn);
  } catch (e) {
    // A runtime whose node:fs/node:path are partial (a worker's virtual file system): no file.
    warn(`cannot look for a config file: ${String((e as Error)?.message ?? e).split('\n')[0]}; no file options are used`);
    return { file: undefined, options: {} };
  }
}

function readConfigFile(env: NodeJS.ProcessEnv, cwd: string, warn: WarnFn): { file: string | undefined; options: Record<string, unknown> } {
  const named = env.ELASTIC_APM_CONFIG_FILE;
  let file: string | undefined;
  if (named !== undefined && named !== '') {
    file = isAbsolute(named) ? named : resolvePath(cwd, named);
    if (!existsSync(file)) {
      warn(`config file ${JSON.stringify(named)} (ELASTIC_APM_CONFIG_FILE) does not exist; no file options are used`);
      return { file: undefined, options: {} };
    }
  } else {
    for (const n of CONFIG_FILE_NAMES) {
      const f = join(cwd, n);
      if (existsSync(f)) {
        file = f;
        break;
      }
    }
    if (file === undefined) return { file: undefined, options: {} };
  }
  let value: unknown;
  try {
    if (file.endsWith('.json')) value = JSON.parse(readFileSync(file, 'utf8'));
    else {
      const req = createRequire(join(cwd, '__spanforge_config__.js'));
      value = req(file);
      if (value && typeof value === 'object' && '__esModule' in value && 'default' in value) value = (value as { default: unknown }).default;
      else if (value && typeof value === 'object' && Object.prototype.toString.call(value) === '[object Module]') value = (value as { default?: unknown }).default;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    const why = code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE'
      ? 'it is an ES module this Node.js cannot require(); use a .cjs or .json file'
      : String((e as Error)?.message ?? e).split('\n')[0];
    warn(`cannot read config file ${file}: ${why}; no file options are used`);
    return { file: undefined, options: {} };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    warn(`config file ${file} must export an object of options, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}; no file options are used`);
    return { file: undefined, options: {} };
  }
  return { file, options: value as Record<string, unknown> };
}

/**
 * Resolves the configuration. Precedence, as elastic-apm-node documents it: environment variable > start() option >
 * config file > default (central configuration, applied later at run time, sits above all of them). A bad value
 * produces one warning naming the option, its source and the value, then the default is used.
 */
export function resolveConfig(
  opts: AgentOptions = {},
  env: NodeJS.ProcessEnv = process.env,
  warn: WarnFn = (m) => process.stderr.write(`spanforge warning: ${m}\n`),
  cwd: string = safeCwd(),
): AgentConfig {
  return resolveConfigDetailed(opts, env, warn, cwd).config;
}

export function resolveConfigDetailed(
  opts: AgentOptions = {},
  env: NodeJS.ProcessEnv = process.env,
  warn: WarnFn = (m) => process.stderr.write(`spanforge warning: ${m}\n`),
  cwd: string = safeCwd(),
): ResolvedConfig {
  const out: Record<string, unknown> = {};
  const sources: Partial<Record<keyof AgentConfig, ConfigSource>> = {};
  if (opts === null || typeof opts !== 'object') {
    warn(`start() options must be an object, got ${show(opts)}; using defaults`);
    opts = {};
  }
  const known = new Set<string>(OPTIONS.map((o) => o.name));
  for (const k of Object.keys(opts)) {
    if (!known.has(k)) warn(`unknown option "${k}" passed to start(); ignored`);
  }
  const { file, options: fileOpts } = loadConfigFile(env, cwd, warn);
  for (const k of Object.keys(fileOpts)) {
    if (!known.has(k)) warn(`unknown option "${k}" in config file ${file}; ignored`);
  }
  for (const spec of OPTIONS) {
    const envRaw = env[spec.env];
    const optRaw = (opts as Record<string, unknown>)[spec.name];
    const fileRaw = fileOpts[spec.name];
    let value: unknown = spec.def === undefined ? undefined : parseValue(spec.kind, spec.def);
    let raw: unknown;
    let source: ConfigSource = 'default';
    let where = '';
    if (envRaw !== undefined && envRaw !== '') [raw, source, where] = [envRaw, 'environment', spec.env];
    else if (optRaw !== undefined) [raw, source, where] = [optRaw, 'start', `option ${spec.name}`];
    else if (fileRaw !== undefined) [raw, source, where] = [fileRaw, 'file', `option ${spec.name} in config file ${file}`];
    if (source !== 'default') {
      try {
        value = parseValue(spec.kind, raw);
        sources[spec.name] = source;
      } catch (e) {
        if (!(e instanceof BadValue)) throw e;
        warn(`invalid value ${show(raw)} for ${where}: ${e.message}; using the default`);
      }
    }
    out[spec.name] = value;
  }
  if (out.logLevel === 'warn') out.logLevel = 'warning';
  if (out.logLevel === 'fatal') out.logLevel = 'critical';
  if (out.environment === undefined) out.environment = env.NODE_ENV || 'development';

  // Zero-conf: service name and version from the nearest package.json, as Elastic's agent does.
  let pkg: { name?: unknown; version?: unknown } | undefined;
  if (out.serviceName === undefined || out.serviceVersion === undefined) pkg = findPackageJson(cwd);
  if (out.serviceName !== undefined && !SERVICE_NAME_RE.test(out.serviceName as string)) {
    const fixed = sanitizeServiceName(out.serviceName as string);
    warn(`service name ${show(out.serviceName)} has characters other than a-z, A-Z, 0-9, space, _ and -; using ${show(fixed || 'unknown-nodejs-service')}`);
    out.serviceName = fixed || 'unknown-nodejs-service';
  }
  if (out.serviceName === undefined) {
    const n = typeof pkg?.name === 'string' ? sanitizeServiceName(pkg.name) : '';
    out.serviceName = n || 'unknown-nodejs-service';
  }
  if (out.serviceVersion === undefined && typeof pkg?.version === 'string') out.serviceVersion = pkg.version;
  // The intake schemas limit these keywords to 1024 characters and APM Server refuses a whole request
  // whose metadata has a longer one, so every event would be lost: shorten them, and say so once.
  for (const spec of OPTIONS) {
    if (!KEYWORD_OPTIONS.has(spec.name)) continue;
    const v = out[spec.name];
    if (typeof v === 'string' && v.length > KEYWORD_MAX) {
      // A plain cut, no "…": service.name must also match ^[a-zA-Z0-9 _-]+$.
      const c = v.charCodeAt(KEYWORD_MAX - 1);
      out[spec.name] = v.slice(0, c >= 0xd800 && c <= 0xdbff ? KEYWORD_MAX - 1 : KEYWORD_MAX);
      warn(`${spec.name} (${spec.env}) is ${v.length} characters long, more than the ${KEYWORD_MAX} APM Server accepts; using its first ${KEYWORD_MAX}`);
    }
  }
  // Below a second the collectors (CPU, memory, event loop, GC) cost more than they tell and flood the
  // server; Elastic's Python agent refuses 1-999 ms for the same reason. Clamp to 1 s and say so.
  const mi = out.metricsInterval as number;
  if (mi > 0 && mi < MIN_METRICS_INTERVAL_MS) {
    const raw = env.ELASTIC_APM_METRICS_INTERVAL !== undefined && env.ELASTIC_APM_METRICS_INTERVAL !== '' ? 'ELASTIC_APM_METRICS_INTERVAL' : 'option metricsInterval';
    warn(`${raw} of ${mi} ms is below the minimum of 1s; using 1s (0 disables metrics)`);
    out.metricsInterval = MIN_METRICS_INTERVAL_MS;
  }
  // Elastic: metricsInterval=0 disables metrics, and so breakdown metrics too.
  if (out.metricsInterval === 0) out.breakdownMetrics = false;
  return { config: out as unknown as AgentConfig, sources, file };
}

function safeCwd(): string {
  try {
    return process.cwd();
  } catch {
    return '/';
  }
}
