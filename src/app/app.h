/* SPDX-License-Identifier: MIT
 *
 * The curfew application: the shell that owns the in-memory session index,
 * the signing keys, the store and the HTTP server, and wires HTTP requests to
 * the pure decisions in src/core, all on one libuv loop thread. Other threads
 * (store writer, signer, DPoP verifiers) touch none of the application's state.
 */
#ifndef CF_APP_APP_H
#define CF_APP_APP_H

#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/clockstep.h"
#include "core/jws.h"
#include "core/keyset.h"
#include "core/netaddr.h"
#include "core/ratelimit.h"
#include "core/event.h"
#include "core/token.h"
#include "core/tokcache.h"
#include "core/policy.h"
#include "core/reason.h"
#include "core/session.h"
#include "core/index.h"
#include "core/alert.h"
#include "app/verify.h" /* the DPoP verifier pool */
#include "core/access.h"
#include "core/apikey.h"
#include "core/refresh.h"
#include "core/risk.h"
#include "obs/audit.h"
#include "obs/webhook.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "util/map.h"

typedef struct cf_http_server cf_http_server_t;
typedef struct cf_http_req cf_http_req_t;
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

/*
 * The application's metrics. Plain counters: every one is written and read
 * on the loop thread (the store writer's come from cf_store_stats). Every one
 * is counted by the metrics sink (metrics.c) from the event stream, and only
 * there: no handler increments a counter.
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
    uint64_t rate_limited[CF_RATE__COUNT];
    uint64_t purged;                   /* SESSION_PURGED events */
    uint64_t key_rotations;            /* KEY_ROTATED events */
    uint64_t remote[CF_EV__COUNT];     /* events applied from other nodes' bus messages */
    /* Timeouts, measured (docs/tuning.md), by client: slot i < nclients is the
     * configured client i, slot nclients every other client (bounded labels). */
    struct cf_app_timeouts *timeouts;  /* nclients + 1 slots; NULL when out of memory */
    const cf_policy_t *clients;        /* app->cfg.policy: the slots' names */
    double idle_gap_bounds[CF_HISTOGRAM_MAX_BUCKETS]; /* fixed ones plus the configured timeouts */
    uint64_t relogin_evicted;          /* pending timeouts forgotten by tuning.relogin_subjects */
    struct cf_relogin *relogin;        /* the tracker (core/relogin.h); without-return counts per slot */
    uint64_t proxy_cuts[CF_REASON__COUNT]; /* CONNECTION_CUT events, by reason */
} cf_app_metrics_t;

/* One client's timeout measures: [0] idle_timeout, [1] absolute_timeout. */
typedef struct cf_app_timeouts {
    cf_histogram_t idle_gap;       /* seconds since the session's previous activity */
    uint64_t relogins[2];          /* forced re-logins, by the timed-out session's client */
    cf_histogram_t relogin_gap[2]; /* seconds from the timeout to the new session */
} cf_app_timeouts_t;

/* A verified client secret, so PBKDF2 runs once per client, not per request. */
typedef struct {
    char client_id[128];
    uint8_t secret_digest[32]; /* SHA-256 of the secret that verified */
} cf_secret_cache_t;

/** Wall clock in Unix milliseconds; replaceable so tests and tools can drive time. */
typedef cf_time_t (*cf_clock_fn)(void *ctx);

/*
 * A module the commit point and the lifecycle call through pointers it set
 * itself (API keys, app/apikeys.c), so app.c and commit.c do not depend on it.
 */
typedef struct cf_app_ext {
    void (*apply)(cf_app_t *app, const cf_event_t *e); /* an acknowledged event it owns */
    void (*stop)(cf_app_t *app);                       /* before the store closes */
    void (*fini)(cf_app_t *app);
    int (*reload)(cf_app_t *app);                      /* a cluster resync: read the store again */
} cf_app_ext_t;

