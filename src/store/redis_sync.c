/* SPDX-License-Identifier: MIT
 *
 * The Redis store's synchronous access (see redis_int.h), on short-lived
 * blocking connections: the script check at start-up, loading every key when
 * the node starts or resynchronises, and the shared key set before the loop
 * serves. Also how a session hash reads back, which the asynchronous fetches
 * in redis.c share.
 */
#include "store/redis_int.h"
#include "store/apikey_pack.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"
#include "util/log.h"

static redisContext *connect_sync(const rd_t *st);

/* SCRIPT LOAD each script once, synchronously, and check Redis names it as we do. */
int cf__redis_load_scripts(rd_t *st)
{
    const char *scripts[] = {cf__redis_apply_script, cf__redis_fetch_script, cf__redis_keyset_script, cf__redis_revoke_script,
                             cf__redis_refresh_script, cf__redis_apikey_revoke_script};
    const char *shas[] = {st->apply_sha, st->fetch_sha, st->keyset_sha, st->revoke_sha,
                          st->refresh_sha, st->apikey_revoke_sha};
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
int cf__redis_keyset_get_sync(cf_store_t *base, char **val)
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
int cf__redis_keyset_offer_sync(cf_store_t *base, const char *val)
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

cf_session_t *cf__redis_session_from_hash(const char *sid, const redisReply *h)
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
    cf_session_set_time(s, CF_T_ACTIVITY, ifield(h, "la"));
    cf_session_set_time(s, CF_T_IDLE, ifield(h, "id"));
    cf_session_set_time(s, CF_T_ABSOLUTE, ifield(h, "ad"));
    cf_session_set_time(s, CF_T_ENDED, ifield(h, "ea"));
    s->end = cf_end_from_name(end);
    if (s->end == CF_END__COUNT)
        s->end = CF_END_REVOKED; /* unknown reason: fail towards expiry */
    if (s->end != CF_END_NONE && cf_session_ended_at(s) == 0)
        cf_session_set_time(s, CF_T_ENDED, s->created_at);
    s->refresh_gen = (uint32_t)ifield(h, "g");
    cf_session_set_time(s, CF_T_ROTATED, ifield(h, "ra"));
    cf_session_bind(s, field(h, "ip"), field(h, "d"));
    if (cf_session_set_cnf_text(s, field(h, "k")) < 0 && s->end == CF_END_NONE) {
        s->end = CF_END_REVOKED; /* a binding we cannot read: fail towards expiry */
        cf_session_set_time(s, CF_T_ENDED, s->created_at);
    }
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
    s = cf__redis_session_from_hash(sid, h);
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

int cf__redis_load(cf_store_t *base, const cf_store_loader_t *ld)
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

/* ---- API keys ---- */

static const redisReply *bfield(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1];
    return NULL;
}

/* A key read back from its hash (see the apply script); NULL when damaged. */
static cf_apikey_t *apikey_from_hash(const char *id, const redisReply *h)
{
    const redisReply *hash = bfield(h, "h");
    const char *end = field(h, "e"), *su = field(h, "su"), *pr = field(h, "pr");
    cf_apikey_t *k;

    if (hash == NULL || hash->len != 32 || field(h, "u") == NULL)
        return NULL;
    k = cf_apikey_new(id, (const uint8_t *)hash->str, field(h, "u"), field(h, "n"), field(h, "c"),
                      field(h, "r"), field(h, "sc"));
    if (k == NULL)
        return NULL;
    if (cf_apikey_nets_parse(k, field(h, "nt") ?: "") < 0) {
        cf_apikey_free(k);
        return NULL;
    }
    k->created_at = ifield(h, "ca");
    k->expires_at = ifield(h, "ex");
    k->idle_expiry = ifield(h, "ie");
    k->last_used = ifield(h, "lu");
    k->overlap_until = ifield(h, "ou");
    snprintf(k->successor, sizeof k->successor, "%s", su && strlen(su) == CF_APIKEY_ID_LEN ? su : "");
    snprintf(k->predecessor, sizeof k->predecessor, "%s",
             pr && strlen(pr) == CF_APIKEY_ID_LEN ? pr : "");
    k->ended_at = ifield(h, "ea");
    k->end = end != NULL && end[0] ? cf_apikey_end_from_name(end) : CF_APIKEY_END_NONE;
    if (k->end == CF_APIKEY_END__COUNT)
        k->end = CF_APIKEY_END_REVOKED; /* unknown: fail towards expiry */
    k->warned_at = ifield(h, "wa");
    k->quota_day = ifield(h, "qd");
    k->quota_month = ifield(h, "qm");
    k->usage.day_start = ifield(h, "ds");
    k->usage.day_used = ifield(h, "du");
    k->usage.month_start = ifield(h, "ms");
    k->usage.month_used = ifield(h, "mu");
    return k;
}

