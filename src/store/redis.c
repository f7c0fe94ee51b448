/* SPDX-License-Identifier: MIT
 *
 * The Redis store (see redis.h). Every committed batch is one EVALSHA of the
 * apply script, which writes the events with the same merge rules as the
 * SQLite store (an ended session is never revived; activity only moves
 * forward) and publishes the batch on the bus in the same atomic step.
 * The reply is the acknowledgement: with appendfsync always it is on disk.
 */
#include "store/redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/digest.h"
#include "core/error.h"
#include "store/wire.h"
#include "util/log.h"

/* The shared signing key set (sealed by the KEK); only this file names it. */
#define KEYSET_KEY "cf:keyset"

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
 */
static const char apply_script[] =
    "local function n(x) return tonumber(x) or 0 end\n"
    "local function index(set, id, at)\n"
    "  redis.call('SADD', set, id)\n"
    "  if redis.call('PEXPIRETIME', set) < at then redis.call('PEXPIREAT', set, at) end\n"
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
    "  elseif s then\n"
    "    local k = 'cf:s:' .. s.id\n"
    "    local cur = redis.call('HMGET', k, 'ea', 'la', 'id', 'g')\n"
    "    local exists = cur[1] ~= false\n"
    "    if e.t == 'activity' then\n"
    "      if exists and n(cur[1]) == 0 and s.last_activity > n(cur[2]) then\n"
    "        redis.call('HSET', k, 'la', s.last_activity, 'id', s.idle_deadline)\n"
    "        redis.call('PEXPIREAT', k, math.min(s.idle_deadline, s.absolute_deadline) + keep)\n"
    "      end\n"
    "    elseif not (exists and n(cur[1]) ~= 0) then\n"
    "      local la, idl, gen = s.last_activity, s.idle_deadline, s.gen\n"
    "      if exists then\n"
    "        la = math.max(la, n(cur[2])); idl = math.max(idl, n(cur[3])); gen = math.max(gen, n(cur[4]))\n"
    "      end\n"
    "      redis.call('HSET', k, 'u', s.sub, 'c', s.client_id, 's', s.scope, 'r', s.roles,\n"
    "        'at', s.auth_time, 'ca', s.created_at, 'la', la, 'it', s.idle_timeout,\n"
    "        'ab', s.absolute_timeout, 'tt', s.access_ttl, 'id', idl, 'ad', s.absolute_deadline,\n"
    "        'ea', s.ended_at, 'e', s['end'], 'g', gen, 'ra', s.rotated_at, 'ip', s.ip,\n"
    "        'd', s.device)\n"
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
static const char fetch_script[] =
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
static const char revoke_script[] =
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
    "        device = f.d or ''}}\n"
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
 * KEYS[1] cf:r:<hex>. The session a refresh-token hash names, read with it in
 * one step: {sid, gen, session fields, subject's not-before or false, global
 * or false}, or nil when Redis does not know the token.
 */
static const char refresh_script[] =
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
static const char keyset_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local ok, doc = pcall(cjson.decode, cur)\n"
    "  if ok and type(doc) == 'table' and tonumber(doc.version) and\n"
    "     tonumber(doc.version) >= tonumber(ARGV[2]) then return 0 end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
    "return 1\n";

typedef struct rd_store rd_t;
struct rd_store {
    cf_store_t base; /* first: the interface */
    uv_loop_t *loop;
    cf_redis_url_t url;
    char node[CF_NODE_ID_LEN + 1];
    char channel[64];
    char keep[24];
    char nb_keep[24];
    cf_redis_bus_t bus;
    redisAsyncContext *cmd; /* NULL while down */
    redisAsyncContext *sub;
    int cmd_up, sub_up;
    int sub_connected; /* the subscription's TCP connection is up (subscribed or not) */
    int cmd_ready;     /* the command connection's set-up was answered */
    uv_timer_t timer; /* reconnects and watches for a hung Redis */
    uint64_t pending;        /* commands sent, not yet answered */
    uint64_t last_reply_ms;  /* uv_now of the last reply */
    uint64_t cmd_since, sub_since; /* uv_now when each connection was last attempted */
    uint64_t last_bus_ms;    /* uv_now of the last reply or message on the subscription */
    uint64_t last_tick_ms;   /* uv_now of the previous on_timer */
    char apply_sha[41], fetch_sha[41], keyset_sha[41], revoke_sha[41], refresh_sha[41];
    int closing, timer_closed;
    cf_store_stats_t stats;
};

static const cf_store_ops_t rd_ops;

static void sha1_hex(const char *s, char out[41])
{
    uint8_t d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), d);
    cf_hex_encode(d, sizeof d, out);
}

/* ---- the libuv adapter ---- */

/*
 * hiredis's own libuv adapter (0.14, Debian 12) returns from its poll
 * callback on any libuv error without telling hiredis. libuv reports a
 * refused or timed-out connect, and a reset connection, as exactly such an
 * error (POLLERR -> UV_EBADF) and stops polling: the context then stays
 * "connecting" or "connected" forever and is never retried. This adapter
 * hands an error to hiredis as the events it waited for, so hiredis reads
 * the socket's error itself and fails the attempt or the connection through
 * its usual callbacks (what hiredis 1.x's adapter does).
 */
typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis has cleaned up */
    uv_poll_t handle;
    int events;
} adapter_t;

