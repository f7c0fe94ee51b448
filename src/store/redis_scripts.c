/* SPDX-License-Identifier: MIT
 *
 * The Lua scripts of the Redis store, as data. Each one is a single atomic
 * step on Redis (a write and its announcement on the bus, a revocation, a
 * read of a session with its epochs), so their contracts are written next to
 * them. Apart because the connection (which loads them on every new command
 * connection), the start-up check and the operations all name them, and a
 * table of text is easier to review alone.
 */
#include "store/redis_int.h"

/*
 * KEYS: none (single-instance Redis). ARGV[1] the batch, ARGV[2] how long an
 * ended session is kept (ms), ARGV[3] the channel, ARGV[4] how long a
 * not-before epoch matters (ms): once every token issued before it has
 * expired (access_token.max_ttl + clock_leeway), it refuses nothing more.
 * ARGV[5] a session id or '' and ARGV[6] a generation: when given, the batch
 * is applied only if that session is live at that generation (a refresh:
 * of two nodes exchanging one token, exactly one passes); otherwise the
 * script writes nothing and returns {0, found, gen, rotated_at, end, ended_at,
 * subject's not-before, global not-before}. A not-before later than the
 * session's creation fails the guard too: that session was revoked with its
 * subject (or everyone), whether or not this node has heard of it.
 * Every live session written is also put in its subject's and client's index
 * set (cf:u:<sub>, cf:c:<client>), which the revocation script reads.
 *
 * An API key event ("k", store/wire.c) writes the hash cf:k:<id> with the
 * merge rules of the SQLite store (an end is never undone, use only moves
 * forward, an overlap only shortens), except the quota counts: every node
 * counts its own uses, and its apikey_used events add them ("dd", "dm": uses
 * since its previous one) to the window's count, so a quota is cluster-wide. Only the SHA-256 of the key
 * string is kept (32 raw bytes in field h), and fields that are zero or
 * empty are left out, to keep a key small. A key is kept until its end (or
 * its expiry, or the end of its overlap) plus the ended-session retention;
 * a key that never expires is kept until it ends. A new key's id is appended
 * to its owner's index (cf:kio:<sub>, a string of 12-character ids: 12 bytes
 * a key, where a set member cost about 60), and its owner joins its client's
 * owner set (cf:kic:<client>: an entry per owner and client, not per key),
 * which the key revocation script reads; an index lives as long as its
 * longest-lived key. (Keys written before this layout are in the sets
 * cf:ku:<sub> and cf:kc:<client>, which that script still reads.)
 */
