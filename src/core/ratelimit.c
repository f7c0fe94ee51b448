/* SPDX-License-Identifier: MIT
 *
 * GCRA rate limiting and failure lockout over one bounded key table. Decides
 * whether a request fits a rate and whether a key is locked out; must never
 * grow past the max_keys it was created with, never allocate after creation,
 * and never make a key *more* limited than its own history says.
 */
#include "core/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/duration.h"
#include "core/error.h"

/* ------------------------------------------------------------------------
 * GCRA
 *
 * Why GCRA and not a token bucket with a counter and a refill timestamp?
 * They decide the same thing, but GCRA keeps a single number per key: the
 * "theoretical arrival time" (TAT), the instant at which the key's bucket
 * would be full again if it sent nothing more. Each allowed request pushes
 * TAT one emission interval T (= period / count) into the future; a request
 * is refused when accepting it would push TAT further than the tolerance
 * tau = T * (burst - 1) beyond now + T, i.e. when now < TAT + T - (T + tau).
 * One int64 per key means a table entry stays small and an update is a
 * compare and an add: no floating point, no per-key timer, nothing to refill.
 * Everything callers want for the RateLimit headers falls out of TAT: the
 * retry delay is how far `now` is short of the allowed instant, the reset is
 * TAT - now, and the remaining burst is how many whole intervals of slack are
 * left.
 *
 * T is rounded up to a whole millisecond so that integer time never admits
 * more than the configured rate; rates finer than one request per millisecond
 * are refused at configuration time instead of silently becoming unlimited.
 * ------------------------------------------------------------------------ */

int cf_gcra_init(cf_gcra_t *g, int64_t count, cf_time_t period, int64_t burst)
{
    cf_time_t t;

    if (g == NULL || count < 1 || period < 1 || period > CF_DURATION_MAX || count > period)
        return CF_EINVAL;
    if (burst < 1 || burst > CF_GCRA_BURST_MAX)
        return CF_EINVAL;
    t = period / count + (period % count != 0);
    if (t > CF_DURATION_MAX / burst)
        return CF_EINVAL;
    g->emission = t;
    g->tolerance = t * (burst - 1);
    g->burst = burst;
    g->window = period;
    return 0;
}

static int fail_why(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return CF_EINVAL;
}

int cf_rate_parse(const char *s, size_t n, int64_t *count, cf_time_t *period, const char **why)
{
    int64_t c = 0;
    cf_time_t p;
    const char *dwhy = NULL;
    size_t i = 0;

    if (why != NULL)
        *why = NULL;
    if (s == NULL || n == 0)
        return fail_why(why, "empty rate (use e.g. 10/1m)");
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        c = c * 10 + (s[i] - '0');
        if (c > 1000000000)
            return fail_why(why, "rate count too large (at most 1000000000)");
    }
    if (i == 0)
        return fail_why(why, "a rate starts with a number of requests (use e.g. 10/1m)");
    if (i == n || s[i] != '/')
        return fail_why(why, "missing '/' between count and period (use e.g. 10/1m)");
    if (c < 1)
        return fail_why(why, "rate count must be at least 1");
    i++;
    if (cf_duration_parse(s + i, n - i, &p, &dwhy) < 0)
        return fail_why(why, dwhy != NULL ? dwhy : "invalid period");
    if (p < 1)
        return fail_why(why, "rate period must be at least 1ms");
    if (c > p)
        return fail_why(why, "rate too high: at most one request per millisecond");
    *count = c;
    *period = p;
    return 0;
}

void cf_gcra_apply(const cf_gcra_t *g, cf_time_t *tat, cf_time_t now, cf_gcra_result_t *out)
{
    cf_time_t t = g->emission;
    cf_time_t cur = *tat > now ? *tat : now;
    cf_time_t next = cur + t;
    cf_time_t allow_at = next - t - g->tolerance; /* earliest now that accepts this request */

    if (now < allow_at) {
        out->allowed = 0;
        out->retry_after = allow_at - now;
        out->remaining = 0;
        out->reset = cur - now;
        return;
    }
    *tat = next;
    out->allowed = 1;
    out->retry_after = 0;
    out->remaining = (now - allow_at) / t;
    if (out->remaining > g->burst - 1) /* cannot happen with cur >= now; keep the bound explicit */
        out->remaining = g->burst - 1;
    out->reset = next - now;
}