static void adapter_poll(uv_poll_t *handle, int status, int events)
{
    adapter_t *p = handle->data;
    int ev = status < 0 ? p->events : events;

    if (p->ac != NULL && (ev & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    /* libuv stopped the handle on the error; hiredis may still want events. */
    if (status < 0 && p->ac != NULL && p->events != 0)
        uv_poll_start(&p->handle, p->events, adapter_poll);
}

static void adapter_set(adapter_t *p, int events)
{
    p->events = events;
    if (events != 0)
        uv_poll_start(&p->handle, events, adapter_poll);
    else
        uv_poll_stop(&p->handle);
}

static void adapter_add_read(void *d) { adapter_set(d, ((adapter_t *)d)->events | UV_READABLE); }
static void adapter_del_read(void *d) { adapter_set(d, ((adapter_t *)d)->events & ~UV_READABLE); }
static void adapter_add_write(void *d) { adapter_set(d, ((adapter_t *)d)->events | UV_WRITABLE); }
static void adapter_del_write(void *d) { adapter_set(d, ((adapter_t *)d)->events & ~UV_WRITABLE); }

static void adapter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void adapter_cleanup(void *d)
{
    adapter_t *p = d;

    p->ac = NULL; /* the context is being freed */
    uv_close((uv_handle_t *)&p->handle, adapter_closed);
}

static int adapter_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    adapter_t *p;

    if (ac->ev.data != NULL || (p = calloc(1, sizeof *p)) == NULL)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.addRead = adapter_add_read;
    ac->ev.delRead = adapter_del_read;
    ac->ev.addWrite = adapter_add_write;
    ac->ev.delWrite = adapter_del_write;
    ac->ev.cleanup = adapter_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

/* ---- connections ---- */

static void maybe_free(rd_t *st);
static void on_cmd_connect(const redisAsyncContext *ac, int status);
static void on_cmd_disconnect(const redisAsyncContext *ac, int status);
static void on_sub_connect(const redisAsyncContext *ac, int status);
static void on_sub_disconnect(const redisAsyncContext *ac, int status);
static void on_sub_message(redisAsyncContext *ac, void *r, void *arg);

static void on_setup_reply(redisAsyncContext *ac, void *r, void *arg)
{
    redisReply *reply = r;
    rd_t *st = ac->data;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=%s error=\"%s\"", (const char *)arg, reply->str);
        if (st != NULL && !st->closing)
            redisAsyncDisconnect(ac);
    }
}

/* The last set-up reply: from now on the connection has proven it serves. */
static void on_cmd_ready(redisAsyncContext *ac, void *r, void *arg)
{
    redisReply *reply = r;
    rd_t *st = ac->data;

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR && st != NULL && st->cmd == ac) {
        st->cmd_ready = 1;
        st->last_reply_ms = uv_now(st->loop);
        CF_LOG(CF_LOG_INFO, "event=redis_connected conn=commands host=%s port=%d", st->url.host,
               st->url.port);
    }
    on_setup_reply(ac, r, arg);
}

static redisAsyncContext *connect_one(rd_t *st, void (*on_conn)(const redisAsyncContext *, int),
                                      void (*on_disc)(const redisAsyncContext *, int))
{
    redisAsyncContext *ac = redisAsyncConnect(st->url.host, st->url.port);

    if (ac == NULL)
        return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = st;
    if (adapter_attach(ac, st->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_conn);
    redisAsyncSetDisconnectCallback(ac, on_disc);
    if (st->url.password[0])
        redisAsyncCommand(ac, on_setup_reply, "auth", "AUTH %s", st->url.password);
    return ac;
}

static void connect_cmd(rd_t *st)
{
    st->cmd_since = uv_now(st->loop);
    st->cmd_ready = 0;
    st->cmd = connect_one(st, on_cmd_connect, on_cmd_disconnect);
    if (st->cmd == NULL)
        return;
    redisAsyncCommand(st->cmd, on_setup_reply, "select", "SELECT %d", st->url.db);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", apply_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", fetch_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", keyset_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", revoke_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", refresh_script);
    redisAsyncCommand(st->cmd, on_cmd_ready, "ping", "PING");
}

static void connect_sub(rd_t *st)
{
    st->sub_since = uv_now(st->loop);
    st->sub = connect_one(st, on_sub_connect, on_sub_disconnect);
    if (st->sub == NULL)
        return;
    redisAsyncCommand(st->sub, on_sub_message, NULL, "SUBSCRIBE %s", st->channel);
}

static void on_cmd_connect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;

    if (status != REDIS_OK) {
        st->cmd = NULL; /* hiredis frees it */
        maybe_free(st);
        return;
    }
    st->cmd_up = 1;
    st->last_reply_ms = uv_now(st->loop);
}

static void on_cmd_disconnect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;

    if (st->cmd_ready && !st->closing)
        CF_LOG(CF_LOG_WARN, "event=redis_disconnected conn=commands");
    st->cmd = NULL;
    st->cmd_up = 0;
    st->cmd_ready = 0;
    st->pending = 0;
    maybe_free(st);
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;

    if (status != REDIS_OK) {
        st->sub = NULL;
        maybe_free(st);
        return;
    }
    st->sub_connected = 1;
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;
    int was_up = st->sub_up;

    st->sub = NULL;
    st->sub_up = 0;
    st->sub_connected = 0;
    if (was_up && !st->closing) {
        CF_LOG(CF_LOG_WARN, "event=redis_disconnected conn=bus");
        if (st->bus.link != NULL)
            st->bus.link(st->bus.ctx, 0);
    }
    maybe_free(st);
}

