/* SPDX-License-Identifier: MIT
 *
 * The event stream. Every state change and every refusal is one cf_event_t;
 * the shell hands each batch to every sink (the store persists and the bus
 * publishes what the flags say; the log, metrics, the audit log and the alert
 * rules see every event) so no sink re-derives what happened and no handler
 * counts beside the stream. A durable event owns copies of everything it
 * names, so it can cross threads and outlive the session it describes; a
 * non-durable one lives on its emitter's stack for the sinks' call.
 */
#ifndef CF_CORE_EVENT_H
#define CF_CORE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/apikey.h"
#include "core/clock.h"
#include "core/reason.h"
#include "core/session.h"

/* What the stream does with an event kind beyond the log and metrics. */
#define CF_EVF_DURABLE 1u /* the store writes it */
#define CF_EVF_PUBLISH 2u /* in a cluster, the bus carries it to every other node */
#define CF_EVF_AUDIT 4u   /* the audit log writes it */

#define CF_EVF_SHARED (CF_EVF_DURABLE | CF_EVF_PUBLISH)

/*
 * X(ENUM, "wire and audit name", flags). Durable kinds change state: they
 * reach the sinks only once the store has acknowledged them (cf_app_commit).
 * The others (flags without DURABLE) are facts of one node: refusals, check
 * results, limits hit, a rule firing. They are built on the stack and handed
 * straight to the sinks (cf_app_emit), so the hot path allocates nothing.
 */
#define CF_EVENT_MAP(X)                                                                         \
    X(SESSION_CREATED, "session_created", CF_EVF_SHARED | CF_EVF_AUDIT) /* snapshot + first refresh token */ \
    X(TOKEN_REFRESHED, "token_refreshed", CF_EVF_SHARED | CF_EVF_AUDIT) /* snapshot + new refresh token */   \
    X(SESSION_ENDED, "session_ended", CF_EVF_SHARED | CF_EVF_AUDIT)     /* snapshot with end reason, scope */ \
    X(ACTIVITY, "activity", CF_EVF_SHARED)                   /* lazily persisted last activity */ \
    X(NOT_BEFORE, "not_before", CF_EVF_SHARED | CF_EVF_AUDIT)           /* subject (or everyone) revoked */  \
    X(SESSION_PURGED, "session_purged", CF_EVF_DURABLE | CF_EVF_AUDIT) /* ended session removed (local) */ \
    X(ALERT_HOLD, "alert_hold", CF_EVF_SHARED | CF_EVF_AUDIT)           /* sub's refreshes held until */     \
    X(CLOCK_STEP, "clock_step", CF_EVF_AUDIT)                 /* this node's wall clock jumped */  \
    X(REVOCATION, "revocation", 0)           /* a revocation by subject, client or all: scope */  \
    X(CHECK, "check", 0)                     /* a /v1/check answered: result, reason, ns */      \
    X(REFRESH, "refresh", 0)                 /* a refresh grant answered: result */              \
    X(RATE_LIMITED, "rate_limited", 0)       /* a request refused by a rate limit: result=class */ \
    X(LOCKED_OUT, "locked_out", CF_EVF_AUDIT) /* an address locked out: ip, span */             \
    X(RISK_CHANGED, "risk_changed", CF_EVF_AUDIT) /* a bound session seen from elsewhere */     \
    X(KEY_ROTATED, "key_rotated", CF_EVF_AUDIT)   /* a new signing key made active here */      \
    X(ALERT_FIRED, "alert_fired", CF_EVF_AUDIT)   /* an alert rule crossed its threshold */      \
    X(APIKEY_CREATED, "apikey_created", CF_EVF_SHARED | CF_EVF_AUDIT) /* snapshot (hash only) */  \
    X(APIKEY_ROTATED, "apikey_rotated", CF_EVF_SHARED | CF_EVF_AUDIT) /* old key with overlap end */ \
    X(APIKEY_ENDED, "apikey_ended", CF_EVF_SHARED | CF_EVF_AUDIT)     /* snapshot with end, scope */ \
    X(APIKEY_USED, "apikey_used", CF_EVF_SHARED)                      /* lazily persisted use, quota */ \
    X(APIKEY_EXPIRING, "apikey_expiring", CF_EVF_SHARED | CF_EVF_AUDIT) /* warned ahead of expiry */ \
    X(ACTIVITY_GAP, "activity_gap", CF_EVF_AUDIT) /* used again after >= tuning.activity_gap: span */ \
    X(CONNECTION_CUT, "connection_cut", CF_EVF_AUDIT) /* the proxy cut a tunnel: reason, bytes, age */

typedef enum {
#define X(name, str, flags) CF_EV_##name,
    CF_EVENT_MAP(X)
#undef X
        CF_EV__COUNT
} cf_event_type_t;

/* What a revocation covered (the event's scope; curfew_revocations_total{scope}). */
#define CF_REVOKE_SCOPE_MAP(X) \
    X(NONE, "none")            \
    X(SESSION, "session")      \
    X(SUBJECT, "subject")      \
    X(CLIENT, "client")        \
    X(ALL, "all")              \
    X(LOGOUT, "logout")

typedef enum {
#define X(name, str) CF_REVOKE_##name,
    CF_REVOKE_SCOPE_MAP(X)
#undef X
        CF_REVOKE__COUNT
} cf_revoke_scope_t;

