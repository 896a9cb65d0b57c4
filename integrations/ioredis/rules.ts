// ioredis: every command method of a client or a pipeline/multi (`redis.get(k)`, `redis.hset(...)`,
// `redis.call('GET', k)`, `redis.multi().set(...).get(...).exec()`) becomes a `db`/`redis`/`query` span
// named by the command (`GET`, `HSET`), no arguments or values recorded (runtime.ts). tsc matches the
// members ioredis declares on its `RedisCommander` interface; Babel follows `new Redis()` and the
// pipelines `pipeline()`/`multi()` return. Commands queued on a pipeline are spans when `exec()` runs.
import type { Integration, MethodResult } from '../../rules/integration.js';

/** The command methods of ioredis 6's RedisCommander (`*Buffer` variants included). */
export const COMMANDS: readonly string[] = (
  'acl aclBuffer append arcount ardel ardelrange arget argetBuffer argetrange argetrangeBuffer ' +
  'argrep argrepBuffer arinfo arinfoBuffer arinsert arlastitems arlastitemsBuffer arlen armget ' +
  'armgetBuffer armset arnext arop aropBuffer arring arscan arscanBuffer arseek arset asking auth ' +
  'bgrewriteaof bgrewriteaofBuffer bgsave bitcount bitfield bitfield_ro bitop bitpos ' +
  'bitrangeintarray bless blessBuffer blmove blmoveBuffer blmovem blmovemBuffer blmpop blmpopBuffer ' +
  'blpop blpopBuffer brpop brpopBuffer brpoplpush brpoplpushBuffer bzmove bzmoveBuffer bzmpop ' +
  'bzpopmax bzpopmaxBuffer bzpopmin bzpopminBuffer call callBuffer client clientBuffer cluster ' +
  'command config configBuffer copy dbsize debug decr decrby del discard dump dumpBuffer echo ' +
  'echoBuffer eval eval_ro evalsha evalsha_ro exec exists expire expireat expiretime failover fcall ' +
  'fcall_ro flushall flushdb function functionBuffer geoadd geodist geodistBuffer geohash ' +
  'geohashBuffer geopos georadius georadius_ro georadiusbymember georadiusbymember_ro geosearch ' +
  'geosearchstore get getBuffer getbit getdel getdelBuffer getex getexBuffer getrange ' +
  'getrangeBuffer getset getsetBuffer hdel hello hexists hexpire hexpireat hexpiretime hget ' +
  'hgetBuffer hgetall hgetallBuffer hgetdel hgetdelBuffer hgetex hgetexBuffer himport hincrby ' +
  'hincrbyfloat hincrbyfloatBuffer hkeys hkeysBuffer hlen hmget hmgetBuffer hmset hpersist hpexpire ' +
  'hpexpireat hpexpiretime hpttl hrandfield hrandfieldBuffer hscan hscanBuffer hset hsetex hsetnx ' +
  'hstrlen httl hvals hvalsBuffer incr incrby incrbyfloat increx increxBuffer info keys keysBuffer ' +
  'lastsave latency lcs lindex lindexBuffer linsert llen lmove lmoveBuffer lmovem lmovemBuffer ' +
  'lmpop lmpopBuffer lolwut lpop lpopBuffer lpos lpush lpushx lrange lrangeBuffer lrem lset ltrim ' +
  'memory mget mgetBuffer migrate module move mset msetex msetnx object persist pexpire pexpireat ' +
  'pexpiretime pfadd pfcount pfdebug pfmerge pfselftest ping pingBuffer psetex psubscribe psync ' +
  'pttl publish pubsub punsubscribe quit randomkey randomkeyBuffer readonly readwrite rename ' +
  'renamenx replconf replicaof reset restore role rpop rpopBuffer rpoplpush rpoplpushBuffer rpush ' +
  'rpushx sadd saddex save scan scanBuffer scard script sdiff sdiffBuffer sdiffcard sdiffstore ' +
  'select set setBuffer setbit setex setnx setrange sexpire sexpireat sexpiretime shutdown sinter ' +
  'sinterBuffer sintercard sinterstore sismember slaveof slowlog smembers smembersBuffer smismember ' +
  'smove sort sort_ro spersist spexpire spexpireat spexpiretime spop spopBuffer spttl spublish ' +
  'srandmember srandmemberBuffer srem sscan sscanBuffer ssubscribe strlen sttl subscribe substr ' +
  'sunion sunionBuffer sunioncard sunionstore sunsubscribe swapdb sync time touch ttl type unlink ' +
  'unsubscribe unwatch vadd vcard vdim vemb vembBuffer vgetattr vgetattrBuffer vinfo vinfoBuffer ' +
  'vismember vlinks vlinksBuffer vrandmember vrandmemberBuffer vrange vrangeBuffer vrem vsetattr ' +
  'wait watch xack xadd xaddBuffer xautoclaim xclaim xdel xdelex xgroup xinfo xlen xnack xpending ' +
  'xrange xrangeBuffer xread xreadBuffer xreadgroup xreadgroupBuffer xrevrange xrevrangeBuffer ' +
  'xsetid xtrim zadd zaddBuffer zcard zcount zdiff zdiffBuffer zdiffstore zincrby zincrbyBuffer ' +
  'zinter zinterBuffer zintercard zinterstore zlexcount zmove zmoveBuffer zmovemember ' +
  'zmovememberBuffer zmpop zmscore zmscoreBuffer zpopmax zpopmaxBuffer zpopmin zpopminBuffer ' +
  'zrandmember zrandmemberBuffer zrange zrangeBuffer zrangebylex zrangebylexBuffer zrangebyscore ' +
  'zrangebyscoreBuffer zrangestore zrank zrankBuffer zrem zremrangebylex zremrangebyrank ' +
  'zremrangebyscore zrevrange zrevrangeBuffer zrevrangebylex zrevrangebylexBuffer zrevrangebyscore ' +
  'zrevrangebyscoreBuffer zrevrank zrevrankBuffer zscan zscanBuffer zscore zscoreBuffer zunion ' +
  'zunionBuffer zunionstore'
).split(' ');

const redis = { module: 'ioredis', cls: 'Redis' } as const;
const pipeline = { module: 'ioredis', cls: 'Pipeline' } as const;
const chain: MethodResult = { returns: 'self' };

export const integration: Integration = {
  name: 'ioredis',
  packages: { ioredis: '>=5.3 <7' },
  rules: [
    {
      id: 'ioredis.command',
      kind: 'call',
      target: { module: ['ioredis'], owner: ['RedisCommander', 'Redis', 'Pipeline'], names: COMMANDS },
      handler: 'ioredis',
      nameFromMember: true,
      quiet: true,
      span: { type: 'db', subtype: 'redis', action: 'query' },
      description: 'ioredis commands of a client, pipeline or multi (callback and promise forms), call()',
    },
  ],
  babel: {
    selfExports: { ioredis: ['default'] },
    constructs: { ioredis: redis, 'ioredis.Redis': redis },
    methods: {
      'ioredis.Redis#pipeline': { returns: pipeline },
      'ioredis.Redis#multi': { returns: pipeline },
      'ioredis.Redis#duplicate': { returns: redis },
      ...Object.fromEntries(COMMANDS.map((c) => [`ioredis.Pipeline#${c}`, chain])),
    },
  },
};
