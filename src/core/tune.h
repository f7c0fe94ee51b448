/* SPDX-License-Identifier: MIT
 *
 * Timeouts from evidence: replay recorded sessions under candidate
 * lifetimes and measure what each would have cost (forced re-logins) and
 * bought (how long a copy of a session's tokens stays usable after its user
 * stopped). Fed one audit fact at a time by `curfew tune`, in log order; the
 * clock is the events' own times. Pure: no I/O, no clock; memory is bounded
 * by the sessions alive at one time (plus the timed-out ones still within
 * the re-login window), never by the length of the log.
 *
 * The model (docs/tuning.md):
 *  - Activity is continuous between the points the log names, except for the
 *    silences it records: a session's start, each `activity_gap` line (a
 *    request after a silence of at least tuning.activity_gap) and the
 *    `last_activity_at` of its end. Silences shorter than activity_gap are
 *    not visible, so candidates shorter than it are not measured.
 *  - A thread is a person's run of work: a session, continued by the next
 *    session of the same subject when the first ended by idle or absolute
 *    timeout and the next started within the re-login window.
 *  - Under a candidate, a silence at least as long as its idle timeout, or
 *    activity at or past its absolute deadline, is a forced re-login: the
 *    candidate's virtual session ends there and a new one starts (a fresh
 *    absolute deadline). The recorded sessions' own ends by timeout are thus
 *    reproduced exactly under the configured values.
 *  - Exposure, when a thread ends at its last real activity L: the time the
 *    candidate's session stays usable after L (until the idle end, the
 *    absolute end or the logout, whichever is first) plus the remaining life
 *    at L of the last access token issued: a token copy works through curfew
 *    until the session ends and, verified offline, until it expires.
 */
#ifndef CF_CORE_TUNE_H
#define CF_CORE_TUNE_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/reason.h"
#include "core/session.h"

#define CF_TUNE_MAX_CANDIDATES 256

/** Candidate lifetimes (ms); all three 0: each session's recorded limits (the baseline). */
typedef struct {
    cf_time_t idle, absolute, access_ttl;
} cf_tune_candidate_t;

/** How a candidate's virtual session ended. */
typedef enum {
    CF_TUNE_END_IDLE,
    CF_TUNE_END_ABSOLUTE,
    CF_TUNE_END_LOGOUT,
    CF_TUNE_END_OTHER, /* revoked, refresh reuse, risk */
    CF_TUNE_END__COUNT
} cf_tune_end_t;

/* Exposure histogram: bucket 0 under 1 s, then buckets 1 % wide. */
#define CF_TUNE_BUCKETS 2000

/** What one candidate would have done. */
typedef struct {
    uint64_t relogins[2];              /* forced re-logins: [0] after an idle end, [1] an absolute end */
    uint64_t ends[CF_TUNE_END__COUNT]; /* virtual sessions ended, by what */
    uint64_t exposed;                  /* threads whose exposure was measured */
    double exposure_ms;                /* their sum */
    cf_time_t exposure_max;
    uint32_t hist[CF_TUNE_BUCKETS + 1];
} cf_tune_result_t;

/** Facts about the input, the same for every candidate. */
typedef struct {
    uint64_t sessions; /* sessions started */
    uint64_t chained;  /* of which continued a timed-out session of the same subject */
    uint64_t open;     /* threads still live (or within the re-login window) when the input ended: no exposure */
    uint64_t orphans;  /* facts about a session whose start was not seen (log began later, or filtered out) */
    uint64_t dropped;  /* facts ignored as inconsistent: a duplicate start, a silence ending before it began */
    double active_ms;  /* user activity: first to last activity of each session minus its recorded silences */
} cf_tune_totals_t;

typedef struct cf_tune cf_tune_t;

/**
 * A replay of @n candidates (copied; 1..CF_TUNE_MAX_CANDIDATES) with
 * re-login window @window (ms, >= 0). NULL when out of memory or @n is out
 * of range. Free with cf_tune_free().
 */
cf_tune_t *cf_tune_new(const cf_tune_candidate_t *c, size_t n, cf_time_t window);

void cf_tune_free(cf_tune_t *t);

/**
 * Session @sid of @sub started at @created with @recorded limits (its
 * session_created line). 0, or CF_ENOMEM (the replay is then incomplete).
 */
int cf_tune_start(cf_tune_t *t, const char *sid, const char *sub, cf_time_t created,
                  const cf_limits_t *recorded);

/** An access token was issued to @sid at @at (creation or refresh). */
void cf_tune_token(cf_tune_t *t, const char *sid, cf_time_t at);

/** @sid was used at @at after a silence since @from. */
void cf_tune_gap(cf_tune_t *t, const char *sid, cf_time_t from, cf_time_t at);

/** @sid ended by @why at @at; its last activity was @last. 0 or CF_ENOMEM. */
int cf_tune_end(cf_tune_t *t, const char *sid, cf_end_t why, cf_time_t at, cf_time_t last);

/**
 * The input ended: threads waiting for a re-login end without one (their
 * exposure is measured); sessions still live are counted open, unmeasured.
 */
void cf_tune_finish(cf_tune_t *t);

/** Result of candidate @i (in the order given); NULL when out of range. */
const cf_tune_result_t *cf_tune_result(const cf_tune_t *t, size_t i);

const cf_tune_totals_t *cf_tune_totals(const cf_tune_t *t);

/** The @q quantile (0..1) of @r's exposures, ms (1 % resolution; exact max); 0 when none. */
cf_time_t cf_tune_exposure_quantile(const cf_tune_result_t *r, double q);

#endif
