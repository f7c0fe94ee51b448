/* SPDX-License-Identifier: MIT
 *
 * The packed in-memory API key (core/apikeyrec.h).
 */
#include "core/apikeyrec.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* A window start (ms, UTC midnight) as a day number, clamped to 32 bits. */
static int32_t day_of(cf_time_t t)
{
    cf_time_t d = t / CF_DAY - (t % CF_DAY < 0);

    return d > INT32_MAX ? INT32_MAX : d < INT32_MIN ? INT32_MIN : (int32_t)d;
}

/* Store @nu in @u; a window that moves drops its unsent count with its count. */
static void use_store(struct cf_apikey_use *u, const cf_apikey_usage_t *nu)
{
    int32_t day = day_of(nu->day_start), month = day_of(nu->month_start);

    if (day != u->day)
        u->day_unsent = 0;
    if (month != u->month)
        u->month_unsent = 0;
    u->day = day;
    u->month = month;
    u->day_used = nu->day_used;
    u->month_used = nu->month_used;
}

static uint32_t add_sat(uint32_t a, int64_t b)
{
    if (b <= 0)
        return a;
    return b >= (int64_t)(UINT32_MAX - a) ? UINT32_MAX : a + (uint32_t)b;
}

/* Whether @k has anything that lives in `more`. */
static int needs_more(const cf_apikey_t *k)
{
    return k->successor[0] != '\0' || k->predecessor[0] != '\0' || k->overlap_until != 0 ||
           k->ended_at != 0 || k->warned_at != 0 || k->quota_day != 0 || k->quota_month != 0 ||
           k->nnets > 0;
}

static int usage_zero(const cf_apikey_usage_t *u)
{
    return u->day_start == 0 && u->day_used == 0 && u->month_start == 0 && u->month_used == 0;
}

/* A `more` with room for @nnets networks, filled from @k. */
static struct cf_apikey_more *more_new(const cf_apikey_t *k, size_t nnets)
{
    struct cf_apikey_more *m = calloc(1, sizeof *m + nnets * sizeof m->nets[0]);

    if (m == NULL)
        return NULL;
    memcpy(m->successor, k->successor, sizeof m->successor);
    memcpy(m->predecessor, k->predecessor, sizeof m->predecessor);
    m->overlap_until = k->overlap_until;
    m->ended_at = k->ended_at;
    m->warned_at = k->warned_at;
    m->quota_day = k->quota_day;
    m->quota_month = k->quota_month;
    if (nnets > 0)
        memcpy(m->nets, k->nets, nnets * sizeof m->nets[0]);
    return m;
}

/* Intern @k's four shared strings into @r; 0 or CF_ENOMEM (then none is held). */
static int intern(cf_apikey_rec_t *r, const cf_apikey_t *k, cf_strtab_t *st)
{
    const char *const in[4] = {k->sub, k->client_id, k->roles, k->scope};
    uint32_t *out[4] = {&r->sub, &r->client_id, &r->roles, &r->scope};

    for (int i = 0; i < 4; i++) {
        if (cf_strtab_ref(st, in[i], out[i]) < 0) {
            while (i-- > 0)
                cf_strtab_unref(st, *out[i]);
            return CF_ENOMEM;
        }
    }
    return 0;
}

cf_apikey_rec_t *cf_apikey_rec_new(const cf_apikey_t *k, cf_strtab_t *st)
{
    size_t nlen = strlen(k->name != NULL ? k->name : "") + 1;
    size_t nnets = k->nnets < CF_APIKEY_NETS_MAX ? k->nnets : CF_APIKEY_NETS_MAX;
    cf_apikey_rec_t *r = calloc(1, sizeof *r + nlen);

    if (r == NULL)
        return NULL;
    memcpy(r->id, k->id, sizeof r->id);
    memcpy(r->hash, k->hash, sizeof r->hash);
    memcpy(r->name, k->name != NULL ? k->name : "", nlen);
    r->end = (uint8_t)k->end;
    r->nnets = (uint8_t)(k->nets != NULL ? nnets : 0);
    r->created_at = k->created_at;
    r->expires_at = k->expires_at;
    r->idle_expiry = k->idle_expiry;
    r->last_used = k->last_used;
    if (intern(r, k, st) < 0)
        goto fail;
    if (needs_more(k) && (r->more = more_new(k, r->nnets)) == NULL)
        goto fail_strings;
    if (!usage_zero(&k->usage)) {
        if (cf_apikey_rec_use(r) == NULL)
            goto fail_strings;
        use_store(r->use, &k->usage);
    }
    return r;
fail_strings:
    cf_apikey_rec_free(r, st);
    return NULL;
fail:
    free(r);
    return NULL;
}