typedef struct cf_app {
    cf_config_t cfg;
    uv_loop_t *loop;
    cf_clock_fn clock;
    void *clock_ctx;
    cf_clock_fn mono;     /* monotonic ms (arbitrary origin): limits, lockout, step detection */
    cf_clockstep_t clockstep; /* api/clock.c: wall-clock steps seen by this node */
    uv_timer_t clock_timer;
    int clock_held, clock_held_valid; /* cf_app_clock_hold depth; clock_held_at was read */
    cf_time_t clock_held_at;

    /* Signing keys (api/keys.c): the active key signs, the others only verify. */
    cf_keyset_t *keys;
    uint8_t kek[CF_KEK_LEN]; /* key-encryption key for keyset.json, when has_kek */
    int has_kek;
    uv_timer_t keys_timer;   /* retirement and keys.rotate_every */
    int keys_timer_on;
    cf_app_keyset_hook_fn keyset_hook;
    void *keyset_hook_arg;
    uint8_t admin_key_hash[32];

    cf_store_t *store;
    struct cf_cluster *cluster; /* NULL on a single node (api/cluster.h) */
    cf_http_server_t *http;
    uv_timer_t flush_timer;
    uv_timer_t purge_timer;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup;  /* reopens the audit log and reloads the config (reload.c) */
    struct cf_reload *reload; /* NULL: no reloads (reload.c) */
    cf_audit_t *audit;   /* NULL when audit.path is empty */

    /* Alerts (api/alerts.c): rules, the webhook, and what firing rules asked for. */
    cf_alert_t *alerts;       /* NULL when alerts.rules is empty */
    cf_webhook_t *webhook;    /* NULL when alerts.webhook is empty */
    cf_map_t refresh_off;     /* sub -> cf_time_t* until: disable_refresh */
    struct cf_alert_action *actions; /* queued automatic actions, run after the commit */
    size_t nactions, actions_cap;
    int alerts_busy;          /* running actions: their events do not recurse */

    cf_index_t *index;   /* sessions, refresh tokens, subjects, clients, epochs (core/index.h) */
    cf_time_t global_not_before;
    cf_time_t index_now;  /* while loading: the instant sessions are filed at (else 0) */
    cf_session_t **dirty; size_t ndirty, dirty_cap; /* sessions with unpersisted activity */
    uint64_t seed;

    cf_tokcache_t token_cache; /* verified access tokens (core/tokcache.h) */
    struct cf_signer *signer;  /* the thread that signs refreshes' access tokens (sign.c) */
    struct cf_dpop_cache *dpop_jtis; /* DPoP proof jtis seen (core/dpop.h): replays refused */
    struct cf_dpop_keys *dpop_keys;  /* DPoP proof keys imported, reused (core/dpop.h) */
    uint8_t dpop_nonce_key[32];      /* dpop.nonce: fallback MAC key (api/dpop.c nonce_of) */
    struct cf_verify_pool *verify;   /* verify_threads workers (verify.c); NULL: verify inline */

    cf_cidr_t *trusted; /* trusted proxies */
    size_t ntrusted;
    struct x509_store_st *client_ca; /* forwarded certificates' CAs; loaded when first needed */
    char client_ca_path[512];        /* the file it was loaded from */
    cf_rate_state_t rate[CF_RATE__COUNT];
    cf_lockout_t *lockout;           /* NULL when lockout is off */
    cf_secret_cache_t *secret_cache; /* one per configured client, same order */

    struct cf_apikeys *apikeys;      /* API keys (app/apikeys.c); NULL until cf_app_apikeys_init */
    const cf_app_ext_t *apikeys_ext;

    cf_app_metrics_t metrics; /* written only by the metrics sink (metrics.c) */
    /* One more sink (the enforcing proxy, src/proxy): every batch cf_app_sinks sees. */
    void (*tap)(void *arg, const cf_events_t *ev);
    void *tap_arg;
    struct {
        cf_time_t window;  /* monotonic second the count is for */
        uint32_t lines;    /* written in that second */
        uint64_t dropped;  /* not written since the last log_dropped line */
        uint64_t dropped_total; /* every one dropped since start: curfew_log_dropped_total */
    } refusal_log;
    int started; /* timers and signal handlers initialised */
    int stopping;
} cf_app_t;

/**
 * Build the application from @cfg (copied): create the data dir, load or
 * create the signing keys and admin key, open the store and load it. Logs the
 * reason and returns a negative CF_E* on failure.
 */
int cf_app_init(cf_app_t *app, const cf_config_t *cfg, uv_loop_t *loop);

/**
 * Start listening, with @handler (the route table, api/routes.c) answering
 * every request, and the timers. Returns 0 or CF_EIO.
 */
int cf_app_start(cf_app_t *app, void (*handler)(void *app, cf_http_req_t *req));

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

/* ==== operations the handlers (src/api) call ==== */

/* ---- alerts (alerts.c) ------------------------------------------------- */