/* ------------------------------------------------------------------------
 * Bounded key table
 *
 * Why a fixed table with LRU eviction rather than a growing map with a
 * sweep? The keys come from clients: an attacker who rotates source
 * addresses or subjects creates keys as fast as it can send requests. A map
 * that grows is a memory exhaustion vector, and a periodic sweep would need a
 * clock in the core. So every table is created with max_keys entries and an
 * open-addressing index at load <= 1/2, all allocated up front (calloc, so
 * pages nobody touched are not resident), and a new key that finds the table
 * full takes the place of an old one.
 *
 * The trade-off: forgetting a key resets it to "never seen", which can only
 * make it *less* limited (a full bucket, no failures, no lock). An attacker
 * who churns more than max_keys keys between two of its own requests can
 * therefore escape its limit, but that attacker already has max_keys
 * distinct keys' worth of budget, and an honest key is never *wrongly*
 * refused because of somebody else. To make the escape harder, eviction
 * first looks at the EVICT_SCAN least recently used entries for one whose
 * state is already idle (a full bucket, an expired window and no lock), whose
 * loss changes no future answer; only if none is idle does the least recently
 * used entry go. Recency is a doubly linked list threaded through the entry
 * array by index, so a touch is O(1) and nothing allocates after creation.
 *
 * Keys up to 32 bytes (IPs, SHA-256 digests, short ids) are stored inline;
 * longer keys are stored as their SHA-256 with a flag, so entries have a
 * fixed size and two distinct keys never share state in practice.
 * ------------------------------------------------------------------------ */

#define KEY_INLINE 32
#define NIL UINT32_MAX
#define EVICT_SCAN 8

typedef struct {
    uint64_t hash;
    uint32_t prev, next; /* recency list: prev towards most recent */
    uint8_t klen;
    uint8_t hashed;
    uint8_t key[KEY_INLINE];
    int64_t a, b, c; /* limiter: a = tat; lockout: a = window start, b = failures, c = locked_until */
} entry_t;

typedef struct {
    uint8_t key[KEY_INLINE];
    uint8_t klen;
    uint8_t hashed;
    uint64_t hash;
} keyform_t;

typedef int (*idle_fn)(const entry_t *e, cf_time_t now, const void *ctx);

typedef struct {
    entry_t *e;
    size_t max, used;
    uint32_t *idx; /* slot -> entry index + 1; 0 is empty */
    size_t mask;
    uint32_t head, tail; /* most and least recently used */
    uint64_t seed;
} table_t;

static int table_init(table_t *t, size_t max_keys, uint64_t seed)
{
    size_t cap = 2;

    memset(t, 0, sizeof(*t));
    if (max_keys < 1 || max_keys > CF_LIMITER_KEYS_MAX)
        return CF_EINVAL;
    while (cap < 2 * max_keys)
        cap <<= 1;
    t->e = calloc(max_keys, sizeof(entry_t));
    t->idx = calloc(cap, sizeof(uint32_t));
    if (t->e == NULL || t->idx == NULL) {
        free(t->e);
        free(t->idx);
        t->e = NULL;
        t->idx = NULL;
        return CF_ENOMEM;
    }
    t->max = max_keys;
    t->mask = cap - 1;
    t->head = t->tail = NIL;
    t->seed = seed;
    return 0;
}

static void table_fini(table_t *t)
{
    free(t->e);
    free(t->idx);
    t->e = NULL;
    t->idx = NULL;
}

static void keyform(const table_t *t, const void *key, size_t len, keyform_t *kf)
{
    memset(kf, 0, sizeof(*kf));
    if (len <= KEY_INLINE) {
        if (len > 0)
            memcpy(kf->key, key, len);
        kf->klen = (uint8_t)len;
        kf->hashed = 0;
    } else {
        cf_sha256(key, len, kf->key);
        kf->klen = CF_SHA256_LEN;
        kf->hashed = 1;
    }
    kf->hash = cf_hash64(kf->key, kf->klen, t->seed ^ kf->hashed);
}

