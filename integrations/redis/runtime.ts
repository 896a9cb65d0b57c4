// node-redis run-time handler: a `db`/`redis`/`query` exit span per command, named as elastic-apm-node
// names node-redis 4 commands (the command, or its first two words for container commands: `GET`,
// `HSET`, `CONFIG GET`), with destination / service target `redis` and no statement (arguments and
// values are never recorded). On a multi, commands are only queued; `exec()` opens `MULTI`, one span
// per queued command and `EXEC`, `execAsPipeline()` one span per queued command, all ending when the
// call settles (the error, if any, reported once, on the last span).
import { endSpan, runCall, startSpan, type AbiCore, type CallHandler, type Site, type Span } from '../../runtime/abi-kit.js';

/** Camel-case members whose command-table key is not their upper case (`configGet` → `CONFIG_GET`). */
const CAMEL: ReadonlyMap<string, string> = new Map(
  (
  'aclCat:ACL_CAT aclDelUser:ACL_DELUSER aclDryRun:ACL_DRYRUN aclGenPass:ACL_GENPASS ' +
  'aclGetUser:ACL_GETUSER aclList:ACL_LIST aclLoad:ACL_LOAD aclLog:ACL_LOG ' +
  'aclLogReset:ACL_LOG_RESET aclSave:ACL_SAVE aclSetUser:ACL_SETUSER aclUsers:ACL_USERS ' +
  'aclWhoAmI:ACL_WHOAMI arGrepWithValues:ARGREP_WITHVALUES backupAbort:BACKUP_ABORT ' +
  'backupCleanup:BACKUP_CLEANUP backupList:BACKUP_LIST backupSeal:BACKUP_SEAL ' +
  'backupStart:BACKUP_START backupStatus:BACKUP_STATUS bitFieldRo:BITFIELD_RO ' +
  'blessClear:BLESS_CLEAR blessGet:BLESS_GET blessScan:BLESS_SCAN blessSet:BLESS_SET ' +
  'clientCaching:CLIENT_CACHING clientGetName:CLIENT_GETNAME clientGetRedir:CLIENT_GETREDIR ' +
  'clientId:CLIENT_ID clientInfo:CLIENT_INFO clientKill:CLIENT_KILL clientList:CLIENT_LIST ' +
  'clientNoEvict:CLIENT_NO-EVICT clientNoTouch:CLIENT_NO-TOUCH clientPause:CLIENT_PAUSE ' +
  'clientSetName:CLIENT_SETNAME clientTracking:CLIENT_TRACKING ' +
  'clientTrackingInfo:CLIENT_TRACKINGINFO clientUnblock:CLIENT_UNBLOCK ' +
  'clientUnpause:CLIENT_UNPAUSE clusterAddSlots:CLUSTER_ADDSLOTS ' +
  'clusterAddSlotsRange:CLUSTER_ADDSLOTSRANGE clusterBumpEpoch:CLUSTER_BUMPEPOCH ' +
  'clusterCountFailureReports:CLUSTER_COUNT-FAILURE-REPORTS ' +
  'clusterCountKeysInSlot:CLUSTER_COUNTKEYSINSLOT clusterDelSlots:CLUSTER_DELSLOTS ' +
  'clusterDelSlotsRange:CLUSTER_DELSLOTSRANGE clusterFailover:CLUSTER_FAILOVER ' +
  'clusterFlushSlots:CLUSTER_FLUSHSLOTS clusterForget:CLUSTER_FORGET ' +
  'clusterGetKeysInSlot:CLUSTER_GETKEYSINSLOT clusterInfo:CLUSTER_INFO ' +
  'clusterKeySlot:CLUSTER_KEYSLOT clusterLinks:CLUSTER_LINKS clusterMeet:CLUSTER_MEET ' +
  'clusterMyId:CLUSTER_MYID clusterMyShardId:CLUSTER_MYSHARDID clusterNodes:CLUSTER_NODES ' +
  'clusterReplicas:CLUSTER_REPLICAS clusterReplicate:CLUSTER_REPLICATE clusterReset:CLUSTER_RESET ' +
  'clusterSaveConfig:CLUSTER_SAVECONFIG clusterSetConfigEpoch:CLUSTER_SET-CONFIG-EPOCH ' +
  'clusterSetSlot:CLUSTER_SETSLOT clusterSlots:CLUSTER_SLOTS commandCount:COMMAND_COUNT ' +
  'commandDocs:COMMAND_DOCS commandGetKeys:COMMAND_GETKEYS ' +
  'commandGetKeysAndFlags:COMMAND_GETKEYSANDFLAGS commandInfo:COMMAND_INFO ' +
  'commandList:COMMAND_LIST configGet:CONFIG_GET configResetStat:CONFIG_RESETASTAT ' +
  'configRewrite:CONFIG_REWRITE configSet:CONFIG_SET evalRo:EVAL_RO evalShaRo:EVALSHA_RO ' +
  'fCallRo:FCALL_RO functionDelete:FUNCTION_DELETE functionDump:FUNCTION_DUMP ' +
  'functionFlush:FUNCTION_FLUSH functionKill:FUNCTION_KILL functionList:FUNCTION_LIST ' +
  'functionListWithCode:FUNCTION_LIST_WITHCODE functionLoad:FUNCTION_LOAD ' +
  'functionRestore:FUNCTION_RESTORE functionStats:FUNCTION_STATS ' +
  'geoRadiusByMemberRo:GEORADIUSBYMEMBER_RO geoRadiusByMemberRoWith:GEORADIUSBYMEMBER_RO_WITH ' +
  'geoRadiusByMemberStore:GEORADIUSBYMEMBER_STORE geoRadiusByMemberWith:GEORADIUSBYMEMBER_WITH ' +
  'geoRadiusRo:GEORADIUS_RO geoRadiusRoWith:GEORADIUS_RO_WITH geoRadiusStore:GEORADIUS_STORE ' +
  'geoRadiusWith:GEORADIUS_WITH geoSearchWith:GEOSEARCH_WITH hImportDiscard:HIMPORT_DISCARD ' +
  'hImportDiscardAll:HIMPORT_DISCARDALL hImportPrepare:HIMPORT_PREPARE hImportSet:HIMPORT_SET ' +
  'hRandFieldCount:HRANDFIELD_COUNT hRandFieldCountWithValues:HRANDFIELD_COUNT_WITHVALUES ' +
  'hScanNoValues:HSCAN_NOVALUES hotkeysGet:HOTKEYS_GET hotkeysReset:HOTKEYS_RESET ' +
  'hotkeysStart:HOTKEYS_START hotkeysStop:HOTKEYS_STOP lPopCount:LPOP_COUNT lPosCount:LPOS_COUNT ' +
  'latencyDoctor:LATENCY_DOCTOR latencyGraph:LATENCY_GRAPH latencyHistogram:LATENCY_HISTOGRAM ' +
  'latencyHistory:LATENCY_HISTORY latencyLatest:LATENCY_LATEST latencyReset:LATENCY_RESET ' +
  'lcsIdx:LCS_IDX lcsIdxWithMatchLen:LCS_IDX_WITHMATCHLEN lcsLen:LCS_LEN ' +
  'memoryDoctor:MEMORY_DOCTOR memoryMallocStats:MEMORY_MALLOC-STATS memoryPurge:MEMORY_PURGE ' +
  'memoryStats:MEMORY_STATS memoryUsage:MEMORY_USAGE moduleList:MODULE_LIST moduleLoad:MODULE_LOAD ' +
  'moduleUnload:MODULE_UNLOAD objectEncoding:OBJECT_ENCODING objectFreq:OBJECT_FREQ ' +
  'objectIdleTime:OBJECT_IDLETIME objectRefCount:OBJECT_REFCOUNT pubSubChannels:PUBSUB_CHANNELS ' +
  'pubSubNumPat:PUBSUB_NUMPAT pubSubNumSub:PUBSUB_NUMSUB pubSubShardChannels:PUBSUB_SHARDCHANNELS ' +
  'pubSubShardNumSub:PUBSUB_SHARDNUMSUB rPopCount:RPOP_COUNT restoreAsking:RESTORE-ASKING ' +
  'sPopCount:SPOP_COUNT sRandMemberCount:SRANDMEMBER_COUNT scriptDebug:SCRIPT_DEBUG ' +
  'scriptExists:SCRIPT_EXISTS scriptFlush:SCRIPT_FLUSH scriptKill:SCRIPT_KILL ' +
  'scriptLoad:SCRIPT_LOAD sortRo:SORT_RO sortStore:SORT_STORE vEmbRaw:VEMB_RAW ' +
  'vLinksWithScores:VLINKS_WITHSCORES vSimWithScores:VSIM_WITHSCORES ' +
  'xAddNoMkStream:XADD_NOMKSTREAM xAutoClaimJustId:XAUTOCLAIM_JUSTID xClaimJustId:XCLAIM_JUSTID ' +
  'xGroupCreate:XGROUP_CREATE xGroupCreateConsumer:XGROUP_CREATECONSUMER ' +
  'xGroupDelConsumer:XGROUP_DELCONSUMER xGroupDestroy:XGROUP_DESTROY xGroupSetId:XGROUP_SETID ' +
  'xInfoConsumers:XINFO_CONSUMERS xInfoGroups:XINFO_GROUPS xInfoStream:XINFO_STREAM ' +
  'xPendingRange:XPENDING_RANGE zAddIncr:ZADD_INCR zDiffWithScores:ZDIFF_WITHSCORES ' +
  'zInterWithScores:ZINTER_WITHSCORES zPopMaxCount:ZPOPMAX_COUNT zPopMinCount:ZPOPMIN_COUNT ' +
  'zRandMemberCount:ZRANDMEMBER_COUNT zRandMemberCountWithScores:ZRANDMEMBER_COUNT_WITHSCORES ' +
  'zRangeByScoreWithScores:ZRANGEBYSCORE_WITHSCORES zRangeWithScores:ZRANGE_WITHSCORES ' +
  'zRankWithScore:ZRANK_WITHSCORE zRevRankWithScore:ZREVRANK_WITHSCORE ' +
  'zUnionWithScores:ZUNION_WITHSCORES'
  )
    .split(' ')
    .map((e) => e.split(':') as [string, string]),
);

