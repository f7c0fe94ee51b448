/* SPDX-License-Identifier: MIT
 *
 * What one sampled check costs the audit sink: the `activity_gap` line that
 * bench/check_tune.sh's worst case writes on every check (issue 13), at a
 * server-like pace, measured in CPU time of every thread.
 *
 *   build/bench_audit_sink [lines, default 200000] [per second, default 10000] [path]
 *
 * The loop thread formats and queues one ACTIVITY_GAP event every 1/rate s
 * (cf_audit_events, as cf_app_emit calls it) and sleeps in between, like a
 * server whose checks arrive at that rate; the writer thread writes them to
 * @path (default /tmp/bench_audit_sink.jsonl, truncated first, removed at
 * the end). Printed per line: the loop thread's CPU inside cf_audit_events
 * (CLOCK_THREAD_CPUTIME_ID around each call, less the cost of reading it), the rest of the process (the
 * writer thread, and the close's final write and fsync) and their sum.
 * Figures, not a test: the pace is wall time, so a shared machine's
 * preemption changes the batching, not the CPU counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/session.h"
#include "obs/audit.h"

static int64_t ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    long rate = argc > 2 ? atol(argv[2]) : 10000;
    const char *path = argc > 3 ? argv[3] : "/tmp/bench_audit_sink.jsonl";
    cf_limits_t lim = {30 * 60 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};
    cf_time_t t0 = 1796200000000; /* 2026-12-02 */
    cf_session_t *s;
    cf_audit_t *a;
    int64_t overhead, loop_cpu = 0, proc0, proc1, wall0, wall1, self0, self1, step;
    struct timespec next;
    uint64_t dropped;

    if (n <= 0 || rate <= 0) {
        fprintf(stderr, "usage: %s [lines] [per second] [path]\n", argv[0]);
        return 2;
    }
    s = cf_session_new("DQisbRlQaiNnQamCE2DGDr7y", "user12345", "bench", "", "bench", t0, &lim, t0);
    if (s == NULL)
        return 1;
    cf_session_bind(s, "127.0.0.1", NULL);
    if (truncate(path, 0) != 0 && access(path, F_OK) == 0)
        perror(path);
    if (cf_audit_open(path, 1 << 20, &a) != 0)
        return 1;
    /* What the two clock reads around a call cost by themselves (subtracted below). */
    overhead = ns(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < 10000; i++)
        (void)ns(CLOCK_THREAD_CPUTIME_ID);
    overhead = (ns(CLOCK_THREAD_CPUTIME_ID) - overhead) / 10001;
    step = 1000000000 / rate;
    clock_gettime(CLOCK_MONOTONIC, &next);
    proc0 = ns(CLOCK_PROCESS_CPUTIME_ID);
    self0 = ns(CLOCK_THREAD_CPUTIME_ID);
    wall0 = ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        /* The server's clock at this pace; silences of 1 to 6 s. */
        cf_event_t e = {.type = CF_EV_ACTIVITY_GAP, .at = t0 + i * 1000 / rate, .session = s,
                        .span = 1000 + (i * 7919) % 5000};
        const cf_events_t one = {&e, 1, 1};
        int64_t c0 = ns(CLOCK_THREAD_CPUTIME_ID);

        cf_audit_events(a, &one);
        loop_cpu += ns(CLOCK_THREAD_CPUTIME_ID) - c0 - overhead;
        next.tv_nsec += step;
        while (next.tv_nsec >= 1000000000) {
            next.tv_nsec -= 1000000000;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    self1 = ns(CLOCK_THREAD_CPUTIME_ID);
    dropped = cf_audit_dropped(a);
    cf_audit_close(a);
    proc1 = ns(CLOCK_PROCESS_CPUTIME_ID);
    wall1 = ns(CLOCK_MONOTONIC);
    /* The rest of the process: everything but this thread's own time before the close. */
    printf("lines %ld at %ld/s (%.1f s): loop thread in cf_audit_events %.3f us/line, "
           "writer and close %.3f us/line, sum %.3f us/line; dropped %llu\n",
           n, rate, (wall1 - wall0) / 1e9, loop_cpu / 1e3 / n,
           ((proc1 - proc0) - (self1 - self0)) / 1e3 / n,
           (loop_cpu + (proc1 - proc0) - (self1 - self0)) / 1e3 / n,
           (unsigned long long)dropped);
    cf_session_free(s);
    unlink(path);
    return 0;
}
