/* SPDX-License-Identifier: MIT
 *
 * `curfew tune --synthetic N --out FILE`: a realistic audit log to try the
 * tuner on without production data, written as a server with idle 30m,
 * absolute 12h, access TTL 10m and tuning.activity_gap 60s would write it.
 *
 * Four kinds of actor, each a small state machine over its own clock; a heap
 * of actors keyed by their next event merges them into one log in time order
 * (memory: the actors, never the log):
 *  - office people (65 %): 8-10h to 16:30-19h, working in blocks with short
 *    breaks, coffee, meetings and lunch; at night half log out, half idle out;
 *  - API clients (10 %): active without pause, ended by the absolute timeout
 *    and logging straight back in;
 *  - abandoned tabs (15 %): a few minutes of use, then nothing for a day or two;
 *  - polling dashboards (10 %): a look of a few minutes, then only polling,
 *    which is not activity, so the session idles out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/tune.h"

#define IDLE (30 * CF_MIN)
#define ABSOLUTE (12 * CF_HOUR)
#define TTL (10 * CF_MIN)
#define GAP (60 * CF_SEC)
#define DAY (24 * CF_HOUR)
#define EPOCH ((cf_time_t)1767571200000LL) /* 2026-01-05T00:00:00Z, a Monday */

enum { WORKER, API, TAB, DASHBOARD };
enum { START, WORK, RESUME, END_IDLE, LOGOUT };

typedef struct {
    cf_time_t next;
    int kind, step, live;
    uint64_t rng;
    char sub[24], sid[25];
    cf_time_t created, last, token_at, block_end, resume_at, day_end;
} actor_t;

static uint64_t rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] milliseconds. */
static cf_time_t between(actor_t *a, cf_time_t lo, cf_time_t hi)
{
    return lo + (cf_time_t)(rnd(&a->rng) % (uint64_t)(hi - lo + 1));
}

static int chance(actor_t *a, int percent)
{
    return (int)(rnd(&a->rng) % 100) < percent;
}

typedef struct {
    FILE *out;
    unsigned long long lines;
} sink_t;

static void ts(char *buf, cf_time_t t)
{
    time_t s = (time_t)(t / CF_SEC);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % CF_SEC));
}

static const char *const clients[] = {"web", "api", "web", "dashboard"};

static void head(sink_t *k, const actor_t *a, const char *ev, cf_time_t at)
{
    char t[64];

    ts(t, at);
    fprintf(k->out, "{\"v\":1,\"ts\":\"%s\",\"event\":\"%s\",\"sid\":\"%s\",\"sub\":\"%s\","
                    "\"client_id\":\"%s\",\"ip\":null,\"reason\":null",
            t, ev, a->sid, a->sub, clients[a->kind]);
    k->lines++;
}

static void emit_created(sink_t *k, actor_t *a, cf_time_t at)
{
    char t[64], i[64], x[64];

    for (int j = 0; j < 24; j++)
        a->sid[j] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[rnd(&a->rng) & 63];
    a->sid[24] = '\0';
    ts(t, at);
    ts(i, at + IDLE);
    ts(x, at + ABSOLUTE);
    head(k, a, "session_created", at);
    fprintf(k->out, ",\"created_at\":\"%s\",\"roles\":[\"user\"],\"scope\":\"\",\"idle_expires_at\":\"%s\","
                    "\"absolute_expires_at\":\"%s\",\"refresh_gen\":0,\"token_fp\":null,"
                    "\"idle_timeout_ms\":%lld,\"absolute_timeout_ms\":%lld,\"access_ttl_ms\":%lld}\n",
            t, i, x, (long long)IDLE, (long long)ABSOLUTE, (long long)TTL);
    a->live = 1;
    a->created = a->last = a->token_at = at;
}

static void emit_refresh(sink_t *k, actor_t *a, cf_time_t at, cf_time_t idle)
{
    char i[64], x[64];

    ts(i, at + IDLE < a->created + ABSOLUTE ? at + IDLE : a->created + ABSOLUTE);
    ts(x, a->created + ABSOLUTE);
    head(k, a, "token_refreshed", at);
    fprintf(k->out, ",\"idle_expires_at\":\"%s\",\"absolute_expires_at\":\"%s\",\"refresh_gen\":1,"
                    "\"token_fp\":null,\"idle_timeout_ms\":%lld,\"absolute_timeout_ms\":%lld,"
                    "\"access_ttl_ms\":%lld,\"idle_ms\":%lld}\n",
            i, x, (long long)IDLE, (long long)ABSOLUTE, (long long)TTL, (long long)idle);
    a->token_at = at;
    a->last = at;
}

static void emit_gap(sink_t *k, actor_t *a, cf_time_t at, cf_time_t idle)
{
    char f[64];

    ts(f, at - idle);
    head(k, a, "activity_gap", at);
    fprintf(k->out, ",\"idle_from\":\"%s\",\"idle_ms\":%lld}\n", f, (long long)idle);
    a->last = at;
}

static void emit_end(sink_t *k, actor_t *a, const char *why, cf_time_t at)
{
    char e[64], l[64];

    ts(e, at);
    ts(l, a->last);
    head(k, a, "session_ended", at);
    fprintf(k->out, ",\"end_reason\":\"%s\",\"ended_at\":\"%s\",\"age_seconds\":%.3f,"
                    "\"last_activity_at\":\"%s\"}\n",
            why, e, (double)(at - a->created) / CF_SEC, l);
    a->live = 0;
}

