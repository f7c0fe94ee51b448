/* SPDX-License-Identifier: MIT
 *
 * Session lifetimes and refresh decisions. See session.h for the contract.
 * This file must never read a clock, touch a socket or a disk: every instant
 * is a parameter, so a 30-day lifetime is tested in microseconds.
 */
#include "core/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static cf_time_t stricter(cf_time_t configured, cf_time_t requested)
{
    if (requested <= 0)
        return configured;
    return requested < configured ? requested : configured;
}

cf_limits_t cf_limits_resolve(const cf_limits_t *configured, cf_time_t max_access_ttl,
                              const cf_limits_t *requested)
{
    cf_limits_t out = *configured;

    if (requested != NULL) {
        out.idle_timeout = stricter(out.idle_timeout, requested->idle_timeout);
        out.absolute_timeout = stricter(out.absolute_timeout, requested->absolute_timeout);
        out.access_ttl = stricter(out.access_ttl, requested->access_ttl);
    }
    if (max_access_ttl > 0 && out.access_ttl > max_access_ttl)
        out.access_ttl = max_access_ttl;
    if (out.idle_timeout > out.absolute_timeout)
        out.idle_timeout = out.absolute_timeout;
    return out;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* The binding of a session nobody bound: shared, never freed. */
static char EMPTY[1];

static void free_str(char *p)
{
    if (p != EMPTY)
        free(p);
}

cf_session_t *cf_session_new(const char *sid, const char *sub, const char *client_id,
                             const char *scope, const char *roles, cf_time_t auth_time,
                             const cf_limits_t *limits, cf_time_t now)
{
    cf_session_t *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    memcpy(s->id, sid, CF_SID_LEN);
    s->id[CF_SID_LEN] = '\0';
    s->sub = dup_or_empty(sub);
    s->client_id = dup_or_empty(client_id);
    s->scope = dup_or_empty(scope);
    s->roles = dup_or_empty(roles);
    if (s->sub == NULL || s->client_id == NULL || s->scope == NULL || s->roles == NULL) {
        cf_session_free(s);
        return NULL;
    }
    s->auth_time = auth_time > 0 ? auth_time : now;
    s->created_at = now;
    s->last_activity = now;
    s->limits = *limits;
    s->absolute_deadline = now + limits->absolute_timeout;
    s->idle_deadline = cf_time_min(now + limits->idle_timeout, s->absolute_deadline);
    s->end = CF_END_NONE;
    s->ip = s->device = s->cnf = EMPTY;
    return s;
}

void cf_session_bind(cf_session_t *s, const char *ip, const char *device)
{
    char *i = dup_or_empty(ip), *d = dup_or_empty(device);

    if (i == NULL || d == NULL) {
        /* Out of memory: bind to nothing rather than to a torn value. */
        free(i);
        free(d);
        i = d = NULL;
    }
    if (!s->packed || s->bound_apart) { /* never called on an index record */
        free_str(s->ip);
        free_str(s->device);
    }
    s->bound_apart = s->packed;
    s->ip = i != NULL ? i : EMPTY;
    s->device = d != NULL ? d : EMPTY;
}

void cf_session_free(cf_session_t *s)
{
    if (s == NULL)
        return;
    /* A pooled record belongs to the index (cf_index_remove). */
    if (s->pooled)
        return;
    if (s->packed) { /* its strings live in its own block, bar a later bind */
        if (s->bound_apart) {
            free_str(s->ip);
            free_str(s->device);
        }
        if (s->cnf_apart)
            free_str(s->cnf);
        free(s);
        return;
    }
    free(s->sub);
    free(s->client_id);
    free(s->scope);
    free(s->roles);
    free_str(s->ip);
    free_str(s->device);
    free_str(s->cnf);
    free(s);
}

int cf_session_set_cnf(cf_session_t *s, const cf_cnf_t *c)
{
    char text[CF_CNF_TEXT_LEN], *copy;

    cf_cnf_format(c, text);
    copy = dup_or_empty(text);
    if (copy == NULL)
        return CF_ENOMEM;
    if (!s->packed || s->cnf_apart) /* never called on an index record */
        free_str(s->cnf);
    s->cnf_apart = s->packed;
    s->cnf = copy;
    return 0;
}

int cf_session_set_cnf_text(cf_session_t *s, const char *text)
{
    cf_cnf_t c;

    if (cf_cnf_parse(text, &c) < 0)
        return CF_EINVAL;
    return c.kind == CF_CNF_NONE ? 0 : cf_session_set_cnf(s, &c);
}

cf_cnf_t cf_session_cnf(const cf_session_t *s)
{
    cf_cnf_t c;

    (void)cf_cnf_parse(s->cnf, &c);
    return c;
}

const char *cf_session_bound(const cf_session_t *s, cf_cnf_kind_t kind)
{
    const char *tag = kind == CF_CNF_JKT ? "jkt:" : kind == CF_CNF_X5T ? "x5t:" : NULL;

    if (tag == NULL || s->cnf == NULL || strncmp(s->cnf, tag, 4) != 0 || strlen(s->cnf) != 4 + CF_CNF_LEN)
        return NULL;
    return s->cnf + 4;
}

cf_end_t cf_session_end_at(const cf_session_t *s, cf_time_t now, cf_time_t *at)
{
    cf_time_t when = 0;
    cf_end_t why = CF_END_NONE;

    if (s->end != CF_END_NONE) {
        why = s->end;
        when = s->ended_at;
    } else if (now >= s->idle_deadline) {
        /* The idle deadline is clamped to the absolute one; when they are
         * equal the absolute lifetime is what ran out. */
        why = s->idle_deadline < s->absolute_deadline ? CF_END_IDLE_TIMEOUT
                                                       : CF_END_ABSOLUTE_TIMEOUT;
        when = s->idle_deadline;
    } else if (now >= s->absolute_deadline) {
        why = CF_END_ABSOLUTE_TIMEOUT;
        when = s->absolute_deadline;
    }
    if (at != NULL)
        *at = when;
    return why;
}

int cf_session_end(cf_session_t *s, cf_end_t why, cf_time_t now)
{
    cf_time_t at;
    cf_end_t already = cf_session_end_at(s, now, &at);

    if (s->end != CF_END_NONE)
        return 0;
    if (already != CF_END_NONE) {
        /* A deadline passed before anyone asked: that is the true reason. */
        s->end = already;
        s->ended_at = at;
        return 1;
    }
    s->end = why;
    s->ended_at = now;
    return 1;
}

void cf_session_touch(cf_session_t *s, cf_time_t now)
{
    cf_time_t idle;

    if (s->end != CF_END_NONE || now < s->last_activity)
        return;
    s->last_activity = now;
    idle = cf_time_min(now + s->limits.idle_timeout, s->absolute_deadline);
    if (idle > s->idle_deadline)
        s->idle_deadline = idle;
}

cf_reason_t cf_session_verdict(const cf_session_t *s, cf_time_t now)
{
    return cf_end_refusal(cf_session_end_at(s, now, NULL));
}

int cf_session_revoked_before(const cf_session_t *s, cf_time_t not_before)
{
    return s->created_at < not_before;
}

cf_refresh_action_t cf_session_refresh_decide(const cf_session_t *s, uint32_t gen, cf_time_t now,
                                              cf_time_t grace, cf_time_t not_before,
                                              cf_reason_t *why)
{
    cf_end_t end = cf_session_end_at(s, now, NULL);

    if (end != CF_END_NONE) {
        *why = cf_end_refusal(end);
        return CF_REFRESH_DENY;
    }
    if (cf_session_revoked_before(s, not_before)) {
        *why = CF_REASON_REVOKED_BEFORE;
        return CF_REFRESH_DENY;
    }
    *why = CF_REASON_NONE;
    if (gen == s->refresh_gen || (gen + 1 == s->refresh_gen && grace > 0 &&
                                  now < s->refresh_rotated_at + grace)) {
        if (s->absolute_deadline - now < CF_REFRESH_MIN_LEFT) {
            /* exp would equal iat: nothing worth issuing is left. */
            *why = CF_REASON_ABSOLUTE_TIMEOUT;
            return CF_REFRESH_DENY;
        }
        return gen == s->refresh_gen ? CF_REFRESH_ROTATE : CF_REFRESH_GRACE;
    }
    /* Older generations, and (defensively) generations from the future. */
    *why = CF_REASON_REFRESH_REUSE;
    return CF_REFRESH_REUSE;
}

void cf_session_rotate(cf_session_t *s, cf_time_t now)
{
    s->refresh_gen++;
    s->refresh_rotated_at = now;
}

int64_t cf_session_access_exp(const cf_session_t *s, cf_time_t now)
{
    return cf_time_to_sec(cf_time_min(now + s->limits.access_ttl, s->absolute_deadline));
}

int cf_session_merge(cf_session_t *s, const cf_session_t *snap)
{
    if (snap->last_activity > s->last_activity)
        s->last_activity = snap->last_activity;
    if (snap->idle_deadline > s->idle_deadline)
        s->idle_deadline = snap->idle_deadline;
    /* Serial-number order (RFC 1982): a generation that wrapped past 2^32 is still newer. */
    if ((int32_t)(snap->refresh_gen - s->refresh_gen) > 0) {
        s->refresh_gen = snap->refresh_gen;
        s->refresh_rotated_at = snap->refresh_rotated_at;
    }
    if (snap->end != CF_END_NONE && s->end == CF_END_NONE) {
        s->end = snap->end;
        s->ended_at = snap->ended_at;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sender constraints                                                  */
/* ------------------------------------------------------------------ */

static int b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int cf_cnf_set(cf_cnf_t *c, cf_cnf_kind_t kind, const char *v, size_t len)
{
    memset(c, 0, sizeof *c);
    if (kind == CF_CNF_NONE)
        return 0;
    if ((kind != CF_CNF_JKT && kind != CF_CNF_X5T) || v == NULL || len != CF_CNF_LEN)
        return CF_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!b64url_char(v[i]))
            return CF_EINVAL;
    c->kind = (uint8_t)kind;
    memcpy(c->v, v, len);
    return 0;
}

void cf_cnf_format(const cf_cnf_t *c, char out[CF_CNF_TEXT_LEN])
{
    out[0] = '\0';
    if (c->kind == CF_CNF_JKT || c->kind == CF_CNF_X5T)
        snprintf(out, CF_CNF_TEXT_LEN, "%s:%s", c->kind == CF_CNF_JKT ? "jkt" : "x5t", c->v);
}

int cf_cnf_parse(const char *text, cf_cnf_t *c)
{
    memset(c, 0, sizeof *c);
    if (text == NULL || text[0] == '\0')
        return 0;
    if (strncmp(text, "jkt:", 4) == 0)
        return cf_cnf_set(c, CF_CNF_JKT, text + 4, strlen(text + 4));
    if (strncmp(text, "x5t:", 4) == 0)
        return cf_cnf_set(c, CF_CNF_X5T, text + 4, strlen(text + 4));
    return CF_EINVAL;
}