/** Commands named by their first two words (elastic-apm-node's list, plus node-redis's other container tables). */
const CONTAINERS = new Set(
  'ACL BACKUP BLESS CLIENT CLUSTER COMMAND CONFIG FUNCTION HIMPORT HOTKEYS LATENCY MEMORY MODULE OBJECT PUBSUB SCRIPT SLOWLOG XGROUP XINFO'.split(' '),
);

/** The span name of a command-table key or member: `HSET`, `hSet` → HSET; `CONFIG_GET`, `configGet` → CONFIG GET; `ZRANGE_WITHSCORES` → ZRANGE; `SORT_RO` → SORT_RO. */
export function commandName(member: string): string {
  const key = member === member.toUpperCase() ? member : (CAMEL.get(member) ?? member.toUpperCase());
  const words = key.split('_');
  if (words.length === 1) return key;
  if (CONTAINERS.has(words[0]!)) return `${words[0]} ${words[1]}`;
  if (words[1] === 'RO') return `${words[0]}_RO`;
  return words[0]!;
}

/** The span name of raw command arguments (`sendCommand(['CONFIG', 'GET', 'x'])`, a multi's `addCommand`). */
function argsName(args: unknown): string {
  if (!Array.isArray(args) || args.length === 0) return 'UNKNOWN';
  const word = (v: unknown) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('latin1') : '').toUpperCase();
  const first = word(args[0]);
  if (!first) return 'UNKNOWN';
  return CONTAINERS.has(first) && args.length >= 2 && word(args[1]) ? `${first} ${word(args[1])}` : first;
}

