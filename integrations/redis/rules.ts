// node-redis (`redis` 4–6, `@redis/client`; 4.0 as `@node-redis/client`): every command method of a
// client or a multi (`client.get(k)`, `client.hSet(...)`, `client.HSET(...)`, `client.sendCommand([...])`,
// `client.multi().set(...).get(...).exec()`, `.execAsPipeline()`) becomes a `db`/`redis`/`query` span
// named by the command as elastic-apm-node names it (`GET`, `HSET`, `CONFIG GET`), with `MULTI` and
// `EXEC` spans around a transaction's commands; no argument or value is recorded (runtime.ts).
// tsc: node-redis's client type is `RedisClient & WithCommands`, a mapped type over the command table
// @redis/client's commands module default-exports (`declare const _default: { GET: …; get: … }`); the
// checker resolves `client.get` to that table's member, whose owner is therefore `_default`; the
// class's own members (`sendCommand`, `select`, `quit`, a multi's `exec`) are owned by `RedisClient` /
// `RedisClientMultiCommand`. Babel has no types: it follows `createClient()` (and `await
// createClient().connect()`), `duplicate()`, `multi()`, and `RedisClientType` annotations.
import type { ClassRef, Integration, MethodResult } from '../../rules/integration.js';

/** The command members of node-redis 4.0–6.4 (`@redis/client` command tables plus the client's own command methods). */
export const COMMANDS: readonly string[] = (
  'ACL_CAT ACL_DELUSER ACL_DRYRUN ACL_GENPASS ACL_GETUSER ACL_LIST ACL_LOAD ACL_LOG ACL_LOG_RESET ' +
  'ACL_SAVE ACL_SETUSER ACL_USERS ACL_WHOAMI APPEND ARCOUNT ARDEL ARDELRANGE ARGET ARGETRANGE ' +
  'ARGREP ARGREP_WITHVALUES ARINFO ARINSERT ARLASTITEMS ARLEN ARMGET ARMSET ARNEXT AROP ARRING ' +
  'ARSCAN ARSEEK ARSET ASKING AUTH BACKUP_ABORT BACKUP_CLEANUP BACKUP_LIST BACKUP_SEAL ' +
  'BACKUP_START BACKUP_STATUS BGREWRITEAOF BGSAVE BITCOUNT BITFIELD BITFIELD_RO BITOP BITPOS ' +
  'BITRANGEINTARRAY BLESS_CLEAR BLESS_GET BLESS_SCAN BLESS_SET BLMOVE BLMOVEM BLMPOP BLPOP BRPOP ' +
  'BRPOPLPUSH BZMOVE BZMPOP BZPOPMAX BZPOPMIN CLIENT_CACHING CLIENT_GETNAME CLIENT_GETREDIR ' +
  'CLIENT_ID CLIENT_INFO CLIENT_KILL CLIENT_LIST CLIENT_NO-EVICT CLIENT_NO-TOUCH CLIENT_PAUSE ' +
  'CLIENT_SETNAME CLIENT_TRACKING CLIENT_TRACKINGINFO CLIENT_UNBLOCK CLIENT_UNPAUSE ' +
  'CLUSTER_ADDSLOTS CLUSTER_ADDSLOTSRANGE CLUSTER_BUMPEPOCH CLUSTER_COUNT-FAILURE-REPORTS ' +
  'CLUSTER_COUNTKEYSINSLOT CLUSTER_COUNT_FAILURE_REPORTS CLUSTER_DELSLOTS CLUSTER_DELSLOTSRANGE ' +
  'CLUSTER_FAILOVER CLUSTER_FLUSHSLOTS CLUSTER_FORGET CLUSTER_GETKEYSINSLOT CLUSTER_INFO ' +
  'CLUSTER_KEYSLOT CLUSTER_LINKS CLUSTER_MEET CLUSTER_MYID CLUSTER_MYSHARDID CLUSTER_NODES ' +
  'CLUSTER_REPLICAS CLUSTER_REPLICATE CLUSTER_RESET CLUSTER_SAVECONFIG CLUSTER_SET-CONFIG-EPOCH ' +
  'CLUSTER_SETSLOT CLUSTER_SET_CONFIG_EPOCH CLUSTER_SLOTS COMMAND COMMAND_COUNT COMMAND_DOCS ' +
  'COMMAND_GETKEYS COMMAND_GETKEYSANDFLAGS COMMAND_INFO COMMAND_LIST CONFIG_GET CONFIG_RESETASTAT ' +
  'CONFIG_REWRITE CONFIG_SET COPY DBSIZE DECR DECRBY DEL DELEX DIGEST DISCARD DUMP ECHO EVAL ' +
  'EVALSHA EVALSHA_RO EVAL_RO EXISTS EXPIRE EXPIREAT EXPIRETIME FAILOVER FCALL FCALL_RO FLUSHALL ' +
  'FLUSHDB FUNCTION_DELETE FUNCTION_DUMP FUNCTION_FLUSH FUNCTION_KILL FUNCTION_LIST ' +
  'FUNCTION_LIST_WITHCODE FUNCTION_LOAD FUNCTION_RESTORE FUNCTION_STATS GEOADD GEODIST GEOHASH ' +
  'GEOPOS GEORADIUS GEORADIUSBYMEMBER GEORADIUSBYMEMBERSTORE GEORADIUSBYMEMBER_RO ' +
  'GEORADIUSBYMEMBER_RO_WITH GEORADIUSBYMEMBER_STORE GEORADIUSBYMEMBER_WITH GEORADIUSSTORE ' +
  'GEORADIUS_RO GEORADIUS_RO_WITH GEORADIUS_STORE GEORADIUS_WITH GEOSEARCH GEOSEARCHSTORE ' +
  'GEOSEARCH_WITH GET GETBIT GETDEL GETEX GETRANGE GETSET HDEL HELLO HEXISTS HEXPIRE HEXPIREAT ' +
  'HEXPIRETIME HGET HGETALL HGETDEL HGETEX HIMPORT_DISCARD HIMPORT_DISCARDALL HIMPORT_PREPARE ' +
  'HIMPORT_SET HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HOTKEYS_GET HOTKEYS_RESET HOTKEYS_START ' +
  'HOTKEYS_STOP HPERSIST HPEXPIRE HPEXPIREAT HPEXPIRETIME HPTTL HRANDFIELD HRANDFIELD_COUNT ' +
  'HRANDFIELD_COUNT_WITHVALUES HSCAN HSCAN_NOVALUES HSET HSETEX HSETNX HSTRLEN HTTL HVALS INCR ' +
  'INCRBY INCRBYFLOAT INCREX INCREXBYFLOAT INFO KEYS LASTSAVE LATENCY_DOCTOR LATENCY_GRAPH ' +
  'LATENCY_HISTOGRAM LATENCY_HISTORY LATENCY_LATEST LATENCY_RESET LCS LCS_IDX LCS_IDX_WITHMATCHLEN ' +
  'LCS_LEN LINDEX LINSERT LLEN LMOVE LMOVEM LMPOP LOLWUT LPOP LPOP_COUNT LPOS LPOS_COUNT LPUSH ' +
  'LPUSHX LRANGE LREM LSET LTRIM MEMOERY_DOCTOR MEMORY_DOCTOR MEMORY_MALLOC-STATS MEMORY_PURGE ' +
  'MEMORY_STATS MEMORY_USAGE MGET MIGRATE MODULE_LIST MODULE_LOAD MODULE_UNLOAD MONITOR MOVE MSET ' +
  'MSETEX MSETNX OBJECT_ENCODING OBJECT_FREQ OBJECT_IDLETIME OBJECT_REFCOUNT PERSIST PEXPIRE ' +
  'PEXPIREAT PEXPIRETIME PFADD PFCOUNT PFMERGE PING PSETEX PSUBSCRIBE PTTL PUBLISH PUBSUB_CHANNELS ' +
  'PUBSUB_NUMPAT PUBSUB_NUMSUB PUBSUB_SHARDCHANNELS PUBSUB_SHARDNUMSUB PUNSUBSCRIBE QUIT RANDOMKEY ' +
  'READONLY READWRITE RENAME RENAMENX REPLICAOF RESTORE RESTORE-ASKING ROLE RPOP RPOPLPUSH ' +
  'RPOP_COUNT RPUSH RPUSHX SADD SADDEX SAVE SCAN SCARD SCRIPT_DEBUG SCRIPT_EXISTS SCRIPT_FLUSH ' +
  'SCRIPT_KILL SCRIPT_LOAD SDIFF SDIFFCARD SDIFFSTORE SELECT SET SETBIT SETEX SETNX SETRANGE ' +
  'SEXPIRE SEXPIREAT SEXPIRETIME SHUTDOWN SINTER SINTERCARD SINTERSTORE SISMEMBER SMEMBERS ' +
  'SMISMEMBER SMOVE SORT SORT_RO SORT_STORE SPERSIST SPEXPIRE SPEXPIREAT SPEXPIRETIME SPOP ' +
  'SPOP_COUNT SPTTL SPUBLISH SRANDMEMBER SRANDMEMBER_COUNT SREM SSCAN SSUBSCRIBE STRLEN STTL ' +
  'SUBSCRIBE SUNION SUNIONCARD SUNIONSTORE SUNSUBSCRIBE SWAPDB TIME TOUCH TTL TYPE UNLINK ' +
  'UNSUBSCRIBE UNWATCH VADD VCARD VDIM VEMB VEMB_RAW VGETATTR VINFO VLINKS VLINKS_WITHSCORES ' +
  'VRANDMEMBER VRANGE VREM VSETATTR VSIM VSIM_WITHSCORES WAIT WATCH XACK XACKDEL XADD ' +
  'XADD_NOMKSTREAM XAUTOCLAIM XAUTOCLAIM_JUSTID XCFGSET XCLAIM XCLAIM_JUSTID XDEL XDELEX ' +
  'XGROUP_CREATE XGROUP_CREATECONSUMER XGROUP_DELCONSUMER XGROUP_DESTROY XGROUP_SETID ' +
  'XINFO_CONSUMERS XINFO_GROUPS XINFO_STREAM XLEN XNACK XPENDING XPENDING_RANGE XRANGE XREAD ' +
  'XREADGROUP XREVRANGE XSETID XTRIM ZADD ZADD_INCR ZCARD ZCOUNT ZDIFF ZDIFFSTORE ZDIFF_WITHSCORES ' +
  'ZINCRBY ZINTER ZINTERCARD ZINTERSTORE ZINTER_WITHSCORES ZLEXCOUNT ZMOVE ZMOVEMEMBER ZMPOP ' +
  'ZMSCORE ZPOPMAX ZPOPMAX_COUNT ZPOPMIN ZPOPMIN_COUNT ZRANDMEMBER ZRANDMEMBER_COUNT ' +
  'ZRANDMEMBER_COUNT_WITHSCORES ZRANGE ZRANGEBYLEX ZRANGEBYSCORE ZRANGEBYSCORE_WITHSCORES ' +
  'ZRANGESTORE ZRANGE_WITHSCORES ZRANK ZRANK_WITHSCORE ZREM ZREMRANGEBYLEX ZREMRANGEBYRANK ' +
  'ZREMRANGEBYSCORE ZREVRANK ZREVRANK_WITHSCORE ZSCAN ZSCORE ZUNION ZUNIONSTORE ZUNION_WITHSCORES ' +
  'aclCat aclDelUser aclDryRun aclGenPass aclGetUser aclList aclLoad aclLog aclLogReset aclSave ' +
  'aclSetUser aclUsers aclWhoAmI append arCount arDel arDelRange arGet arGetRange arGrep ' +
  'arGrepWithValues arInfo arInsert arLastItems arLen arMGet arMSet arNext arOp arRing arScan ' +
  'arSeek arSet asking auth backupAbort backupCleanup backupList backupSeal backupStart ' +
  'backupStatus bgRewriteAof bgSave bitCount bitField bitFieldRo bitOp bitPos bitRangeIntArray ' +
  'blMove blMoveM blPop blessClear blessGet blessScan blessSet blmPop brPop brPopLPush bzMove ' +
  'bzPopMax bzPopMin bzmPop clientCaching clientGetName clientGetRedir clientId clientInfo ' +
  'clientKill clientList clientNoEvict clientNoTouch clientPause clientSetName clientTracking ' +
  'clientTrackingInfo clientUnblock clientUnpause clusterAddSlots clusterAddSlotsRange ' +
  'clusterBumpEpoch clusterCountFailureReports clusterCountKeysInSlot clusterDelSlots ' +
  'clusterDelSlotsRange clusterFailover clusterFlushSlots clusterForget clusterGetKeysInSlot ' +
  'clusterInfo clusterKeySlot clusterLinks clusterMeet clusterMyId clusterMyShardId clusterNodes ' +
  'clusterReplicas clusterReplicate clusterReset clusterSaveConfig clusterSetConfigEpoch ' +
  'clusterSetSlot clusterSlots command commandCount commandDocs commandGetKeys ' +
  'commandGetKeysAndFlags commandInfo commandList configGet configResetStat configRewrite ' +
  'configSet copy dbSize decr decrBy del delEx digest discard dump echo eval evalRo evalSha ' +
  'evalShaRo exists expire expireAt expireTime fCall fCallRo failover flushAll flushDb ' +
  'functionDelete functionDump functionFlush functionKill functionList functionListWithCode ' +
  'functionLoad functionRestore functionStats geoAdd geoDist geoHash geoPos geoRadius ' +
  'geoRadiusByMember geoRadiusByMemberRo geoRadiusByMemberRoWith geoRadiusByMemberStore ' +
  'geoRadiusByMemberWith geoRadiusRo geoRadiusRoWith geoRadiusStore geoRadiusWith geoSearch ' +
  'geoSearchStore geoSearchWith get getBit getDel getEx getRange getSet hDel hExists hExpire ' +
  'hExpireAt hExpireTime hGet hGetAll hGetDel hGetEx hImportDiscard hImportDiscardAll ' +
  'hImportPrepare hImportSet hIncrBy hIncrByFloat hKeys hLen hPersist hRandField hRandFieldCount ' +
  'hRandFieldCountWithValues hScan hScanNoValues hSet hSetEx hSetNX hStrLen hTTL hVals hello hmGet ' +
  'hotkeysGet hotkeysReset hotkeysStart hotkeysStop hpExpire hpExpireAt hpExpireTime hpTTL incr ' +
  'incrBy incrByFloat incrExByFloat increx info keys lIndex lInsert lLen lMove lMoveM lPop ' +
  'lPopCount lPos lPosCount lPush lPushX lRange lRem lSet lTrim lastSave latencyDoctor ' +
  'latencyGraph latencyHistogram latencyHistory latencyLatest latencyReset lcs lcsIdx ' +
  'lcsIdxWithMatchLen lcsLen lmPop lolwut mGet mSet mSetEx mSetNX memoryDoctor memoryMallocStats ' +
  'memoryPurge memoryStats memoryUsage migrate moduleList moduleLoad moduleUnload monitor move ' +
  'objectEncoding objectFreq objectIdleTime objectRefCount pExpire pExpireAt pExpireTime pSetEx ' +
  'pSubscribe pTTL pUnsubscribe persist pfAdd pfCount pfMerge ping pubSubChannels pubSubNumPat ' +
  'pubSubNumSub pubSubShardChannels pubSubShardNumSub publish quit rPop rPopCount rPopLPush rPush ' +
  'rPushX randomKey readonly readwrite rename renameNX replicaOf restore restoreAsking role sAdd ' +
  'sAddEx sCard sDiff sDiffCard sDiffStore sExpire sExpireAt sExpireTime sInter sInterCard ' +
  'sInterStore sIsMember sMembers sMove sPersist sPop sPopCount sPublish sRandMember ' +
  'sRandMemberCount sRem sScan sSubscribe sTTL sUnion sUnionCard sUnionStore sUnsubscribe save ' +
  'scan scriptDebug scriptExists scriptFlush scriptKill scriptLoad select set setBit setEx setNX ' +
  'setRange shutdown smIsMember sort sortRo sortStore spExpire spExpireAt spExpireTime spTTL ' +
  'strLen subscribe swapDb time touch ttl type unlink unsubscribe unwatch vAdd vCard vDim vEmb ' +
  'vEmbRaw vGetAttr vInfo vLinks vLinksWithScores vRandMember vRange vRem vSetAttr vSim ' +
  'vSimWithScores wait watch xAck xAckDel xAdd xAddNoMkStream xAutoClaim xAutoClaimJustId xCfgSet ' +
  'xClaim xClaimJustId xDel xDelEx xGroupCreate xGroupCreateConsumer xGroupDelConsumer ' +
  'xGroupDestroy xGroupSetId xInfoConsumers xInfoGroups xInfoStream xLen xNack xPending ' +
  'xPendingRange xRange xRead xReadGroup xRevRange xSetId xTrim zAdd zAddIncr zCard zCount zDiff ' +
  'zDiffStore zDiffWithScores zIncrBy zInter zInterCard zInterStore zInterWithScores zLexCount ' +
  'zMove zMoveMember zPopMax zPopMaxCount zPopMin zPopMinCount zRandMember zRandMemberCount ' +
  'zRandMemberCountWithScores zRange zRangeByLex zRangeByScore zRangeByScoreWithScores zRangeStore ' +
  'zRangeWithScores zRank zRankWithScore zRem zRemRangeByLex zRemRangeByRank zRemRangeByScore ' +
  'zRevRank zRevRankWithScore zScan zScore zUnion zUnionStore zUnionWithScores zmPop zmScore'
).split(' ');