/*
 * The keys one reply holds: an owner's hash cf:ko:<sub> (field id, value
 * packed: store/apikey_pack.h) or, from the earlier layout, a key's own hash
 * cf:k:<id>. A damaged entry is skipped (logged), never loaded half.
 */
static int apikeys_from_reply(const redisReply *name, const redisReply *v, cf_store_apikey_fn fn,
                              void *ctx)
{
    int rc = 0;

    if (v->type != REDIS_REPLY_ARRAY || v->elements == 0)
        return 0;
    if (strncmp(name->str, "cf:k:", 5) == 0) {
        cf_apikey_t *k = strlen(name->str + 5) == CF_APIKEY_ID_LEN ? apikey_from_hash(name->str + 5, v)
                                                                   : NULL;
        if (k == NULL)
            CF_LOG(CF_LOG_WARN, "event=store_skip_row table=apikeys why=bad_row");
        return k != NULL ? fn(ctx, k) : 0;
    }
    for (size_t i = 0; rc == 0 && i + 1 < v->elements; i += 2) {
        const redisReply *id = v->element[i], *val = v->element[i + 1];
        cf_apikey_t *k = NULL;
        if (id->type == REDIS_REPLY_STRING && val->type == REDIS_REPLY_STRING &&
            id->len == CF_APIKEY_ID_LEN && strlen(id->str) == CF_APIKEY_ID_LEN)
            k = cf_apikey_unpack(id->str, name->str + 6, (const uint8_t *)val->str, val->len);
        if (k == NULL)
            CF_LOG(CF_LOG_WARN, "event=store_skip_row table=apikeys why=bad_row");
        else
            rc = fn(ctx, k);
    }
    return rc;
}

/* Is @r the name of a key's hash (cf:k:<id>) or of an owner's (cf:ko:<sub>)? */
static int is_apikey_hash(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING && strlen(r->str) == r->len &&
           (strncmp(r->str, "cf:k:", 5) == 0 || (strncmp(r->str, "cf:ko:", 6) == 0 && r->len > 6));
}

int cf__redis_load_apikeys(cf_store_t *base, cf_store_apikey_fn fn, void *ctx)
{
    redisContext *c = connect_sync((rd_t *)base);
    char cursor[32] = "0";
    int rc = 0;

    if (c == NULL)
        return CF_ESTORE;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH cf:k* COUNT 1000", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            rc = CF_ESTORE;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            if (is_apikey_hash(keys->element[i]))
                redisAppendCommand(c, "HGETALL %b", keys->element[i]->str, keys->element[i]->len);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *v = NULL;
            if (!is_apikey_hash(keys->element[i]))
                continue;
            if (redisGetReply(c, (void **)&v) != REDIS_OK) {
                rc = CF_ESTORE;
                break;
            }
            if (rc == 0)
                rc = apikeys_from_reply(keys->element[i], v, fn, ctx);
            freeReplyObject(v);
        }
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    if (rc == CF_ESTORE)
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=load_apikeys error=\"%s\"",
               c->err ? c->errstr : "bad reply");
    redisFree(c);
    return rc;
}