/** Build the rules and the webhook from the config. Returns 0 or a negative CF_E* (logged). */
int cf_app_alerts_init(cf_app_t *app);
/** Stop the webhook and free the rules; safe on a half-initialised app. */
void cf_app_alerts_fini(cf_app_t *app);
/** The sink: count every event of @ev against the rules (loop thread). */
void cf_app_alerts_events(cf_app_t *app, const cf_events_t *ev);
/**
 * A refused /v1/check from @ip ("" unknown) for @sub (NULL unknown). Call
 * cf_app_alerts_act() after it: a rule it fires may have queued an action.
 */
void cf_app_alerts_check_failed(cf_app_t *app, const char *ip, const char *sub, cf_time_t now);

/** One automatic action decided: the events to commit and the callback of that commit. */
typedef struct {
    cf_events_t ev;       /* may be empty: nothing to commit */
    cf_store_done_fn done; /* may be NULL */
    void *arg;
} cf_alert_step_t;

/**
 * Take the oldest action firing rules queued off the queue and decide what it
 * means into @step (cf_app_alerts_act commits it). Returns 1, or 0 when the
 * queue is empty.
 */
int cf_app_alerts_next(cf_app_t *app, cf_alert_step_t *step);
/** 1 when disable_refresh holds @sub's refreshes at @now. */
int cf_app_refresh_disabled(cf_app_t *app, const char *sub, cf_time_t now);
/**
 * Hold @sub's refreshes until @until (Unix ms) on this node: an ALERT_HOLD
 * that the store has acknowledged, loaded, or heard on the bus. A hold only
 * lengthens. Returns 0 or CF_ENOMEM (logged).
 */
int cf_app_alert_hold(cf_app_t *app, const char *sub, cf_time_t until);

/* ---- clock steps (clock.c) ------------------------------------------------ */

/** Set up the monotonic clock and the step watch (from cfg); call before any cf_app_now(). */
void cf_app_clock_init(cf_app_t *app);
/** Monotonic milliseconds: the clock of rate limits, lockout and step detection. */
cf_time_t cf_app_mono(cf_app_t *app);
/**
 * Compare @wall (just read) with the monotonic clock; on a step, log one
 * line and hand a CLOCK_STEP event to the non-store sinks (metrics, audit).
 */
void cf_app_clock_observe(cf_app_t *app, cf_time_t wall);
/** Until the release, cf_app_now() returns one fresh reading: one piece of work, one instant, one read. */
void cf_app_clock_hold(cf_app_t *app);
/** End the innermost cf_app_clock_hold(). */
void cf_app_clock_release(cf_app_t *app);
/** 1 while a forward wall-clock step is unconfirmed: deadlines end nothing durably. */
int cf_app_clock_unconfirmed(cf_app_t *app);
/** Extra ms a token's iat/nbf may lie ahead of now after a backward step. */
cf_time_t cf_app_clock_slack(cf_app_t *app);
/** Start (and stop) the timer that looks for steps while no request reads the clock. */
void cf_app_clock_start(cf_app_t *app);
void cf_app_clock_stop(cf_app_t *app);

/* ---- signing keys (keys.c) ----------------------------------------------- */

/**
 * Load the KEK (CURFEW_KEK, else keys.kek_file) and DATA_DIR/keyset.json;
 * migrate DATA_DIR/signing-key.pem into a new key set (same kid) or create a
 * first key when there is neither. Logs one startup_error line and returns a
 * negative CF_E* on failure.
 */
int cf_app_keys_init(cf_app_t *app);
/** Start the retirement / rotate_every timer (after the loop is running). */
void cf_app_keys_start(cf_app_t *app);
/** Close the timer (if started). */
void cf_app_keys_stop(cf_app_t *app);
/** Free the key set and wipe the KEK; safe on a half-initialised app. */
void cf_app_keys_fini(cf_app_t *app);
/** How long a deactivated key keeps verifying (keys.retire_after, at least a token lifetime). */
cf_time_t cf_app_keys_keep_for(const cf_app_t *app);

/** The key that signs new tokens. */
const cf_jws_key_t *cf_app_signing_key(const cf_app_t *app);
/**
 * Make a new key active; the old one keeps verifying. Durable before it takes
 * effect; then the keyset hook runs. @trigger names the cause in the log
 * ("api", "schedule"). Returns 0 or a negative CF_E* (logged; nothing changed).
 */
int cf_app_keys_rotate(cf_app_t *app, const char *trigger);

typedef void (*cf_keys_done_fn)(cf_app_t *app, int rc, void *arg);