static int entry_is(const entry_t *e, const keyform_t *kf)
{
    return e->hash == kf->hash && e->klen == kf->klen && e->hashed == kf->hashed &&
           memcmp(e->key, kf->key, kf->klen) == 0;
}

/* Index of the entry holding @kf, or NIL; *slot gets its slot, or the empty
 * slot where it would go. */
static uint32_t table_find(const table_t *t, const keyform_t *kf, size_t *slot)
{
    size_t pos = (size_t)kf->hash & t->mask;

    for (;;) {
        uint32_t v = t->idx[pos];

        if (v == 0) {
            *slot = pos;
            return NIL;
        }
        if (entry_is(&t->e[v - 1], kf)) {
            *slot = pos;
            return v - 1;
        }
        pos = (pos + 1) & t->mask;
    }
}

static void lru_unlink(table_t *t, uint32_t i)
{
    entry_t *e = &t->e[i];

    if (e->prev != NIL)
        t->e[e->prev].next = e->next;
    else
        t->head = e->next;
    if (e->next != NIL)
        t->e[e->next].prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NIL;
}

static void lru_push_front(table_t *t, uint32_t i)
{
    entry_t *e = &t->e[i];

    e->prev = NIL;
    e->next = t->head;
    if (t->head != NIL)
        t->e[t->head].prev = i;
    t->head = i;
    if (t->tail == NIL)
        t->tail = i;
}

static void lru_touch(table_t *t, uint32_t i)
{
    if (t->head == i)
        return;
    lru_unlink(t, i);
    lru_push_front(t, i);
}

/* Remove entry @i from the index with backward-shift deletion (no tombstones). */
static void index_remove(table_t *t, uint32_t i)
{
    size_t hole = (size_t)t->e[i].hash & t->mask, j;

    while (t->idx[hole] != i + 1)
        hole = (hole + 1) & t->mask;
    j = hole;
    for (;;) {
        size_t ideal;
        uint32_t v;

        j = (j + 1) & t->mask;
        v = t->idx[j];
        if (v == 0)
            break;
        ideal = (size_t)t->e[v - 1].hash & t->mask;
        /* v may fill the hole only if the hole lies on its probe path ideal..j */
        if (((j - ideal) & t->mask) >= ((j - hole) & t->mask)) {
            t->idx[hole] = v;
            hole = j;
        }
    }
    t->idx[hole] = 0;
}

/* Pick the entry to evict: an idle one among the least recently used few,
 * else the least recently used. The table must be full. */
static uint32_t pick_victim(const table_t *t, idle_fn idle, const void *ctx, cf_time_t now)
{
    uint32_t i = t->tail;
    int n;

    for (n = 0; n < EVICT_SCAN && i != NIL; n++) {
        if (idle(&t->e[i], now, ctx))
            return i;
        i = t->e[i].prev;
    }
    return t->tail;
}

/* Find or insert @kf; a new entry has a = b = c = 0 and is most recent. */
static uint32_t table_get(table_t *t, const keyform_t *kf, idle_fn idle, const void *ctx,
                          cf_time_t now)
{
    size_t slot;
    uint32_t i = table_find(t, kf, &slot);
    entry_t *e;

    if (i != NIL) {
        lru_touch(t, i);
        return i;
    }
    if (t->used < t->max) {
        i = (uint32_t)t->used++;
    } else {
        i = pick_victim(t, idle, ctx, now);
        index_remove(t, i);
        lru_unlink(t, i);
        (void)table_find(t, kf, &slot); /* the shift may have moved the empty slot */
    }
    e = &t->e[i];
    e->hash = kf->hash;
    e->klen = kf->klen;
    e->hashed = kf->hashed;
    memcpy(e->key, kf->key, KEY_INLINE);
    e->a = e->b = e->c = 0;
    t->idx[slot] = i + 1;
    lru_push_front(t, i);
    return i;
}

static uint32_t table_lookup(const table_t *t, const void *key, size_t len)
{
    keyform_t kf;
    size_t slot;

    keyform(t, key, len, &kf);
    return table_find(t, &kf, &slot);
}

/* ------------------------------------------------------------------------
 * Limiter
 * ------------------------------------------------------------------------ */

struct cf_limiter {
    table_t t;
};

