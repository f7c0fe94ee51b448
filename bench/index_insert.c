/* SPDX-License-Identifier: MIT
 *
 * The longest single insert into the session index: a table that grows
 * re-hashes (all of it at once, or a few slots per operation), and the
 * worst insert is what a loop turn creating one session can cost.
 *
 *   build/bench_index_insert [sessions, default 1600000]
 *
 * Each insert is a session (unique id, ~3 sessions per subject, a unique
 * IPv4 address) plus one refresh token, as `POST /v1/sessions` adds them;
 * only cf_index_add + cf_index_add_refresh are timed, one by one, in wall
 * time and in the thread's CPU time (which a shared machine's preemption
 * does not inflate). Prints the worst times, the percentiles and the total.
 * Figures, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/index.h"

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;

    return (x < y) - (x > y);
}

static double now_us(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Print the worst, the next four and the percentiles of @v (sorted in place). */
static void report(const char *what, float *v, long n)
{
    long at = 0;

    for (long i = 1; i < n; i++)
        if (v[i] > v[at])
            at = i;
    printf("%s: worst single insert %.1f us (insert #%ld)\n", what, v[at], at);
    qsort(v, (size_t)n, sizeof *v, cmp_desc);
    printf("  next worst %.1f %.1f %.1f %.1f us; p99.99 %.1f us, p99.9 %.1f us, p99 %.2f us\n",
           v[1], v[2], v[3], v[4], v[n / 10000], v[n / 1000], v[n / 100]);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1600000;
    cf_limits_t lim = {3600 * CF_SEC, 86400 * CF_SEC, 300 * CF_SEC};
    cf_time_t t0 = 1700000000000LL;
    float *us = malloc((size_t)n * sizeof *us), *cpu = malloc((size_t)n * sizeof *cpu);
    cf_index_t *ix = cf_index_new(0x5eed);
    char sid[CF_SID_LEN + 1], sub[32], ip[32];
    double total = 0;

    if (n <= 0 || us == NULL || cpu == NULL || ix == NULL)
        return 1;
    for (long i = 0; i < n; i++) {
        cf_session_t *src, *s;
        uint8_t h[32] = {0};
        double a, b, ca, cb;

        snprintf(sid, sizeof sid, "B%023ld", i);
        snprintf(sub, sizeof sub, "user-%ld", i / 3);
        snprintf(ip, sizeof ip, "10.%ld.%ld.%ld", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        src = cf_session_new(sid, sub, i % 10 ? "web" : "mobile", "read", "user", t0, &lim, t0 + i);
        if (src == NULL)
            return 1;
        cf_session_bind(src, ip, "");
        memcpy(h, &i, sizeof i);
        h[31] = 0x5a;
        ca = now_us(CLOCK_THREAD_CPUTIME_ID);
        a = now_us(CLOCK_MONOTONIC);
        s = cf_index_add(ix, src, t0 + i);
        if (s == NULL || cf_index_add_refresh(ix, s, h, 0) != 0)
            return 1;
        b = now_us(CLOCK_MONOTONIC);
        cb = now_us(CLOCK_THREAD_CPUTIME_ID);
        cf_session_free(src);
        us[i] = (float)(b - a);
        cpu[i] = (float)(cb - ca);
        total += b - a;
    }
    printf("sessions %ld, index bytes/session %zu\n", n, cf_index_bytes(ix) / (size_t)n);
    printf("total insert time %.0f ms, mean %.2f us\n", total / 1e3, total / n);
    report("wall", us, n);
    report("cpu ", cpu, n);
    cf_index_free(ix);
    free(us);
    free(cpu);
    return 0;
}
