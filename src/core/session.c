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

/* ------------------------------------------------------------------ */
/* Times: 32-bit offsets from created_at, or wide                       */
/* ------------------------------------------------------------------ */

/* @v as an offset from @s's creation into *off; 0 when it does not fit. */
static int time_fits(const cf_session_t *s, cf_time_t v, int32_t *off)
{
    int64_t d;

    if (v == 0) {
        *off = CF_SESSION_OFF_ZERO;
        return 1;
    }
    if (__builtin_sub_overflow(v, s->created_at, &d) || d <= INT32_MIN || d > INT32_MAX)
        return 0;
    *off = (int32_t)d;
    return 1;
}

/* Move @s's times into its ext (grown to hold them). 0 or CF_ENOMEM. */
static int widen(cf_session_t *s)
{
    cf_time_t t[CF_T__COUNT];
    cf_session_ext_t *e;

    for (int k = 0; k < CF_T__COUNT; k++)
        t[k] = cf_session_time(s, k);
    e = realloc(s->ext, sizeof *e);
    if (e == NULL)
        return CF_ENOMEM;
    if (s->ext == NULL)
        e->device = e->cnf = e->waiters = NULL;
    memcpy(e->t, t, sizeof t);
    s->ext = e;
    s->wide = 1;
    return 0;
}

void cf_session_set_time(cf_session_t *s, cf_time_field_t k, cf_time_t v)
{
    int32_t off;

    if (s->wide) {
        s->ext->t[k] = v;
    } else if (time_fits(s, v, &off)) {
        s->off[k] = off;
    } else if (widen(s) == 0) {
        s->ext->t[k] = v;
    } else {
        /* Out of memory: the nearest instant an offset can say. */
        s->off[k] = v > s->created_at ? INT32_MAX : INT32_MIN + 1;
    }
}

void **cf_session_waiters(cf_session_t *s)
{
    if (s->ext == NULL && (s->ext = calloc(1, CF_SESSION_EXT_NARROW)) == NULL)
        return NULL;
    return &s->ext->waiters;
}

/* ------------------------------------------------------------------ */
/* Sessions of their own: one block                                     */
/* ------------------------------------------------------------------ */

/* Hold @ip in @s: in place when short enough, else @far (which holds the same text). */
static void ip_put(cf_session_t *s, const char *ip, char *far)
{
    size_t len = strlen(ip);

    memset(&s->ip, 0, sizeof s->ip);
    if (len < CF_IP_INLINE) {
        memcpy(s->ip.in, ip, len);
    } else {
        s->ip.x.p = far;
        s->ip.x.far = 1;
    }
}

void cf_session_init(cf_session_t *s, cf_profile_t *prof, cf_session_ext_t *ext,
                     const cf_session_vals_t *v)
{
    memset(s, 0, sizeof *s);
    memset(prof, 0, sizeof *prof);
    memset(ext, 0, sizeof *ext);
    prof->limits = v->limits;
    prof->client_id = v->client_id != NULL ? v->client_id : "";
    prof->scope = v->scope != NULL ? v->scope : "";
    prof->roles = v->roles != NULL ? v->roles : "";
    ext->device = (char *)(uintptr_t)v->device;
    ext->cnf = (char *)(uintptr_t)v->cnf;
    memcpy(ext->t, v->t, sizeof ext->t);
    s->sub = (char *)(uintptr_t)(v->sub != NULL ? v->sub : "");
    ip_put(s, v->ip != NULL ? v->ip : "", (char *)(uintptr_t)v->ip);
    s->prof = prof;
    s->ext = ext;
    s->wide = 1;
    s->created_at = v->created_at;
}

/* The seven strings of a copy, in its block's order. */
enum { STR_SUB, STR_CLIENT, STR_SCOPE, STR_ROLES, STR_IP, STR_DEVICE, STR_CNF, STR__COUNT };