void cf_apikey_rec_free(cf_apikey_rec_t *r, cf_strtab_t *st)
{
    if (r == NULL)
        return;
    cf_strtab_unref(st, r->sub);
    cf_strtab_unref(st, r->client_id);
    cf_strtab_unref(st, r->roles);
    cf_strtab_unref(st, r->scope);
    free(r->more);
    free(r->use);
    free(r);
}

void cf_apikey_rec_view(const cf_apikey_rec_t *r, const cf_strtab_t *st, cf_apikey_t *out)
{
    const struct cf_apikey_more *m = r->more;

    memset(out, 0, sizeof *out);
    memcpy(out->id, r->id, sizeof out->id);
    memcpy(out->hash, r->hash, sizeof out->hash);
    out->sub = (char *)(uintptr_t)cf_strtab_str(st, r->sub);
    out->name = (char *)(uintptr_t)r->name;
    out->client_id = (char *)(uintptr_t)cf_strtab_str(st, r->client_id);
    out->roles = (char *)(uintptr_t)cf_strtab_str(st, r->roles);
    out->scope = (char *)(uintptr_t)cf_strtab_str(st, r->scope);
    out->created_at = r->created_at;
    out->expires_at = r->expires_at;
    out->idle_expiry = r->idle_expiry;
    out->last_used = r->last_used;
    out->end = (cf_apikey_end_t)r->end;
    if (m != NULL) {
        memcpy(out->successor, m->successor, sizeof out->successor);
        memcpy(out->predecessor, m->predecessor, sizeof out->predecessor);
        out->overlap_until = m->overlap_until;
        out->ended_at = m->ended_at;
        out->warned_at = m->warned_at;
        out->quota_day = m->quota_day;
        out->quota_month = m->quota_month;
        out->nnets = r->nnets;
        out->nets = r->nnets > 0 ? (cf_cidr_t *)(uintptr_t)m->nets : NULL;
    }
    cf_apikey_rec_usage(r, &out->usage);
}

int cf_apikey_rec_save(cf_apikey_rec_t *r, const cf_apikey_t *v)
{
    struct cf_apikey_more *m = r->more;

    if (m == NULL && (v->successor[0] != '\0' || v->overlap_until != 0 || v->ended_at != 0 ||
                      v->warned_at != 0)) {
        /* A key born without `more` has no networks, quotas or predecessor. */
        if ((m = calloc(1, sizeof *m)) == NULL)
            return CF_ENOMEM;
        r->more = m;
    }
    if (r->use == NULL && !usage_zero(&v->usage) && cf_apikey_rec_use(r) == NULL)
        return CF_ENOMEM;
    r->end = (uint8_t)v->end;
    r->last_used = v->last_used;
    if (m != NULL) {
        memcpy(m->successor, v->successor, sizeof m->successor);
        m->overlap_until = v->overlap_until;
        m->ended_at = v->ended_at;
        m->warned_at = v->warned_at;
    }
    if (r->use != NULL)
        use_store(r->use, &v->usage);
    return 0;
}

struct cf_apikey_use *cf_apikey_rec_use(cf_apikey_rec_t *r)
{
    if (r->use == NULL)
        r->use = calloc(1, sizeof *r->use);
    return r->use;
}

void cf_apikey_rec_usage(const cf_apikey_rec_t *r, cf_apikey_usage_t *out)
{
    const struct cf_apikey_use *u = r->use;

    memset(out, 0, sizeof *out);
    if (u == NULL)
        return;
    out->day_start = (cf_time_t)u->day * CF_DAY;
    out->day_used = u->day_used;
    out->month_start = (cf_time_t)u->month * CF_DAY;
    out->month_used = u->month_used;
}

int cf_apikey_rec_count(cf_apikey_rec_t *r, const cf_apikey_usage_t *before,
                        const cf_apikey_usage_t *now_u)
{
    cf_apikey_usage_t mine;

    if (cf_apikey_rec_use(r) == NULL)
        return CF_ENOMEM;
    cf_apikey_usage_delta(now_u, before, &mine);
    use_store(r->use, now_u);
    r->use->day_unsent = add_sat(r->use->day_unsent, mine.day_used);
    r->use->month_unsent = add_sat(r->use->month_unsent, mine.month_used);
    return 0;
}

void cf_apikey_rec_take_unsent(cf_apikey_rec_t *r, cf_apikey_usage_t *out)
{
    struct cf_apikey_use *u = r->use;

    cf_apikey_rec_usage(r, out);
    out->day_used = u != NULL ? u->day_unsent : 0;
    out->month_used = u != NULL ? u->month_unsent : 0;
    if (u != NULL)
        u->day_unsent = u->month_unsent = 0;
}
