// Who may talk to the receiver: the Host check against DNS rebinding, the Origin / Sec-Fetch-Site
// check against cross-site requests (with APM Server's rum.allow_origins as the opt-in), and the
// web UI's sessions when a secret token or API key is configured (a login form, one-time links).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostname as osHostname } from 'node:os';

export interface GuardOptions {
  /** The --host the server was asked to bind (a name, an address, or a wildcard). */
  listenHost: string;
  /** Extra Host names to accept (`name`, `.suffix.example` for a domain and its subdomains, `*` for any). */
  allowedHosts?: string[];
  /** Origins whose pages may send events (APM Server's rum.allow_origins: `*` globs). */
  rumAllowOrigins?: string[];
  secretToken?: string;
  apiKey?: string;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']);

/** `name:port` / `[v6]:port` / `name` → lower-case host name without port or trailing dot. */
export function hostOf(header: string): string | undefined {
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  if (colon >= 0) {
    if (!/^:\d{1,5}$/.test(h.slice(colon))) return undefined;
    h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h === '' ? undefined : h;
}

/** An address as it appears in a Host header: IPv6 in brackets, IPv4-mapped IPv6 as IPv4. */
function asHost(addr: string): string {
  const a = addr.toLowerCase();
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  if (a.includes(':')) return a.startsWith('[') ? a : `[${a}]`;
  return a.endsWith('.') ? a.slice(0, -1) : a;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A `*` glob as APM Server's (go-glob): `*` matches any run of characters, nothing else is special. */
function globMatch(pattern: string, s: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === s;
  if (!s.startsWith(parts[0]!) || !s.endsWith(parts[parts.length - 1]!)) return false;
  let at = parts[0]!.length;
  const endLimit = s.length - parts[parts.length - 1]!.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const j = s.indexOf(parts[i]!, at);
    if (j < 0 || j + parts[i]!.length > endLimit) return false;
    at = j + parts[i]!.length;
  }
  return at <= endLimit;
}

/** Is this request a browser's (it carries Origin or a Sec-Fetch-* header)? */
export function fromBrowser(req: IncomingMessage): boolean {
  return req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined || req.headers['sec-fetch-mode'] !== undefined;
}

const SESSION_MS = 12 * 3600_000;
const MAX_SESSIONS = 256;
const CODE_MS = 24 * 3600_000;
const MAX_CODES = 64;

export class Guard {
  private readonly listen: string;
  private readonly extra: string[];
  private readonly sessions = new Map<string, number>();
  private readonly codes = new Map<string, number>();
  /** Cookie name; it carries the port because browsers share cookies between ports of one host. */
  cookieName = 'spanforge_session';

  constructor(private readonly o: GuardOptions) {
    this.listen = asHost(o.listenHost);
    this.extra = (o.allowedHosts ?? []).map((h) => h.trim().toLowerCase()).filter(Boolean);
  }

  setPort(port: number): void {
    this.cookieName = `spanforge_session_${port}`;
  }

  get authRequired(): boolean {
    return Boolean(this.o.secretToken || this.o.apiKey);
  }

  /**
   * The Host check (DNS rebinding): undefined when the Host names this receiver, else the refusal.
   * Accepted: localhost, the address the connection arrived on, the --host value, loopback
   * addresses when listening on loopback, this machine's host name when listening on all
   * interfaces, and the configured names.
   */
  hostProblem(req: IncomingMessage): string | undefined {
    const header = req.headers.host;
    if (header === undefined) return undefined; // HTTP/1.0 without Host: not a browser
    const h = hostOf(header);
    if (h === undefined) return `forbidden request: malformed Host header '${header.slice(0, 100)}'`;
    if (h === 'localhost' || h === this.listen) return undefined;
    const local = req.socket.localAddress ? asHost(req.socket.localAddress) : undefined;
    if (h === local) return undefined;
    if (isLoopback(this.listen) && isLoopback(h)) return undefined;
    if (WILDCARDS.has(this.o.listenHost) && h === osHostname().toLowerCase()) return undefined;
    for (const x of this.extra) {
      if (x === '*' || x === h || (x.startsWith('.') && (h.endsWith(x) || h === x.slice(1)))) return undefined;
    }
    return `forbidden request: host '${h}' is not this receiver's address; start it with --allowed-host ${h} if that name is meant to reach it`;
  }

  /**
   * The cross-site check: undefined for non-browser clients and same-origin browser requests, else
   * the foreign origin (or a description when only Sec-Fetch-Site tells).
   */
  foreignOrigin(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const own = req.headers.host !== undefined ? `http://${req.headers.host.toLowerCase()}` : undefined;
    if (origin !== undefined && origin.toLowerCase() !== own) return origin;
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return origin ?? '';
    return undefined;
  }

  /** Is this origin allowed to send RUM events (rumAllowOrigins globs)? */
  rumAllowed(origin: string): boolean {
    return (this.o.rumAllowOrigins ?? []).some((p) => globMatch(p, origin));
  }

  get rumEnabled(): boolean {
    return (this.o.rumAllowOrigins ?? []).length > 0;
  }

  /** Checks a token typed into the login form against the secret token and the API key. */
  tokenMatches(token: string): boolean {
    const eq = (a: string, b: string | undefined): boolean => {
      if (!b) return false;
      const x = Buffer.from(a);
      const y = Buffer.from(b);
      return x.length === y.length && timingSafeEqual(x, y);
    };
    return eq(token, this.o.secretToken) || eq(token, this.o.apiKey);
  }

  /** A new session id (the cookie's value). */
  newSession(): string {
    const now = Date.now();
    for (const [k, exp] of this.sessions) if (exp < now || this.sessions.size >= MAX_SESSIONS) this.sessions.delete(k);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, now + SESSION_MS);
    return id;
  }

  setCookie(id: string): string {
    return `${this.cookieName}=${id}; Path=/; HttpOnly; SameSite=Strict`;
  }

  /** Does the request carry a live session cookie? */
  hasSession(req: IncomingMessage): boolean {
    const cookie = req.headers.cookie;
    if (!cookie) return false;
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== this.cookieName) continue;
      const exp = this.sessions.get(part.slice(eq + 1).trim());
      if (exp !== undefined && exp >= Date.now()) return true;
    }
    return false;
  }

  /** A one-time login code for a link like /ui/login?code=… (valid once, for 24 h). */
  newLoginCode(): string {
    const now = Date.now();
    for (const [k, exp] of this.codes) if (exp < now || this.codes.size >= MAX_CODES) this.codes.delete(k);
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, now + CODE_MS);
    return code;
  }

  /** Uses up a one-time code; true when it was valid. */
  redeemLoginCode(code: string): boolean {
    const exp = this.codes.get(code);
    this.codes.delete(code);
    return exp !== undefined && exp >= Date.now();
  }
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The sign-in page of the web UI (no script: a form that posts the token to /ui/login). */
export function loginPage(message: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>spanforge: sign in</title>
  <link rel="stylesheet" href="/ui/style.css">
</head>
<body>
  <header><span class="brand">spanforge</span></header>
  <main>
    <h1>Sign in</h1>
    <p>This receiver was started with a secret token or API key. Enter it to see its data, or open the one-time link <code>spanforge serve</code> printed.</p>
    ${message ? `<p class="error" id="login-error">${esc(message)}</p>` : ''}
    <form method="post" action="/ui/login">
      <label>Secret token or API key <input type="password" name="token" autocomplete="current-password" autofocus required></label>
      <button type="submit">Sign in</button>
    </form>
  </main>
</body>
</html>
`;
}
