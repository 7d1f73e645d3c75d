//! The Lua scripts that make each step of the shared refresh atomic in Redis.
//!
//! Keys (all under one hash tag, so they land in one slot): `KEYS[1]` the state hash
//! (`generation`, `epoch`, `written_ms`, `format`, `data`, `writer`, `fence`, `failures`,
//! `error`), `KEYS[2]` the lease, `KEYS[3]` the fencing counter, `KEYS[4]` the epoch. Every
//! reply is a flat array of strings. Ages are measured with Redis' own clock (`TIME`), so the
//! replicas' clocks never need to agree.

use std::sync::LazyLock;

use redis::Script;

/// Redis' clock in milliseconds, as a Lua local `now`.
macro_rules! now_ms {
    () => {
        "local t = redis.call('TIME')\n\
         local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    };
}

/// Decides this replica's part in the current TTL period.
///
/// ARGV: owner, lease ms, due ms (a shared snapshot younger than this is fresh), candidate
/// epoch (taken when the store has none: first use or a restart that lost the data).
///
/// Reply: `kind, epoch, generation, age_ms, format, failures, error, writer, extra` where kind
/// is `fresh` (load it if new), `lead` (extra = this replica's fencing token) or `busy`
/// (another replica holds the lease; extra = its remaining ms). `age_ms` is -1 without a
/// snapshot of this epoch.
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "redis.call('SET', KEYS[4], ARGV[4], 'NX')\n",
        "local epoch = redis.call('GET', KEYS[4])\n",
        now_ms!(),
        "local st = redis.call('HMGET', KEYS[1], 'generation', 'epoch', 'written_ms', 'format', 'failures', 'error', 'writer')\n",
        "local gen = st[1] or '0'\n",
        "local age = -1\n",
        "if st[3] and st[2] == epoch then age = now - tonumber(st[3]) end\n",
        "local function reply(kind, extra)\n",
        "  return {kind, epoch, gen, tostring(age), st[4] or '', st[5] or '0', st[6] or '', st[7] or '', extra}\n",
        "end\n",
        "if age >= 0 and age < tonumber(ARGV[3]) then return reply('fresh', '') end\n",
        "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', KEYS[2]) == ARGV[1] then\n",
        "  redis.call('PEXPIRE', KEYS[2], ARGV[2])\n",
        "  return reply('lead', tostring(redis.call('INCR', KEYS[3])))\n",
        "end\n",
        "return reply('busy', tostring(redis.call('PTTL', KEYS[2])))\n",
    ))
});

/// Writes a new shared snapshot if, and only if, the writer's fencing token is still the
/// latest one issued in this epoch: a leader that was paused or partitioned past its lease,
/// while another replica took over, is rejected. Releases the writer's lease and publishes
/// `epoch:generation` on the channel in the same atomic step.
///
/// ARGV: fence, epoch, format, data, writer, lowest acceptable generation, channel.
///
/// Reply: `written, generation` or `fenced, latest fence`.
pub(crate) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "local fence = redis.call('GET', KEYS[3])\n",
        "if fence ~= ARGV[1] or redis.call('GET', KEYS[4]) ~= ARGV[2] then return {'fenced', fence or ''} end\n",
        "local gen = (tonumber(redis.call('HGET', KEYS[1], 'generation')) or 0) + 1\n",
        "local floor = tonumber(ARGV[6])\n",
        "if floor > gen then gen = floor end\n",
        now_ms!(),
        "redis.call('HSET', KEYS[1], 'generation', gen, 'epoch', ARGV[2], 'written_ms', now, 'format', ARGV[3], 'data', ARGV[4], 'writer', ARGV[5], 'fence', ARGV[1], 'failures', 0, 'error', '')\n",
        "if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end\n",
        "redis.call('PUBLISH', ARGV[7], ARGV[2] .. ':' .. gen)\n",
        "return {'written', tostring(gen)}\n",
    ))
});

/// Records a failed downstream fetch by the current leader and holds the lease for the shared
/// backoff delay, so that the whole group retries at one backoff pace rather than each
/// replica at its own.
///
/// ARGV: owner, fence, error message, initial backoff ms, largest backoff ms.
///
/// Reply: `failures, delay_ms`, or `fenced, 0` when a newer leader exists.
pub(crate) static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {'fenced', '0'} end\n",
        "local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)\n",
        "redis.call('HSET', KEYS[1], 'error', ARGV[3])\n",
        "local delay = tonumber(ARGV[4]) * (2 ^ (failures - 1))\n",
        "if delay > tonumber(ARGV[5]) then delay = tonumber(ARGV[5]) end\n",
        "delay = math.max(1, math.floor(delay))\n",
        "if redis.call('GET', KEYS[2]) == ARGV[1] then\n",
        "  redis.call('PEXPIRE', KEYS[2], delay)\n",
        "else\n",
        "  redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', delay)\n",
        "end\n",
        "return {tostring(failures), tostring(delay)}\n",
    ))
});

/// Deletes the lease if this replica still owns it (compare-and-delete).
///
/// ARGV: owner. Reply: 1 when deleted, 0 otherwise.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "if redis.call('GET', KEYS[2]) == ARGV[1] then return redis.call('DEL', KEYS[2]) end\n",
        "return 0\n",
    ))
});

/// Reads the shared snapshot in one consistent step.
///
/// Reply: `epoch, generation, age_ms, format, writer, data` (all empty without a snapshot).
pub(crate) static LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        now_ms!(),
        "local st = redis.call('HMGET', KEYS[1], 'epoch', 'generation', 'written_ms', 'format', 'writer', 'data')\n",
        "if not st[3] or not st[6] then return {'', '', '', '', '', ''} end\n",
        "return {st[1], st[2], tostring(now - tonumber(st[3])), st[4] or '', st[5] or '', st[6]}\n",
    ))
});
