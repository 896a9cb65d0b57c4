// Summarises a V8 .cpuprofile (from `node --cpu-prof`) by self time: the top functions and the
// share of each package (node_modules/<pkg>, spanforge's dist, node internals, GC, the app), so a
// missed target can say where the time goes. Usable alone: `node bench/overhead/profile.mjs FILE`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where a script belongs, for the per-package breakdown. */
function areaOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/cjs/') || url.includes('/dist/esm/')) return 'spanforge';
  if (url.includes('/bench/overhead/')) return 'app';
  return 'other';
}

function shortUrl(url) {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
}

/**
 * Self time per function and per area, in milliseconds and as a share of the busy (non-idle) time.
 * Example: summariseProfile(JSON.parse(readFileSync('x.cpuprofile', 'utf8')), { top: 15 }).
 */
export function summariseProfile(profile, { top = 20 } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map();
  const areas = new Map();
  let busyUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const key = `${name} ${shortUrl(callFrame.url)}${callFrame.url ? `:${callFrame.lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const area = areaOf(callFrame.url, name);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const rank = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, pct: busyUs ? Math.round((us / busyUs) * 1000) / 10 : 0 }));
  return { busyMs: Math.round(busyUs / 1000), idleMs: Math.round(idleUs / 1000), topFunctions: rank(functions).slice(0, top), byArea: rank(areas) };
}

export function formatProfileSummary(summary, top = 20) {
  const lines = [`busy ${summary.busyMs} ms, idle ${summary.idleMs} ms`, 'self time by area:'];
  for (const a of summary.byArea.slice(0, 12)) lines.push(`  ${String(a.pct).padStart(5)}%  ${a.selfMs} ms  ${a.name}`);
  lines.push('top functions by self time:');
  for (const f of summary.topFunctions.slice(0, top)) lines.push(`  ${String(f.pct).padStart(5)}%  ${f.selfMs} ms  ${f.name}`);
  return lines.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/overhead/profile.mjs FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  process.stdout.write(formatProfileSummary(summariseProfile(JSON.parse(readFileSync(file, 'utf8')), { top }), top));
}