interface ClientLike {
  options?: { url?: unknown; socket?: { host?: unknown; port?: unknown; path?: unknown } };
  execAsPipeline?: unknown;
}

/** Commands queued on each multi by instrumented sites, until it is sent. */
const queued = new WeakMap<object, string[]>();
/** The client each multi was made from (for the destination): multis do not expose it. */
const clientOf = new WeakMap<object, ClientLike>();

function destination(c: ClientLike | undefined): { address: string; port?: number } {
  let address = 'localhost';
  let port = 6379;
  // A cluster (createCluster) has no socket of its own: the first root node stands for it.
  const own = c?.options as (ClientLike['options'] & { rootNodes?: unknown }) | undefined;
  const o = own && Array.isArray(own.rootNodes) && !own.socket && !own.url ? (own.rootNodes[0] as ClientLike['options']) : own;
  if (o && typeof o.url === 'string') {
    try {
      const u = new URL(o.url);
      if (u.hostname) address = u.hostname.replace(/^\[|\]$/g, '');
      if (u.port) port = Number(u.port);
    } catch {
      // keep the defaults
    }
  }
  const s = o?.socket;
  if (s && typeof s.host === 'string') address = s.host;
  if (s && s.port !== undefined && Number.isInteger(Number(s.port))) port = Number(s.port);
  if (s && typeof s.path === 'string') return { address: 'localhost' };
  return { address, ...(port > 0 ? { port } : {}) };
}