/* How a refresh-token request ended (a REFRESH event's result; curfew_refresh_total{result}). */
#define CF_REFRESH_RESULT_MAP(X)                                                       \
    X(ROTATED, "rotated")                 /* a new generation was issued */            \
    X(GRACE, "grace")                     /* a just-rotated token, within reuse_grace */ \
    X(REUSE, "reuse")                     /* an old generation: the session was ended */ \
    X(DENIED, "denied")                   /* the session had already ended */          \
    X(UNKNOWN, "unknown")                 /* no such refresh token */                  \
    X(CLIENT_MISMATCH, "client_mismatch") /* issued to another client */               \
    X(INVALID_CLIENT, "invalid_client")   /* a confidential client did not authenticate */ \
    X(RISK, "risk")                       /* address or device changed */              \
    X(RATE_LIMITED, "rate_limited")                                                    \
    X(INVALID_REQUEST, "invalid_request") /* no token, or a grant the client may not use */ \
    X(DISABLED, "disabled")               /* an alert's disable_refresh holds the subject */ \
    X(ERROR, "error")                     /* could not issue tokens */                 \
    X(SENDER, "sender")                   /* no, a refused or another key's DPoP proof */

typedef enum {
#define X(name, str) CF_REFRESH_RESULT_##name,
    CF_REFRESH_RESULT_MAP(X)
#undef X
        CF_REFRESH_RESULT__COUNT
} cf_refresh_result_t;

/* A CHECK event's result: the reason says why a denial was refused. */
typedef enum { CF_CHECK_ALLOW, CF_CHECK_DENY, CF_CHECK_ERROR } cf_check_result_t;

typedef struct {
    cf_event_type_t type;
    cf_time_t at;
    cf_session_t *session;       /* owned snapshot (CREATED, REFRESHED, ENDED, ACTIVITY); borrowed in
                                  * RISK_CHANGED, ACTIVITY_GAP and CHECK */
    int has_token;               /* a refresh token row to insert */
    uint8_t token_hash[32];
    uint32_t token_gen;
    char sid[CF_SID_LEN + 1];    /* PURGED; ALERT_FIRED when the rule knows it */
    char *sub;                   /* NOT_BEFORE: owned; NULL means everyone. ALERT_FIRED: borrowed */
    cf_time_t not_before;        /* NOT_BEFORE: Unix ms */
    cf_reason_t reason;          /* why (for ENDED: the refusal equivalent; CHECK: the refusal) */
    cf_time_t until;             /* ALERT_HOLD: Unix ms the hold ends (sub names the subject) */
    cf_time_t step;              /* CLOCK_STEP: ms the wall clock jumped, > 0 forward */
    cf_revoke_scope_t scope;     /* ENDED, NOT_BEFORE, REVOCATION: what the revocation covered */
    int result;                  /* CHECK: cf_check_result_t; REFRESH: cf_refresh_result_t;
                                  * RATE_LIMITED: the endpoint class; RISK_CHANGED: 1 = ends the session */
    int remote;                  /* applied from another node's bus message: per-node sinks skip it */
    uint64_t ns;                 /* CHECK: time spent in the handler, nanoseconds */
    cf_time_t span;              /* LOCKED_OUT: how long (ms); ALERT_FIRED: the rule's window (ms);
                                  * ACTIVITY_GAP: the silence (ms) before this use at `at`;
                                  * CONNECTION_CUT: the connection's age (ms) */
    cf_time_t gap;               /* CHECK (allowed, a person's), TOKEN_REFRESHED: ms since the
                                  * session's previous activity (the idle-gap histogram) */
    uint64_t count;              /* ALERT_FIRED: events counted; KEY_ROTATED: the key set's version;
                                  * CHECK refused: index of the route rule + 1 (0: none) */
    uint64_t bytes_up, bytes_down; /* CONNECTION_CUT: bytes client -> upstream, upstream -> client */
    char ip[46];                 /* LOCKED_OUT: the address; ALERT_FIRED: when counted per address;
                                  * CHECK refused: the client's */
    /* Borrowed for the sinks' call (only in events handed to cf_app_emit, never freed): */
    const char *name;            /* ALERT_FIRED: rule kind; KEY_ROTATED: new kid; RISK_CHANGED: action */
    const char *key;             /* ALERT_FIRED: what the rule counted per; KEY_ROTATED: previous kid */
    const char *detail;          /* ALERT_FIRED: its action; KEY_ROTATED: what triggered it */
    cf_apikey_t *apikey;         /* APIKEY_*: owned snapshot (never the secret, only its hash) */
} cf_event_t;

typedef struct {
    cf_event_t *v;
    size_t n, cap;
} cf_events_t;

#define CF_EVENTS_INIT {NULL, 0, 0}

/** Stable name of an event type; never NULL. */
const char *cf_event_name(cf_event_type_t t);

/** Stable names of a revocation scope and a refresh result; never NULL. */
const char *cf_revoke_scope_name(cf_revoke_scope_t s);
const char *cf_refresh_result_name(cf_refresh_result_t r);

/** CF_EVF_* flags of @t; 0 when out of range. */
unsigned cf_event_flags(cf_event_type_t t);

/**
 * Append an event of @type at @at with a snapshot of @s (may be NULL) and
 * return it for the caller to fill in further. Returns NULL when out of memory.
 */
cf_event_t *cf_events_add(cf_events_t *ev, cf_event_type_t type, cf_time_t at,
                          const cf_session_t *s);

/**
 * Append an event of @type at @at with a snapshot of API key @k and return
 * it; NULL when out of memory (nothing appended).
 */
cf_event_t *cf_events_add_apikey(cf_events_t *ev, cf_event_type_t type, cf_time_t at,
                                 const cf_apikey_t *k);

/** Free every event's owned data and the array; leaves @ev empty and reusable. */
void cf_events_fini(cf_events_t *ev);

/** Copy of @s without the shell's bookkeeping; NULL when out of memory. */
cf_session_t *cf_session_snapshot(const cf_session_t *s);

#endif
