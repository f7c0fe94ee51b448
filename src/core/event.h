/* SPDX-License-Identifier: MIT
 *
 * The event stream. Every state change of a session is one cf_event_t; the
 * shell hands each batch to every sink (the store persists it, the log writes
 * it; audit, metrics and the cluster bus join later) so no sink re-derives
 * what happened. An event owns copies of everything it names, so it can cross
 * threads and outlive the session it describes.
 */
#ifndef CF_CORE_EVENT_H
#define CF_CORE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/reason.h"
#include "core/session.h"

/* What the stream does with an event kind beyond the log and metrics. */
#define CF_EVF_DURABLE 1u /* the store writes it (and, in a cluster, publishes it) */
#define CF_EVF_AUDIT 2u   /* the audit log writes it */

/* X(ENUM, "wire and audit name", flags) */
#define CF_EVENT_MAP(X)                                                                         \
    X(SESSION_CREATED, "session_created", CF_EVF_DURABLE | CF_EVF_AUDIT) /* snapshot + first refresh token */ \
    X(TOKEN_REFRESHED, "token_refreshed", CF_EVF_DURABLE | CF_EVF_AUDIT) /* snapshot + new refresh token */   \
    X(SESSION_ENDED, "session_ended", CF_EVF_DURABLE | CF_EVF_AUDIT)     /* snapshot with end reason */       \
    X(ACTIVITY, "activity", CF_EVF_DURABLE)                   /* lazily persisted last activity */ \
    X(NOT_BEFORE, "not_before", CF_EVF_DURABLE | CF_EVF_AUDIT)           /* subject (or everyone) revoked */  \
    X(SESSION_PURGED, "session_purged", CF_EVF_DURABLE | CF_EVF_AUDIT)   /* ended session removed */          \
    X(ALERT_HOLD, "alert_hold", CF_EVF_DURABLE | CF_EVF_AUDIT)           /* sub's refreshes held until */     \
    X(CLOCK_STEP, "clock_step", CF_EVF_AUDIT)                 /* this node's wall clock jumped */

typedef enum {
#define X(name, str, flags) CF_EV_##name,
    CF_EVENT_MAP(X)
#undef X
        CF_EV__COUNT
} cf_event_type_t;

typedef struct {
    cf_event_type_t type;
    cf_time_t at;
    cf_session_t *session;       /* owned snapshot (CREATED, REFRESHED, ENDED, ACTIVITY) */
    int has_token;               /* a refresh token row to insert */
    uint8_t token_hash[32];
    uint32_t token_gen;
    char sid[CF_SID_LEN + 1];    /* PURGED */
    char *sub;                   /* NOT_BEFORE: owned; NULL means everyone */
    cf_time_t not_before;        /* NOT_BEFORE: Unix ms */
    cf_reason_t reason;          /* why (for ENDED: the refusal equivalent) */
    cf_time_t until;             /* ALERT_HOLD: Unix ms the hold ends (sub names the subject) */
    cf_time_t step;              /* CLOCK_STEP: ms the wall clock jumped, > 0 forward */
} cf_event_t;

typedef struct {
    cf_event_t *v;
    size_t n, cap;
} cf_events_t;

#define CF_EVENTS_INIT {NULL, 0, 0}

/** Stable name of an event type; never NULL. */
const char *cf_event_name(cf_event_type_t t);

/** CF_EVF_* flags of @t; 0 when out of range. */
unsigned cf_event_flags(cf_event_type_t t);

/**
 * Append an event of @type at @at with a snapshot of @s (may be NULL) and
 * return it for the caller to fill in further. Returns NULL when out of memory.
 */
cf_event_t *cf_events_add(cf_events_t *ev, cf_event_type_t type, cf_time_t at,
                          const cf_session_t *s);

/** Free every event's owned data and the array; leaves @ev empty and reusable. */
void cf_events_fini(cf_events_t *ev);

/** Copy of @s without the shell's bookkeeping; NULL when out of memory. */
cf_session_t *cf_session_snapshot(const cf_session_t *s);

#endif