function open(core: AbiCore, site: Site, name: string, c: ClientLike | undefined): Span | undefined {
  const span = startSpan(core, site, name, true);
  if (!span) return undefined;
  try {
    span.setDbContext({ type: 'redis' });
    span.setDestination({ ...destination(c), serviceTargetType: 'redis' });
  } catch {
    // context is best effort
  }
  return span;
}

const isMulti = (t: unknown): t is object => !!t && typeof t === 'object' && typeof (t as ClientLike).execAsPipeline === 'function';

/** Ends every span when `result` settles, on a side chain: the caller gets node-redis's own promise. */
function observe(core: AbiCore, spans: Span[], result: unknown): unknown {
  const done = (failed: boolean, v: unknown) => {
    for (const s of spans) endSpan(core, s, failed, failed && s === spans[spans.length - 1] ? v : undefined);
  };
  try {
    (result as PromiseLike<unknown>).then(
      () => done(false, undefined),
      (e) => done(true, e),
    );
  } catch {
    done(false, undefined);
  }
  return result;
}

function send(core: AbiCore, spans: Span[], thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[]): unknown {
  if (spans.length === 0) return Reflect.apply(fn, thisArg, args);
  let result: unknown;
  try {
    result = Reflect.apply(fn, thisArg, args);
  } catch (err) {
    for (const s of spans) endSpan(core, s, true, s === spans[spans.length - 1] ? err : undefined);
    throw err;
  }
  if (result && typeof (result as { then?: unknown }).then === 'function') return observe(core, spans, result);
  for (const s of spans) endSpan(core, s, false, undefined);
  return result;
}

const EXEC = new Set(['exec', 'EXEC', 'execTyped']);
const PIPELINE = new Set(['execAsPipeline', 'execAsPipelineTyped']);

export const handlers: Record<string, CallHandler> = {
  redis(core, site, thisArg, fn, args) {
    const member = site.name ?? '';
    if (isMulti(thisArg)) {
      if (EXEC.has(member) || PIPELINE.has(member)) {
        const names = queued.get(thisArg) ?? [];
        queued.delete(thisArg);
        // exec(true) is execAsPipeline() (node-redis 4 and 5)
        const pipeline = PIPELINE.has(member) || args[0] === true;
        const all = pipeline ? names : ['MULTI', ...names, 'EXEC'];
        const c = clientOf.get(thisArg);
        const spans = names.length === 0 ? [] : all.map((n) => open(core, site, n, c)).filter((s): s is Span => s !== undefined);
        return send(core, spans, thisArg, fn, args);
      }
      try {
        const list = queued.get(thisArg) ?? [];
        list.push(member === 'addCommand' ? argsName(args[0]) : commandName(member));
        queued.set(thisArg, list);
      } catch {
        // ignore
      }
      return Reflect.apply(fn, thisArg, args);
    }
    const c = thisArg as ClientLike | undefined;
    if (member === 'multi' || member === 'MULTI') {
      // No span: the multi's commands are spans when it is sent; remember its client for their destination.
      const m: unknown = Reflect.apply(fn, thisArg, args);
      try {
        if (isMulti(m) && c && typeof c === 'object') clientOf.set(m, c);
      } catch {
        // ignore
      }
      return m;
    }
    const span = open(core, site, member === 'sendCommand' ? argsName(args[0]) : commandName(member), c);
    if (!span) return Reflect.apply(fn, thisArg, args);
    return runCall(core, span, thisArg, fn, args);
  },
};
