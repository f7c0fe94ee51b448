/* SPDX-License-Identifier: MIT
 *
 * Clock-step detection (see clockstep.h). Must never read a clock and never
 * report a step for drift below the bound.
 */
#include "core/clockstep.h"

#include <string.h>

void cf_clockstep_init(cf_clockstep_t *c, cf_time_t hold, cf_time_t back_window)
{
    memset(c, 0, sizeof *c);
    c->hold = hold;
    c->back_window = back_window;
}

/*
 * Why compare offsets rather than deltas between readings: the offset
 * wall - mono is constant while both clocks run at the same rate, so one
 * subtraction per reading tells a step from elapsed time whatever the gap
 * between readings (an idle server may read the clock once a minute).
 *
 * A forward step followed by the step back (the usual NTP correction of a
 * wrong jump) leaves the offset where it started; that undoes the pending
 * step at once rather than waiting for the hold, so deadlines it would have
 * made due are evaluated on the corrected clock. A backward step widens the
 * iat slack to the largest step seen within the window: tokens issued on the
 * old timeline carry iat up to that much "in the future".
 */
cf_time_t cf_clockstep_observe(cf_clockstep_t *c, cf_time_t wall, cf_time_t mono)
{
    cf_time_t off = wall - mono, d;

    if (!c->have) {
        c->have = 1;
        c->offset = off;
        return 0;
    }
    d = off - c->offset;
    c->offset = off;
    if (d <= CF_CLOCKSTEP_BOUND && d >= -CF_CLOCKSTEP_BOUND)
        return 0;
    c->fwd_pending = cf_clockstep_unconfirmed(c, mono); /* a confirmed step is history */
    if (d > 0) {
        if (!c->fwd_pending) {
            c->base = off - d; /* where the clock was before this step */
            c->fwd_pending = 1;
        }
        c->fwd_at = mono;
    } else {
        if (mono >= c->back_until)
            c->back = 0;
        if (-d > c->back)
            c->back = -d;
        c->back_until = mono + c->back_window;
        if (c->fwd_pending)
            c->fwd_at = mono; /* still ahead of the base: the hold starts again */
    }
    if (c->fwd_pending && off - c->base <= CF_CLOCKSTEP_BOUND)
        c->fwd_pending = 0; /* back where it was before the forward step: undone */
    return d;
}

int cf_clockstep_unconfirmed(const cf_clockstep_t *c, cf_time_t mono)
{
    return c->fwd_pending && mono - c->fwd_at < c->hold;
}

cf_time_t cf_clockstep_slack(const cf_clockstep_t *c, cf_time_t mono)
{
    return mono < c->back_until ? c->back : 0;
}
