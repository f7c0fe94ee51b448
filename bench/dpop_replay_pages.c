/* SPDX-License-Identifier: MIT
 *
 * bench/dpop_replay_pages.c: what the DPoP replay cache costs the loop when a
 * window turns (figures, not a test). Each window records 20,000 fresh jtis
 * in a cache of the default size (dpop.replay_cache 1,500,000 over a 60 s
 * window plus 30 s of leeway: 2,250,000 per generation); it prints the time
 * of those checks and the slowest single one. Compare two builds in one run:
 *
 *   build/bench_dpop_replay_pages; <old build>/bench_dpop_replay_pages
 *
 * A new window starts on fresh zero pages; every first touch of a page is a
 * fault, which on this VM costs 40-80 us per 4 KiB page.
 */
#include "core/dpop.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    size_t max = argc > 1 ? strtoul(argv[1], NULL, 10) : 2250000;
    cf_dpop_cache_t *c = cf_dpop_cache_new(max, 60, 0);
    uint64_t x = 88172645463325252ull, h[2];

    if (c == NULL)
        return 1;
    for (int w = 0; w < 6; w++) {
        double t0 = now_ms(), worst = 0;
        for (int i = 0; i < 20000; i++) {
            for (int k = 0; k < 2; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                h[k] = x;
            }
            double a = now_ms();
            if (cf_dpop_cache_check(c, (const uint8_t *)h, (int64_t)w * 60) != CF_REASON_NONE)
                return 1;
            double b = now_ms();
            if (b - a > worst)
                worst = b - a;
        }
        printf("window %d: 20,000 checks %.1f ms, slowest %.2f ms\n", w, now_ms() - t0, worst);
    }
    cf_dpop_cache_free(c);
    return 0;
}