const char cf__redis_apply_script[] =
    "local function n(x) return tonumber(x) or 0 end\n"
    "local function index(set, id, at)\n"
    "  redis.call('SADD', set, id)\n"
    "  if redis.call('PEXPIRETIME', set) < at then redis.call('PEXPIREAT', set, at) end\n"
    "end\n"
    "local function apikey(t, k, keep)\n"
    "  local key = 'cf:k:' .. k.id\n"
    "  local c = redis.call('HMGET', key, 'lu', 'ou', 'su', 'ea', 'e', 'wa', 'ds', 'du', 'ms', 'mu')\n"
    "  if redis.call('EXISTS', key) == 0 then\n"
    "    c = {0, 0, '', 0, '', 0, 0, 0, 0, 0}\n"
    "    local h = string.gsub(k.h, '..', function(x) return string.char(tonumber(x, 16)) end)\n"
    "    local f = {'h', h}\n"
    "    for _, name in ipairs({'u', 'n', 'c', 'r', 'sc', 'nt', 'pr', 'ca', 'ex', 'ie', 'qd', 'qm'}) do\n"
    "      if k[name] ~= '' and k[name] ~= 0 then f[#f + 1] = name; f[#f + 1] = k[name] end\n"
    "    end\n"
    "    redis.call('HSET', key, unpack(f))\n"
    "    local idx = {{'cf:kio:' .. k.u, k.id}}\n"
    "    if k.c ~= '' then idx[2] = {'cf:kic:' .. k.c, k.u} end\n"
    "    for i, x in ipairs(idx) do\n"
    "      local set = x[1]\n"
    "      local ttl = redis.call('PTTL', set)\n"
    "      if i == 1 then redis.call('APPEND', set, x[2]) else redis.call('SADD', set, x[2]) end\n"
    "      if n(k.ex) == 0 then redis.call('PERSIST', set)\n"
    "      elseif ttl == -2 or (ttl >= 0 and redis.call('PEXPIRETIME', set) < k.ex + keep) then\n"
    "        redis.call('PEXPIREAT', set, k.ex + keep)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  local ou = n(c[2])\n"
    "  if ou == 0 or (k.ou ~= 0 and k.ou < ou) then ou = k.ou end\n"
    "  local ea, en = n(c[4]), c[5] or ''\n"
    "  if en == '' then ea, en = k.ea, k.e end\n"
    "  local ds, du, ms, mu = n(c[7]), n(c[8]), n(c[9]), n(c[10])\n"
    "  if t == 'apikey_used' then\n"
    "    local dd, dm = math.max(n(k.dd), 0), math.max(n(k.dm), 0)\n"
    "    if k.ds == ds then du = du + dd elseif k.ds > ds then ds, du = k.ds, dd end\n"
    "    if k.ms == ms then mu = mu + dm elseif k.ms > ms then ms, mu = k.ms, dm end\n"
    "  end\n"
    "  local su = c[3] or ''\n"
    "  if k.su ~= '' then su = k.su end\n"
    "  local v = {lu = math.max(n(c[1]), k.lu), ou = ou, su = su, ea = ea, e = en,\n"
    "    wa = math.max(n(c[6]), k.wa), ds = ds, du = du, ms = ms, mu = mu}\n"
    "  local set, del = {}, {}\n"
    "  for name, x in pairs(v) do\n"
    "    if x == 0 or x == '' then del[#del + 1] = name\n"
    "    else set[#set + 1] = name; set[#set + 1] = x end\n"
    "  end\n"
    "  if #set > 0 then redis.call('HSET', key, unpack(set)) end\n"
    "  if #del > 0 then redis.call('HDEL', key, unpack(del)) end\n"
    "  local untl = 0\n"
    "  if en ~= '' then untl = ea\n"
    "  elseif n(k.ex) ~= 0 then untl = k.ex end\n"
    "  if ou ~= 0 and (untl == 0 or ou < untl) then untl = ou end\n"
    "  if untl ~= 0 then redis.call('PEXPIREAT', key, untl + keep) end\n"
    "end\n"
    "if ARGV[5] ~= '' then\n"
    "  local v = redis.call('HMGET', 'cf:s:' .. ARGV[5], 'g', 'ra', 'e', 'ea', 'u', 'ca')\n"
    "  if not v[1] then return {0, 0} end\n"
    "  local nbs = n(redis.call('GET', 'cf:nb:' .. (v[5] or '')))\n"
    "  local nbg = n(redis.call('GET', 'cf:nbg'))\n"
    "  if n(v[4]) ~= 0 or n(v[1]) ~= tonumber(ARGV[6]) or n(v[6]) < math.max(nbs, nbg) then\n"
    "    return {0, 1, n(v[1]), n(v[2]), v[3], n(v[4]), nbs, nbg}\n"
    "  end\n"
    "end\n"
    "local m = cjson.decode(ARGV[1])\n"
    "local keep = tonumber(ARGV[2])\n"
    "for _, e in ipairs(m.ev) do\n"
    "  local s = e.s\n"
    "  if e.t == 'not_before' then\n"
    "    local k = 'cf:nbg'\n"
    "    if e.sub ~= cjson.null then k = 'cf:nb:' .. e.sub end\n"
    "    if n(redis.call('GET', k)) < e.nb then\n"
    "      redis.call('SET', k, e.nb, 'PXAT', e.nb + tonumber(ARGV[4]))\n"
    "    end\n"
    "  elseif e.t == 'alert_hold' then\n"
    "    local k = 'cf:hold:' .. e.sub\n"
    "    if n(redis.call('GET', k)) < e['until'] then\n"
    "      redis.call('SET', k, e['until'], 'PXAT', e['until'])\n"
    "    end\n"
    "  elseif e.k then\n"
    "    apikey(e.t, e.k, keep)\n"
    "  elseif s then\n"
    "    local k = 'cf:s:' .. s.id\n"
    "    local cur = redis.call('HMGET', k, 'ea', 'la', 'id', 'g', 'k')\n"
    "    local exists = cur[1] ~= false\n"
    "    if e.t == 'activity' then\n"
    "      if exists and n(cur[1]) == 0 and s.last_activity > n(cur[2]) then\n"
    "        redis.call('HSET', k, 'la', s.last_activity, 'id', s.idle_deadline)\n"
    "        redis.call('PEXPIREAT', k, math.min(s.idle_deadline, s.absolute_deadline) + keep)\n"
    "      end\n"
    "    elseif not (exists and n(cur[1]) ~= 0) then\n"
    "      local la, idl, gen, cnf = s.last_activity, s.idle_deadline, s.gen, s.cnf or ''\n"
    "      if exists then\n"
    "        la = math.max(la, n(cur[2])); idl = math.max(idl, n(cur[3])); gen = math.max(gen, n(cur[4]))\n"
    "        if cur[5] and cur[5] ~= '' then cnf = cur[5] end\n"
    "      end\n"
    "      redis.call('HSET', k, 'u', s.sub, 'c', s.client_id, 's', s.scope, 'r', s.roles,\n"
    "        'at', s.auth_time, 'ca', s.created_at, 'la', la, 'it', s.idle_timeout,\n"
    "        'ab', s.absolute_timeout, 'tt', s.access_ttl, 'id', idl, 'ad', s.absolute_deadline,\n"
    "        'ea', s.ended_at, 'e', s['end'], 'g', gen, 'ra', s.rotated_at, 'ip', s.ip,\n"
    "        'd', s.device, 'k', cnf)\n"
    "      local untl = s.ended_at\n"
    "      if untl == 0 then untl = math.min(idl, s.absolute_deadline) end\n"
    "      redis.call('PEXPIREAT', k, untl + keep)\n"
    "      if s.ended_at == 0 then\n"
    "        index('cf:u:' .. s.sub, s.id, s.absolute_deadline + keep)\n"
    "        if s.client_id ~= '' then index('cf:c:' .. s.client_id, s.id, s.absolute_deadline + keep) end\n"
    "      end\n"
    "    end\n"
    "    if e.th then\n"
    "      redis.call('SET', 'cf:r:' .. e.th, s.id .. ' ' .. e.tg, 'PXAT', s.absolute_deadline + keep)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[1])\n"
    "return {1}\n";