/**
 * Rotate, and on a cluster first make Redis accept the new set (one rotation
 * wins when nodes race; the losers get CF_EEXIST and follow the winner). @done
 * (may be NULL) gets 0 or a negative CF_E*, possibly before this returns.
 */
void cf_app_keys_rotate_async(cf_app_t *app, const char *trigger, cf_keys_done_fn done, void *arg);

/** Cluster start-up: share this node's key set through Redis, or adopt the cluster's. */
int cf_app_keys_cluster_init(cf_app_t *app);

/* ---- session operations (sessions.c; cf_app_now in clock.c, loading in load.c) ---- */

/** The wall clock (Unix ms); every read also looks for a clock step (clock.c). */
cf_time_t cf_app_now(cf_app_t *app);

cf_session_t *cf_app_session(cf_app_t *app, const char *sid, size_t len);

/**
 * A fresh session id: 144 random bits in base64url, unknown to the index, and
 * never starting with '-', so it can be given to a command line as is.
 */
void cf_app_new_sid(cf_app_t *app, char sid[CF_SID_LEN + 1]);

/*
 * The index (app.c over core/index.c). cf_app_index_session takes @s (a
 * session of the caller's, freed here) and returns the index's record of it,
 * or NULL when out of memory or already indexed; index_refresh returns 0 or
 * CF_ENOMEM. cf_app_unindex_session frees the record.
 */
cf_session_t *cf_app_index_session(cf_app_t *app, cf_session_t *s);
int cf_app_index_refresh(cf_app_t *app, cf_session_t *s, const uint8_t hash[32], uint32_t gen);
void cf_app_unindex_session(cf_app_t *app, cf_session_t *s);

/** 1 when the index knows the refresh token with SHA-256 @hash. */
int cf_app_refresh_known(cf_app_t *app, const uint8_t hash[32]);

/** Sessions in the index. */
size_t cf_app_session_count(cf_app_t *app);

/** Re-file @s in the index after its end or deadlines changed (a merge). */
void cf_app_session_changed(cf_app_t *app, cf_session_t *s);

/** The sessions of @sub (NULL when it has none in the index). */
cf_subject_t *cf_app_subject(cf_app_t *app, const char *sub);

/** The sessions of client @client_id (NULL when it has none in the index). */
cf_group_t *cf_app_client(cf_app_t *app, const char *client_id);

/** Live sessions now, overall; brings the index's counters to now first
 *  (a bounded step: a larger backlog is handed to the purge sweep). */
size_t cf_app_active(cf_app_t *app);

/** Starts the purge sweep's timer (purge.c), every purge_interval. */
void cf_app_purge_start(cf_app_t *app);

/** Create the empty index (load.c). Returns 0 or CF_ENOMEM. */
int cf_app_index_init(cf_app_t *app);

/** Load the index from the store (start-up). Returns 0 or a negative CF_E*. */
int cf_app_load(cf_app_t *app);

/** Drop the whole index and load it again from the store (a cluster node resynchronising).
 *  Pointers to sessions do not survive it. 0, or a negative CF_E* leaving the index empty. */
int cf_app_reload(cf_app_t *app);

/** The shared signing key set may have changed (cluster): reload it. */
void cf_app_keys_changed(cf_app_t *app);

/** The session id a verified token (in the verification cache) names, or NULL. */
const char *cf_app_cached_sid(cf_app_t *app, const char *tok, size_t len);

/** Cluster: read session @sid (and its epochs) from Redis into the index, or forget it here when
 *  Redis has none, then @done(0 or a negative CF_E*: nothing changed). May call @done at once. */
void cf_app_cluster_fetch(cf_app_t *app, const char *sid, void (*done)(void *arg, int status),
                          void *arg);

/** 1 when @app is a cluster node whose cache may be stale (app/cluster.h). */
int cf_app_cluster_stale(cf_app_t *app);

/** Count a request refused because this node is stale (/v1/cluster). */
void cf_app_cluster_refused(cf_app_t *app);

/**
 * Cluster: spend DPoP jti @jti_hash of key @jkt in Redis, for every node (cluster.c). 0: @cb
 * runs with won 1, won 0 (spent before: a replay) or status CF_ESTORE. Else CF_ENOTSUP (not a
 * cluster) or CF_ESTORE (Redis down) and @cb never runs.
 */
int cf_app_dpop_claim(cf_app_t *app, const char *jkt, const uint8_t jti_hash[16],
                      void (*cb)(void *arg, int status, int won), void *arg);

