/* SPDX-License-Identifier: MIT
 *
 * The audit log sink: a pure line formatter, and a queue drained by a writer
 * thread.
 *
 * Why a double buffer and not a ring: the loop thread appends lines to
 * `pending` under the mutex (a memcpy, never I/O); the writer swaps
 * `pending` with its own empty buffer under the mutex and writes the full
 * one with the mutex released. Each side touches one buffer at a time, a
 * line is never split, and the only wait on the loop thread is the mutex
 * held for a swap. `pending` never grows past the configured capacity, so
 * the memory used is bounded by twice audit.buffer.
 *
 * Why batches: waking the writer for every line cost more than the line
 * (a futex wake, two context switches and a write() per line: ~4 us of CPU
 * per sampled check, issue 13). The writer now sleeps until the queue holds
 * BATCH_BYTES or its oldest line is BATCH_MS old, whichever comes first, and
 * writes the whole queue with one write(). The loop thread signals only two
 * transitions: the first line into a queue the writer is idle on (to start
 * the BATCH_MS clock) and the queue crossing BATCH_BYTES. A line thus
 * reaches the file within about BATCH_MS (docs/audit.md); SIGTERM still
 * writes and fsyncs everything queued (cf_audit_close).
 *
 * The file is opened O_APPEND, so a logrotate `copytruncate` also works;
 * with `create` (rename + SIGHUP) the writer reopens the path before its
 * next write. fsync runs at most once a second, and at close.
 */
#include "obs/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

/* ------------------------------------------------------------------ */
/* The formatter (pure)                                                */
/* ------------------------------------------------------------------ */