/* KEYS[1] the session. Returns {fields, subject's not-before or false, global or false}. */
const char cf__redis_fetch_script[] =
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local sub = false\n"
    "for i = 1, #h, 2 do if h[i] == 'u' then sub = h[i + 1] end end\n"
    "local nb = false\n"
    "if sub then nb = redis.call('GET', 'cf:nb:' .. sub) end\n"
    "return {h, nb, redis.call('GET', 'cf:nbg')}\n";

/*
 * Revocation on Redis's own index, so it covers every session acknowledged
 * anywhere before it, not only those this node has heard of. In one atomic
 * step: raise a not-before epoch (if asked), end every live session of an
 * index set and of the ids the node gave (with the merge rule of the apply
 * script: an ended session stays as it ended), and publish the ends on the
 * bus as one batch in the wire format (store/wire.h), ready for every node.
 * ARGV[1] the index set or '', ARGV[2] the end, ARGV[3] its refusal reason,
 * ARGV[4] now (ms), ARGV[5] a cutoff (ms; only sessions created before it
 * end; 0 = all), ARGV[6] the not-before key or '', ARGV[7] its value (ms),
 * ARGV[8] how long an ended session is kept (ms), ARGV[9] how long an epoch
 * matters (ms), ARGV[10] the channel, ARGV[11] the message's head up to its
 * event array, ARGV[12...] session ids. Returns {sessions found, message or ''}.
 * The head is built by the caller: Lua numbers have 14 digits, a µs time 16.
 */