/* What a cluster revocation came to; the caller answers from it. */
typedef struct {
    int status;                  /* 0, or a negative CF_E*: Redis did not answer, nothing changed */
    cf_reason_t refused;         /* SESSION_NOT_FOUND (no such session or token), INVALID_CLIENT,
                                    CLIENT_MISMATCH; NONE when it was revoked */
    const cf_session_t *session; /* cf_app_cluster_delete: the session as it ended (borrowed) */
    int64_t ended;               /* sessions the commit ended */
} cf_revoke_result_t;

typedef void (*cf_revoke_done_fn)(cf_app_t *app, void *arg, const cf_revoke_result_t *r);

/*
 * Cluster revocations are decided on Redis's own index, which knows every
 * acknowledged session, and applied here only once Redis acknowledged them
 * (a failure leaves everything as it was, so a retry is safe). Each calls
 * @done exactly once, possibly before returning.
 */

/** End session @sid (fetched from Redis first when this node has not heard of it). */
void cf_app_cluster_delete(cf_app_t *app, const char *sid, size_t len, cf_revoke_done_fn done,
                           void *arg);

/**
 * /oauth/revoke of @tok (refresh or access token) by @client_id ("": no
 * client named), with end reason logout. RFC 7009 §2.1: a confidential
 * client's token needs that client (INVALID_CLIENT); another client's token
 * is CLIENT_MISMATCH.
 */
void cf_app_cluster_revoke_token(cf_app_t *app, const char *client_id, const char *tok, size_t len,
                                 cf_revoke_done_fn done, void *arg);

/**
 * Revoke subject @sub or client @client_id (the other NULL). @cutoff (Unix
 * ms): only sessions created before it end; 0 = all of them (a subject's
 * not-before is then now).
 */
void cf_app_cluster_revoke(cf_app_t *app, const char *sub, const char *client_id, cf_time_t cutoff,
                           cf_revoke_done_fn done, void *arg);

/**
 * Revoke on this node: subject @name (CF_REVOKE_SUBJECT), client @name
 * (CF_REVOKE_CLIENT) or everyone (CF_REVOKE_ALL, @name NULL). @cutoff (Unix
 * ms): only sessions created before it end, and it is the epoch; 0 = every
 * session, epoch now. Ended in slices over several turns of the loop
 * (app/revoke.c); @done runs once, after the last slice is durable and
 * applied (r->ended counts the sessions), or with r->status < 0.
 */
void cf_app_revoke_local(cf_app_t *app, cf_revoke_scope_t scope, const char *name, cf_time_t cutoff,
                         cf_revoke_done_fn done, void *arg);

/** What GET /v1/cluster shows (this node's view of the bus); NULL when out of memory. */
json_t *cf_app_cluster_json(cf_app_t *app);

/**
 * Cluster: a refresh token this node does not know (or knows at a generation
 * ahead of its session): look its hash up in Redis and index the session and
 * the token it names, then call @done with 0 (whether or not Redis knew it)
 * or CF_ESTORE. May call @done before returning.
 */
void cf_app_cluster_learn_refresh(cf_app_t *app, const char *tok, size_t len,
                                  void (*done)(void *arg, int status), void *arg);

/**
 * Sign a new access token for @s at @now. Returns 0 with a malloc'd token in
 * *out and its expiry (Unix seconds) in *exp; the token is also placed in the
 * verification cache, so this node never verifies its own signature.
 */
int cf_app_issue_access(cf_app_t *app, const cf_session_t *s, cf_time_t now, char **out,
                        int64_t *exp);

/** The end of cf_app_issue_access_async(): @rc 0 with the token (the callee owns and frees it), else NULL. */
typedef void (*cf_signed_fn)(void *arg, int rc, char *access, int64_t exp);

/**
 * cf_app_issue_access() signed on the signer thread (app/sign.c). What can fail
 * on @s fails here, and then @done never runs; on 0, @done runs once on the loop
 * (maybe before this returns), negative only if signing failed twice (memory).
 */
int cf_app_issue_access_async(cf_app_t *app, const cf_session_t *s, cf_time_t now,
                              cf_signed_fn done, void *arg);

/**
 * Mint a refresh token of generation @gen for @s: writes the token into @out
 * and records its hash on the event @e (which must belong to the batch that
 * persists the session change). The hash is indexed when that batch is
 * acknowledged (commit.c), never before.
 */
