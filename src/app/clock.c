/* SPDX-License-Identifier: MIT
 *
 * The shell's clocks. Every wall-clock read (cf_app_now) is compared with the
 * monotonic clock by core/clockstep.c; a step is logged once as
 * `event=clock_step` and becomes a CLOCK_STEP event for the metrics and audit
 * sinks (it is this node's own observation: never stored nor published).
 * Rate limits and lockout run on the monotonic clock alone, so a step cannot
 * stretch or shorten them.
 */
#include <time.h>

#include "app/app.h"
#include "util/log.h"

#define WATCH_MS 1000 /* a step is seen within a second even when nothing reads the clock */

static cf_time_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (cf_time_t)ts.tv_sec * CF_SEC + ts.tv_nsec / 1000000;
}

static cf_time_t wall_clock(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_REALTIME);
}

static cf_time_t mono_clock(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_MONOTONIC);
}

void cf_app_clock_init(cf_app_t *app)
{
    app->clock = wall_clock;
    app->mono = mono_clock;
    /* After a backward step, tokens issued before it live at most
     * access_token.max_ttl (+ leeway) longer: that long their iat is excused. */
    cf_clockstep_init(&app->clockstep, app->cfg.clock_step_hold,
                      app->cfg.access_max_ttl + app->cfg.clock_leeway);
}

cf_time_t cf_app_now(cf_app_t *app)
{
    cf_time_t now;

    if (app->clock_held > 0 && app->clock_held_valid)
        return app->clock_held_at;
    now = app->clock(app->clock_ctx);
    cf_app_clock_observe(app, now); /* every read may reveal a step (api/clock.c) */
    if (app->clock_held > 0) {
        app->clock_held_at = now;
        app->clock_held_valid = 1;
    }
    return now;
}

void cf_app_clock_hold(cf_app_t *app)
{
    app->clock_held++;
    app->clock_held_valid = 0; /* read at the first cf_app_now of this hold */
}

void cf_app_clock_release(cf_app_t *app)
{
    if (app->clock_held > 0 && --app->clock_held == 0)
        app->clock_held_valid = 0;
}

cf_time_t cf_app_mono(cf_app_t *app)
{
    return app->mono(app->clock_ctx);
}

void cf_app_clock_observe(cf_app_t *app, cf_time_t wall)
{
    cf_time_t mono = cf_app_mono(app);
    cf_time_t step = cf_clockstep_observe(&app->clockstep, wall, mono);
    cf_event_t e = {.type = CF_EV_CLOCK_STEP, .at = wall, .step = step};

    if (step == 0)
        return;
    CF_LOG(CF_LOG_WARN,
           "event=clock_step direction=%s step_ms=%lld hold=%s iat_slack_ms=%lld",
           step > 0 ? "forward" : "backward", (long long)step,
           cf_clockstep_unconfirmed(&app->clockstep, mono) ? "on" : "off",
           (long long)cf_clockstep_slack(&app->clockstep, mono));
    cf_app_emit(app, &e);
}

int cf_app_clock_unconfirmed(cf_app_t *app)
{
    (void)cf_app_now(app); /* a sweep first looks at the clock itself */
    return cf_clockstep_unconfirmed(&app->clockstep, cf_app_mono(app));
}

cf_time_t cf_app_clock_slack(cf_app_t *app)
{
    return cf_clockstep_slack(&app->clockstep, cf_app_mono(app));
}

static void on_clock_timer(uv_timer_t *t)
{
    (void)cf_app_now(t->data);
}

void cf_app_clock_start(cf_app_t *app)
{
    uv_timer_init(app->loop, &app->clock_timer);
    app->clock_timer.data = app;
    uv_timer_start(&app->clock_timer, on_clock_timer, WATCH_MS, WATCH_MS);
}

void cf_app_clock_stop(cf_app_t *app)
{
    uv_timer_stop(&app->clock_timer);
    uv_close((uv_handle_t *)&app->clock_timer, NULL);
}
