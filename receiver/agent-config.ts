// Central agent configuration kept by the receiver (what Kibana's "APM agent configuration" is for APM Server):
// settings per service name and environment in the store's SQLite database, matched for /config/v1/agents with
// APM Server's precedence (name + environment, name alone, environment alone, catch-all), each with a stable ETag.
import { createHash } from 'node:crypto';
import type { SqlDatabase } from './sqlite.js';

export interface AgentConfigEntry {
  /** '' = every service. */
  service: string;
  /** '' = every environment. */
  environment: string;
  /** Central-config keys (Elastic's names, e.g. transaction_max_spans) → values as strings. */
  settings: Record<string, string>;
  etag: string;
  /** Epoch ms of the last change. */
  updated: number;
  /**
   * Epoch ms of the first poll that showed an agent has these settings (it sent their ETag back in If-None-Match,
   * as Kibana's "applied by agent" is known from APM Server); null until then, and again after each change.
   */
  applied: number | null;
}

type Row = { service: string; environment: string; settings: string; etag: string; updated: number; applied: number | null };
const COLUMNS = 'service, environment, settings, etag, updated, applied';

/** The keys Elastic's Node.js agent (and spanforge) accept at run time; the UI offers these. */
export const CENTRAL_KEYS = [
  'capture_body',
  'capture_headers',
  'exit_span_min_duration',
  'ignore_message_queues',
  'log_level',
  'recording',
  'sanitize_field_names',
  'span_compression_enabled',
  'span_compression_exact_match_max_duration',
  'span_compression_same_kind_max_duration',
  'span_stack_trace_min_duration',
  'transaction_ignore_urls',
  'transaction_max_spans',
  'transaction_sample_rate',
] as const;

const KEY_RE = /^[a-z][a-z0-9_]{0,99}$/;
const MAX_VALUE = 1024;
const MAX_KEYS = 100;

export class AgentConfigError extends Error {}

/** Checks a settings object from the API: an object of at most 100 snake_case keys with string/number/boolean values (stored as strings, as APM Server does). */
export function normalizeSettings(v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AgentConfigError('settings must be an object of name → value');
  const out: Record<string, string> = {};
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_KEYS) throw new AgentConfigError(`at most ${MAX_KEYS} settings`);
  for (const [k, raw] of entries) {
    if (!KEY_RE.test(k)) throw new AgentConfigError(`setting name ${JSON.stringify(k)} must be snake_case (a-z, 0-9, _)`);
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') throw new AgentConfigError(`setting ${k} must be a string, number or boolean`);
    const s = String(raw).trim();
    if (s === '' || s.length > MAX_VALUE) throw new AgentConfigError(`setting ${k} must be 1 to ${MAX_VALUE} characters`);
    out[k] = s;
  }
  return out;
}

function etagOf(settings: Record<string, string>): string {
  const sorted = Object.keys(settings).sort().map((k) => [k, settings[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

export class AgentConfigs {
  constructor(private readonly db: SqlDatabase) {
    db.exec(`CREATE TABLE IF NOT EXISTS agent_config (
      service TEXT NOT NULL, environment TEXT NOT NULL, settings TEXT NOT NULL, etag TEXT NOT NULL, updated INTEGER NOT NULL,
      applied INTEGER, PRIMARY KEY (service, environment))`);
  }

  list(): AgentConfigEntry[] {
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM agent_config ORDER BY service, environment`).all() as Row[];
    return rows.map(fromRow);
  }

  /** Replaces the settings of one service/environment (an empty object deletes the entry). */
  put(service: string, environment: string, settings: Record<string, string>): AgentConfigEntry | undefined {
    if (Object.keys(settings).length === 0) {
      this.delete(service, environment);
      return undefined;
    }
    const etag = etagOf(settings);
    const updated = Date.now();
    this.db
      .prepare(
        'INSERT INTO agent_config (service, environment, settings, etag, updated, applied) VALUES (?,?,?,?,?,NULL) ON CONFLICT(service, environment) DO UPDATE SET settings=excluded.settings, etag=excluded.etag, updated=excluded.updated, applied=CASE WHEN agent_config.etag = excluded.etag THEN agent_config.applied ELSE NULL END',
      )
      .run(service, environment, JSON.stringify(settings), etag, updated);
    return this.match(service, environment, true)!;
  }

  /** An agent polled with this entry's current ETag: it has the settings (the first time is kept). */
  markApplied(entry: AgentConfigEntry): void {
    if (entry.applied !== null) return;
    this.db.prepare('UPDATE agent_config SET applied = ? WHERE service = ? AND environment = ? AND etag = ? AND applied IS NULL').run(Date.now(), entry.service, entry.environment, entry.etag);
  }

  delete(service: string, environment: string): boolean {
    return Number(this.db.prepare('DELETE FROM agent_config WHERE service = ? AND environment = ?').run(service, environment).changes) > 0;
  }

  /** APM Server's matchAgentConfig: name + environment, then name alone, then environment alone, then the catch-all. */
  match(service: string, environment: string, exact = false): AgentConfigEntry | undefined {
    const get = this.db.prepare(`SELECT ${COLUMNS} FROM agent_config WHERE service = ? AND environment = ?`);
    const order = exact ? [[service, environment]] : [[service, environment], [service, ''], ['', environment], ['', '']];
    for (const [s, e] of order) {
      const r = get.get(s, e) as Row | undefined;
      if (r) return fromRow(r);
    }
    return undefined;
  }
}

function fromRow(r: Row): AgentConfigEntry {
  return { ...r, applied: r.applied ?? null, settings: JSON.parse(r.settings) as Record<string, string> };
}
