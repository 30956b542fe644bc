/* cluster-scripts.h: the Lua scripts Redis runs atomically for leases and publishing. */
#ifndef CLUSTER_SCRIPTS_H
#define CLUSTER_SCRIPTS_H

/*
 * Every script takes the keys it reads as untrusted (anyone who can write to Redis may
 * have set them): a key of the wrong type is reported, never an error at each tick, and
 * a value is measured (STRLEN, HSTRLEN) before it is read, so no agent is handed a
 * value bigger than CLUSTER_FIELD_MAX.
 */

/*
 * Claim: KEYS[1] lease; ARGV lease id, lease ms, longest lease id. SET NX PX takes a free
 * lease; one this very process holds (its renewal answered late) is extended. The id is
 * per process, so a restarted agent waits out its predecessor's lease like any other.
 * Returns {1|0, holder}; {-1, type} if the key is not a string; {-2, length} if it holds
 * more than a lease id.
 */
static const char cluster_script_claim[] =
        "local t = redis.call('TYPE', KEYS[1]).ok\n"
        "if t ~= 'none' and t ~= 'string' then return {-1, t} end\n"
        "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, ARGV[1]} end\n"
        "local n = redis.call('STRLEN', KEYS[1])\n"
        "if n > tonumber(ARGV[3]) then return {-2, tostring(n)} end\n"
        "local v = redis.call('GET', KEYS[1])\n"
        "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1, v} end\n"
        "return {0, v or ''}\n";

/* Renew, compare-and-extend: KEYS[1] lease; ARGV lease id, lease ms. 1, or 0 if the lease is not ours. */
static const char cluster_script_renew[] =
        "if redis.call('TYPE', KEYS[1]).ok ~= 'string' or redis.call('STRLEN', KEYS[1]) ~= #ARGV[1] then return 0 end\n"
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
        "return 0\n";

/* Release, compare-and-delete: KEYS[1] lease; ARGV lease id. 1 if it was ours and is gone. */
static const char cluster_script_release[] =
        "if redis.call('TYPE', KEYS[1]).ok ~= 'string' or redis.call('STRLEN', KEYS[1]) ~= #ARGV[1] then return 0 end\n"
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
        "return 0\n";

/*
 * Read an item: KEYS[1] item; ARGV longest field. {0} if there is none; {-1, type} if the
 * key is not a hash; {-2, field, length} if a field is longer than allowed (it is not
 * read); else {1, {generation, token, expires_at, fetched_at, mac}}.
 */
static const char cluster_script_read[] =
        "local t = redis.call('TYPE', KEYS[1]).ok\n"
        "if t == 'none' then return {0} end\n"
        "if t ~= 'hash' then return {-1, t} end\n"
        "local f = {'generation', 'token', 'expires_at', 'fetched_at', 'mac'}\n"
        "for i = 1, #f do\n"
        "  local n = redis.call('HSTRLEN', KEYS[1], f[i])\n"
        "  if n > tonumber(ARGV[1]) then return {-2, f[i], n} end\n"
        "end\n"
        "return {1, redis.call('HMGET', KEYS[1], unpack(f))}\n";

/*
 * Publish: KEYS[1] lease, KEYS[2] item; ARGV lease id, generation, token, expires_at,
 * fetched_at, channel, note (the "pub" note to send, signed if the fleet has a key), mac
 * ("" without a fleet key), the latest plausible fetched_at (now + skew), overwrite ("1":
 * the holder found the record there unusable), longest field. Only the lease holder
 * writes (a stale one gets -1). Another token fetched later than this one is kept (-2):
 * WeChat's latest fetch is the live token, so an older one, pushed late after a
 * partition, must not replace it. Generations never go back: one at or below what Redis
 * holds for another token gets {-3, the generation to use}, and the agent pushes again
 * at it (the MAC covers the generation, so the script does not raise it). A record out
 * of bounds (generation not below 2^53 or more than 1,000 above ours, a fetch in the
 * future, a field too long, no mac where this agent signs) counts as none and is replaced (UNLINK: a huge one is freed in
 * the background, not while every agent waits). {-4, type}: the item key is
 * not a hash (left alone). Returns the generation stored, after telling every agent.
 */
static const char cluster_script_publish[] =
        "if redis.call('TYPE', KEYS[1]).ok ~= 'string' or redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
        "local t = redis.call('TYPE', KEYS[2]).ok\n"
        "if t ~= 'none' and t ~= 'hash' then return {-4, t} end\n"
        "local g = tonumber(ARGV[2])\n"
        "local sane = t == 'hash' and ARGV[10] ~= '1'\n"
        "for _, f in ipairs({'generation', 'token', 'fetched_at'}) do\n"
        "  if sane and redis.call('HSTRLEN', KEYS[2], f) > tonumber(ARGV[11]) then sane = false end\n"
        "end\n"        "if sane and ARGV[8] ~= '' and redis.call('HSTRLEN', KEYS[2], 'mac') ~= #ARGV[8] then sane = false end\n"
        "local cur = {}\n"
        "if sane then cur = redis.call('HMGET', KEYS[2], 'generation', 'token', 'fetched_at') end\n"
        "local cg, cf = tonumber(cur[1] or ''), tonumber(cur[3] or '')\n"
        "if not cg or cg ~= math.floor(cg) or cg < 1 or cg >= 9007199254740992 or cg > g + 1000 or\n"
        "   not cf or cf > tonumber(ARGV[9]) then sane = false end\n"
        "if sane then\n"
        "  if cur[2] ~= ARGV[3] and cf > tonumber(ARGV[5]) then return -2 end\n"
        "  if cg > g or (cg == g and cur[2] ~= ARGV[3]) then return {-3, cg + 1} end\n"
        "elseif t == 'hash' then\n"
        "  redis.call('UNLINK', KEYS[2])\n"
        "end\n"
        "redis.call('HSET', KEYS[2], 'generation', ARGV[2], 'token', ARGV[3], 'expires_at', ARGV[4],\n"
        "           'fetched_at', ARGV[5], 'node', ARGV[1])\n"
        "if ARGV[8] ~= '' then redis.call('HSET', KEYS[2], 'mac', ARGV[8]) else redis.call('HDEL', KEYS[2], 'mac') end\n"
        "redis.call('PUBLISH', ARGV[6], ARGV[7])\n"
        "return g\n";

/*
 * The fleet-wide forced-refresh budget: KEYS[1] "<prefix>:forced:<item>:<Beijing day>";
 * ARGV expiry in ms (past the day's end), the cap. Returns the count with this call in
 * it; above the cap the call is refused and not counted. Not a count: an error.
 */
static const char cluster_script_budget[] =
        "local n = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
        "if not n then return redis.error_reply('not a count') end\n"
        "if n >= tonumber(ARGV[2]) then return n + 1 end\n"
        "n = redis.call('INCR', KEYS[1])\n"
        "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
        "return n\n";

#endif