static void on_sub_message(redisAsyncContext *ac, void *r, void *arg)
{
    redisReply *reply = r;
    rd_t *st = ac->data;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !st->closing) {
        /* SUBSCRIBE refused (an ACL, say): drop the link; the timer retries. */
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=subscribe error=\"%s\"", reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 || st->closing)
        return;
    st->last_bus_ms = uv_now(st->loop);
    if (reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        st->sub_up = 1;
        CF_LOG(CF_LOG_INFO, "event=redis_connected conn=bus channel=%s", st->channel);
        if (st->bus.link != NULL)
            st->bus.link(st->bus.ctx, 1);
        /* The link callback may have resynchronised for a while: silence counts from now. */
        uv_update_time(st->loop);
        st->last_bus_ms = uv_now(st->loop);
    } else if (strcmp(reply->element[0]->str, "message") == 0 &&
               reply->element[2]->type == REDIS_REPLY_STRING) {
        if (st->bus.message != NULL)
            st->bus.message(st->bus.ctx, reply->element[2]->str, reply->element[2]->len);
    }
}

static void free_store(rd_t *st)
{
    OPENSSL_cleanse(st->url.password, sizeof st->url.password);
    free(st);
}

/* Freed once closing, with the timer and both connections gone. */
static void maybe_free(rd_t *st)
{
    if (st->closing && st->timer_closed && st->cmd == NULL && st->sub == NULL)
        free_store(st);
}

static void on_timer_closed(uv_handle_t *h)
{
    rd_t *st = h->data;

    st->timer_closed = 1;
    maybe_free(st);
}

/*
 * Drop @ac, which is st->cmd or st->sub, so that the timer makes a new one.
 * hiredis reports the end of a connection it made through the disconnect
 * callback (which clears the state); an attempt that never connected it
 * frees silently, so it is forgotten here first. Commands still queued are
 * answered with no reply (a failure) either way.
 */
static void abandon(rd_t *st, redisAsyncContext *ac)
{
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        if (st->cmd == ac)
            st->cmd = NULL;
        else
            st->sub = NULL;
    }
    redisAsyncFree(ac);
}

#define RD_TICK_MS 100     /* how often the timer looks */
#define RD_HUNG_MS 2000    /* a command unanswered this long: the connection is dead */

/*
 * Every RD_TICK_MS: make what is down, and drop what cannot be trusted to
 * come back by itself, so that every kind of loss leads back to a new
 * connection:
 *  - an attempt (connect plus set-up, or connect plus SUBSCRIBE) not answered
 *    within attempt_ms: a SYN into a partition is otherwise retried by the
 *    kernel for about two minutes, and one into a full listen queue as long;
 *  - a command connection with a command unanswered for RD_HUNG_MS (a hung
 *    Redis, or a peer gone without a FIN): failing it answers its requests;
 *  - a subscription silent for silence_ms although every node publishes a
 *    heartbeat more often: a connection whose peer vanished never learns it
 *    by itself, since a subscriber sends nothing.
 * After the loop was blocked (a long resynchronisation), replies may wait
 * unread in the sockets while the timer runs first: judge nothing on that tick.
 */
static void on_timer(uv_timer_t *t)
{
    rd_t *st = t->data;
    uint64_t now = uv_now(st->loop), attempt = st->bus.attempt_ms ? st->bus.attempt_ms : 1000;
    int blocked = now - st->last_tick_ms > 3 * RD_TICK_MS;

    st->last_tick_ms = now;
    if (st->closing || blocked)
        return;
    if (st->cmd != NULL && !st->cmd_ready && now - st->cmd_since > attempt) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=commands what=connect ms=%llu",
               (unsigned long long)(now - st->cmd_since));
        abandon(st, st->cmd);
    } else if (st->cmd != NULL && st->cmd_up && st->pending > 0 &&
               now - st->last_reply_ms > RD_HUNG_MS) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=commands pending=%llu",
               (unsigned long long)st->pending);
        abandon(st, st->cmd);
    }
    if (st->sub != NULL && !st->sub_up && now - st->sub_since > attempt) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=bus what=subscribe ms=%llu",
               (unsigned long long)(now - st->sub_since));
        abandon(st, st->sub);
    } else if (st->sub != NULL && st->sub_up && st->bus.silence_ms > 0 &&
               now - st->last_bus_ms > st->bus.silence_ms) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=bus what=silence ms=%llu",
               (unsigned long long)(now - st->last_bus_ms));
        abandon(st, st->sub);
    }
    if (st->cmd == NULL)
        connect_cmd(st);
    if (st->sub == NULL)
        connect_sub(st);
}

static redisContext *connect_sync(const rd_t *st);