const char cf__redis_revoke_script[] =
    "local function n(x) return tonumber(x) or 0 end\n"
    "local now, cutoff, keep = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[8])\n"
    "local ids, seen, ev, found = {}, {}, {}, 0\n"
    "if ARGV[1] ~= '' then ids = redis.call('SMEMBERS', ARGV[1]) end\n"
    "for i = 12, #ARGV do ids[#ids + 1] = ARGV[i] end\n"
    "if ARGV[6] ~= '' then\n"
    "  local nb = tonumber(ARGV[7])\n"
    "  if n(redis.call('GET', ARGV[6])) < nb then\n"
    "    redis.call('SET', ARGV[6], nb, 'PXAT', nb + tonumber(ARGV[9]))\n"
    "  end\n"
    "  local sub = cjson.null\n"
    "  if ARGV[6] ~= 'cf:nbg' then sub = string.sub(ARGV[6], 7) end\n"
    "  ev[1] = {t = 'not_before', at = now, sub = sub, nb = nb}\n"
    "end\n"
    "for _, id in ipairs(ids) do\n"
    "  if not seen[id] then\n"
    "    seen[id] = true\n"
    "    local k = 'cf:s:' .. id\n"
    "    local h = redis.call('HGETALL', k)\n"
    "    local f = {}\n"
    "    for i = 1, #h, 2 do f[h[i]] = h[i + 1] end\n"
    "    if #h > 0 then found = found + 1 end\n"
    "    local live = #h > 0 and n(f.ea) == 0\n"
    "    if live and (cutoff == 0 or n(f.ca) < cutoff) then\n"
    "      live = false\n"
    "      redis.call('HSET', k, 'ea', now, 'e', ARGV[2])\n"
    "      redis.call('PEXPIREAT', k, now + keep)\n"
    "      ev[#ev + 1] = {t = 'session_ended', at = now, r = ARGV[3], s = {\n"
    "        id = id, sub = f.u or '', client_id = f.c or '', scope = f.s or '', roles = f.r or '',\n"
    "        auth_time = n(f.at), created_at = n(f.ca), last_activity = n(f.la),\n"
    "        idle_timeout = n(f.it), absolute_timeout = n(f.ab), access_ttl = n(f.tt),\n"
    "        idle_deadline = n(f.id), absolute_deadline = n(f.ad), ended_at = now,\n"
    "        ['end'] = ARGV[2], gen = n(f.g), rotated_at = n(f.ra), ip = f.ip or '',\n"
    "        device = f.d or '', cnf = f.k or ''}}\n"
    "    end\n"
    "    if ARGV[1] ~= '' and not live then redis.call('SREM', ARGV[1], id) end\n"
    "  end\n"
    "end\n"
    "local msg = ''\n"
    "if #ev > 0 then\n"
    "  msg = ARGV[11] .. cjson.encode(ev) .. '}'\n"
    "  redis.call('PUBLISH', ARGV[10], msg)\n"
    "end\n"
    "return {found, msg}\n";

/*
 * API keys revoked by owner or client on Redis's own index, so the
 * revocation covers every key acknowledged anywhere before it, not only
 * those this node has heard of (as the session revocation above). ARGV[1]
 * names the owner or client as the key set of the earlier layout
 * (cf:ku:<sub> or cf:kc:<client>, read too if it still exists). An owner's
 * keys are its index cf:kio:<sub>; a client's, the keys of the owners in
 * cf:kic:<client> whose hash names that client. ARGV[2] now (ms), ARGV[3] how
 * long an ended key is kept (ms), ARGV[4] the channel, ARGV[5] the message's
 * head up to its event array. Every live key in the set ends key_revoked
 * (an ended one keeps its end); the ends are published as one batch of
 * apikey_ended snapshots in the wire format. Returns {keys found, message or ''}.
 */