void cf_app_issue_refresh(const cf_session_t *s, uint32_t gen, char out[CF_REFRESH_TOKEN_LEN + 1],
                          cf_event_t *e);

/**
 * Decide to end @s with @why at @now if it is still live: adds the event,
 * whose snapshot carries the end, to @ev and returns 1. @s itself is not
 * changed; the end reaches the index when the batch is acknowledged. With
 * CF_END_NONE, records only a deadline that already passed. Returns 0 when
 * there is nothing to end.
 */
int cf_app_end_session(cf_app_t *app, cf_session_t *s, cf_end_t why, cf_time_t now,
                       cf_events_t *ev);

/**
 * Mark the revocation decided in @ev as one of @scope (subject, client, all):
 * its ended sessions carry the scope, and a REVOCATION event (not stored) is
 * appended so the metrics count it once. Returns 0 or CF_ENOMEM.
 */
int cf_app_revocation_scope(cf_events_t *ev, cf_revoke_scope_t scope, cf_time_t now);

/**
 * Record a person's activity on @s at @now (persisted lazily by the flush
 * timer); after a silence of at least tuning.activity_gap, emit the audited
 * ACTIVITY_GAP event. Returns the silence (ms since the previous activity),
 * for the idle-gap histogram; with tuning.measure off, 0 and no event (the
 * silence is not even computed).
 */
cf_time_t cf_app_touch(cf_app_t *app, cf_session_t *s, cf_time_t now);
/** Put @s back on the activity list, once (its flush was refused: the next one writes it). */
void cf_app_mark_active(cf_app_t *app, cf_session_t *s);

/**
 * The sinks of an acknowledged batch that are not the store: log, metrics,
 * audit log, then the alert rules (commit.c). Events marked remote (applied
 * from another node) reach the log and metrics only: each node audits,
 * alerts on and counts as its own only what happened through it.
 */
void cf_app_sinks(cf_app_t *app, const cf_events_t *ev);

/** The recording sinks of a batch: log, metrics, audit log (sinks.c; no alert rules). */
void cf_app_record(cf_app_t *app, const cf_events_t *ev);

/**
 * Hand one non-durable event @e (built on the caller's stack; its strings are
 * borrowed) to the recording sinks at once: a refusal, a check result, a
 * limit hit, a rule firing, a clock step. Allocates nothing. The alert rules
 * do not see it: they count acknowledged changes only (and refused checks,
 * through cf_app_alerts_check_failed).
 */
void cf_app_emit(cf_app_t *app, const cf_event_t *e);

/**
 * A /v1/check answered: @why is CF_REASON_NONE (allowed), a refusal reason,
 * or anything else for an internal error; @ns the time spent (0: not timed).
 */
void cf_app_emit_check(cf_app_t *app, int why, uint64_t ns);

/** A refused check (why > 0) with its log line's session (NULL ok), address and route (-1 none). */
void cf_app_emit_check_refused(cf_app_t *app, int why, uint64_t ns, const cf_session_t *s,
                               const char *ip, long route);
/** 1 when a refusal's log line would be written now; flush: a flood's dropped count (timer). */
int cf_app_refusal_log_wanted(cf_app_t *app);
void cf_app_refusal_log_flush(cf_app_t *app);
#define CF_REFUSAL_LOG_PER_SEC 20 /* refused checks logged per second; the rest: event=log_dropped */

/** As cf_app_emit_check, for an allowed check of @s that was a person's activity after @gap ms. */
void cf_app_emit_check_gap(cf_app_t *app, int why, uint64_t ns, const cf_session_t *s, cf_time_t gap);

/** A refresh-token grant answered with @result. */
void cf_app_emit_refresh(cf_app_t *app, cf_refresh_result_t result);

/** A new refresh token in @out and its hash, not yet indexed anywhere. */
void cf_app_mint_refresh(char out[CF_REFRESH_TOKEN_LEN + 1], uint8_t hash[32]);

/* ---- the commit point (commit.c) --------------------------------------- */

/**
 * Commit a batch of decided events: the store makes them durable; then, and
 * only if it said yes, they are applied to the index and passed to the other
 * sinks, and @done (may be NULL) runs with 0. On failure nothing is applied
 * and @done gets the negative CF_E*. @done may run before this returns.
 * Activity and purge batches keep their lazy path (sinks first). Takes
 * ownership of @ev.
 */
void cf_app_commit(cf_app_t *app, cf_events_t *ev, cf_store_done_fn done, void *arg);

