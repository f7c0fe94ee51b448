/* SPDX-License-Identifier: MIT
 *
 * Alert rules over the event stream: pure sliding-window counting with the
 * clock passed in. The shell feeds occurrences (a refused check from an IP, a
 * refresh of a session, an idle_timeout end...) with cf_alert_hit(); a rule
 * whose last `threshold` occurrences for one key all fall within `window`
 * fires once, then stays quiet for that key for one window (its cooldown), so
 * a storm is one alert per window, not one per request. refresh_reuse fires on
 * every occurrence. Each rule keeps at most `max_keys` keys (least recently
 * seen evicted first), so memory is capped whatever the traffic.
 */
#ifndef CF_CORE_ALERT_H
#define CF_CORE_ALERT_H
#include <stddef.h>
#include <stdint.h>
#include "core/clock.h"

/* X(ENUM, "config and wire name") */
#define CF_ALERT_KIND_MAP(X)                                                \
    X(REFRESH_REUSE, "refresh_reuse")                                       \
    X(CHECK_FAILURES_PER_IP, "check_failures_per_ip")                       \
    X(CHECK_FAILURES_PER_SUBJECT, "check_failures_per_subject")             \
    X(REFRESH_RATE_PER_SESSION, "refresh_rate_per_session")                 \
    X(CONCURRENT_SESSIONS_PER_SUBJECT, "concurrent_sessions_per_subject")   \
    X(IDLE_TIMEOUT_SPIKE, "idle_timeout_spike")

typedef enum {
#define X(name, str) CF_ALERT_##name,
    CF_ALERT_KIND_MAP(X)
#undef X
        CF_ALERT__COUNT
} cf_alert_kind_t;

#define CF_ALERT_ACTION_MAP(X)               \
    X(NONE, "none")                          \
    X(REVOKE_SESSION, "revoke_session")      \
    X(REVOKE_SUBJECT, "revoke_subject")      \
    X(DISABLE_REFRESH, "disable_refresh")

typedef enum {
#define X(name, str) CF_ALERT_ACT_##name,
    CF_ALERT_ACTION_MAP(X)
#undef X
        CF_ALERT_ACT__COUNT
} cf_alert_action_t;

#define CF_ALERT_THRESHOLD_MAX 1000 /* occurrences remembered per key */
#define CF_ALERT_KEY_MAX 128        /* bytes of a key kept (with the NUL) */

/** One rule, as configured. */
typedef struct {
    cf_alert_kind_t kind;
    uint32_t threshold;          /* 1..CF_ALERT_THRESHOLD_MAX */
    cf_time_t window;            /* > 0 */
    cf_alert_action_t action;
    cf_time_t action_duration;   /* disable_refresh: how long; 0 = the default */
    int line;                    /* config line, for messages */
} cf_alert_rule_t;

/** A decision to fire: rule index, key and how many occurrences were counted. */
typedef struct {
    size_t rule;
    const cf_alert_rule_t *r;
    const char *key;             /* valid during the callback only */
    uint32_t count;
} cf_alert_fire_t;

typedef void (*cf_alert_fire_fn)(void *arg, const cf_alert_fire_t *f);

typedef struct cf_alert cf_alert_t;

/** Stable name of @k; "unknown" when out of range. */
const char *cf_alert_kind_name(cf_alert_kind_t k);
/** Parse a kind name; CF_ALERT__COUNT when unknown. */
cf_alert_kind_t cf_alert_kind_from_name(const char *s, size_t n);
/** Stable name of @a; "unknown" when out of range. */
const char *cf_alert_action_name(cf_alert_action_t a);
/** Parse an action name; CF_ALERT_ACT__COUNT when unknown. */
cf_alert_action_t cf_alert_action_from_name(const char *s, size_t n);

/**
 * Build the evaluator for @n rules (copied) keeping at most @max_keys keys per
 * rule. Returns 0 with *@out set (the caller frees it with cf_alert_free), or
 * CF_EINVAL for a rule out of range or max_keys of 0, or CF_ENOMEM.
 */
int cf_alert_new(const cf_alert_rule_t *rules, size_t n, size_t max_keys, cf_alert_t **out);

/** Free @a and every key; NULL is fine. */
void cf_alert_free(cf_alert_t *a);

/**
 * Count one occurrence of @kind for @key at @now in every rule of that kind,
 * and call @fn for each rule that fires. Returns how many fired.
 */
size_t cf_alert_hit(cf_alert_t *a, cf_alert_kind_t kind, const char *key, cf_time_t now,
                    cf_alert_fire_fn fn, void *arg);

/** Keys held by rule @rule (for tests and stats). */
size_t cf_alert_keys(const cf_alert_t *a, size_t rule);

#endif
