/* cluster-scripts.h: the Lua scripts Redis runs atomically for leases and publishing. */
#ifndef CLUSTER_SCRIPTS_H
#define CLUSTER_SCRIPTS_H

/*
 * Claim: KEYS[1] lease; ARGV lease id, lease ms. SET NX PX takes a free lease; one this
 * very process holds (its renewal answered late) is extended. The id is per process, so a
 * restarted agent waits out its predecessor's lease like any other. Returns {1|0, holder}.
 */
static const char cluster_script_claim[] =
        "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, ARGV[1]} end\n"
        "local v = redis.call('GET', KEYS[1])\n"
        "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1, v} end\n"
        "return {0, v or ''}\n";

/* Renew, compare-and-extend: KEYS[1] lease; ARGV lease id, lease ms. 1, or 0 if the lease is not ours. */
static const char cluster_script_renew[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
        "return 0\n";

/* Release, compare-and-delete: KEYS[1] lease; ARGV lease id. 1 if it was ours and is gone. */
static const char cluster_script_release[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
        "return 0\n";

/*
 * Publish: KEYS[1] lease, KEYS[2] item; ARGV lease id, generation, token, expires_at,
 * fetched_at, channel, item name. Only the lease holder writes (a stale one gets -1).
 * Another token fetched later than this one is kept (-2): WeChat's latest fetch is the
 * live token, so an older one, pushed late after a partition, must not replace it.
 * Generations never go back: one at or below what Redis holds for another token is
 * raised past it. Returns the generation stored, after telling every agent.
 */
static const char cluster_script_publish[] =
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
        "local g = tonumber(ARGV[2])\n"
        "local cur = redis.call('HMGET', KEYS[2], 'generation', 'token', 'fetched_at')\n"
        "if cur[2] and cur[2] ~= ARGV[3] and (tonumber(cur[3]) or 0) > tonumber(ARGV[5]) then return -2 end\n"
        "local cg = 0\n"
        "if cur[1] then cg = tonumber(cur[1]) or 0 end\n"
        "if cg > g or (cg == g and cur[2] ~= ARGV[3]) then g = cg + 1 end\n"
        "redis.call('HSET', KEYS[2], 'generation', g, 'token', ARGV[3], 'expires_at', ARGV[4],\n"
        "           'fetched_at', ARGV[5], 'node', ARGV[1])\n"
        "redis.call('PUBLISH', ARGV[6], 'pub ' .. ARGV[7] .. ' ' .. g)\n"
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