cf_session_t *cf_session_copy(const cf_session_t *s)
{
    const char *str[STR__COUNT] = {
        s->sub,           cf_session_client_id(s), cf_session_scope(s),   cf_session_roles(s),
        cf_session_ip(s), cf_session_device(s),    cf_session_cnf_text(s)};
    char *dst[STR__COUNT];
    size_t len[STR__COUNT], total = 0;
    cf_session_t *c;
    cf_profile_t *prof;
    cf_session_ext_t *ext;
    char *p;

    for (int i = 0; i < STR__COUNT; i++) {
        len[i] = str[i] != NULL ? strlen(str[i]) : 0;
        total += len[i] + 1;
    }
    c = malloc(sizeof *c + sizeof *prof + sizeof *ext + total);
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    prof = (cf_profile_t *)(void *)(c + 1);
    ext = (cf_session_ext_t *)(void *)(prof + 1);
    p = (char *)(ext + 1);
    for (int i = 0; i < STR__COUNT; i++) {
        if (len[i] > 0)
            memcpy(p, str[i], len[i]);
        p[len[i]] = '\0';
        dst[i] = p;
        p += len[i] + 1;
    }
    *prof = (cf_profile_t){.limits = *cf_session_limits(s),
                           .client_id = dst[STR_CLIENT],
                           .scope = dst[STR_SCOPE],
                           .roles = dst[STR_ROLES]};
    *ext = (cf_session_ext_t){.device = dst[STR_DEVICE], .cnf = dst[STR_CNF]};
    for (int k = 0; k < CF_T__COUNT; k++)
        ext->t[k] = cf_session_time(s, k);
    memcpy(c->id, s->id, CF_SID_LEN);
    c->id[CF_SID_LEN] = '\0';
    c->ip_binding = s->ip_binding;
    c->on_ip_change = s->on_ip_change;
    c->on_device_change = s->on_device_change;
    c->packed = c->wide = 1;
    c->end = s->end;
    c->refresh_gen = s->refresh_gen;
    c->sub = dst[STR_SUB];
    ip_put(c, dst[STR_IP], dst[STR_IP]);
    c->prof = prof;
    c->ext = ext;
    c->created_at = s->created_at;
    return c;
}

cf_session_t *cf_session_new(const char *sid, const char *sub, const char *client_id,
                             const char *scope, const char *roles, cf_time_t auth_time,
                             const cf_limits_t *limits, cf_time_t now)
{
    cf_session_vals_t v = {.sub = sub,
                           .client_id = client_id,
                           .scope = scope,
                           .roles = roles,
                           .limits = *limits,
                           .created_at = now};
    cf_profile_t prof;
    cf_session_ext_t ext;
    cf_session_t s;

    v.t[CF_T_AUTH] = auth_time > 0 ? auth_time : now;
    v.t[CF_T_ACTIVITY] = now;
    v.t[CF_T_ABSOLUTE] = now + limits->absolute_timeout;
    v.t[CF_T_IDLE] = cf_time_min(now + limits->idle_timeout, v.t[CF_T_ABSOLUTE]);
    cf_session_init(&s, &prof, &ext, &v);
    memcpy(s.id, sid, CF_SID_LEN);
    s.id[CF_SID_LEN] = '\0';
    s.end = CF_END_NONE;
    return cf_session_copy(&s);
}

/* A string a packed session holds apart from its block (bind, set_cnf): "" is not allocated. */
static void free_apart(char *p)
{
    if (p != NULL && p[0] != '\0')
        free(p);
}

/* Never called on an index record or a session of cf_session_init(). */
void cf_session_bind(cf_session_t *s, const char *ip, const char *device)
{
    char *i = NULL, *d = dup_or_empty(device);

    ip = ip != NULL ? ip : "";
    if (strlen(ip) >= CF_IP_INLINE && (i = strdup(ip)) == NULL) {
        free(d);
        d = NULL;
    }
    if (d == NULL) { /* out of memory: bind to nothing rather than to a torn value */
        free(i);
        i = NULL;
        ip = "";
    }
    if (s->bound_apart) {
        if (s->ip.x.far)
            free(s->ip.x.p);
        free_apart(s->ext->device);
    }
    s->bound_apart = 1;
    ip_put(s, ip, i);
    s->ext->device = d != NULL && d[0] != '\0' ? d : (char *)"";
    if (d != NULL && d[0] == '\0') /* "" needs no block of its own */
        free(d);
}

void cf_session_free(cf_session_t *s)
{
    if (s == NULL)
        return;
    /* A pooled record belongs to the index (cf_index_remove). */
    if (s->pooled)
        return;
    /* Every other session on the heap is packed: its strings live in its
     * own block, bar a later bind or binding. */
    if (s->bound_apart) {
        if (s->ip.x.far)
            free(s->ip.x.p);
        free_apart(s->ext->device);
    }
    if (s->cnf_apart)
        free_apart(s->ext->cnf);
    free(s);
}

