/* SPDX-License-Identifier: MIT
 *
 * The Redis store (see redis.h). Every committed batch is one EVALSHA of the
 * apply script, which writes the events with the same merge rules as the
 * SQLite store (an ended session is never revived; activity only moves
 * forward) and publishes the batch on the bus in the same atomic step.
 * The reply is the acknowledgement: with appendfsync always it is on disk.
 *
 * This file holds the asynchronous operations (commit, fetch, revoke,
 * publish, the shared key set), the vtable and opening; the connections,
 * the synchronous access and the scripts are its neighbours (redis_int.h).
 */
#include "store/redis_int.h"

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

static const cf_store_ops_t rd_ops;

static void sha1_hex(const char *s, char out[41])
{
    uint8_t d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), d);
    cf_hex_encode(d, sizeof d, out);
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
    sha1_hex(cf__redis_apply_script, st->apply_sha);
    sha1_hex(cf__redis_fetch_script, st->fetch_sha);
    sha1_hex(cf__redis_keyset_script, st->keyset_sha);
    sha1_hex(cf__redis_revoke_script, st->revoke_sha);
    sha1_hex(cf__redis_refresh_script, st->refresh_sha);
    sha1_hex(cf__redis_apikey_revoke_script, st->apikey_revoke_sha);

    /* Fail fast on a wrong address, a wrong password or a Redis too old for
     * the scripts: Redis must answer, and accept every script, at startup. */
    if (cf__redis_load_scripts(st) < 0) {
        cf__redis_free(st);
        return CF_ESTORE;
    }
    cf__redis_conn_start(st);
    *out = &st->base;
    return 0;
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
    } else if (reply->element[0]->integer == 0 && c->guarded == NULL) {
        /* A plain batch held back: it rotates an API key another node rotated
         * (CF_EEXIST) or ended (CF_ENOENT) first. Nothing was written. */
        status = reply->elements > 1 && reply->element[1]->integer == 3 ? CF_ENOENT : CF_EEXIST;
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
    return st->cmd_up && st->cmd_ready && !st->closing;
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
        out->session = cf__redis_session_from_hash(sid, v[0]);
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

static void rd_revoke_apikeys(cf_store_t *base, const cf_store_revoke_t *rv,
                              cf_store_revoke_fn cb, void *arg)
{
    rd_t *st = (rd_t *)base;
    op_t *op = rv->scope == CF_STORE_REVOKE_SESSIONS ? NULL : op_new(arg);
    char set[300], now[24], head[128];

    if (op != NULL)
        op->cb.revoke = cb;
    snprintf(set, sizeof set, "%s%s", rv->scope == CF_STORE_REVOKE_SUBJECT ? "cf:ku:" : "cf:kc:",
             rv->target);
    snprintf(now, sizeof now, "%lld", (long long)rv->now);
    snprintf(head, sizeof head, "{\"v\":1,\"node\":\"%s\",\"ts\":%lld,\"ev\":", st->node,
             (long long)wall_us());
    if (op_send(st, op, on_revoke, "EVALSHA %s 0 %s %s %s %s %s", st->apikey_revoke_sha, set, now,
                st->keep, st->channel, head) < 0) {
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

static void on_claim(redisAsyncContext *ac, void *r, void *arg)
{
    op_t *op = arg;
    redisReply *reply = r;

    note_reply(op->st);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        log_failure("dpop_claim", reply);
        op->cb.cas(op->arg, CF_ESTORE, 0);
    } else {
        op->cb.cas(op->arg, 0, reply->type == REDIS_REPLY_STATUS); /* OK; nil: it was there */
    }
    free(op);
}

/* SET NX with an expiry: atomic on one Redis, and the key frees itself once no node would accept the proof. */
static int rd_dpop_claim(cf_store_t *base, const uint8_t id[16], uint64_t ttl_ms,
                         cf_store_cas_fn cb, void *arg)
{
    op_t *op = op_new(arg);
    char hex[33];

    if (op != NULL)
        op->cb.cas = cb;
    cf_hex_encode(id, 16, hex);
    return op_send((rd_t *)base, op, on_claim, "SET cf:dpop:%s 1 NX PX %llu", hex,
                   (unsigned long long)(ttl_ms > 0 ? ttl_ms : 1));
}

static const cf_store_ops_t rd_ops = {
    .name = "redis",
    .load = cf__redis_load,
    .submit = rd_submit,
    .stats = rd_stats,
    .close = cf__redis_close,
    .submit_guarded = rd_submit_guarded,
    .fetch = rd_fetch,
    .fetch_refresh = rd_fetch_refresh,
    .revoke = rd_revoke,
    .publish = rd_publish,
    .keyset_get = rd_keyset_get,
    .keyset_put = rd_keyset_put,
    .keyset_get_sync = cf__redis_keyset_get_sync,
    .keyset_offer_sync = cf__redis_keyset_offer_sync,
    .load_apikeys = cf__redis_load_apikeys,
    .revoke_apikeys = rd_revoke_apikeys,
    .dpop_claim = rd_dpop_claim,
};
