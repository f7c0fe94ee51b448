/* SPDX-License-Identifier: MIT
 *
 * Forced re-logins, live: which sessions ended by a timeout were followed by
 * a new session of the same subject within the re-login window (a forced
 * re-login, with the time it took) and which were not (a timeout without
 * return). The metrics sink feeds it every session start and timeout end.
 *
 * Memory is capped: one entry per subject seen recently (its latest start
 * and its pending timeout), at most @cap, the least recently used evicted
 * first (a pending timeout evicted that way is counted in `evicted`, outcome
 * unknown). The purge sweep may write a timeout's end after the subject has
 * already started again, so a late end is matched against the latest start
 * too. Pure: the times are the events'.
 */
#ifndef CF_CORE_RELOGIN_H
#define CF_CORE_RELOGIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/reason.h"

typedef struct cf_relogin cf_relogin_t;

/** What a call found; the caller adds it to its counters. [0] idle, [1] absolute. */
typedef struct {
    uint64_t without_return[2]; /* timeouts whose window passed without a new session */
    uint64_t evicted;           /* pending timeouts evicted by the cap */
    int relogin;                /* -1 none, else 0 idle / 1 absolute: this call found a forced re-login */
    cf_time_t gap;              /* with relogin: ms from the timeout to the new session */
    size_t tag;                 /* with relogin: the tag the timeout was recorded with */
} cf_relogin_out_t;

/** A tracker of at most @cap subjects (>= 1) with window @window (ms). NULL when out of memory. */
cf_relogin_t *cf_relogin_new(size_t cap, cf_time_t window);

/**
 * As cf_relogin_new(), with timeouts recorded under a tag below @ntags (the
 * metrics' client slot) and timeouts without return also counted per tag
 * (cf_relogin_without_return()).
 */
cf_relogin_t *cf_relogin_new_tagged(size_t cap, cf_time_t window, size_t ntags);

void cf_relogin_free(cf_relogin_t *r);

/** A session of @sub started at @at. 0 or CF_ENOMEM. */
int cf_relogin_started(cf_relogin_t *r, const char *sub, cf_time_t at, cf_relogin_out_t *out);

/** A session of @sub ended at @at by @why (only timeouts are remembered). 0 or CF_ENOMEM. */
int cf_relogin_ended(cf_relogin_t *r, const char *sub, cf_end_t why, cf_time_t at,
                     cf_relogin_out_t *out);

/** As cf_relogin_ended(), the timeout recorded under @tag (below the tracker's ntags, else 0). */
int cf_relogin_ended_tagged(cf_relogin_t *r, const char *sub, cf_end_t why, cf_time_t at,
                            size_t tag, cf_relogin_out_t *out);

/** Timeouts without return so far recorded under @tag, of @kind (0 idle, 1 absolute). */
uint64_t cf_relogin_without_return(const cf_relogin_t *r, size_t tag, int kind);

/** Count the pending timeouts whose window has passed by @now as without return. */
void cf_relogin_expire(cf_relogin_t *r, cf_time_t now, cf_relogin_out_t *out);

/** Subjects held now. */
size_t cf_relogin_size(const cf_relogin_t *r);

#endif
