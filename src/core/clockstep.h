/* SPDX-License-Identifier: MIT
 *
 * Clock steps. The wall clock (CLOCK_REALTIME) can jump when NTP or an
 * operator sets it; the monotonic clock cannot. The shell reads both and
 * feeds every pair here; a step is a change of (wall - monotonic) larger than
 * a bound, which a slewing NTP never makes (it moves the offset by at most
 * 0.5 ms per second). Decides three things from those readings:
 *
 *  - whether a reading revealed a step, and of how much (signed);
 *  - whether a *forward* step is still unconfirmed, during which the shell
 *    must not end sessions durably on deadlines the step alone made due: a
 *    wrong forward step that NTP corrects a minute later would otherwise end
 *    every session with a shorter idle timeout, for good;
 *  - how much a token's iat/nbf may lie in the future after a *backward*
 *    step, so tokens issued before it stay valid.
 *
 * Pure: no clock read, no I/O; every instant is a parameter. One owner (the
 * loop thread) calls everything.
 */
#ifndef CF_CORE_CLOCKSTEP_H
#define CF_CORE_CLOCKSTEP_H

#include "core/clock.h"

/** A change of wall - monotonic larger than this is a step (5 s). */
#define CF_CLOCKSTEP_BOUND (5 * CF_SEC)

/** Plain state; initialise with cf_clockstep_init(). */
typedef struct {
    cf_time_t hold;        /* how long a forward step must persist to be confirmed */
    cf_time_t back_window; /* how long the iat slack lasts after a backward step */
    int have;              /* a first reading was seen */
    cf_time_t offset;      /* wall - monotonic at the last reading */
    int fwd_pending;       /* a forward step is not yet confirmed */
    cf_time_t base;        /* the offset before that step */
    cf_time_t fwd_at;      /* monotonic instant of the latest step while pending */
    cf_time_t back;        /* iat/nbf slack after backward steps */
    cf_time_t back_until;  /* monotonic instant the slack lapses */
} cf_clockstep_t;

/**
 * Start watching: a forward step is confirmed once no new step has been seen
 * for @hold (monotonic time); after a backward step of d, tokens may carry an
 * iat/nbf up to d in the future for @back_window (use the longest access
 * token lifetime plus the leeway: after that every token issued before the
 * step has expired anyway).
 */
void cf_clockstep_init(cf_clockstep_t *c, cf_time_t hold, cf_time_t back_window);

/**
 * Feed one reading of both clocks. Returns the step it revealed (wall minus
 * monotonic progress since the previous reading: > 0 forward, < 0 backward)
 * or 0 when the clocks agree within CF_CLOCKSTEP_BOUND. The first reading
 * only sets the reference. Drift below the bound is absorbed, so slewing is
 * never a step however long it lasts.
 */
cf_time_t cf_clockstep_observe(cf_clockstep_t *c, cf_time_t wall, cf_time_t mono);

/**
 * 1 while a forward step seen before @mono is unconfirmed: less than the
 * hold has passed since the latest step and the wall clock has not come
 * back to within the bound of where it was before the step. 0 otherwise.
 */
int cf_clockstep_unconfirmed(const cf_clockstep_t *c, cf_time_t mono);

/** Extra ms a token's iat/nbf may lie in the future at @mono (0 without a recent backward step). */
cf_time_t cf_clockstep_slack(const cf_clockstep_t *c, cf_time_t mono);

#endif
