/* SPDX-License-Identifier: MIT
 *
 * API key rules (core/apikey.h). Pure: every instant comes in as a parameter.
 */
#include "core/apikey.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static const char *const end_names[] = {
#define X(name, str, why) str,
    CF_APIKEY_END_MAP(X)
#undef X
};

static const cf_reason_t end_reasons[] = {
#define X(name, str, why) why,
    CF_APIKEY_END_MAP(X)
#undef X
};

const char *cf_apikey_end_name(cf_apikey_end_t e)
{
    return (unsigned)e < CF_APIKEY_END__COUNT ? end_names[e] : "unknown";
}

cf_apikey_end_t cf_apikey_end_from_name(const char *s)
{
    for (int i = 0; i < CF_APIKEY_END__COUNT; i++)
        if (strcmp(s, end_names[i]) == 0)
            return (cf_apikey_end_t)i;
    return CF_APIKEY_END__COUNT;
}

cf_reason_t cf_apikey_end_refusal(cf_apikey_end_t e)
{
    return (unsigned)e < CF_APIKEY_END__COUNT ? end_reasons[e] : CF_REASON_INVALID_KEY;
}

/* ------------------------------------------------------------------ */
/* The key string                                                      */
/* ------------------------------------------------------------------ */

/* CRC-32 (IEEE, reflected), bit by bit: a key is 49 bytes, once per check. */
static uint32_t crc32(const char *s, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        c ^= (uint8_t)s[i];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* 6 base62 digits hold any 32-bit value (62^6 > 2^32). */
static void checksum(const char *s, size_t n, char out[CF_APIKEY_CHECK_LEN])
{
    uint32_t c = crc32(s, n);

    for (int i = CF_APIKEY_CHECK_LEN - 1; i >= 0; i--) {
        out[i] = b62[c % 62];
        c /= 62;
    }
}

static int is_b62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

void cf_apikey_base62(const uint8_t *rnd, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = b62[rnd[i] % 62];
}

void cf_apikey_format(const char *id, const char *secret, char out[CF_APIKEY_LEN + 1])
{
    size_t n = 0;

    memcpy(out, CF_APIKEY_PREFIX, CF_APIKEY_PREFIX_LEN);
    n += CF_APIKEY_PREFIX_LEN;
    memcpy(out + n, id, CF_APIKEY_ID_LEN);
    n += CF_APIKEY_ID_LEN;
    out[n++] = '_';
    memcpy(out + n, secret, CF_APIKEY_SECRET_LEN);
    n += CF_APIKEY_SECRET_LEN;
    checksum(out, n, out + n);
    out[CF_APIKEY_LEN] = '\0';
}

int cf_apikey_has_prefix(const char *s, size_t n)
{
    return n >= CF_APIKEY_PREFIX_LEN && memcmp(s, CF_APIKEY_PREFIX, CF_APIKEY_PREFIX_LEN) == 0;
}

int cf_apikey_parse(const char *s, size_t n, char id[CF_APIKEY_ID_LEN + 1])
{
    const size_t sep = CF_APIKEY_PREFIX_LEN + CF_APIKEY_ID_LEN;
    char want[CF_APIKEY_CHECK_LEN];

    if (n != CF_APIKEY_LEN || !cf_apikey_has_prefix(s, n) || s[sep] != '_')
        return CF_EPARSE;
    for (size_t i = CF_APIKEY_PREFIX_LEN; i < n; i++)
        if (i != sep && !is_b62(s[i]))
            return CF_EPARSE;
    checksum(s, n - CF_APIKEY_CHECK_LEN, want);
    if (memcmp(want, s + n - CF_APIKEY_CHECK_LEN, CF_APIKEY_CHECK_LEN) != 0)
        return CF_EPARSE;
    memcpy(id, s + CF_APIKEY_PREFIX_LEN, CF_APIKEY_ID_LEN);
    id[CF_APIKEY_ID_LEN] = '\0';
    return 0;
}

void cf_apikey_hash(const char *s, size_t n, uint8_t out[32])
{
    cf_sha256(s, n, out);
}

/* ------------------------------------------------------------------ */
/* The string cache                                                    */
/* ------------------------------------------------------------------ */

int cf_apikey_cache_init(cf_apikey_cache_t *c, size_t size, uint64_t seed)
{
    if (size == 0)
        size = CF_APIKEY_CACHE_SIZE;
    if ((size & (size - 1)) != 0)
        return CF_EINVAL;
    c->v = calloc(size, sizeof *c->v);
    if (c->v == NULL)
        return CF_ENOMEM;
    c->size = size;
    c->seed = seed;
    return 0;
}

void cf_apikey_cache_fini(cf_apikey_cache_t *c)
{
    free(c->v);
    c->v = NULL;
    c->size = 0;
}

int cf_apikey_cache_lookup(cf_apikey_cache_t *c, const char *s, size_t n,
                           char id[CF_APIKEY_ID_LEN + 1], uint8_t hash[32], int *hit)
{
    cf_apikey_cache_entry_t *e = NULL;

    if (hit != NULL)
        *hit = 0;
    if (n != CF_APIKEY_LEN)
        return CF_EPARSE;
    if (c != NULL && c->v != NULL) {
        e = &c->v[cf_hash64(s, n, c->seed) & (c->size - 1)];
        /* The whole string, in constant time: a near miss teaches nothing. */
        if (e->used && cf_ct_equal(e->str, s, n)) {
            memcpy(id, s + CF_APIKEY_PREFIX_LEN, CF_APIKEY_ID_LEN);
            id[CF_APIKEY_ID_LEN] = '\0';
            memcpy(hash, e->hash, 32);
            if (hit != NULL)
                *hit = 1;
            return 0;
        }
    }
    if (cf_apikey_parse(s, n, id) < 0)
        return CF_EPARSE;
    cf_apikey_hash(s, n, hash);
    if (e != NULL) {
        memcpy(e->str, s, n);
        memcpy(e->hash, hash, 32);
        e->used = 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Lifetimes                                                           */
/* ------------------------------------------------------------------ */

/* The strictest of maxima where 0 means none. */
static cf_time_t strictest(cf_time_t a, cf_time_t b)
{
    if (a <= 0)
        return b > 0 ? b : 0;
    return b > 0 && b < a ? b : a;
}

cf_reason_t cf_apikey_lifetime(const cf_apikey_policy_t *pol, const cf_apikey_ask_t *ask,
                               cf_time_t *lifetime)
{
    cf_time_t max = strictest(strictest(pol->max_lifetime, pol->client_max), pol->role_max);
    cf_time_t want;

    *lifetime = 0;
    if (ask->has_expires_in) {
        if (ask->expires_in < 0 || ask->expires_in > CF_APIKEY_LIFETIME_MAX_S)
            return ask->expires_in < 0 ? CF_REASON_INVALID_REQUEST : CF_REASON_LIFETIME_TOO_LONG;
        want = ask->expires_in * CF_SEC;
        if (want == 0)
            return pol->require_expiry || max > 0 ? CF_REASON_EXPIRY_REQUIRED : CF_REASON_NONE;
        if (max > 0 && want > max)
            return CF_REASON_LIFETIME_TOO_LONG;
        *lifetime = want;
        return CF_REASON_NONE;
    }
    want = pol->default_lifetime;
    if (max > 0 && (want <= 0 || want > max))
        want = max; /* a default is the server's own choice: cut it, do not refuse */
    if (want <= 0 && pol->require_expiry)
        return CF_REASON_EXPIRY_REQUIRED;
    *lifetime = want > 0 ? want : 0;
    return CF_REASON_NONE;
}

/* ------------------------------------------------------------------ */
/* Ends                                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    cf_time_t at;
    cf_apikey_end_t end;
} deadline_t;

/* The earliest of @k's deadlines into *@out; 0 when it has none. */
static int earliest_deadline(const cf_apikey_t *k, deadline_t *out)
{
    deadline_t d[3];
    size_t n = 0, first = 0;

    if (k->expires_at > 0)
        d[n++] = (deadline_t){k->expires_at, CF_APIKEY_END_EXPIRED};
    if (k->idle_expiry > 0) {
        cf_time_t from = k->last_used > k->created_at ? k->last_used : k->created_at;
        d[n++] = (deadline_t){from + k->idle_expiry, CF_APIKEY_END_IDLE_EXPIRED};
    }
    if (k->overlap_until > 0)
        d[n++] = (deadline_t){k->overlap_until, CF_APIKEY_END_ROTATED};
    if (n == 0)
        return 0;
    /* The earliest deadline decides; on a tie the earlier row (expiry first). */
    for (size_t i = 1; i < n; i++)
        if (d[i].at < d[first].at)
            first = i;
    *out = d[first];
    return 1;
}

cf_apikey_end_t cf_apikey_end_at(const cf_apikey_t *k, cf_time_t now, cf_time_t *deadline)
{
    deadline_t d;

    if (deadline != NULL)
        *deadline = 0;
    if (k->end != CF_APIKEY_END_NONE)
        return k->end;
    if (!earliest_deadline(k, &d))
        return CF_APIKEY_END_NONE;
    if (now >= d.at)
        return d.end;
    if (deadline != NULL)
        *deadline = d.at;
    return CF_APIKEY_END_NONE;
}

cf_time_t cf_apikey_ended_at(const cf_apikey_t *k, cf_time_t now)
{
    deadline_t d;

    if (k->end != CF_APIKEY_END_NONE)
        return k->ended_at;
    return earliest_deadline(k, &d) && now >= d.at ? d.at : 0;
}

cf_time_t cf_apikey_overlap_end(const cf_apikey_t *old, cf_time_t now, cf_time_t overlap)
{
    cf_time_t end = now + (overlap > 0 ? overlap : 0);

    if (old->expires_at > 0 && old->expires_at < end)
        end = old->expires_at;
    if (old->overlap_until > 0 && old->overlap_until < end)
        end = old->overlap_until;
    return end;
}

void cf_apikey_decide(const cf_apikey_input_t *in, cf_apikey_decision_t *out)
{
    const cf_apikey_t *k = in->key;
    cf_apikey_end_t end;

    out->why = CF_REASON_NONE;
    out->end = CF_APIKEY_END_NONE;
    out->deadline = 0;
    if (in->malformed) {
        out->why = CF_REASON_MALFORMED_KEY;
        return;
    }
    if (k == NULL || !in->secret_ok) {
        out->why = CF_REASON_INVALID_KEY;
        return;
    }
    end = cf_apikey_end_at(k, in->now, &out->deadline);
    if (end != CF_APIKEY_END_NONE) {
        out->why = cf_apikey_end_refusal(end);
        if (k->end == CF_APIKEY_END_NONE)
            out->end = end;
        out->deadline = 0;
        return;
    }
    if (k->nnets > 0) {
        size_t i = 0;
        while (in->ip != NULL && i < k->nnets && !cf_cidr_contains(&k->nets[i], in->ip))
            i++;
        if (in->ip == NULL || i == k->nnets) {
            out->why = CF_REASON_NETWORK_NOT_ALLOWED;
            out->deadline = 0;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Quota windows                                                       */
/* ------------------------------------------------------------------ */

/* Floor division for instants before 1970 (a wrong clock must not crash). */
static int64_t floordiv(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

cf_time_t cf_apikey_day_start(cf_time_t now)
{
    return floordiv(now, CF_DAY) * CF_DAY;
}

/*
 * Civil dates from day numbers and back (Howard Hinnant's algorithms): the
 * month window needs the calendar, and gmtime is neither pure nor defined
 * for every int64.
 */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m)
{
    int64_t era, yoe, doy, mp;

    z += 719468;
    era = floordiv(z, 146097);
    yoe = z - era * 146097;
    yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
    doy = (z - era * 146097) - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floordiv(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5; /* day 1 of the month */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

cf_time_t cf_apikey_month_start(cf_time_t now)
{
    int64_t y;
    unsigned m;

    civil_from_days(floordiv(now, CF_DAY), &y, &m);
    return days_from_civil(y, m) * CF_DAY;
}

cf_time_t cf_apikey_next_month(cf_time_t now)
{
    int64_t y;
    unsigned m;

    civil_from_days(floordiv(now, CF_DAY), &y, &m);
    if (++m > 12) {
        m = 1;
        y++;
    }
    return days_from_civil(y, m) * CF_DAY;
}

int64_t cf_apikey_quota_min(int64_t a, int64_t b)
{
    if (a <= 0)
        return b > 0 ? b : 0;
    return b > 0 && b < a ? b : a;
}

int cf_apikey_quota_take(cf_apikey_usage_t *u, int64_t day, int64_t month, cf_time_t now,
                         cf_apikey_quota_t *out)
{
    cf_time_t d0 = cf_apikey_day_start(now), m0 = cf_apikey_month_start(now);
    cf_time_t mend = cf_apikey_next_month(now);
    int64_t dleft, mleft;

    /* A window that has passed starts from zero; one "from the future" (the
     * clock went back) keeps its count: never a fresh quota by a clock step. */
    if (u->day_start < d0) {
        u->day_start = d0;
        u->day_used = 0;
    }
    if (u->month_start < m0) {
        u->month_start = m0;
        u->month_used = 0;
    }
    memset(out, 0, sizeof *out);
    dleft = day > 0 ? day - u->day_used : INT64_MAX;
    mleft = month > 0 ? month - u->month_used : INT64_MAX;
    if (mleft <= 0 || dleft <= 0) {
        /* The month refuses when it is used up: the day's reset would not help. */
        int by_month = mleft <= 0;
        out->limit = by_month ? month : day;
        out->reset = by_month ? mend - now : d0 + CF_DAY - now;
        out->window = by_month ? mend - m0 : CF_DAY;
        return 0;
    }
    u->day_used++;
    u->month_used++;
    if (dleft <= mleft && day > 0) {
        out->limit = day;
        out->remaining = dleft - 1;
        out->reset = d0 + CF_DAY - now;
        out->window = CF_DAY;
    } else if (month > 0) {
        out->limit = month;
        out->remaining = mleft - 1;
        out->reset = mend - now;
        out->window = mend - m0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* The record                                                          */
/* ------------------------------------------------------------------ */

cf_apikey_t *cf_apikey_new(const char *id, const uint8_t hash[32], const char *sub,
                           const char *name, const char *client_id, const char *roles,
                           const char *scope)
{
    const char *in[5] = {sub, name, client_id, roles, scope};
    size_t len[5], total = 0;
    cf_apikey_t *k;
    char *p, **out[5];

    for (int i = 0; i < 5; i++) {
        in[i] = in[i] != NULL ? in[i] : "";
        len[i] = strlen(in[i]) + 1;
        total += len[i];
    }
    k = calloc(1, sizeof *k + total);
    if (k == NULL)
        return NULL;
    memcpy(k->id, id, strnlen(id, CF_APIKEY_ID_LEN));
    if (hash != NULL)
        memcpy(k->hash, hash, sizeof k->hash);
    out[0] = &k->sub, out[1] = &k->name, out[2] = &k->client_id, out[3] = &k->roles;
    out[4] = &k->scope;
    p = (char *)(k + 1);
    for (int i = 0; i < 5; i++) {
        memcpy(p, in[i], len[i]);
        *out[i] = p;
        p += len[i];
    }
    return k;
}

int cf_apikey_set_nets(cf_apikey_t *k, const cf_cidr_t *nets, size_t n)
{
    cf_cidr_t *v = NULL;

    if (n > CF_APIKEY_NETS_MAX)
        n = CF_APIKEY_NETS_MAX;
    if (n > 0) {
        v = malloc(n * sizeof *v);
        if (v == NULL)
            return CF_ENOMEM;
        memcpy(v, nets, n * sizeof *v);
    }
    free(k->nets);
    k->nets = v;
    k->nnets = n;
    return 0;
}

cf_apikey_t *cf_apikey_copy(const cf_apikey_t *k)
{
    cf_apikey_t *c = cf_apikey_new(k->id, k->hash, k->sub, k->name, k->client_id, k->roles,
                                   k->scope);

    if (c == NULL)
        return NULL;
    if (cf_apikey_set_nets(c, k->nets, k->nnets) < 0) {
        cf_apikey_free(c);
        return NULL;
    }
    c->created_at = k->created_at;
    c->expires_at = k->expires_at;
    c->idle_expiry = k->idle_expiry;
    c->last_used = k->last_used;
    c->overlap_until = k->overlap_until;
    memcpy(c->successor, k->successor, sizeof c->successor);
    memcpy(c->predecessor, k->predecessor, sizeof c->predecessor);
    c->ended_at = k->ended_at;
    c->end = k->end;
    c->warned_at = k->warned_at;
    c->quota_day = k->quota_day;
    c->quota_month = k->quota_month;
    c->usage = k->usage;
    c->delta = k->delta;
    return c;
}

void cf_apikey_free(cf_apikey_t *k)
{
    if (k == NULL)
        return;
    free(k->nets);
    free(k); /* the strings live in the same allocation */
}

/* Later windows win; within one window the larger count (counts only grow). */
static int merge_window(cf_time_t *start, int64_t *used, cf_time_t s2, int64_t u2)
{
    if (s2 > *start || (s2 == *start && u2 > *used)) {
        *start = s2;
        *used = u2;
        return 1;
    }
    return 0;
}

int cf_apikey_merge(cf_apikey_t *k, const cf_apikey_t *snap)
{
    int changed = 0;

    if (k->end == CF_APIKEY_END_NONE && snap->end != CF_APIKEY_END_NONE) {
        k->end = snap->end;
        k->ended_at = snap->ended_at;
        changed = 1;
    }
    if (snap->last_used > k->last_used) {
        k->last_used = snap->last_used;
        changed = 1;
    }
    if (snap->warned_at > k->warned_at) {
        k->warned_at = snap->warned_at;
        changed = 1;
    }
    if (snap->overlap_until > 0 && (k->overlap_until == 0 || snap->overlap_until < k->overlap_until)) {
        k->overlap_until = snap->overlap_until;
        changed = 1;
    }
    if (snap->successor[0] != '\0' && strcmp(k->successor, snap->successor) != 0) {
        memcpy(k->successor, snap->successor, sizeof k->successor);
        changed = 1;
    }
    changed |= merge_window(&k->usage.day_start, &k->usage.day_used, snap->usage.day_start,
                            snap->usage.day_used);
    changed |= merge_window(&k->usage.month_start, &k->usage.month_used, snap->usage.month_start,
                            snap->usage.month_used);
    return changed;
}

void cf_apikey_nets_format(const cf_apikey_t *k, char *out, size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < k->nnets && len < cap; i++) {
        char ip[CF_IP_STRLEN];
        cf_ip_format(&k->nets[i].net, ip);
        len += (size_t)snprintf(out + len, cap - len, "%s%s/%d", i ? "," : "", ip, k->nets[i].bits);
    }
}

int cf_apikey_nets_parse(cf_apikey_t *k, const char *s)
{
    cf_cidr_t v[CF_APIKEY_NETS_MAX];
    size_t nv = 0;

    while (*s != '\0' && nv < CF_APIKEY_NETS_MAX) {
        const char *c = strchr(s, ',');
        size_t n = c != NULL ? (size_t)(c - s) : strlen(s);
        if (cf_cidr_parse(s, n, &v[nv]) == 0)
            nv++;
        else /* unreadable: allow nothing rather than everything */
            (void)cf_cidr_parse("::/128", 6, &v[nv++]);
        s += n + (c != NULL);
    }
    return cf_apikey_set_nets(k, v, nv);
}

static void window_delta(cf_time_t start, int64_t used, cf_time_t sent_start, int64_t sent_used,
                         cf_time_t *out_start, int64_t *out_used)
{
    *out_start = start;
    *out_used = start == sent_start ? used - sent_used : used;
    if (*out_used < 0)
        *out_used = 0;
}

void cf_apikey_usage_delta(const cf_apikey_usage_t *u, const cf_apikey_usage_t *sent,
                           cf_apikey_usage_t *out)
{
    window_delta(u->day_start, u->day_used, sent->day_start, sent->day_used, &out->day_start,
                 &out->day_used);
    window_delta(u->month_start, u->month_used, sent->month_start, sent->month_used,
                 &out->month_start, &out->month_used);
}

static void window_add(cf_time_t *start, int64_t *used, cf_time_t d_start, int64_t d_used)
{
    if (d_used <= 0 || d_start < *start)
        return;
    if (d_start > *start) {
        *start = d_start;
        *used = 0;
    }
    *used = d_used > INT64_MAX - *used ? INT64_MAX : *used + d_used;
}

void cf_apikey_usage_add(cf_apikey_usage_t *u, const cf_apikey_usage_t *d)
{
    window_add(&u->day_start, &u->day_used, d->day_start, d->day_used);
    window_add(&u->month_start, &u->month_used, d->month_start, d->month_used);
}