/* SCRIPT LOAD each script once, synchronously, and check Redis names it as we do. */
static int load_scripts_sync(rd_t *st)
{
    const char *scripts[] = {apply_script, fetch_script, keyset_script, revoke_script,
                             refresh_script};
    const char *shas[] = {st->apply_sha, st->fetch_sha, st->keyset_sha, st->revoke_sha,
                          st->refresh_sha};
    redisContext *c = connect_sync(st);
    int rc = 0;

    if (c == NULL)
        return CF_ESTORE;
    for (size_t i = 0; rc == 0 && i < sizeof scripts / sizeof scripts[0]; i++) {
        redisReply *r = redisCommand(c, "SCRIPT LOAD %s", scripts[i]);
        if (r == NULL || r->type != REDIS_REPLY_STRING || strcmp(r->str, shas[i]) != 0) {
            CF_LOG(CF_LOG_ERROR, "event=redis_error op=script_load error=\"%s\"",
                   r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = CF_ESTORE;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return rc;
}

int cf_store_open_redis(const cf_redis_url_t *url, const char *node_id, cf_time_t keep,
                        cf_time_t nb_keep, uv_loop_t *loop, const cf_redis_bus_t *bus,
                        cf_store_t **out)
{
    rd_t *st = calloc(1, sizeof *st);

    *out = NULL;
    if (st == NULL)
        return CF_ENOMEM;
    st->base.ops = &rd_ops;
    st->loop = loop;
    st->url = *url;
    snprintf(st->node, sizeof st->node, "%s", node_id);
    snprintf(st->channel, sizeof st->channel, "curfew:bus:%d", url->db);
    snprintf(st->keep, sizeof st->keep, "%lld", (long long)keep);
    snprintf(st->nb_keep, sizeof st->nb_keep, "%lld", (long long)nb_keep);
    if (bus != NULL)
        st->bus = *bus;
    sha1_hex(apply_script, st->apply_sha);
    sha1_hex(fetch_script, st->fetch_sha);
    sha1_hex(keyset_script, st->keyset_sha);
    sha1_hex(revoke_script, st->revoke_sha);
    sha1_hex(refresh_script, st->refresh_sha);

    /* Fail fast on a wrong address, a wrong password or a Redis too old for
     * the scripts: Redis must answer, and accept every script, at startup. */
    if (load_scripts_sync(st) < 0) {
        free_store(st);
        return CF_ESTORE;
    }
    uv_timer_init(loop, &st->timer);
    st->timer.data = st;
    uv_unref((uv_handle_t *)&st->timer);
    st->last_tick_ms = uv_now(loop);
    connect_cmd(st);
    connect_sub(st);
    uv_timer_start(&st->timer, on_timer, RD_TICK_MS, RD_TICK_MS);
    *out = &st->base;
    return 0;
}

/* ---- synchronous access (startup and resynchronisation) ---- */

/* 1 when @r (freed here) answers a set-up command @op; otherwise logs why not. */
static int setup_ok(redisContext *c, redisReply *r, const char *op)
{
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

    if (!ok)
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=%s error=\"%s\"", op, r ? r->str : c->errstr);
    freeReplyObject(r);
    return ok;
}

static redisContext *connect_sync(const rd_t *st)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(st->url.host, st->url.port, tv);

    if (c == NULL || c->err) {
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=connect host=%s port=%d error=\"%s\"",
               st->url.host, st->url.port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){5, 0});
    if ((st->url.password[0] && !setup_ok(c, redisCommand(c, "AUTH %s", st->url.password), "auth")) ||
        !setup_ok(c, redisCommand(c, "SELECT %d", st->url.db), "select")) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* One command on a short-lived connection (start-up only); NULL when Redis did not answer. */
static redisReply *command_sync(rd_t *st, const char *fmt, ...)
{
    redisContext *c = connect_sync(st);
    redisReply *r = NULL;
    va_list ap;

    if (c == NULL)
        return NULL;
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

/* The shared key set, read at startup before the loop serves: 1 with @val, 0 absent, CF_ESTORE. */
static int rd_keyset_get_sync(cf_store_t *base, char **val)
{
    redisReply *r = command_sync((rd_t *)base, "GET %s", KEYSET_KEY);
    int rc = CF_ESTORE;

    *val = NULL;
    if (r != NULL && r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (r != NULL && r->type == REDIS_REPLY_STRING) {
        *val = strndup(r->str, r->len);
        rc = *val ? 1 : CF_ENOMEM;
    }
    freeReplyObject(r);
    return rc;
}

/* Offer @val as the shared key set if there is none (startup): 1 set, 0 existed, CF_ESTORE. */
static int rd_keyset_offer_sync(cf_store_t *base, const char *val)
{
    redisReply *r = command_sync((rd_t *)base, "SET %s %s NX", KEYSET_KEY, val);
    int rc = r == NULL ? CF_ESTORE
             : r->type == REDIS_REPLY_STATUS ? 1
             : r->type == REDIS_REPLY_NIL    ? 0
                                             : CF_ESTORE;

    freeReplyObject(r);
    return rc;
}

static const char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1]->str;
    return NULL;
}

static int64_t ifield(const redisReply *h, const char *name)
{
    const char *v = field(h, name);
    return v ? strtoll(v, NULL, 10) : 0;
}

static cf_session_t *session_from_hash(const char *sid, const redisReply *h)
{
    cf_limits_t lim = {ifield(h, "it"), ifield(h, "ab"), ifield(h, "tt")};
    const char *sub = field(h, "u"), *end = field(h, "e");
    cf_session_t *s;

    if (sub == NULL || end == NULL)
        return NULL;
    s = cf_session_new(sid, sub, field(h, "c") ?: "", field(h, "s") ?: "", field(h, "r") ?: "",
                       ifield(h, "at"), &lim, ifield(h, "ca"));
    if (s == NULL)
        return NULL;
    s->last_activity = ifield(h, "la");
    s->idle_deadline = ifield(h, "id");
    s->absolute_deadline = ifield(h, "ad");
    s->ended_at = ifield(h, "ea");
    s->end = cf_end_from_name(end);
    if (s->end == CF_END__COUNT)
        s->end = CF_END_REVOKED; /* unknown reason: fail towards expiry */
    if (s->end != CF_END_NONE && s->ended_at == 0)
        s->ended_at = s->created_at;
    s->refresh_gen = (uint32_t)ifield(h, "g");
    s->refresh_rotated_at = ifield(h, "ra");
    cf_session_bind(s, field(h, "ip"), field(h, "d"));
    return s;
}

/* What one key read back at load time says; returns 0 or a negative error to stop. */
typedef int (*load_fn)(const cf_store_loader_t *ld, const redisReply *key, const redisReply *v);

/*
 * SCAN every key matching @pattern; for each batch, pipeline "@cmd KEY" for
 * all of its keys and hand every key with its reply to @each.
 */
static int scan(redisContext *c, const char *pattern, const char *cmd, load_fn each,
                const cf_store_loader_t *ld)
{
    char cursor[32] = "0";
    int rc = 0;

    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return CF_ESTORE;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            redisAppendCommand(c, "%s %b", cmd, keys->element[i]->str, keys->element[i]->len);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *v = NULL;
            if (redisGetReply(c, (void **)&v) != REDIS_OK) {
                rc = CF_ESTORE;
                break;
            }
            if (rc == 0)
                rc = each(ld, keys->element[i], v);
            freeReplyObject(v);
        }
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

static int load_session(const cf_store_loader_t *ld, const redisReply *key, const redisReply *h)
{
    const char *sid = key->str + 5; /* past "cf:s:" */
    cf_session_t *s;

    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0 || strlen(sid) != CF_SID_LEN)
        return 0; /* expired between SCAN and HGETALL, or not ours */
    s = session_from_hash(sid, h);
    if (s == NULL) {
        CF_LOG(CF_LOG_WARN, "event=store_skip_row table=sessions why=incomplete");
        return 0;
    }
    return ld->session(ld->ctx, s);
}

