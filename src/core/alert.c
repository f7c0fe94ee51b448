/* SPDX-License-Identifier: MIT
 *
 * Sliding windows without buckets: each key remembers its last `threshold`
 * occurrence times in a ring. The rule fires when the ring is full and the
 * oldest of them is less than `window` old, which is exactly "threshold
 * occurrences within the last window" (an occurrence `window` ms old has
 * left it). Keys live in a small open-addressed table per rule; a probe run
 * is at most PROBE slots, and when all are taken the least recently seen key
 * is evicted, so both memory and the work per hit are bounded.
 */
#include "core/alert.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define PROBE 8

typedef struct {
    uint64_t h;              /* 0 = empty slot */
    char key[CF_ALERT_KEY_MAX];
    cf_time_t last, quiet_until;
    uint32_t head, n;        /* ring: next write position, stamps held */
    cf_time_t *ring;         /* threshold stamps */
} slot_t;

typedef struct {
    cf_alert_rule_t r;
    slot_t *slots;
    size_t nslots, used;
} rule_state_t;

struct cf_alert {
    rule_state_t *rules;
    size_t n;
};

static const char *const kind_names[] = {
#define X(name, str) str,
    CF_ALERT_KIND_MAP(X)
#undef X
};

static const char *const action_names[] = {
#define X(name, str) str,
    CF_ALERT_ACTION_MAP(X)
#undef X
};

const char *cf_alert_kind_name(cf_alert_kind_t k)
{
    return (unsigned)k < CF_ALERT__COUNT ? kind_names[k] : "unknown";
}

cf_alert_kind_t cf_alert_kind_from_name(const char *s, size_t n)
{
    for (size_t i = 0; i < CF_ALERT__COUNT; i++)
        if (strlen(kind_names[i]) == n && memcmp(kind_names[i], s, n) == 0)
            return (cf_alert_kind_t)i;
    return CF_ALERT__COUNT;
}

const char *cf_alert_action_name(cf_alert_action_t a)
{
    return (unsigned)a < CF_ALERT_ACT__COUNT ? action_names[a] : "unknown";
}

cf_alert_action_t cf_alert_action_from_name(const char *s, size_t n)
{
    for (size_t i = 0; i < CF_ALERT_ACT__COUNT; i++)
        if (strlen(action_names[i]) == n && memcmp(action_names[i], s, n) == 0)
            return (cf_alert_action_t)i;
    return CF_ALERT_ACT__COUNT;
}

int cf_alert_new(const cf_alert_rule_t *rules, size_t n, size_t max_keys, cf_alert_t **out)
{
    cf_alert_t *a;

    *out = NULL;
    if (max_keys == 0)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned)rules[i].kind >= CF_ALERT__COUNT || rules[i].threshold == 0 ||
            rules[i].threshold > CF_ALERT_THRESHOLD_MAX || rules[i].window <= 0 ||
            (unsigned)rules[i].action >= CF_ALERT_ACT__COUNT)
            return CF_EINVAL;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return CF_ENOMEM;
    a->rules = n > 0 ? calloc(n, sizeof *a->rules) : NULL;
    if (n > 0 && a->rules == NULL)
        goto oom;
    a->n = n;
    for (size_t i = 0; i < n; i++) {
        a->rules[i].r = rules[i];
        a->rules[i].nslots = max_keys;
        a->rules[i].slots = calloc(max_keys, sizeof(slot_t));
        if (a->rules[i].slots == NULL)
            goto oom;
    }
    *out = a;
    return 0;
oom:
    cf_alert_free(a);
    return CF_ENOMEM;
}

void cf_alert_free(cf_alert_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        if (a->rules[i].slots == NULL)
            continue;
        for (size_t j = 0; j < a->rules[i].nslots; j++)
            free(a->rules[i].slots[j].ring);
        free(a->rules[i].slots);
    }
    free(a->rules);
    free(a);
}

/* FNV-1a over the whole key; never 0 (0 marks an empty slot). */
static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

/* The slot of @key, claiming (and if need be evicting) one; NULL when out of memory. */
static slot_t *find(rule_state_t *rs, const char *key, uint64_t h)
{
    slot_t *victim = NULL;
    size_t start = (size_t)(h % rs->nslots);

    for (size_t i = 0; i < PROBE && i < rs->nslots; i++) {
        slot_t *s = &rs->slots[(start + i) % rs->nslots];
        if (s->h == h && strncmp(s->key, key, CF_ALERT_KEY_MAX - 1) == 0)
            return s;
        if (s->h == 0) {
            if (victim == NULL || victim->h != 0)
                victim = s;
        } else if (victim == NULL || (victim->h != 0 && s->last < victim->last)) {
            victim = s;
        }
    }
    if (victim->ring == NULL) {
        victim->ring = malloc(rs->r.threshold * sizeof *victim->ring);
        if (victim->ring == NULL)
            return NULL;
    }
    if (victim->h == 0)
        rs->used++;
    victim->h = h;
    strncpy(victim->key, key, CF_ALERT_KEY_MAX - 1);
    victim->key[CF_ALERT_KEY_MAX - 1] = '\0';
    victim->quiet_until = 0;
    victim->head = victim->n = 0;
    return victim;
}

size_t cf_alert_hit(cf_alert_t *a, cf_alert_kind_t kind, const char *key, cf_time_t now,
                    cf_alert_fire_fn fn, void *arg)
{
    size_t fired = 0;
    uint64_t h;

    if (a == NULL || key == NULL)
        return 0;
    h = hash(key);
    for (size_t i = 0; i < a->n; i++) {
        rule_state_t *rs = &a->rules[i];
        uint32_t t = rs->r.threshold;
        cf_time_t oldest;
        slot_t *s;

        if (rs->r.kind != kind)
            continue;
        s = find(rs, key, h);
        if (s == NULL)
            continue; /* out of memory: this occurrence is not counted */
        s->last = now;
        s->ring[s->head] = now;
        s->head = (s->head + 1) % t;
        if (s->n < t)
            s->n++;
        if (s->n < t)
            continue;
        oldest = s->ring[s->head]; /* the ring is full: head is the oldest */
        if (now - oldest >= rs->r.window)
            continue;
        if (kind != CF_ALERT_REFRESH_REUSE && now < s->quiet_until)
            continue;
        s->quiet_until = now + rs->r.window;
        fired++;
        if (fn != NULL) {
            cf_alert_fire_t f = {.rule = i, .r = &rs->r, .key = s->key, .count = t};
            fn(arg, &f);
        }
    }
    return fired;
}

size_t cf_alert_keys(const cf_alert_t *a, size_t rule)
{
    return a != NULL && rule < a->n ? a->rules[rule].used : 0;
}
