/* SPDX-License-Identifier: MIT
 *
 * Time as a value. curfew measures every instant as milliseconds since the
 * Unix epoch (cf_time_t) and every duration in milliseconds too. The core never
 * reads a clock: callers pass `now` in. The shell owns the one clock source.
 */
#ifndef CF_CORE_CLOCK_H
#define CF_CORE_CLOCK_H

#include <stdint.h>

typedef int64_t cf_time_t;

#define CF_MSEC ((cf_time_t)1)
#define CF_SEC ((cf_time_t)1000)
#define CF_MIN (60 * CF_SEC)
#define CF_HOUR (60 * CF_MIN)
#define CF_DAY (24 * CF_HOUR)

/** Whole seconds of @t, rounded towards minus infinity (for JWT NumericDate). */
static inline int64_t cf_time_to_sec(cf_time_t t)
{
    return t >= 0 ? t / CF_SEC : -((-t + CF_SEC - 1) / CF_SEC);
}

static inline cf_time_t cf_time_min(cf_time_t a, cf_time_t b)
{
    return a < b ? a : b;
}

#endif