void cf_audit_line_fini(cf_audit_line_t *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

static void put(cf_audit_line_t *l, const char *s, size_t n)
{
    if (l->oom)
        return;
    if (l->len + n + 1 > l->cap) {
        size_t ncap = l->cap ? l->cap : 512;
        char *p;

        while (ncap < l->len + n + 1)
            ncap *= 2;
        p = realloc(l->buf, ncap);
        if (p == NULL) {
            l->oom = 1;
            return;
        }
        l->buf = p;
        l->cap = ncap;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void puts_(cf_audit_line_t *l, const char *s)
{
    put(l, s, strlen(s));
}

static void putf(cf_audit_line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(cf_audit_line_t *l, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ,"name": (names are plain ASCII: no escaping) -- a vsnprintf per key cost more than the line. */
static void key(cf_audit_line_t *l, const char *name)
{
    put(l, ",\"", 2);
    puts_(l, name);
    put(l, "\":", 2);
}

/* Decimal digits of @v, as %llu writes them. */
static void put_u64(cf_audit_line_t *l, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(l, d + i, sizeof d - i);
}

/* Decimal digits of @v, as %lld writes them (INT64_MIN included). */
static void put_i64(cf_audit_line_t *l, int64_t v)
{
    if (v < 0) {
        put(l, "-", 1);
        put_u64(l, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(l, (uint64_t)v);
    }
}

static void field_i64(cf_audit_line_t *l, const char *name, int64_t v)
{
    key(l, name);
    put_i64(l, v);
}

static void field_u64(cf_audit_line_t *l, const char *name, uint64_t v)
{
    key(l, name);
    put_u64(l, v);
}

/* A JSON string of @n bytes at @s; control characters escaped, other bytes as given. */
static void put_str(cf_audit_line_t *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(l, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\r') {
            put(l, "\\r", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(l, esc, 6);
        }
    }
    put(l, s + run, n - run);
    put(l, "\"", 1);
}

/* ,"key":"value" or ,"key":null when @v is NULL (or empty and @empty_null). */
static void field_str(cf_audit_line_t *l, const char *name, const char *v, int empty_null)
{
    key(l, name);
    if (v == NULL || (empty_null && v[0] == '\0'))
        puts_(l, "null");
    else
        put_str(l, v, strlen(v));
}

/* @n digits of @v, zero-padded, at @p. */
static void digits(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/*
 * RFC 3339 UTC with milliseconds: 2026-01-02T03:04:05.678Z. The date and
 * time of the last second formatted are kept in @l (checks in one second
 * share it), and written by hand: snprintf cost a microsecond a line. Years
 * outside 0..9999 take the printf path, which writes them as before.
 */
static void put_time(cf_audit_line_t *l, cf_time_t t)
{
    cf_time_t ms = t % CF_SEC;
    time_t secs = (time_t)(t / CF_SEC);
    struct tm tm;
    char buf[96];

    if (ms < 0) {
        ms += CF_SEC;
        secs--;
    }
    if (!l->time_ok || l->time_sec != (int64_t)secs) {
        if (gmtime_r(&secs, &tm) == NULL) {
            puts_(l, "null");
            return;
        }
        if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
            snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
            puts_(l, buf);
            return;
        }
        memcpy(l->time, "\"YYYY-MM-DDTHH:MM:SS", sizeof l->time);
        digits(l->time + 1, tm.tm_year + 1900, 4);
        digits(l->time + 6, tm.tm_mon + 1, 2);
        digits(l->time + 9, tm.tm_mday, 2);
        digits(l->time + 12, tm.tm_hour, 2);
        digits(l->time + 15, tm.tm_min, 2);
        digits(l->time + 18, tm.tm_sec, 2);
        l->time_sec = (int64_t)secs;
        l->time_ok = 1;
    }
    memcpy(buf, l->time, sizeof l->time);
    memcpy(buf + sizeof l->time, ".000Z\"", 6);
    digits(buf + sizeof l->time + 1, (int)ms, 3);
    put(l, buf, sizeof l->time + 6);
}

static void field_time(cf_audit_line_t *l, const char *name, cf_time_t t)
{
    key(l, name);
    put_time(l, t);
}

/* "a,b" -> ["a","b"]; "" -> []. */
static void field_roles(cf_audit_line_t *l, const char *roles)
{
    const char *p = roles;
    int first = 1;

    puts_(l, ",\"roles\":[");
    while (p != NULL && *p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);

        if (n > 0) {
            if (!first)
                put(l, ",", 1);
            put_str(l, p, n);
            first = 0;
        }
        p = c ? c + 1 : NULL;
    }
    put(l, "]", 1);
}

static void field_token(cf_audit_line_t *l, const cf_event_t *e)
{
    char fp[13];

    field_u64(l, "refresh_gen", (unsigned)(e->has_token ? e->token_gen : e->session->refresh_gen));
    if (e->has_token) {
        /* A hash of the stored hash: matches nothing an attacker could present. */
        cf_log_fingerprint((const char *)e->token_hash, sizeof e->token_hash, fp);
        field_str(l, "token_fp", fp, 0);
    } else {
        field_str(l, "token_fp", NULL, 0);
    }
}

/* The fields of the kinds that are not session changes (docs/audit.md). */
static void field_extra(cf_audit_line_t *l, const cf_event_t *e)
{
    switch (e->type) {
    case CF_EV_LOCKED_OUT:
        field_i64(l, "duration_ms", e->span);
        break;
    case CF_EV_RISK_CHANGED:
        field_str(l, "action", e->name, 0);
        break;
    case CF_EV_KEY_ROTATED:
        field_str(l, "kid", e->name, 0);
        field_str(l, "previous_kid", e->key, 1);
        field_str(l, "trigger", e->detail, 0);
        field_u64(l, "version", e->count);
        break;
    case CF_EV_APIKEY_CREATED:
    case CF_EV_APIKEY_ROTATED:
    case CF_EV_APIKEY_ENDED:
    case CF_EV_APIKEY_EXPIRING:
        field_str(l, "key_id", e->apikey->id, 0);
        field_str(l, "name", e->apikey->name, 0);
        field_str(l, "end_reason", e->apikey->end ? cf_apikey_end_name(e->apikey->end) : NULL, 0);
        field_str(l, "successor", e->apikey->successor[0] ? e->apikey->successor : NULL, 0);
        field_time(l, "expires_at", e->apikey->expires_at);
        if (e->type == CF_EV_APIKEY_ENDED) /* the deadline it passed; ts is when that was noticed */
            field_time(l, "ended_at", e->apikey->ended_at);
        if (e->apikey->overlap_until > 0)
            field_time(l, "overlap_until", e->apikey->overlap_until);
        break;
    case CF_EV_ALERT_FIRED:
        field_str(l, "alert", e->name, 0);
        field_str(l, "key", e->key, 0);
        putf(l, ",\"count\":%llu,\"window_seconds\":%lld", (unsigned long long)e->count,
             (long long)(e->span / CF_SEC));
        field_str(l, "action", e->detail, 0);
        break;
    case CF_EV_CONNECTION_CUT:
        field_str(l, "kind", e->name, 0);
        putf(l, ",\"bytes_up\":%llu,\"bytes_down\":%llu,\"age_seconds\":%.3f",
             (unsigned long long)e->bytes_up, (unsigned long long)e->bytes_down,
             (double)e->span / CF_SEC);
        break;
    default:
        break;
    }
}

/* The fields of the session lines: created, refreshed, ended, activity_gap. */
static void field_session(cf_audit_line_t *l, const cf_event_t *e)
{
    const cf_session_t *s = e->session;

    if (s == NULL)
        return;
    switch (e->type) {
    case CF_EV_SESSION_CREATED:
    case CF_EV_TOKEN_REFRESHED:
        if (e->type == CF_EV_SESSION_CREATED) {
            field_time(l, "created_at", s->created_at);
            field_roles(l, cf_session_roles(s));
            field_str(l, "scope", cf_session_scope(s), 0);
        }
        field_time(l, "idle_expires_at", cf_session_idle_deadline(s));
        field_time(l, "absolute_expires_at", cf_session_absolute_deadline(s));
        field_token(l, e);
        /* The session's lifetimes, for `curfew tune`'s baseline; and what a refresh ended. */
        field_i64(l, "idle_timeout_ms", cf_session_limits(s)->idle_timeout);
        field_i64(l, "absolute_timeout_ms", cf_session_limits(s)->absolute_timeout);
        field_i64(l, "access_ttl_ms", cf_session_limits(s)->access_ttl);
        if (e->type == CF_EV_TOKEN_REFRESHED)
            field_i64(l, "idle_ms", e->gap > 0 ? e->gap : 0);
        break;
    case CF_EV_SESSION_ENDED:
        field_str(l, "end_reason", cf_end_name(s->end), 0);
        field_time(l, "ended_at", cf_session_ended_at(s));
        putf(l, ",\"age_seconds\":%.3f", (double)(cf_session_ended_at(s) - s->created_at) / CF_SEC);
        field_time(l, "last_activity_at", cf_session_last_activity(s));
        break;
    default: /* CF_EV_ACTIVITY_GAP */
        field_time(l, "idle_from", e->at - e->span);
        field_i64(l, "idle_ms", e->span);
        break;
    }
}

int cf_audit_format(const cf_event_t *e, cf_audit_line_t *l)
{
    const cf_session_t *s = e->session;
    const char *sid = NULL, *sub = NULL, *client = NULL, *ip = NULL;

    /* Another node's events are in that node's audit log: each is written once. */
    if (!(cf_event_flags(e->type) & CF_EVF_AUDIT) || e->remote)
        return 0;
    l->len = 0;
    l->oom = 0;
    if (s != NULL) {
        sid = s->id;
        sub = s->sub;
        client = cf_session_client_id(s);
        ip = cf_session_ip(s);
    } else if (e->sid[0]) {
        sid = e->sid;
    }
    if (e->type == CF_EV_NOT_BEFORE || e->type == CF_EV_ALERT_HOLD || e->type == CF_EV_ALERT_FIRED)
        sub = e->sub;
    if (e->ip[0] != '\0')
        ip = e->ip; /* LOCKED_OUT, ALERT_FIRED: the address itself */
    if (e->apikey != NULL) { /* API key events: the key's owner; never the secret or its hash */
        sub = e->apikey->sub;
        client = e->apikey->client_id[0] ? e->apikey->client_id : NULL;
    }

    put(l, "{\"v\":", 5);
    put_i64(l, CF_AUDIT_VERSION);
    put(l, ",\"ts\":", 6);
    put_time(l, e->at);
    field_str(l, "event", cf_event_name(e->type), 0);
    field_str(l, "sid", sid, 1);
    field_str(l, "sub", sub, 0);
    field_str(l, "client_id", client, 1);
    field_str(l, "ip", ip, 1);
    field_str(l, "reason", e->reason != CF_REASON_NONE ? cf_reason_name(e->reason) : NULL, 0);

    switch (e->type) {
    case CF_EV_SESSION_CREATED:
    case CF_EV_TOKEN_REFRESHED:
    case CF_EV_SESSION_ENDED:
    case CF_EV_ACTIVITY_GAP:
        field_session(l, e);
        break;
    case CF_EV_NOT_BEFORE:
        field_str(l, "scope", e->sub != NULL ? "subject" : "all", 0);
        field_time(l, "at", e->not_before);
        break;
    case CF_EV_ALERT_HOLD:
        field_time(l, "until", e->until);
        break;
    case CF_EV_CLOCK_STEP:
        field_str(l, "direction", e->step > 0 ? "forward" : "backward", 0);
        field_i64(l, "step_ms", e->step);
        break;
    default:
        field_extra(l, e);
        break;
    }
    put(l, "}\n", 2);
    return l->oom ? CF_ENOMEM : 1;
}

/* ------------------------------------------------------------------ */
/* The queue and the writer thread                                     */
/* ------------------------------------------------------------------ */

#define FSYNC_EVERY_MS 1000
#define DROP_REPORT_MS 1000
#define BATCH_MS 50              /* the longest a queued line waits for its write() */
#define BATCH_BYTES (64 * 1024)  /* or less: half the queue when audit.buffer is small */

struct cf_audit {
    char *path;   /* "-" = stdout */
    int fd;       /* writer thread only after open */
    size_t cap;   /* bytes a queue holds */
    size_t batch; /* bytes that wake the writer before BATCH_MS */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    pthread_t thread;
    char *pending; /* filled by the loop thread; cap bytes */
    size_t pending_len;
    char *spare;   /* the writer's buffer between swaps */
    int reopen, stop;
    int idle;      /* the writer waits with an empty queue: the next line must wake it */

    /* Loop thread only. */
    cf_audit_line_t line;
    uint64_t dropped, unreported;
    int64_t reported_at; /* monotonic ms of the last audit_dropped line */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_path(const char *path)
{
    if (strcmp(path, "-") == 0)
        return STDOUT_FILENO;
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void write_all(cf_audit_t *a, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(a->fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            CF_LOG(CF_LOG_ERROR, "event=audit_write_error path=%s error=\"%s\" lost_bytes=%zu",
                   a->path, strerror(errno), n);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void do_reopen(cf_audit_t *a)
{
    int fd;

    if (a->fd == STDOUT_FILENO)
        return;
    fd = open_path(a->path);
    if (fd < 0) {
        /* Keep writing to the old file rather than losing lines. */
        CF_LOG(CF_LOG_ERROR, "event=audit_reopen_error path=%s error=\"%s\"", a->path,
               strerror(errno));
        return;
    }
    (void)fsync(a->fd);
    close(a->fd);
    a->fd = fd;
    CF_LOG(CF_LOG_INFO, "event=audit_reopened path=%s", a->path);
}

/* Wait on the writer's condition until monotonic ms @until; 1 when that time came. */
static int wait_until(cf_audit_t *a, int64_t until)
{
    struct timespec ts = {.tv_sec = (time_t)(until / 1000), .tv_nsec = (long)(until % 1000) * 1000000};

    return pthread_cond_timedwait(&a->cv, &a->mu, &ts) == ETIMEDOUT;
}

/*
 * Under the mutex: sleep until there is work. A batch is due when it holds
 * a->batch bytes or BATCH_MS after the writer first saw it; written lines
 * are due an fsync FSYNC_EVERY_MS after the last one.
 */
static void wait_for_work(cf_audit_t *a, int dirty, int64_t synced_at)
{
    int64_t due = 0; /* when the queued batch must be written; 0: nothing queued yet */

    while (!a->reopen && !a->stop && a->pending_len < a->batch) {
        if (a->pending_len > 0) {
            if (due == 0)
                due = mono_ms() + BATCH_MS;
            if (wait_until(a, due))
                return;
            continue;
        }
        due = 0;
        a->idle = 1; /* the first line wakes us: its BATCH_MS starts now */
        if (!dirty) {
            pthread_cond_wait(&a->cv, &a->mu);
        } else if (wait_until(a, synced_at + FSYNC_EVERY_MS)) {
            a->idle = 0;
            return;
        }
        a->idle = 0;
    }
}

static void *writer_main(void *arg)
{
    cf_audit_t *a = arg;
    int64_t synced_at = mono_ms();
    int dirty = 0;

    for (;;) {
        char *buf;
        size_t len;
        int reopen, stop;

        pthread_mutex_lock(&a->mu);
        wait_for_work(a, dirty, synced_at);
        buf = a->pending;
        len = a->pending_len;
        a->pending = a->spare;
        a->pending_len = 0;
        a->spare = NULL;
        reopen = a->reopen;
        stop = a->stop;
        a->reopen = 0;
        pthread_mutex_unlock(&a->mu);

        /* Lines queued before the signal belong to the old file. */
        if (len > 0) {
            write_all(a, buf, len);
            dirty = 1;
        }
        if (reopen)
            do_reopen(a);
        if (dirty && (stop || mono_ms() - synced_at >= FSYNC_EVERY_MS)) {
            if (a->fd != STDOUT_FILENO)
                (void)fsync(a->fd);
            synced_at = mono_ms();
            dirty = 0;
        }

        pthread_mutex_lock(&a->mu);
        a->spare = buf;
        stop = a->stop && a->pending_len == 0;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
    }
    return NULL;
}

int cf_audit_open(const char *path, size_t buffer, cf_audit_t **out)
{
    cf_audit_t *a = calloc(1, sizeof *a);
    pthread_condattr_t ca;

    *out = NULL;
    if (a == NULL)
        return CF_ENOMEM;
    a->fd = -1;
    a->cap = buffer;
    a->path = strdup(path);
    a->pending = malloc(buffer);
    a->spare = malloc(buffer);
    if (a->path == NULL || a->pending == NULL || a->spare == NULL)
        goto nomem;
    a->fd = open_path(path);
    if (a->fd < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=audit_open path=%s error=\"%s\"", path,
               strerror(errno));
        free(a->path);
        free(a->pending);
        free(a->spare);
        free(a);
        return CF_EIO;
    }
    a->batch = buffer / 2 < BATCH_BYTES ? buffer / 2 : BATCH_BYTES;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timed waits immune to clock steps */
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        if (a->fd != STDOUT_FILENO)
            close(a->fd);
        goto nomem;
    }
    a->reported_at = mono_ms() - DROP_REPORT_MS;
    *out = a;
    return 0;
nomem:
    free(a->path);
    free(a->pending);
    free(a->spare);
    free(a);
    return CF_ENOMEM;
}

static void report_drops(cf_audit_t *a)
{
    int64_t now;

    if (a->unreported == 0)
        return;
    now = mono_ms();
    if (now - a->reported_at < DROP_REPORT_MS)
        return;
    CF_LOG(CF_LOG_WARN, "event=audit_dropped n=%llu total=%llu",
           (unsigned long long)a->unreported, (unsigned long long)a->dropped);
    a->unreported = 0;
    a->reported_at = now;
}

/*
 * Under the mutex: append @len bytes of whole lines if they fit; 1 if they
 * did. Wakes the writer only when it idles on an empty queue or the queue
 * just crossed its batch size: a signal per line was the cost to avoid.
 */
static int enqueue(cf_audit_t *a, const char *line, size_t len)
{
    size_t before = a->pending_len;

    if (before + len > a->cap)
        return 0;
    memcpy(a->pending + before, line, len);
    a->pending_len = before + len;
    if ((before == 0 && a->idle) || (before < a->batch && a->pending_len >= a->batch)) {
        a->idle = 0;
        pthread_cond_signal(&a->cv);
    }
    return 1;
}

int cf_audit_write(cf_audit_t *a, const char *line, size_t len)
{
    int ok;

    pthread_mutex_lock(&a->mu);
    ok = enqueue(a, line, len);
    pthread_mutex_unlock(&a->mu);
    if (!ok) {
        a->dropped++;
        a->unreported++;
        return CF_ETOOBIG;
    }
    return 0;
}

void cf_audit_events(cf_audit_t *a, const cf_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        int rc = cf_audit_format(&ev->v[i], &a->line);
        int ok = 0;

        if (rc == 0)
            continue;
        if (rc > 0) {
            pthread_mutex_lock(&a->mu);
            ok = enqueue(a, a->line.buf, a->line.len);
            pthread_mutex_unlock(&a->mu);
        }
        if (!ok) {
            a->dropped++;
            a->unreported++;
        }
    }
    if (a->unreported > 0)
        report_drops(a);
}

void cf_audit_reopen(cf_audit_t *a)
{
    pthread_mutex_lock(&a->mu);
    a->reopen = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

uint64_t cf_audit_dropped(const cf_audit_t *a)
{
    return a->dropped;
}

void cf_audit_close(cf_audit_t *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    if (a->unreported > 0)
        CF_LOG(CF_LOG_WARN, "event=audit_dropped n=%llu total=%llu",
               (unsigned long long)a->unreported, (unsigned long long)a->dropped);
    if (a->fd != STDOUT_FILENO)
        close(a->fd);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    cf_audit_line_fini(&a->line);
    free(a->pending);
    free(a->spare);
    free(a->path);
    free(a);
}