static int load_token(const cf_store_loader_t *ld, const redisReply *key, const redisReply *v)
{
    uint8_t hash[32];
    char sid[CF_SID_LEN + 1];
    unsigned gen;

    if (v->type != REDIS_REPLY_STRING || cf_hex_decode(key->str + 5, key->len - 5, hash, 32) < 0 ||
        sscanf(v->str, "%24s %u", sid, &gen) != 2)
        return 0;
    return ld->refresh_token(ld->ctx, hash, sid, gen);
}

static int load_epoch(const cf_store_loader_t *ld, const redisReply *key, const redisReply *v)
{
    if (v->type != REDIS_REPLY_STRING)
        return 0;
    return ld->not_before(ld->ctx, key->str + 6, strtoll(v->str, NULL, 10)); /* past "cf:nb:" */
}

static int load_hold(const cf_store_loader_t *ld, const redisReply *key, const redisReply *v)
{
    if (v->type != REDIS_REPLY_STRING || ld->alert_hold == NULL)
        return 0;
    return ld->alert_hold(ld->ctx, key->str + 8, strtoll(v->str, NULL, 10)); /* past "cf:hold:" */
}

static int rd_load(cf_store_t *base, const cf_store_loader_t *ld)
{
    rd_t *st = (rd_t *)base;
    redisContext *c = connect_sync(st);
    redisReply *r;
    int rc;

    if (c == NULL)
        return CF_ESTORE;
    rc = scan(c, "cf:s:*", "HGETALL", load_session, ld);
    if (rc == 0)
        rc = scan(c, "cf:r:*", "GET", load_token, ld);
    if (rc == 0)
        rc = scan(c, "cf:nb:*", "GET", load_epoch, ld);
    if (rc == 0)
        rc = scan(c, "cf:hold:*", "GET", load_hold, ld);
    if (rc == 0) {
        r = redisCommand(c, "GET cf:nbg");
        if (r == NULL)
            rc = CF_ESTORE;
        else if (r->type == REDIS_REPLY_STRING)
            rc = ld->not_before(ld->ctx, NULL, strtoll(r->str, NULL, 10));
        freeReplyObject(r);
    }
    if (rc == CF_ESTORE)
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=load error=\"%s\"", c->err ? c->errstr : "bad reply");
    redisFree(c);
    return rc;
}

/* ---- asynchronous commands ---- */

typedef struct {
    rd_t *st;
    cf_store_done_fn done;    /* a plain commit */
    cf_store_guarded_fn guarded; /* or a guarded one */
    void *arg;
    uint64_t t0; /* uv_hrtime at submit */
    size_t nev;
} commit_t;

/* A command is about to be sent: the hung-Redis watch counts from the oldest unanswered one. */
static void note_sent(rd_t *st)
{
    if (st->pending++ == 0)
        st->last_reply_ms = uv_now(st->loop);
}

static void note_reply(rd_t *st)
{
    if (st->pending > 0)
        st->pending--;
    st->last_reply_ms = uv_now(st->loop);
}