static int limiter_idle(const entry_t *e, cf_time_t now, const void *ctx)
{
    (void)ctx;
    return e->a <= now; /* bucket full: forgetting it changes nothing */
}

int cf_limiter_new(size_t max_keys, uint64_t seed, cf_limiter_t **out)
{
    cf_limiter_t *l;
    int rc;

    *out = NULL;
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return CF_ENOMEM;
    rc = table_init(&l->t, max_keys, seed);
    if (rc < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void cf_limiter_free(cf_limiter_t *l)
{
    if (l == NULL)
        return;
    table_fini(&l->t);
    free(l);
}

void cf_limiter_hit(cf_limiter_t *l, const cf_gcra_t *g, const void *key, size_t len, cf_time_t now,
                    cf_gcra_result_t *out)
{
    keyform_t kf;
    uint32_t i;

    keyform(&l->t, key, len, &kf);
    i = table_get(&l->t, &kf, limiter_idle, NULL, now);
    cf_gcra_apply(g, &l->t.e[i].a, now, out);
}

void cf_limiter_peek(cf_limiter_t *l, const cf_gcra_t *g, const void *key, size_t len, cf_time_t now,
                     cf_gcra_result_t *out)
{
    uint32_t i = table_lookup(&l->t, key, len);
    cf_time_t tat = i != NIL ? l->t.e[i].a : 0;

    cf_gcra_apply(g, &tat, now, out);
}

size_t cf_limiter_count(const cf_limiter_t *l)
{
    return l->t.used;
}

/* ------------------------------------------------------------------------
 * Lockout
 *
 * A fixed window that opens at a key's first failure, rather than a sliding
 * log of failure times: one counter and one start time per key keep entries
 * fixed-size. The cost is that up to 2 * (max_failures - 1) failures can
 * straddle a window boundary unlocked, which is the same slack Authelia's
 * regulation accepts; max_failures is a brake on guessing, not an exact quota.
 * ------------------------------------------------------------------------ */

struct cf_lockout {
    table_t t;
    int64_t max_failures;
    cf_time_t window, duration;
};

static int lockout_idle(const entry_t *e, cf_time_t now, const void *ctx)
{
    const cf_lockout_t *l = ctx;

    return e->c <= now && (e->b == 0 || now >= e->a + l->window);
}

int cf_lockout_new(size_t max_keys, int64_t max_failures, cf_time_t window, cf_time_t duration,
                   uint64_t seed, cf_lockout_t **out)
{
    cf_lockout_t *l;
    int rc;

    *out = NULL;
    if (max_failures < 1 || window < 1 || window > CF_DURATION_MAX || duration < 1 ||
        duration > CF_DURATION_MAX)
        return CF_EINVAL;
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return CF_ENOMEM;
    rc = table_init(&l->t, max_keys, seed);
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->max_failures = max_failures;
    l->window = window;
    l->duration = duration;
    *out = l;
    return 0;
}

void cf_lockout_free(cf_lockout_t *l)
{
    if (l == NULL)
        return;
    table_fini(&l->t);
    free(l);
}

int cf_lockout_check(cf_lockout_t *l, const void *key, size_t len, cf_time_t now,
                     cf_time_t *retry_after)
{
    uint32_t i = table_lookup(&l->t, key, len);

    if (i != NIL && now < l->t.e[i].c) {
        if (retry_after != NULL)
            *retry_after = l->t.e[i].c - now;
        return 1;
    }
    if (retry_after != NULL)
        *retry_after = 0;
    return 0;
}

int cf_lockout_fail(cf_lockout_t *l, const void *key, size_t len, cf_time_t now)
{
    keyform_t kf;
    entry_t *e;

    keyform(&l->t, key, len, &kf);
    e = &l->t.e[table_get(&l->t, &kf, lockout_idle, l, now)];
    if (now < e->c)
        return 0; /* locked: ignored, the lock is not extended */
    if (e->b == 0 || now >= e->a + l->window || now < e->a) {
        e->a = now; /* new window (also when the clock went backwards) */
        e->b = 0;
    }
    e->b++;
    if (e->b < l->max_failures)
        return 0;
    e->b = 0;
    e->c = now + l->duration;
    return 1;
}

size_t cf_lockout_count(const cf_lockout_t *l)
{
    return l->t.used;
}
