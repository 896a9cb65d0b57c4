#!/usr/bin/env node
// The `spanforge` command line: parses the sub-command and its flags, and runs it. Today it has
// `serve` (the local intake-v2 receiver + web UI); wrong usage exits 2 with a message and usage.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startReceiver } from '../receiver/index.js';
import { init } from './init.js';

const USAGE = `Usage: spanforge <command> [options]

Commands:
  serve     Run the local APM receiver (Elastic intake v2) with its embedded store and web UI
  init      Wire spanforge into this project (build tool, TypeScript + ts-patch, start import); --check lists what is missing

spanforge serve [--port 8200] [--host 127.0.0.1] [--data-dir DIR]
  --port N            TCP port (default 8200, the APM Server port; 0 = any free port)
  --host ADDR         interface to bind (default 127.0.0.1: loopback only)
  --data-dir DIR      where events are stored (default: $SPANFORGE_DATA_DIR, else ~/.spanforge/data)
  --secret-token T    require "Authorization: Bearer T" from agents (or $SPANFORGE_SECRET_TOKEN)
  --api-key K         accept "Authorization: ApiKey K" from agents (or $SPANFORGE_API_KEY)
                      with a token or key, the web UI and /api ask for it too (a one-time
                      sign-in link is printed at start)
  --allowed-host NAME another name browsers may use to reach the UI (repeatable; .example.com
                      for a domain, * for any; or $SPANFORGE_ALLOWED_HOSTS, comma-separated)
  --rum-allow-origin O  let pages of origin O send events (RUM; repeatable, * globs as APM
                      Server's rum.allow_origins; or $SPANFORGE_RUM_ALLOW_ORIGINS, comma-separated)
  -h, --help          show this help
`;

/** A usage mistake: printed with the usage text, exit code 2. */
export class UsageError extends Error {}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '0:0:0:0:0:0:0:1']);

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SPANFORGE_DATA_DIR ? resolve(env.SPANFORGE_DATA_DIR) : join(homedir(), '.spanforge', 'data');
}

function parsePort(v: string | undefined): number {
  if (v === undefined) return 8200;
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got '${v}'`);
  return Number(v);
}

export interface ServeOptions {
  port: number;
  host: string;
  dataDir: string;
  secretToken: string | undefined;
  apiKey: string | undefined;
  /** Extra Host names for the DNS-rebinding check (--allowed-host). */
  allowedHosts: string[];
  /** Origins allowed to send RUM events (--rum-allow-origin). */
  rumAllowOrigins: string[];
  /** Set by -h/--help: print the usage and exit 0. */
  help: boolean;
}

/** Parses `serve`'s flags with their defaults (port 8200, host 127.0.0.1, data dir); throws UsageError. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        'secret-token': { type: 'string' },
        'api-key': { type: 'string' },
        'allowed-host': { type: 'string', multiple: true },
        'rum-allow-origin': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    // parseArgs' messages name the flag ("Unknown option '--bogus'"); keep them, add the usage.
    throw new UsageError((err as Error).message.split('. To specify')[0]!);
  }
  const port = parsePort(values.port);
  const host = values.host ?? '127.0.0.1';
  if (host === '') throw new UsageError('--host must not be empty');
  const dataDir = values['data-dir'] ? resolve(values['data-dir']) : defaultDataDir(env);
  const secretToken = values['secret-token'] ?? env.SPANFORGE_SECRET_TOKEN;
  const apiKey = values['api-key'] ?? env.SPANFORGE_API_KEY;
  const listOf = (flag: string[] | undefined, envValue: string | undefined): string[] =>
    (flag ?? (envValue ? [envValue] : [])).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const allowedHosts = listOf(values['allowed-host'], env.SPANFORGE_ALLOWED_HOSTS);
  const rumAllowOrigins = listOf(values['rum-allow-origin'], env.SPANFORGE_RUM_ALLOW_ORIGINS);
  return { port, host, dataDir, secretToken: secretToken || undefined, apiKey: apiKey || undefined, allowedHosts, rumAllowOrigins, help: values.help === true };
}

/** The warning printed when binding a non-loopback host without credentials, else undefined. */
export function exposureWarning(host: string, secretToken?: string, apiKey?: string): string | undefined {
  if (LOOPBACK.has(host) || secretToken || apiKey) return undefined;
  return `warning: listening on ${host} without --secret-token: anyone who can reach this port can send and read data`;
}

async function serve(argv: string[]): Promise<number> {
  const { port, host, dataDir, secretToken, apiKey, allowedHosts, rumAllowOrigins, help } = parseServeArgs(argv);
  if (help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let receiver;
  try {
    // SPANFORGE_FLUSH_INTERVAL_MS: how long accepted events may wait in memory (tests raise it to
    // prove that a signal flushes the pending batch).
    const flush = Number(process.env.SPANFORGE_FLUSH_INTERVAL_MS) || undefined;
    // SPANFORGE_READ_TIMEOUT_MS: APM Server's read timeout (default 30 s); tests shorten it.
    const readTimeoutMs = Number(process.env.SPANFORGE_READ_TIMEOUT_MS) || undefined;
    // SPANFORGE_MAX_AGE_MS: events older than this are deleted by the periodic retention pass (default
    // 7 days); tests that store APM Server's 2017-2022-dated reference payloads raise it.
    const maxAgeMs = Number(process.env.SPANFORGE_MAX_AGE_MS) || undefined;
    receiver = await startReceiver({ port, host, dataDir, secretToken, apiKey, allowedHosts, rumAllowOrigins, flushIntervalMs: flush, readTimeoutMs, maxAgeMs });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(`spanforge serve: port ${port} on ${host} is already in use (another APM Server or spanforge serve?); choose another with --port\n`);
    } else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') {
      process.stderr.write(`spanforge serve: cannot bind to --host ${host}: ${e.message}\n`);
    } else if (e.code === 'EACCES') {
      process.stderr.write(`spanforge serve: not allowed to bind ${host}:${port} (${e.message})\n`);
    } else {
      process.stderr.write(`spanforge serve: ${e.message}\n`);
    }
    return 1;
  }
  const out = process.stdout;
  // Handlers go in before the URLs are printed: a signal that arrives before a listener exists
  // kills the process at once (the default action), without flushing the store.
  const stopped = new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`spanforge serve: ${signal} again, exiting without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      out.write(`${signal} received, flushing stored events and stopping…\n`);
      receiver.close().then(
        () => {
          out.write('stopped\n');
          done(0);
        },
        (err: Error) => {
          process.stderr.write(`spanforge serve: error while stopping: ${err.message}\n`);
          done(1);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  out.write(`spanforge receiver is running\n`);
  out.write(`  intake:  ${receiver.url}/intake/v2/events   (point agents at serverUrl ${receiver.url})\n`);
  out.write(`  web UI:  ${receiver.uiUrl}\n`);
  const signIn = receiver.loginUrl();
  if (signIn) out.write(`  sign in: ${signIn}   (one-time link; or enter the token at ${receiver.url}/ui/login)\n`);
  out.write(`  data:    ${dataDir}\n`);
  const warning = exposureWarning(host, secretToken, apiKey);
  if (warning) out.write(`  ${warning}\n`);
  out.write('Press Ctrl+C to stop.\n');
  return stopped;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { serve, init: (argv) => init(argv) };

/** Runs the CLI with the given arguments (without node and script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      (command === undefined ? process.stderr : process.stdout).write(USAGE);
      return command === undefined ? 2 : 0;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command '${command}'`);
    return await run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`spanforge: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`spanforge: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