static void on_commit(redisAsyncContext *ac, void *r, void *arg)
{
    commit_t *c = arg;
    redisReply *reply = r;
    rd_t *st = c->st;
    int status = 0;

    cf_store_guard_t guard = {.claimed = 1};

    note_reply(st);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        CF_LOG(CF_LOG_ERROR, "event=store_error op=commit backend=redis error=\"%s\"",
               reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : reply ? "unexpected reply" : "connection lost");
        st->stats.failures++;
        status = CF_ESTORE;
    } else if (reply->element[0]->integer == 0) {
        /* The guard held the batch back: report what Redis holds instead. */
        guard.claimed = 0;
        guard.found = reply->elements >= 6;
        if (guard.found) {
            guard.gen = (uint32_t)reply->element[2]->integer;
            guard.rotated_at = reply->element[3]->integer;
            guard.end = reply->element[4]->type == REDIS_REPLY_STRING
                            ? cf_end_from_name(reply->element[4]->str)
                            : CF_END_REVOKED;
            if (guard.end == CF_END__COUNT)
                guard.end = CF_END_REVOKED;
            guard.ended_at = reply->element[5]->integer;
            if (reply->elements >= 8) {
                guard.not_before = reply->element[6]->integer;
                guard.global_not_before = reply->element[7]->integer;
            }
        }
    } else {
        double secs = (double)(uv_hrtime() - c->t0) / 1e9;
        size_t b = 0;
        while (b < CF_STORE_COMMIT_NBOUNDS && secs > cf_store_commit_bounds[b])
            b++;
        st->stats.commit_buckets[b]++;
        st->stats.commit_seconds += secs;
        st->stats.commits++;
        st->stats.events += c->nev;
    }
    if (c->guarded != NULL)
        c->guarded(c->arg, status, &guard);
    else if (c->done != NULL)
        c->done(c->arg, status);
    free(c);
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Send @ev through the apply script, guarded by (@sid, @gen) when @sid is not NULL. */
static void submit(rd_t *st, cf_events_t *ev, const char *sid, uint32_t gen, commit_t proto)
{
    size_t n = 0;
    char *msg = NULL, genbuf[16];
    commit_t *c = NULL;

    st->stats.batches++;
    snprintf(genbuf, sizeof genbuf, "%u", gen);
    if (st->cmd == NULL || !st->cmd_up || st->closing)
        goto fail;
    msg = cf_wire_encode(st->node, wall_us(), ev, &n);
    if (msg == NULL)
        goto fail;
    cf_events_fini(ev);
    if (n == 0 && sid == NULL) { /* only local bookkeeping (purges) */
        free(msg);
        if (proto.done != NULL)
            proto.done(proto.arg, 0);
        return;
    }
    c = malloc(sizeof *c);
    if (c == NULL)
        goto fail;
    *c = proto;
    c->st = st;
    c->t0 = uv_hrtime();
    c->nev = n;
    if (redisAsyncCommand(st->cmd, on_commit, c, "EVALSHA %s 0 %s %s %s %s %s %s", st->apply_sha,
                          msg, st->keep, st->channel, st->nb_keep, sid ? sid : "",
                          genbuf) != REDIS_OK)
        goto fail;
    note_sent(st);
    free(msg);
    return;
fail:
    free(msg);
    free(c);
    cf_events_fini(ev);
    st->stats.failures++;
    if (proto.guarded != NULL)
        proto.guarded(proto.arg, CF_ESTORE, &(cf_store_guard_t){0});
    else if (proto.done != NULL)
        proto.done(proto.arg, CF_ESTORE);
}

static void rd_submit(cf_store_t *base, cf_events_t *ev, cf_store_done_fn done, void *arg)
{
    submit((rd_t *)base, ev, NULL, 0, (commit_t){.done = done, .arg = arg});
}

static void rd_submit_guarded(cf_store_t *base, cf_events_t *ev, const char *sid, uint32_t gen,
                              cf_store_guarded_fn cb, void *arg)
{
    submit((rd_t *)base, ev, sid, gen, (commit_t){.guarded = cb, .arg = arg});
}

static cf_store_stats_t rd_stats(const cf_store_t *base)
{
    return ((const rd_t *)base)->stats;
}

static void rd_close(cf_store_t *base, cf_store_stats_t *final)
{
    rd_t *st = (rd_t *)base;

    if (final != NULL)
        *final = st->stats;
    st->closing = 1;
    /*
     * A connected context is disconnected gracefully: queued commands finish
     * first, then it frees itself and says so in the disconnect callback.
     * hiredis calls that callback only for connections that were made, so a
     * context still connecting is freed here (its callbacks see no reply).
     */
    if (st->cmd != NULL && st->cmd_up) {
        redisAsyncDisconnect(st->cmd);
    } else if (st->cmd != NULL) {
        redisAsyncContext *ac = st->cmd;
        st->cmd = NULL;
        redisAsyncFree(ac);
    }
    if (st->sub != NULL && st->sub_connected) {
        redisAsyncDisconnect(st->sub);
    } else if (st->sub != NULL) {
        redisAsyncContext *ac = st->sub;
        st->sub = NULL;
        redisAsyncFree(ac);
    }
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, on_timer_closed);
}

static void on_published(redisAsyncContext *ac, void *r, void *arg)
{
    rd_t *st = ac->data;

    (void)r;
    (void)arg;
    note_reply(st);
}