/** What a guarded commit came to, when the store answered at all. */
typedef struct {
    int claimed; /* the guard held: the batch is durable, announced and applied here */
    int found;   /* when not: 1 while the store still has the session (its state is merged here) */
} cf_guarded_t;

/** @g is NULL when @status < 0. */
typedef void (*cf_guarded_done_fn)(void *arg, int status, const cf_guarded_t *g);

/**
 * Cluster: commit @ev (taken), a change of session @sid decided on its
 * refresh generation @gen, only if the store still holds @sid live at @gen
 * (one atomic step with its announcement: of two nodes exactly one wins).
 * When it did, the batch is applied to the index and passed to the sinks
 * before @done gets claimed = 1. When another node got there first, what the
 * store said (a newer generation, an end, the epochs that failed the guard)
 * is merged into the index, so the caller decides again on it. On a failure
 * nothing changes. @done may run before this returns.
 */
void cf_app_commit_guarded(cf_app_t *app, cf_events_t *ev, const char *sid, uint32_t gen,
                           cf_guarded_done_fn done, void *arg);

/** Run the automatic actions firing rules queued (alerts.c decides them); call after a commit. */
void cf_app_alerts_act(cf_app_t *app);

/**
 * As cf_app_alerts_act, then run @then(@arg) once every action's commit has
 * been answered (at once when nothing is queued or actions are running).
 */
void cf_app_alerts_act_then(cf_app_t *app, void (*then)(void *arg), void *arg);

/** cf_session_merge() (core/session.h), the one merge rule, and a first sender constraint (cf_index_set_cnf). */
int cf_app_merge_session(cf_app_t *app, cf_session_t *s, const cf_session_t *snap);

/** 1 while a committed change of @s waits for the store's answer. */
int cf_app_session_busy(const cf_session_t *s);

typedef void (*cf_wait_fn)(cf_app_t *app, void *arg);

/**
 * Run @fn(app, arg) once every change of @s in flight has been answered (in
 * the order of the calls), so a decision that must see them is made on the
 * acknowledged state. Returns 0, or CF_ENOMEM (then @fn never runs).
 */
int cf_app_session_wait(cf_app_t *app, cf_session_t *s, cf_wait_fn fn, void *arg);

/** Look up a refresh token by its string; NULL if unknown or malformed. */
cf_refresh_entry_t *cf_app_refresh_lookup(cf_app_t *app, const char *tok, size_t len);

/**
 * Gather what cf_access_decide() needs to judge access token @tok (@len
 * bytes) at @now: its signature, issuer and audience (verified once, then
 * cached), its exp/iat/nbf, its sender constraint (cnf, or its session's
 * binding: in->bound_jkt / bound_x5t, borrowed until the next token is
 * cached), the session it names (also in *@sp, NULL when
 * none is known), the not-before epochs, the clock leeway and the slack after
 * a backward clock step. in->route and in->risk are left empty for the caller.
 * Returns 0 (in->token.refused says when verification refused the token) or
 * a negative CF_E* on internal errors.
 */
int cf_app_access_input(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                        cf_access_input_t *in, cf_session_t **sp);

/**
 * Verify an access token at @now: signature (cached), claims, not-before
 * epochs and the session state; not its sender constraint (no request to
 * prove possession with: introspection, revocation, the cluster fetch). Returns CF_REASON_NONE with the session and
 * the token's exp, or the refusal reason (with *s set when the session is
 * known, e.g. for introspection). Negative CF_E* on internal errors.
 */
int cf_app_verify_access(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                         cf_session_t **s, int64_t *exp, int64_t *iat, cf_reason_t *why);

/** Raise the not-before epoch of @sub (NULL: everyone) to @at. Returns 0 or CF_ENOMEM. */
int cf_app_set_not_before(cf_app_t *app, const char *sub, cf_time_t at);

/** Not-before (Unix ms) that applies to @sub: the later of its own and the global one. */
cf_time_t cf_app_not_before(cf_app_t *app, const char *sub);

/** JSON view of a session for the admin API. New reference. */
json_t *cf_app_session_json(cf_app_t *app, const cf_session_t *s, cf_time_t now);

/** The token response body shared by session creation and refresh. New reference. */
json_t *cf_app_token_body(const cf_session_t *s, const char *access, int64_t exp,
                          const char *refresh, cf_time_t now);