const char cf__redis_apikey_revoke_script[] =
    "local function n(x) return tonumber(x) or 0 end\n"
    "local now, keep = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local ev, found, seen = {}, 0, {}\n"
    "local ids = redis.call('SMEMBERS', ARGV[1])\n"
    "local who, owners, index = string.sub(ARGV[1], 7), {}, 'cf:kic:'\n"
    "if string.sub(ARGV[1], 1, 6) == 'cf:ku:' then owners, index = {who}, 'cf:kio:'\n"
    "else owners = redis.call('SMEMBERS', 'cf:kic:' .. who) end\n"
    "for _, sub in ipairs(owners) do\n"
    "  local s = redis.call('GET', 'cf:kio:' .. sub) or ''\n"
    "  for i = 1, #s - 11, 12 do\n"
    "    local id = string.sub(s, i, i + 11)\n"
    "    if index == 'cf:kio:' or redis.call('HGET', 'cf:k:' .. id, 'c') == who then\n"
    "      ids[#ids + 1] = id\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, id in ipairs(ids) do\n"
    "  local key = 'cf:k:' .. id\n"
    "  local h = {}\n"
    "  if not seen[id] then h = redis.call('HGETALL', key) end\n"
    "  seen[id] = true\n"
    "  local f = {}\n"
    "  for i = 1, #h, 2 do f[h[i]] = h[i + 1] end\n"
    "  if #h > 0 then found = found + 1 end\n"
    "  if #h > 0 and (f.e or '') == '' then\n"
    "    redis.call('HSET', key, 'ea', now, 'e', 'key_revoked')\n"
    "    redis.call('PEXPIREAT', key, now + keep)\n"
    "    local hex = string.gsub(f.h or '', '.', function(c) return string.format('%02x', string.byte(c)) end)\n"
    "    ev[#ev + 1] = {t = 'apikey_ended', at = now, r = 'key_revoked', k = {\n"
    "      id = id, h = hex, u = f.u or '', n = f.n or '', c = f.c or '', r = f.r or '',\n"
    "      sc = f.sc or '', nt = f.nt or '', ca = n(f.ca), ex = n(f.ex), ie = n(f.ie),\n"
    "      lu = n(f.lu), ou = n(f.ou), ea = now, wa = n(f.wa), qd = n(f.qd), qm = n(f.qm),\n"
    "      ds = n(f.ds), du = n(f.du), ms = n(f.ms), mu = n(f.mu), su = f.su or '',\n"
    "      pr = f.pr or '', e = 'key_revoked'}}\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', ARGV[1], index .. who)\n"
    "local msg = ''\n"
    "if #ev > 0 then\n"
    "  msg = ARGV[5] .. cjson.encode(ev) .. '}'\n"
    "  redis.call('PUBLISH', ARGV[4], msg)\n"
    "end\n"
    "return {found, msg}\n";

/*
 * KEYS[1] cf:r:<hex>. The session a refresh-token hash names, read with it in
 * one step: {sid, gen, session fields, subject's not-before or false, global
 * or false}, or nil when Redis does not know the token.
 */
const char cf__redis_refresh_script[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then return false end\n"
    "local sid, gen = string.match(v, '^(%S+) (%d+)$')\n"
    "if not sid then return false end\n"
    "local h = redis.call('HGETALL', 'cf:s:' .. sid)\n"
    "local sub = false\n"
    "for i = 1, #h, 2 do if h[i] == 'u' then sub = h[i + 1] end end\n"
    "local nb = false\n"
    "if sub then nb = redis.call('GET', 'cf:nb:' .. sub) end\n"
    "return {sid, gen, h, nb, redis.call('GET', 'cf:nbg')}\n";

/* KEYS[1] cf:keyset. ARGV: the document, its version, the channel, the notice. */
const char cf__redis_keyset_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local ok, doc = pcall(cjson.decode, cur)\n"
    "  if ok and type(doc) == 'table' and tonumber(doc.version) and\n"
    "     tonumber(doc.version) >= tonumber(ARGV[2]) then return 0 end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
    "return 1\n";