static int rd_publish(cf_store_t *base, const char *msg)
{
    rd_t *st = (rd_t *)base;

    if (st->cmd == NULL || !st->cmd_up || st->closing)
        return CF_EIO;
    /* Counted like any command, so heartbeats alone find a dead connection. */
    if (redisAsyncCommand(st->cmd, on_published, NULL, "PUBLISH %s %s", st->channel, msg) != REDIS_OK)
        return CF_EIO;
    note_sent(st);
    return 0;
}

int cf_redis_connected(const cf_store_t *base)
{
    const rd_t *st = (const rd_t *)base;
    return st->cmd_up;
}

/* One command in flight: its store, its caller's callback and argument. */
typedef struct {
    rd_t *st;
    union {
        cf_store_value_fn value;
        cf_store_fetch_fn fetch;
        cf_store_cas_fn cas;
        cf_store_revoke_fn revoke;
    } cb;
    void *arg;
    char sid[CF_SID_LEN + 1];
} op_t;

/*
 * Send a command for @op on the command connection. Returns 0, or CF_ESTORE
 * (with @op freed) when Redis is not connected: the caller answers its own
 * callback then, so every caller hears back exactly once.
 */
static int op_send(rd_t *st, op_t *op, redisCallbackFn *fn, const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (op == NULL || st->cmd == NULL || !st->cmd_up || st->closing) {
        free(op);
        return CF_ESTORE;
    }
    op->st = st;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(st->cmd, fn, op, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(op);
        return CF_ESTORE;
    }
    note_sent(st);
    return 0;
}

static op_t *op_new(void *arg)
{
    op_t *op = calloc(1, sizeof *op);

    if (op != NULL)
        op->arg = arg;
    return op;
}

static void log_failure(const char *what, const redisReply *reply)
{
    CF_LOG(CF_LOG_ERROR, "event=store_error op=%s backend=redis error=\"%s\"", what,
           reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "connection lost");
}

static void on_value(redisAsyncContext *ac, void *r, void *arg)
{
    op_t *op = arg;
    redisReply *reply = r;

    note_reply(op->st);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        log_failure("get", reply);
        op->cb.value(op->arg, CF_ESTORE, NULL, 0);
    } else if (reply->type == REDIS_REPLY_STRING) {
        op->cb.value(op->arg, 0, reply->str, reply->len);
    } else {
        op->cb.value(op->arg, 0, NULL, 0);
    }
    free(op);
}

static void rd_keyset_get(cf_store_t *base, cf_store_value_fn cb, void *arg)
{
    op_t *op = op_new(arg);

    if (op != NULL)
        op->cb.value = cb;
    if (op_send((rd_t *)base, op, on_value, "GET %s", KEYSET_KEY) < 0)
        cb(arg, CF_ESTORE, NULL, 0);
}

/* Read {session fields, subject's not-before, global} from @v[0..2] into @out. */
static void fetched_from(const char *sid, redisReply *const *v, cf_store_fetched_t *out)
{
    if (v[0]->elements > 0)
        out->session = session_from_hash(sid, v[0]);
    if (v[1]->type == REDIS_REPLY_STRING)
        out->not_before = strtoll(v[1]->str, NULL, 10);
    if (v[2]->type == REDIS_REPLY_STRING)
        out->global_not_before = strtoll(v[2]->str, NULL, 10);
}

static void on_fetch(redisAsyncContext *ac, void *r, void *arg)
{
    op_t *op = arg;
    redisReply *reply = r;
    cf_store_fetched_t out = {0};
    int status = CF_ESTORE;

    note_reply(op->st);
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY) {
        status = 0;
        fetched_from(op->sid, reply->element, &out);
    } else {
        log_failure("fetch", reply);
    }
    op->cb.fetch(op->arg, status, &out);
    free(op);
}

static void on_fetch_refresh(redisAsyncContext *ac, void *r, void *arg)
{
    op_t *op = arg;
    redisReply *reply = r;
    cf_store_fetched_t out = {0};
    int status = 0;

    note_reply(op->st);
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len == CF_SID_LEN && reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[2]->type == REDIS_REPLY_ARRAY) {
        out.token_gen = (uint32_t)strtoul(reply->element[1]->str, NULL, 10);
        fetched_from(reply->element[0]->str, reply->element + 2, &out);
    } else if (reply == NULL || reply->type != REDIS_REPLY_NIL) {
        log_failure("fetch_refresh", reply);
        status = CF_ESTORE;
    }
    op->cb.fetch(op->arg, status, &out);
    free(op);
}

static void rd_fetch_refresh(cf_store_t *base, const uint8_t hash[32], cf_store_fetch_fn cb,
                             void *arg)
{
    rd_t *st = (rd_t *)base;
    op_t *op = op_new(arg);
    char hex[65];

    cf_hex_encode(hash, 32, hex);
    if (op != NULL)
        op->cb.fetch = cb;
    if (op_send(st, op, on_fetch_refresh, "EVALSHA_RO %s 1 cf:r:%s", st->refresh_sha, hex) < 0)
        cb(arg, CF_ESTORE, &(cf_store_fetched_t){0});
}