/**
 * The same body as compact JSON text, written without a tree (app/sign.c),
 * with refresh_token left out when @refresh is NULL (cookie mode). Sets
 * *@out (malloc'd; it holds tokens: wipe before free) and *@len. Returns 0,
 * CF_EINVAL (a string that is not UTF-8) or CF_ENOMEM.
 */
int cf_app_token_body_text(const cf_session_t *s, const char *access, int64_t exp,
                           const char *refresh, cf_time_t now, char **out, size_t *len);

/* ---- abuse controls and risk (guard.c) ---------------------------------- */

typedef struct {
    const char *ip, *sub, *client_id, *session, *api_key;
} cf_rate_who_t;

int cf_app_guard_init(cf_app_t *app);
void cf_app_guard_fini(cf_app_t *app);

/**
 * The CAs a client certificate forwarded by a trusted proxy must chain to
 * (mtls.client_ca, else tls.client_ca), loaded on first use and again after
 * cf_app_client_ca_drop() or when the configured file changes. NULL when
 * none is configured or it cannot be read (logged): nothing chains then.
 */
struct x509_store_st *cf_app_client_ca(cf_app_t *app);

/** Forget the loaded CAs so the next use re-reads the file (SIGHUP: renewed CAs). */
void cf_app_client_ca_drop(cf_app_t *app);
const char *cf_rate_class_name(cf_rate_class_t c);

/** Why a request is over a limit, for the 429 (api/limits.c sends it). */
typedef struct {
    cf_reason_t why;        /* RATE_LIMITED or LOCKED_OUT */
    int64_t retry_after;    /* whole seconds, at least 1 (Retry-After) */
    int has_quota;          /* rate limits: RateLimit-Policy and RateLimit headers */
    int64_t burst, remaining, window; /* window in whole seconds */
} cf_limit_t;

/**
 * Count a request of class @cls for @who (or only look, with @peek). Returns
 * 1 when over the limit, with what the 429 says in *@out; 0 when allowed.
 * Replies nothing. Limits and lockout run on cf_app_mono(): the wall time
 * @wall of these three is not used (a clock step must not move them); it
 * stays for the callers' convenience.
 */
int cf_app_rate_limit(cf_app_t *app, cf_rate_class_t cls, const cf_rate_who_t *who,
                      cf_time_t wall, int peek, cf_limit_t *out);

/** 1 when @ip is locked out, with the 429 locked_out in *@out; 0 otherwise. */
int cf_app_locked_out(cf_app_t *app, const char *ip, cf_time_t wall, cf_limit_t *out);

/** Record an authentication failure from @ip for the lockout. */
void cf_app_note_failure(cf_app_t *app, const char *ip, cf_time_t wall);

/** Log a risk change cf_risk_compare() found on @s (event=risk_change); nothing for none. */
void cf_app_risk_log(cf_app_t *app, const cf_session_t *s, cf_risk_t risk);

/** Copy the session's effective risk policy (client, roles, global) into it. */
void cf_app_session_apply_policy(cf_app_t *app, cf_session_t *s);

/** /readyz (cluster.c): 1 when this node decides now, else 0 and why (@cap bytes). */
int cf_app_cluster_ready(cf_app_t *app, char *why, size_t cap);

/* ---- metrics (metrics.c) ------------------------------------------------ */

/** Zero the metrics and set their histogram buckets (the idle gaps' include the configured timeouts). */
void cf_app_metrics_init(cf_app_t *app);

/** Free what the metrics hold (the re-login tracker). */
void cf_app_metrics_fini(cf_app_t *app);

/** The timeout measures' slot of @client_id: its index among the configured clients, else nclients. */
size_t cf_app_metrics_slot(const cf_app_metrics_t *m, const char *client_id);

/** Count the timeouts whose re-login window passed by @now (before a scrape); nothing with tuning.measure off. */
void cf_app_metrics_sweep(cf_app_t *app, cf_time_t now);

/** The metrics sink of the event stream: count what a batch of events says happened. */
void cf_app_metrics_events(cf_app_t *app, const cf_events_t *ev);

/** Render every metric into @p (Prometheus text exposition; stats.c). */
void cf_app_metrics_render(cf_app_t *app, cf_prom_t *p);

/** The counters the dashboard charts, as one JSON object (stats.c); NULL when out of memory. */
json_t *cf_app_stats_json(cf_app_t *app);

/* The API key module's operations, declared apart to keep this header readable. */
#include "app/apikeys.h"
/* Reloading the configuration (SIGHUP, POST /v1/config/reload). */
#include "app/reload.h"

#endif
