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
 * The packed API key (store/apikey_pack.h, the C side of the same format):
 * unpack gives a table of the fields by their wire names (numbers 0 and
 * strings '' when absent), or nil for a damaged value; pack the reverse.
 * Numbers are kept below 2^53 (Lua's exact integers); a negative is 0.
 * until_of() is when a key's entry may go: its end, else its expiry, or its
 * overlap's end if sooner; 0 never (then + the retention).
 */
#define APIKEY_CODEC                                                                              \
    "local FIELDS = {'ca', 'ex', 'ie', 'n', 'c', 'r', 'sc', 'lu', 'ou', 'ea', 'wa', 'qd', 'qm',\n" \
    "  'ds', 'du', 'ms', 'mu', 'nt', 'su', 'pr', 'e'}\n"                                          \
    "local STR = {n = 1, c = 1, r = 1, sc = 1, nt = 1, su = 1, pr = 1, e = 1}\n"                  \
    "local function n(x) return tonumber(x) or 0 end\n"                                          \
    "local function varint(x)\n"                                                                 \
    "  local t = {}\n"                                                                           \
    "  x = math.min(math.floor(math.max(n(x), 0)), 9007199254740991)\n"                          \
    "  repeat\n"                                                                                 \
    "    local b = x % 128\n"                                                                    \
    "    x = (x - b) / 128\n"                                                                    \
    "    if x > 0 then b = b + 128 end\n"                                                        \
    "    t[#t + 1] = string.char(b)\n"                                                           \
    "  until x == 0\n"                                                                           \
    "  return table.concat(t)\n"                                                                 \
    "end\n"                                                                                      \
    "local function pack(r)\n"                                                                   \
    "  local mask, out = 0, {}\n"                                                                \
    "  for i, f in ipairs(FIELDS) do\n"                                                          \
    "    local x = r[f]\n"                                                                       \
    "    if STR[f] then\n"                                                                       \
    "      if type(x) == 'string' and x ~= '' then\n"                                            \
    "        mask = mask + 2 ^ (i - 1); out[#out + 1] = varint(#x) .. x\n"                       \
    "      end\n"                                                                                \
    "    elseif n(x) >= 1 then mask = mask + 2 ^ (i - 1); out[#out + 1] = varint(x) end\n"       \
    "  end\n"                                                                                    \
    "  return '\\1' .. r.h .. varint(mask) .. table.concat(out)\n"                               \
    "end\n"                                                                                      \
    "local function unpack(v)\n"                                                                 \
    "  if type(v) ~= 'string' or #v < 34 or string.byte(v, 1) ~= 1 then return nil end\n"       \
    "  local pos = 34\n"                                                                         \
    "  local function rd()\n"                                                                    \
    "    local x, m = 0, 1\n"                                                                    \
    "    for _ = 1, 8 do\n"                                                                      \
    "      local b = string.byte(v, pos)\n"                                                      \
    "      if not b then return nil end\n"                                                       \
    "      pos = pos + 1\n"                                                                      \
    "      x = x + (b % 128) * m; m = m * 128\n"                                                 \
    "      if b < 128 then return x end\n"                                                       \
    "    end\n"                                                                                  \
    "    return nil\n"                                                                           \
    "  end\n"                                                                                    \
    "  local r = {h = string.sub(v, 2, 33)}\n"                                                   \
    "  local mask = rd()\n"                                                                      \
    "  if not mask or mask >= 2 ^ #FIELDS then return nil end\n"                                 \
    "  for i, f in ipairs(FIELDS) do\n"                                                          \
    "    local on = math.floor(mask / 2 ^ (i - 1)) % 2 == 1\n"                                   \
    "    if STR[f] then\n"                                                                       \
    "      r[f] = ''\n"                                                                          \
    "      if on then\n"                                                                         \
    "        local l = rd()\n"                                                                   \
    "        if not l or l < 1 or pos + l - 1 > #v then return nil end\n"                        \
    "        r[f] = string.sub(v, pos, pos + l - 1); pos = pos + l\n"                            \
    "      end\n"                                                                                \
    "    else\n"                                                                                 \
    "      r[f] = 0\n"                                                                           \
    "      if on then r[f] = rd() end\n"                                                         \
    "      if not r[f] then return nil end\n"                                                    \
    "    end\n"                                                                                  \
    "  end\n"                                                                                    \
    "  if pos ~= #v + 1 then return nil end\n"                                                   \
    "  return r\n"                                                                               \
    "end\n"                                                                                      \
    "local function until_of(r)\n"                                                               \
    "  local u = 0\n"                                                                            \
    "  if r.e ~= '' then u = r.ea elseif r.ex ~= 0 then u = r.ex end\n"                          \
    "  if r.ou ~= 0 and (u == 0 or r.ou < u) then u = r.ou end\n"                                \
    "  return u\n"                                                                               \
    "end\n"                                                                                      \
    "local function hex(h)\n"                                                                    \
    "  return (string.gsub(h, '.', function(c) return string.format('%02x', string.byte(c)) end))\n" \
    "end\n"                                                                                      \
    "local function owner_expiry(ko, at, existed)\n"                                             \
    "  if not existed then\n"                                                                    \
    "    if at ~= 0 then redis.call('PEXPIREAT', ko, at) end\n"                                  \
    "  elseif redis.call('PTTL', ko) >= 0 then\n"                                                \
    "    if at == 0 then redis.call('PERSIST', ko)\n"                                            \
    "    elseif redis.call('PEXPIRETIME', ko) < at then redis.call('PEXPIREAT', ko, at) end\n"   \
    "  end\n"                                                                                    \
    "end\n"

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
 * An API key event ("k", store/wire.c) writes the key's packed value
 * (APIKEY_CODEC) as field <id> of its owner's hash cf:ko:<sub>, with the
 * merge rules of the SQLite store (an end is never undone, use only moves
 * forward, an overlap only shortens), except the quota counts: every node
 * counts its own uses, and its apikey_used events add them ("dd", "dm": uses
 * since its previous one) to the window's count, so a quota is cluster-wide.
 * Only the SHA-256 of the key string is kept (32 raw bytes). A key is kept
 * until its end (or its expiry, or the end of its overlap) plus the
 * ended-session retention, a key that never expires until it ends: the
 * owner's hash lives as long as its longest-kept key, and each write drops
 * up to 3 entries of that hash (drawn at random) whose time has passed. The
 * owner hash is the owner's index. A client's index, which the key
 * revocation script reads, is the string cf:kco:<client> of the owners with
 * a key of that client (each a varint length and the name, appended): a new
 * key appends its owner unless the owner already has a live key of that
 * client listed (looked for only in an owner hash of up to 64 keys, so a
 * write stays cheap; a repeated owner is read once). A set member cost about
 * 55 bytes, an entry here the name's length plus one.
 * Earlier layouts: a key in its own hash cf:k:<id> moves into its owner's
 * hash at its next write (and into its client's index); the indexes of
 * those layouts (cf:ku:<sub>, cf:kc:<client>, cf:kio:<sub>, cf:kic:<client>)
 * are still read by the revocation script.
 */
const char cf__redis_apply_script[] =
    APIKEY_CODEC
    "local function index(set, id, at)\n"
    "  redis.call('SADD', set, id)\n"
    "  if redis.call('PEXPIRETIME', set) < at then redis.call('PEXPIREAT', set, at) end\n"
    "end\n"
    "local function legacy(id)\n"
    "  local key = 'cf:k:' .. id\n"
    "  local h = redis.call('HGETALL', key)\n"
    "  if #h == 0 then return nil end\n"
    "  local f = {}\n"
    "  for i = 1, #h, 2 do f[h[i]] = h[i + 1] end\n"
    "  redis.call('DEL', key)\n"
    "  if type(f.h) ~= 'string' or #f.h ~= 32 then return nil end\n"
    "  local r = {h = f.h}\n"
    "  for _, x in ipairs(FIELDS) do if STR[x] then r[x] = f[x] or '' else r[x] = n(f[x]) end end\n"
    "  return r, true\n"
    "end\n"
    "local function prune(ko, id, keep, now)\n"
    "  local s = redis.call('HRANDFIELD', ko, 3, 'WITHVALUES')\n"
    "  for i = 1, #s, 2 do\n"
    "    local r = unpack(s[i + 1])\n"
    "    if s[i] ~= id and r and until_of(r) ~= 0 and until_of(r) + keep < now then\n"
    "      redis.call('HDEL', ko, s[i])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function client_index(c, u, ex, keep, ko, now)\n"
    "  local idx = 'cf:kco:' .. c\n"
    "  local ttl = redis.call('PTTL', idx)\n"
    "  local listed = false\n"
    "  if ttl ~= -2 and redis.call('HLEN', ko) <= 64 then\n"
    "    for _, v in ipairs(redis.call('HVALS', ko)) do\n"
    "      local r = unpack(v)\n"
    "      if r and r.c == c and r.e == '' and (r.ex == 0 or r.ex + keep > now) then\n"
    "        listed = true\n"
    "        break\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if not listed then redis.call('APPEND', idx, varint(#u) .. u) end\n"
    "  if ex == 0 then redis.call('PERSIST', idx)\n"
    "  elseif ttl == -2 or (ttl >= 0 and redis.call('PEXPIRETIME', idx) < ex + keep) then\n"
    "    redis.call('PEXPIREAT', idx, ex + keep)\n"
    "  end\n"
    "end\n"
    "local function apikey(t, k, keep)\n"
    "  local ko = 'cf:ko:' .. k.u\n"
    "  local tm = redis.call('TIME')\n"
    "  local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "  local existed = redis.call('EXISTS', ko) == 1\n"
    "  local c, moved = unpack(redis.call('HGET', ko, k.id)), false\n"
    "  if not c then c, moved = legacy(k.id) end\n"
    "  if not c then\n"
    "    c = {h = string.gsub(k.h, '..', function(x) return string.char(tonumber(x, 16)) end)}\n"
    "    for _, x in ipairs(FIELDS) do if STR[x] then c[x] = '' else c[x] = 0 end end\n"
    "    for _, x in ipairs({'n', 'c', 'r', 'sc', 'nt', 'pr', 'ca', 'ex', 'ie', 'qd', 'qm'}) do\n"
    "      c[x] = k[x]\n"
    "    end\n"
    "    moved = true\n"
    "  end\n"
    "  if moved and c.c ~= '' then client_index(c.c, k.u, n(c.ex), keep, ko, now) end\n"
    "  if c.ou == 0 or (k.ou ~= 0 and k.ou < c.ou) then c.ou = k.ou end\n"
    "  if c.e == '' then c.ea, c.e = k.ea, k.e end\n"
    "  if t == 'apikey_used' then\n"
    "    local dd, dm = math.max(n(k.dd), 0), math.max(n(k.dm), 0)\n"
    "    if k.ds == c.ds then c.du = c.du + dd elseif k.ds > c.ds then c.ds, c.du = k.ds, dd end\n"
    "    if k.ms == c.ms then c.mu = c.mu + dm elseif k.ms > c.ms then c.ms, c.mu = k.ms, dm end\n"
    "  end\n"
    "  if k.su ~= '' then c.su = k.su end\n"
    "  c.lu, c.wa = math.max(c.lu, k.lu), math.max(c.wa, k.wa)\n"
    "  redis.call('HSET', ko, k.id, pack(c))\n"
    "  local untl = until_of(c)\n"
    "  owner_expiry(ko, untl ~= 0 and untl + keep or 0, existed)\n"
    "  if existed then prune(ko, k.id, keep, now) end\n"
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
    /* A key is rotated once: a batch rotating a key that has a successor
     * (another node's rotation got here first) writes nothing and returns
     * {0, 2}; one rotating a key that has ended (a revocation first), {0, 3}.
     * That node answers 409. */
    "for _, e in ipairs(m.ev) do\n"
    "  if e.t == 'apikey_rotated' and e.k then\n"
    "    local c = unpack(redis.call('HGET', 'cf:ko:' .. e.k.u, e.k.id))\n"
    "    if not c then\n"
    "      local v = redis.call('HMGET', 'cf:k:' .. e.k.id, 'su', 'e')\n"
    "      c = {su = v[1] or '', e = v[2] or ''}\n"
    "    end\n"
    "    if c.su ~= '' then return {0, 2} end\n"
    "    if c.e ~= '' then return {0, 3} end\n"
    "  end\n"
    "end\n"
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
 * names the owner or client as the key set of the earliest layout
 * (cf:ku:<sub> or cf:kc:<client>, read too if it still exists). An owner's
 * keys are its hash cf:ko:<sub> (and, from the previous layout, the ids in
 * cf:kio:<sub>, each in its own hash cf:k:<id>); a client's, the keys that
 * name that client of the owners listed in cf:kco:<client> (and in the
 * previous layout's set cf:kic:<client>). ARGV[2] now (ms), ARGV[3]
 * how long an ended key is kept (ms), ARGV[4] the channel, ARGV[5] the
 * message's head up to its event array. Every live key found ends
 * key_revoked (an ended one keeps its end; one past a deadline nobody recorded
 * yet ends at that deadline, with its reason); the ends are published as one
 * batch of apikey_ended snapshots in the wire format. Returns {keys found,
 * message or ''}.
 */
const char cf__redis_apikey_revoke_script[] =
    APIKEY_CODEC
    "local now, keep = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local ev, found, seen = {}, 0, {}\n"
    "local ids = redis.call('SMEMBERS', ARGV[1])\n"
    "local who, owners, index = string.sub(ARGV[1], 7), {}, {'cf:kic:', 'cf:kco:'}\n"
    "local byowner = string.sub(ARGV[1], 1, 6) == 'cf:ku:'\n"
    "if byowner then owners, index = {who}, {'cf:kio:', 'cf:kio:'}\n"
    "else\n"
    "  local listed = {}\n"
    "  for _, u in ipairs(redis.call('SMEMBERS', 'cf:kic:' .. who)) do listed[u] = true end\n"
    "  local s, pos = redis.call('GET', 'cf:kco:' .. who) or '', 1\n"
    "  while pos <= #s do\n"
    "    local l, m = 0, 1\n"
    "    repeat\n"
    "      local b = string.byte(s, pos) or 0\n"
    "      pos = pos + 1\n"
    "      l = l + (b % 128) * m; m = m * 128\n"
    "    until b < 128 or pos > #s\n"
    "    listed[string.sub(s, pos, pos + l - 1)] = true\n"
    "    pos = pos + l\n"
    "  end\n"
    "  for u in pairs(listed) do owners[#owners + 1] = u end\n"
    "end\n"
    /* A key already past a deadline ended there (as cf_apikey_end_at() says:
     * the earliest, expiry first on a tie): recorded so, not as revoked now. */
    "local function end_of(f)\n"
    "  local at, e = 0, 'key_revoked'\n"
    "  local function cand(t, name) if t ~= 0 and (at == 0 or t < at) then at, e = t, name end end\n"
    "  cand(n(f.ex), 'key_expired')\n"
    "  if n(f.ie) ~= 0 then cand(math.max(n(f.lu), n(f.ca)) + n(f.ie), 'key_idle_expired') end\n"
    "  cand(n(f.ou), 'key_rotated')\n"
    "  if at ~= 0 and at <= now then return e, at end\n"
    "  return 'key_revoked', now\n"
    "end\n"
    "local function ended(id, sub, f, e, ea)\n"
    "  ev[#ev + 1] = {t = 'apikey_ended', at = now, r = e, k = {\n"
    "    id = id, h = hex(f.h or ''), u = sub, n = f.n or '', c = f.c or '', r = f.r or '',\n"
    "    sc = f.sc or '', nt = f.nt or '', ca = n(f.ca), ex = n(f.ex), ie = n(f.ie),\n"
    "    lu = n(f.lu), ou = n(f.ou), ea = ea, wa = n(f.wa), qd = n(f.qd), qm = n(f.qm),\n"
    "    ds = n(f.ds), du = n(f.du), ms = n(f.ms), mu = n(f.mu), su = f.su or '',\n"
    "    pr = f.pr or '', e = e}}\n"
    "end\n"
    "for _, sub in ipairs(owners) do\n"
    "  local ko = 'cf:ko:' .. sub\n"
    "  local h = redis.call('HGETALL', ko)\n"
    "  for i = 1, #h, 2 do\n"
    "    local id, r = h[i], unpack(h[i + 1])\n"
    "    if r and not seen[id] and (byowner or r.c == who) then\n"
    "      seen[id] = true\n"
    "      found = found + 1\n"
    "      if r.e == '' then\n"
    "        r.e, r.ea = end_of(r)\n"
    "        redis.call('HSET', ko, id, pack(r))\n"
    "        owner_expiry(ko, r.ea + keep, true)\n"
    "        ended(id, sub, r, r.e, r.ea)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  local s = redis.call('GET', 'cf:kio:' .. sub) or ''\n"
    "  for i = 1, #s - 11, 12 do\n"
    "    local id = string.sub(s, i, i + 11)\n"
    "    if byowner or redis.call('HGET', 'cf:k:' .. id, 'c') == who then\n"
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
    "    local e, ea = end_of(f)\n"
    "    redis.call('HSET', key, 'ea', ea, 'e', e)\n"
    "    redis.call('PEXPIREAT', key, ea + keep)\n"
    "    ended(id, f.u or '', f, e, ea)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', ARGV[1], index[1] .. who, index[2] .. who)\n"
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