static void on_revoke(redisAsyncContext *ac, void *r, void *arg)
{
    op_t *op = arg;
    redisReply *reply = r;

    note_reply(op->st);
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        op->cb.revoke(op->arg, 0, (size_t)reply->element[0]->integer, reply->element[1]->str,
                      reply->element[1]->len);
    } else {
        log_failure("revoke", reply);
        op->st->stats.failures++;
        op->cb.revoke(op->arg, CF_ESTORE, 0, "", 0);
    }
    free(op);
}

/* The fixed arguments of the revocation script, before the session ids. */
#define REVOKE_FIXED 13 /* EVALSHA, sha, numkeys and ARGV[1..10]; the head is ARGV[11] */

static void rd_revoke(cf_store_t *base, const cf_store_revoke_t *rv, cf_store_revoke_fn cb,
                      void *arg)
{
    static const char *const sets[] = {"", "cf:u:", "cf:c:"};
    rd_t *st = (rd_t *)base;
    op_t *op = op_new(arg);
    size_t argc = REVOKE_FIXED + 1 + rv->nsids;
    const char **argv = calloc(argc, sizeof *argv);
    char set[300] = "", nbkey[300] = "", now[24], cutoff[24], nb[24], head[128];
    int rc = CF_ESTORE;

    if (op == NULL || argv == NULL)
        goto fail;
    op->cb.revoke = cb;
    if (rv->scope != CF_STORE_REVOKE_SESSIONS)
        snprintf(set, sizeof set, "%s%s", sets[rv->scope], rv->target);
    if (rv->scope == CF_STORE_REVOKE_SUBJECT && rv->not_before > 0)
        snprintf(nbkey, sizeof nbkey, "cf:nb:%s", rv->target);
    snprintf(now, sizeof now, "%lld", (long long)rv->now);
    snprintf(cutoff, sizeof cutoff, "%lld", (long long)rv->cutoff);
    snprintf(nb, sizeof nb, "%lld", (long long)rv->not_before);
    snprintf(head, sizeof head, "{\"v\":1,\"node\":\"%s\",\"ts\":%lld,\"ev\":", st->node,
             (long long)wall_us());
    const char *fixed[] = {"EVALSHA", st->revoke_sha, "0", set, cf_end_name(rv->why),
                           cf_reason_name(cf_end_refusal(rv->why)), now, cutoff, nbkey, nb,
                           st->keep, st->nb_keep, st->channel, head};
    memcpy(argv, fixed, sizeof fixed);
    for (size_t i = 0; i < rv->nsids; i++)
        argv[REVOKE_FIXED + 1 + i] = rv->sids[i];
    if (st->cmd != NULL && st->cmd_up && !st->closing &&
        redisAsyncCommandArgv(st->cmd, on_revoke, op, (int)argc, argv, NULL) == REDIS_OK) {
        op->st = st;
        st->pending++;
        rc = 0;
    }
fail:
    free(argv);
    if (rc < 0) {
        free(op);
        st->stats.failures++;
        cb(arg, CF_ESTORE, 0, "", 0);
    }
}

static void rd_fetch(cf_store_t *base, const char *sid, cf_store_fetch_fn cb, void *arg)
{
    rd_t *st = (rd_t *)base;
    op_t *op = strlen(sid) == CF_SID_LEN ? op_new(arg) : NULL;

    if (op != NULL) {
        op->cb.fetch = cb;
        memcpy(op->sid, sid, sizeof op->sid);
    }
    if (op_send(st, op, on_fetch, "EVALSHA_RO %s 1 cf:s:%s", st->fetch_sha, sid) < 0)
        cb(arg, CF_ESTORE, &(cf_store_fetched_t){0});
}

static void on_cas(redisAsyncContext *ac, void *r, void *arg)
{
    op_t *op = arg;
    redisReply *reply = r;

    note_reply(op->st);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        op->cb.cas(op->arg, 0, reply->integer == 1);
    } else {
        log_failure("keyset", reply);
        op->cb.cas(op->arg, CF_ESTORE, 0);
    }
    free(op);
}

static void rd_keyset_put(cf_store_t *base, const char *json, uint64_t version, cf_store_cas_fn cb,
                          void *arg)
{
    rd_t *st = (rd_t *)base;
    op_t *op = op_new(arg);
    char *notice = cf_wire_encode_notice(st->node, wall_us(), 1);
    char ver[24];

    snprintf(ver, sizeof ver, "%llu", (unsigned long long)version);
    if (op != NULL)
        op->cb.cas = cb;
    if (notice == NULL) {
        free(op);
        op = NULL;
    }
    if (op_send(st, op, on_cas, "EVALSHA %s 1 %s %s %s %s %s", st->keyset_sha, KEYSET_KEY, json,
                ver, st->channel, notice) < 0)
        cb(arg, CF_ESTORE, 0);
    free(notice);
}

static const cf_store_ops_t rd_ops = {
    .name = "redis",
    .load = rd_load,
    .submit = rd_submit,
    .stats = rd_stats,
    .close = rd_close,
    .submit_guarded = rd_submit_guarded,
    .fetch = rd_fetch,
    .fetch_refresh = rd_fetch_refresh,
    .revoke = rd_revoke,
    .publish = rd_publish,
    .keyset_get = rd_keyset_get,
    .keyset_put = rd_keyset_put,
    .keyset_get_sync = rd_keyset_get_sync,
    .keyset_offer_sync = rd_keyset_offer_sync,
};
