/* SPDX-License-Identifier: MIT
 *
 * The curfew application: the shell that owns the in-memory session index,
 * the signing keys, the store and the HTTP server, and wires HTTP requests to
 * the pure decisions in src/core. Everything here runs on one libuv loop
 * thread; the only other thread is the store's writer.
 */
#ifndef CF_API_APP_H
#define CF_API_APP_H

#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/clockstep.h"
#include "core/jws.h"
#include "core/keyset.h"
#include "core/netaddr.h"
#include "core/ratelimit.h"
#include "core/reason.h"
#include "core/session.h"
#include "core/alert.h"
#include "obs/audit.h"
#include "obs/webhook.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "util/map.h"

typedef struct cf_http_server cf_http_server_t;
typedef struct cf_limiter cf_limiter_t;
typedef struct cf_lockout cf_lockout_t;
typedef struct cf_app cf_app_t;

/**
 * Called after a rotation made on this node (admin API, CLI, keys.rotate_every)
 * is durable in DATA_DIR/keyset.json, with the new key set as
 * cf_app_keyset_export() writes it (@json, NUL-terminated, borrowed for the
 * call; encrypted when a KEK is configured). Loop thread. See
 * cf_app_keyset_set_hook().
 */
typedef void (*cf_app_keyset_hook_fn)(cf_app_t *app, const char *json, void *arg);

typedef enum {
    CF_RATE_REFRESH,
    CF_RATE_SESSION_CREATE,
    CF_RATE_CHECK_FAILURES,
    CF_RATE_CLIENT_CREDENTIALS,
    CF_RATE__COUNT
} cf_rate_class_t;

/* One endpoint class's limit: its config, arithmetic and bounded key table. */
typedef struct {
    const cf_rate_cfg_t *cfg;
    cf_gcra_t gcra;
    cf_limiter_t *limiter; /* NULL when the class is unlimited */
} cf_rate_state_t;

/* How a refresh-token request ended (curfew_refresh_total{result}). */
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
    X(ERROR, "error")                     /* could not issue tokens */

typedef enum {
#define X(name, str) CF_REFRESH_RESULT_##name,
    CF_REFRESH_RESULT_MAP(X)
#undef X
        CF_REFRESH_RESULT__COUNT
} cf_refresh_result_t;

/* What a revocation covered (curfew_revocations_total{scope}). */
#define CF_REVOKE_SCOPE_MAP(X) \
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

/* Which handler is committing, for facts the events do not carry (revocation scope). */
typedef enum { CF_ORIGIN_OTHER, CF_ORIGIN_REVOCATIONS } cf_origin_t;

/*
 * The application's metrics. Plain counters: every one is written and read
 * on the loop thread (the store writer's come from cf_store_stats). Most are
 * counted in the metrics sink of cf_app_commit from the event stream; only
 * what the handler alone knows (check results and latency, refresh outcomes
 * that change no state) is counted where it happens.
 */
typedef struct {
    uint64_t sessions_created;
    uint64_t sessions_ended[CF_END__COUNT];
    cf_histogram_t session_age[CF_END__COUNT]; /* seconds from creation to end */
    uint64_t tokens_access, tokens_refresh;
    uint64_t refresh[CF_REFRESH_RESULT__COUNT];
    uint64_t reuse_detected;
    uint64_t revocations[CF_REVOKE__COUNT];
    uint64_t checks[CF_REASON__COUNT]; /* CF_REASON_NONE: allowed */
    uint64_t checks_error;             /* internal errors (500) */
    cf_histogram_t check_duration;     /* seconds */
    uint64_t clock_steps[2];           /* CLOCK_STEP events: [0] forward, [1] backward */
    cf_origin_t origin;                /* set by the router around a handler */
} cf_app_metrics_t;

/* A verified client secret, so PBKDF2 runs once per client, not per request. */
typedef struct {
    char client_id[128];
    uint8_t secret_digest[32]; /* SHA-256 of the secret that verified */
} cf_secret_cache_t;

/** Wall clock in Unix milliseconds; replaceable so tests and tools can drive time. */
typedef cf_time_t (*cf_clock_fn)(void *ctx);

/* One refresh token known to the index (only its hash). */
typedef struct {
    uint8_t hash[32];
    uint32_t gen;
    cf_session_t *session; /* owner */
} cf_refresh_entry_t;

/* A verified access token: signature, issuer and audience already checked. */
typedef struct {
    char *token; /* owned copy, compared in full on lookup */
    size_t len;
    char sid[CF_SID_LEN + 1];
    int64_t exp, iat, nbf;
} cf_token_cache_entry_t;

#define CF_TOKEN_CACHE_SIZE 65536 /* direct-mapped; a collision just evicts */