/* The start of @a's next working day after @t (weekdays only). */
static cf_time_t next_day(actor_t *a, cf_time_t t)
{
    cf_time_t d = (t - EPOCH) / DAY + 1;

    if (d % 7 == 5)
        d += 2;
    else if (d % 7 == 6)
        d += 1;
    a->day_end = EPOCH + d * DAY + between(a, 16 * CF_HOUR + 30 * CF_MIN, 19 * CF_HOUR);
    return EPOCH + d * DAY + between(a, 8 * CF_HOUR, 10 * CF_HOUR);
}

/* How long the next stretch of work lasts, and the pause after it. */
static void plan(actor_t *a, cf_time_t from, cf_time_t *work, cf_time_t *pause)
{
    switch (a->kind) {
    case API:
        *work = 3 * DAY;
        *pause = CF_SEC;
        return;
    case TAB:
        *work = between(a, CF_MIN, 10 * CF_MIN);
        *pause = between(a, 2 * CF_HOUR, 2 * DAY);
        return;
    case DASHBOARD:
        *work = between(a, 2 * CF_MIN, 10 * CF_MIN);
        *pause = next_day(a, from) - from; /* then polling until it idles out */
        return;
    }
    *work = between(a, 10 * CF_MIN, 90 * CF_MIN);
    int p = (int)(rnd(&a->rng) % 100);
    cf_time_t tod = (from - EPOCH) % DAY;
    if (tod >= 12 * CF_HOUR && tod < 13 * CF_HOUR + 30 * CF_MIN && p < 50)
        *pause = between(a, 30 * CF_MIN, 75 * CF_MIN); /* lunch */
    else if (p < 70)
        *pause = between(a, 20 * CF_SEC, 10 * CF_MIN);
    else if (p < 88)
        *pause = between(a, 10 * CF_MIN, 25 * CF_MIN); /* coffee, a colleague */
    else
        *pause = between(a, 30 * CF_MIN, 60 * CF_MIN); /* a meeting */
}

/* Carry out @a's next step at a->next, and schedule the one after. */
static void step(sink_t *k, actor_t *a)
{
    cf_time_t now = a->next, work, pause, g;

    switch (a->step) {
    case START:
        emit_created(k, a, now);
        plan(a, now, &work, &pause);
        a->block_end = now + work;
        a->resume_at = a->block_end + pause;
        a->step = WORK;
        break;
    case RESUME:
        g = now - a->last;
        if (now >= a->token_at + TTL)
            emit_refresh(k, a, now, g);
        else if (g >= GAP)
            emit_gap(k, a, now, g);
        plan(a, now, &work, &pause);
        a->block_end = now + work;
        a->resume_at = a->block_end + pause;
        a->step = WORK;
        break;
    case WORK:
        if (now > a->last)
            emit_refresh(k, a, now, between(a, 0, 20 * CF_SEC));
        break;
    case END_IDLE:
        emit_end(k, a, "idle_timeout", now);
        a->step = START;
        a->next = a->resume_at;
        return;
    case LOGOUT:
        emit_end(k, a, "logout", now);
        a->step = START;
        a->next = a->resume_at;
        return;
    }
    /* Working: the next refresh, the absolute end, or the end of the stretch. */
    cf_time_t refresh = a->token_at + TTL, absolute = a->created + ABSOLUTE;
    if (absolute <= a->block_end && absolute <= refresh) {
        a->last = absolute - between(a, 0, 5 * CF_SEC);
        a->step = END_IDLE; /* rewritten below as an absolute end */
        a->next = absolute;
        emit_end(k, a, "absolute_timeout", absolute);
        a->step = START;
        a->next = absolute + between(a, 5 * CF_SEC, 60 * CF_SEC);
        return;
    }
    if (refresh < a->block_end) {
        a->next = refresh;
        return;
    }
    a->last = a->block_end;
    if (a->kind == WORKER && a->block_end >= a->day_end) {
        a->resume_at = next_day(a, a->block_end);
        if (chance(a, 50)) {
            a->step = LOGOUT;
            a->next = a->block_end + between(a, CF_SEC, 30 * CF_SEC);
            return;
        }
    }
    if (a->resume_at - a->last >= IDLE) {
        a->step = END_IDLE;
        a->next = a->last + IDLE;
    } else {
        a->step = RESUME;
        a->next = a->resume_at;
    }
}

/* A min-heap of actors by next. */
static void sift_down(actor_t **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l]->next < h[m]->next)
            m = l;
        if (l + 1 < n && h[l + 1]->next < h[m]->next)
            m = l + 1;
        if (m == i)
            return;
        actor_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int cf_tune_synthetic(unsigned long long n, unsigned long long seed, FILE *out)
{
    size_t na = (size_t)(n / 3000) + 8, i;
    actor_t *actors = calloc(na, sizeof *actors);
    actor_t **heap = calloc(na, sizeof *heap);
    sink_t k = {out, 0};
    uint64_t s = seed;

    if (actors == NULL || heap == NULL) {
        free(actors);
        free(heap);
        return -1;
    }
    for (i = 0; i < na; i++) {
        actor_t *a = &actors[i];
        int p = (int)(rnd(&s) % 100);
        a->rng = rnd(&s);
        a->kind = p < 65 ? WORKER : p < 75 ? API : p < 90 ? TAB : DASHBOARD;
        snprintf(a->sub, sizeof a->sub, "%s%06zu", a->kind == API ? "svc" : "user", i);
        a->next = a->kind == WORKER || a->kind == DASHBOARD ? next_day(a, EPOCH - DAY)
                                                            : EPOCH + between(a, 0, DAY);
        a->step = START;
        heap[i] = a;
    }
    for (i = na / 2 + 1; i-- > 0;)
        sift_down(heap, na, i);
    while (k.lines < n && !ferror(out)) {
        step(&k, heap[0]);
        sift_down(heap, na, 0);
    }
    free(heap);
    free(actors);
    return ferror(out) ? -1 : 0;
}