/** A multi's members that send it, and `addCommand` (queues raw arguments). */
const MULTI_MEMBERS = ['exec', 'EXEC', 'execTyped', 'execAsPipeline', 'execAsPipelineTyped', 'addCommand'];

const client = (module: string): ClassRef => ({ module, cls: 'RedisClient' });
const multi = (module: string): ClassRef => ({ module, cls: 'RedisClientMultiCommand' });
const chain: MethodResult = { returns: 'self' };
const MODULES = ['redis', '@redis/client'];

export const integration: Integration = {
  name: 'redis',
  packages: { redis: '>=4.0 <7', '@redis/client': '>=1.0 <7', '@node-redis/client': '1.0' },
  rules: [
    {
      id: 'redis.command',
      kind: 'call',
      target: {
        module: ['@redis/client', '@node-redis/client', 'redis'],
        owner: ['_default', 'RedisClient', 'RedisClientMultiCommand'],
        names: [...COMMANDS, 'sendCommand', 'multi', 'MULTI', ...MULTI_MEMBERS],
      },
      handler: 'redis',
      nameFromMember: true,
      quiet: true,
      span: { type: 'db', subtype: 'redis', action: 'query' },
      description: 'node-redis commands of a client or multi, sendCommand(), multi exec()/execAsPipeline()',
    },
  ],
  babel: {
    calls: Object.fromEntries(MODULES.map((m) => [`${m}.createClient`, client(m)])),
    types: Object.fromEntries(MODULES.map((m) => [`${m}.RedisClientType`, client(m)])),
    methods: Object.fromEntries(
      MODULES.flatMap((m) => [
        [`${m}.RedisClient#connect`, { returns: { promiseOf: client(m) } }],
        [`${m}.RedisClient#duplicate`, { returns: client(m) }],
        [`${m}.RedisClient#multi`, { returns: multi(m) }],
        [`${m}.RedisClient#MULTI`, { returns: multi(m) }],
        ...[...COMMANDS, 'addCommand'].map((c) => [`${m}.RedisClientMultiCommand#${c}`, chain]),
      ]),
    ),
  },
};