typedef struct cf_app {
    cf_config_t cfg;
    uv_loop_t *loop;
    cf_clock_fn clock;
    void *clock_ctx;
    cf_clock_fn mono;     /* monotonic ms (arbitrary origin): limits, lockout, step detection */
    cf_clockstep_t clockstep; /* api/clock.c: wall-clock steps seen by this node */
    uv_timer_t clock_timer;

    /* Signing keys (api/keys.c): the active key signs, the others only verify. */
    cf_keyset_t *keys;
    uint8_t kek[CF_KEK_LEN]; /* key-encryption key for keyset.json, when has_kek */
    int has_kek;
    uv_timer_t keys_timer;   /* retirement and keys.rotate_every */
    int keys_timer_on;
    uint64_t key_rotations;
    cf_app_keyset_hook_fn keyset_hook;
    void *keyset_hook_arg;
    uint8_t admin_key_hash[32];

    cf_store_t *store;
    struct cf_cluster *cluster; /* NULL on a single node (api/cluster.h) */
    cf_http_server_t *http;
    uv_timer_t flush_timer;
    uv_timer_t purge_timer;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup;  /* reopens the audit log */
    cf_audit_t *audit;   /* NULL when audit.path is empty */

    /* Alerts (api/alerts.c): rules, the webhook, and what firing rules asked for. */
    cf_alert_t *alerts;       /* NULL when alerts.rules is empty */
    cf_webhook_t *webhook;    /* NULL when alerts.webhook is empty */
    cf_map_t refresh_off;     /* sub -> cf_time_t* until: disable_refresh */
    struct cf_alert_action *actions; /* queued automatic actions, run after the commit */
    size_t nactions, actions_cap;
    int alerts_busy;          /* running actions: their events do not recurse */
    uint64_t alerts_fired;

    cf_map_t sessions;   /* sid -> cf_session_t*, owns the sessions */
    cf_map_t refresh;    /* token hash -> cf_refresh_entry_t*, owns the entries */
    cf_map_t not_before; /* sub -> cf_not_before_t*, owns them */
    cf_map_t subjects;   /* sub -> cf_subject_t*: each subject's sessions, owns the heads */
    cf_time_t global_not_before;
    cf_session_t *dirty;  /* sessions with unpersisted activity */
    uint64_t seed;

    cf_token_cache_entry_t *token_cache; /* CF_TOKEN_CACHE_SIZE entries */

    cf_cidr_t *trusted; /* trusted proxies */
    size_t ntrusted;
    cf_rate_state_t rate[CF_RATE__COUNT];
    cf_lockout_t *lockout;           /* NULL when lockout is off */
    cf_secret_cache_t *secret_cache; /* one per configured client, same order */

    /* Counters for the log and /metrics. */
    uint64_t rate_limited[CF_RATE__COUNT];
    uint64_t purged;
    cf_app_metrics_t metrics;
    int started; /* timers and signal handlers initialised */
    int stopping;
} cf_app_t;

typedef struct {
    cf_time_t at;
    char sub[]; /* key, owned with the struct */
} cf_not_before_t;

/* The sessions of one subject, so revoking or listing a subject does not scan everyone. */
typedef struct {
    cf_session_t *head; /* linked through sub_next / sub_prev */
    size_t count;
    char sub[]; /* key, owned with the struct */
} cf_subject_t;

/**
 * Build the application from @cfg (copied): create the data dir, load or
 * create the signing keys and admin key, open the store and load it. Logs the
 * reason and returns a negative CF_E* on failure.
 */
int cf_app_init(cf_app_t *app, const cf_config_t *cfg, uv_loop_t *loop);

/** Start listening and the timers. Returns 0 or CF_EIO. */
int cf_app_start(cf_app_t *app);

/** Stop serving, flush activity, close the store. Then run the loop to let handles close. */
void cf_app_stop(cf_app_t *app);

/** Free everything; call after the loop has finished closing handles. */
void cf_app_fini(cf_app_t *app);

/** The bound HTTP port (useful with port 0). */
int cf_app_port(const cf_app_t *app);

/*
 * Sharing the signing key set between nodes. The cluster layer (not in this
 * file) publishes what the hook hands it and feeds what other nodes publish
 * to cf_app_keyset_adopt(). The document is core/keyset.h's: it carries a
 * "version" that grows by one with every rotation, and a node only ever
 * moves to a higher version. Two nodes rotating at once would both make
 * version N+1; the shared store must decide which one wins (compare-and-set
 * on the version), and the loser adopts the winner's set when it arrives
 * (cf_app_keyset_adopt() logs event=keyset_conflict for the equal version it
 * refuses). Retirement is not a version change: every node retires keys by
 * the same clock rule on its own timer. All of these run on the loop thread.
 */

/**
 * Serialise the key set in use into a new NUL-terminated string *@json that
 * the caller frees (OPENSSL_cleanse() it first when no KEK is configured: it
 * then holds private keys in clear). Encrypted with the KEK (CURFEW_KEK or
 * keys.kek_file) when one is configured. Returns 0; CF_ENOMEM; CF_ECRYPTO.
 */
int cf_app_keyset_export(cf_app_t *app, char **json);

/**
 * Replace the key set with the document @json (@len bytes, e.g. from another
 * node) if its "version" is higher than the one in use. The document is
 * decrypted with this node's KEK, keys already due retire, and the result is
 * made durable in DATA_DIR/keyset.json before it is used; the verification
 * cache is emptied if a key left the set. Returns 1 when adopted, 0 when
 * ignored (not newer), or a negative CF_E* (logged) when the document does not
 * parse or decrypt (CF_EPARSE, CF_ECONFIG, CF_ECRYPTO, ...) or cannot be
 * written (CF_EIO); the set in use is then unchanged. Does not call the hook.
 */
int cf_app_keyset_adopt(cf_app_t *app, const char *json, size_t len);

/**
 * Install @fn (NULL to remove) to be called with @arg after every local
 * rotation is durable (see cf_app_keyset_hook_fn). One hook; a second call
 * replaces the first. Not called for adopted sets or retirements.
 */
void cf_app_keyset_set_hook(cf_app_t *app, cf_app_keyset_hook_fn fn, void *arg);

#endif