int cf_session_set_cnf(cf_session_t *s, const cf_cnf_t *c)
{
    char text[CF_CNF_TEXT_LEN], *copy;

    cf_cnf_format(c, text);
    copy = dup_or_empty(text);
    if (copy == NULL)
        return CF_ENOMEM;
    if (s->cnf_apart) /* never called on an index record */
        free_apart(s->ext->cnf);
    s->cnf_apart = 1;
    s->ext->cnf = copy;
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

    (void)cf_cnf_parse(cf_session_cnf_text(s), &c);
    return c;
}

const char *cf_session_bound(const cf_session_t *s, cf_cnf_kind_t kind)
{
    const char *tag = kind == CF_CNF_JKT ? "jkt:" : kind == CF_CNF_X5T ? "x5t:" : NULL;
    const char *cnf = cf_session_cnf_text(s);

    if (tag == NULL || strncmp(cnf, tag, 4) != 0 || strlen(cnf) != 4 + CF_CNF_LEN)
        return NULL;
    return cnf + 4;
}

cf_end_t cf_session_end_at(const cf_session_t *s, cf_time_t now, cf_time_t *at)
{
    cf_time_t when = 0, idle, absolute;
    cf_end_t why = CF_END_NONE;

    if (s->end != CF_END_NONE) {
        why = s->end;
        when = cf_session_ended_at(s);
    } else if (now >= (idle = cf_session_idle_deadline(s))) {
        /* The idle deadline is clamped to the absolute one; when they are
         * equal the absolute lifetime is what ran out. */
        why =
            idle < cf_session_absolute_deadline(s) ? CF_END_IDLE_TIMEOUT : CF_END_ABSOLUTE_TIMEOUT;
        when = idle;
    } else if (now >= (absolute = cf_session_absolute_deadline(s))) {
        why = CF_END_ABSOLUTE_TIMEOUT;
        when = absolute;
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
        cf_session_set_time(s, CF_T_ENDED, at);
        return 1;
    }
    s->end = why;
    cf_session_set_time(s, CF_T_ENDED, now);
    return 1;
}

void cf_session_touch(cf_session_t *s, cf_time_t now)
{
    cf_time_t idle;

    if (s->end != CF_END_NONE || now < cf_session_last_activity(s))
        return;
    cf_session_set_time(s, CF_T_ACTIVITY, now);
    idle = cf_time_min(now + cf_session_limits(s)->idle_timeout, cf_session_absolute_deadline(s));
    if (idle > cf_session_idle_deadline(s))
        cf_session_set_time(s, CF_T_IDLE, idle);
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
    if (gen == s->refresh_gen ||
        (gen + 1 == s->refresh_gen && grace > 0 && now < cf_session_rotated_at(s) + grace)) {
        if (cf_session_absolute_deadline(s) - now < CF_REFRESH_MIN_LEFT) {
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
    cf_session_set_time(s, CF_T_ROTATED, now);
}

int64_t cf_session_access_exp(const cf_session_t *s, cf_time_t now)
{
    return cf_time_to_sec(
        cf_time_min(now + cf_session_limits(s)->access_ttl, cf_session_absolute_deadline(s)));
}

int cf_session_merge(cf_session_t *s, const cf_session_t *snap)
{
    if (cf_session_last_activity(snap) > cf_session_last_activity(s))
        cf_session_set_time(s, CF_T_ACTIVITY, cf_session_last_activity(snap));
    if (cf_session_idle_deadline(snap) > cf_session_idle_deadline(s))
        cf_session_set_time(s, CF_T_IDLE, cf_session_idle_deadline(snap));
    /* Serial-number order (RFC 1982): a generation that wrapped past 2^32 is still newer. */
    if ((int32_t)(snap->refresh_gen - s->refresh_gen) > 0) {
        s->refresh_gen = snap->refresh_gen;
        cf_session_set_time(s, CF_T_ROTATED, cf_session_rotated_at(snap));
    }
    if (snap->end != CF_END_NONE && s->end == CF_END_NONE) {
        s->end = snap->end;
        cf_session_set_time(s, CF_T_ENDED, cf_session_ended_at(snap));
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
