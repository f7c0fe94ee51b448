/* SPDX-License-Identifier: MIT
 *
 * The session state machine: where every timeout is decided.
 *
 * A session lives until the first of its idle deadline (last activity plus the
 * idle timeout) and its absolute deadline (creation plus the absolute timeout),
 * or until someone ends it (logout, revocation, refresh-token reuse). Once
 * ended it never comes back and its end reason never changes.
 *
 * Everything here is pure: no I/O, no clock, no allocation except in
 * cf_session_new/copy/free and, for an index record, its rare ext
 * (cf_session_set_time when a time outgrows its offset, cf_session_waiters).
 * Callers pass `now` and apply the decisions they get back.
 */
#ifndef CF_CORE_SESSION_H
#define CF_CORE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/reason.h"

#define CF_SID_RAW_LEN 18 /* 144 random bits */
#define CF_SID_LEN 24     /* base64url of CF_SID_RAW_LEN bytes */

/** Lifetimes of one session, all in milliseconds. */
typedef struct {
    cf_time_t idle_timeout;
    cf_time_t absolute_timeout;
    cf_time_t access_ttl;
} cf_limits_t;

typedef struct cf_session cf_session_t;

/*
 * A sender constraint (RFC 9449 DPoP, RFC 8705 mTLS): the key or the client
 * certificate a session's tokens are bound to. Its value is an RFC 7638 JWK
 * thumbprint (cnf.jkt) or a certificate's x5t#S256, both 43 characters of
 * base64url SHA-256. Set once, when the session is created or first
 * refreshed with a proof; never changed after.
 */
typedef enum { CF_CNF_NONE, CF_CNF_JKT, CF_CNF_X5T } cf_cnf_kind_t;

#define CF_CNF_LEN 43     /* base64url of a SHA-256 */
#define CF_CNF_TEXT_LEN 48 /* "jkt:" or "x5t:" and the value, NUL-terminated */

typedef struct {
    uint8_t kind;             /* cf_cnf_kind_t */
    char v[CF_CNF_LEN + 1];   /* "" when kind is CF_CNF_NONE */
} cf_cnf_t;

/** Set @c to @kind with value @v (CF_CNF_LEN base64url characters). 0 or CF_EINVAL (then NONE). */
int cf_cnf_set(cf_cnf_t *c, cf_cnf_kind_t kind, const char *v, size_t len);

/** The stored form of @c: "", "jkt:<thumbprint>" or "x5t:<thumbprint>", into @out. */
void cf_cnf_format(const cf_cnf_t *c, char out[CF_CNF_TEXT_LEN]);

/** Parse the stored form (NULL or "" is NONE). 0 or CF_EINVAL (then NONE). */
int cf_cnf_parse(const char *text, cf_cnf_t *c);

/*
 * What many sessions share: the client, what was granted, the lifetimes.
 * Immutable once made. The index interns one per distinct value (a million
 * sessions of ten clients name a few dozen), a session made by
 * cf_session_new() or cf_session_copy() carries its own.
 */
typedef struct cf_profile {
    cf_limits_t limits;    /* effective, already clamped */
    const char *client_id; /* "" when none */
    const char *scope;     /* space separated, "" when none */
    const char *roles;     /* comma separated, "" when none */
    uint32_t refs, hash;   /* index: sessions naming it, its hash */
} cf_profile_t;

/* The times of a session other than created_at (cf_session_time()). */
typedef enum {
    CF_T_AUTH,     /* auth_time */
    CF_T_ACTIVITY, /* last_activity */
    CF_T_IDLE,     /* idle_deadline: min(last_activity + idle_timeout, absolute_deadline) */
    CF_T_ABSOLUTE, /* absolute_deadline */
    CF_T_ENDED,    /* ended_at: 0 while live */
    CF_T_ROTATED,  /* refresh_rotated_at: when the previous generation was superseded */
    CF_T__COUNT
} cf_time_field_t;

/*
 * The rarely set part of a session: NULL on most index records. A session
 * is "wide" when its times do not all fit 32-bit offsets from created_at
 * (or it is not an index record): then they live here, in t[].
 */
typedef struct {
    char *device; /* device fingerprint at creation; NULL: "" */
    char *cnf;    /* sender constraint, cf_cnf_format()'s form; NULL: "" */
    void *waiters; /* requests waiting for the store's answers (the shell's list) */
    cf_time_t t[CF_T__COUNT]; /* present only when the session is wide */
} cf_session_ext_t;

/*
 * A session's client address ("" when unknown): up to 15 characters (every
 * IPv4 address) in place, NUL-padded; a longer one (IPv6) by pointer, with
 * the last byte set to say so (text in place always ends in NUL there).
 */
#define CF_IP_INLINE 16
typedef union {
    char in[CF_IP_INLINE];
    struct {
        char *p;
        char pad[CF_IP_INLINE - sizeof(char *) - 1];
        char far; /* 1: the address is at p */
    } x;
} cf_session_ip_t;

/* The size of an ext without its times (an index record's usual ext). */
#define CF_SESSION_EXT_NARROW offsetof(cf_session_ext_t, t)

/* An offset that stands for the time 0 (never: ended_at, rotated_at). */
#define CF_SESSION_OFF_ZERO INT32_MIN

/*
 * One session. Small fields first so the record packs: a session held by the
 * index (core/index.h) is one fixed-size pooled record (136 bytes) whose
 * strings and profile are interned (shared, owned by the index); a session
 * made by cf_session_new() or cf_session_copy() (a snapshot, a store row)
 * owns its strings, in one block. Read the fields below that are not plain
 * through the accessors (cf_session_scope(), cf_session_time(), ...).
 */
struct cf_session {
    char id[CF_SID_LEN + 1];
    uint8_t ip_binding : 3;       /* cf_ip_binding_t, from the policy (not persisted) */
    uint8_t on_ip_change : 2;     /* cf_risk_action_t */
    uint8_t on_device_change : 2; /* cf_risk_action_t */
    uint8_t dirty : 1;          /* activity not yet persisted (on the shell's list, app->dirty) */
    uint8_t pooled : 1;         /* index record: strings interned, freed by the index */
    uint8_t counted : 1;        /* index: counted as active */
    uint8_t lapsed : 1;         /* index: a deadline passed before anyone ended it */
    uint8_t in_dead : 1;        /* index: heap_pos is in the purge heap, not the deadline one */
    uint8_t packed : 1;         /* one allocation: strings, profile and ext follow the struct */
    uint8_t bound_apart : 1;    /* packed, but ip and device were allocated apart (bind) */
    uint8_t cnf_apart : 1;      /* packed, but cnf was allocated apart (cf_session_set_cnf) */
    uint8_t wide : 1;           /* times in ext->t, not in off[] */
    uint8_t end;                /* cf_end_t: CF_END_NONE while live (a byte: the record packs) */
    uint32_t self;              /* index: the record's place in the index's pool */
    uint32_t refresh_gen;       /* generation of the current refresh token(s) */
    uint32_t inflight;          /* committed changes awaiting the store's answer */
    uint32_t heap_pos;          /* index: 1 + position in its heap, 0 when out */
    uint32_t refresh;           /* index: this session's first refresh-token entry (1 + its place), 0 none */
    char *sub;
    cf_session_ip_t ip;         /* client address at creation: cf_session_ip() */
    const cf_profile_t *prof;   /* client, scope, roles, limits: cf_session_scope() etc. */
    cf_session_ext_t *ext;      /* device, cnf, waiters, wide times; NULL when none */
    cf_time_t created_at;
    int32_t off[CF_T__COUNT];   /* narrow: each time minus created_at (CF_SESSION_OFF_ZERO: 0) */

    /* Bookkeeping for the shell's indexes; the core's decisions do not look at these. */
    /* index: the other sessions of the same subject and client, as 1 + their
     * places (0: none); walk them with cf_index_sub_next / cf_index_cli_next. */
    uint32_t sub_prev, sub_next;
    uint32_t cli_prev, cli_next;
};

/** Time @k of @s (Unix ms). */
static inline cf_time_t cf_session_time(const cf_session_t *s, cf_time_field_t k)
{
    if (s->wide)
        return s->ext->t[k];
    return s->off[k] == CF_SESSION_OFF_ZERO ? 0 : s->created_at + s->off[k];
}

/**
 * Set time @k of @s to @v. An index record whose new value does not fit an
 * offset becomes wide (its ext grows); should that allocation fail, the
 * value is held to the nearest one that fits. Never fails otherwise.
 */
void cf_session_set_time(cf_session_t *s, cf_time_field_t k, cf_time_t v);

#define cf_session_auth_time(s) cf_session_time((s), CF_T_AUTH)
#define cf_session_last_activity(s) cf_session_time((s), CF_T_ACTIVITY)
#define cf_session_idle_deadline(s) cf_session_time((s), CF_T_IDLE)
#define cf_session_absolute_deadline(s) cf_session_time((s), CF_T_ABSOLUTE)
#define cf_session_ended_at(s) cf_session_time((s), CF_T_ENDED)
#define cf_session_rotated_at(s) cf_session_time((s), CF_T_ROTATED)

/** The client address @s was created from ("" when unknown). */
static inline const char *cf_session_ip(const cf_session_t *s)
{
    return s->ip.x.far ? s->ip.x.p : s->ip.in;
}

/** The profile's parts. */
static inline const char *cf_session_client_id(const cf_session_t *s) { return s->prof->client_id; }
static inline const char *cf_session_scope(const cf_session_t *s) { return s->prof->scope; }
static inline const char *cf_session_roles(const cf_session_t *s) { return s->prof->roles; }
static inline const cf_limits_t *cf_session_limits(const cf_session_t *s) { return &s->prof->limits; }

/** Device fingerprint and sender constraint (stored form); "" when none. */
static inline const char *cf_session_device(const cf_session_t *s)
{
    return s->ext != NULL && s->ext->device != NULL ? s->ext->device : "";
}
static inline const char *cf_session_cnf_text(const cf_session_t *s)
{
    return s->ext != NULL && s->ext->cnf != NULL ? s->ext->cnf : "";
}

/** Where @s's list of waiting requests starts (allocating its ext); NULL when out of memory. */
void **cf_session_waiters(cf_session_t *s);

/** @s's list of waiting requests, NULL when none (never allocates). */
static inline void *cf_session_waiters_peek(const cf_session_t *s)
{
    return s->ext != NULL ? s->ext->waiters : NULL;
}

/*
 * The values of a session, to build one on the stack (a store row, a
 * decision's result) and copy it with cf_session_copy(). Strings are
 * borrowed; NULL reads as "".
 */
typedef struct {
    const char *sub, *client_id, *scope, *roles, *ip, *device, *cnf;
    cf_limits_t limits;
    cf_time_t created_at;
    cf_time_t t[CF_T__COUNT];
} cf_session_vals_t;

/**
 * Make @s (on the caller's stack) a wide session over @v, @prof and @ext
 * (all the caller's, which must outlive @s): fields not in @v are zero.
 * Such a session is read like any other; never cf_session_free() it.
 */
void cf_session_init(cf_session_t *s, cf_profile_t *prof, cf_session_ext_t *ext,
                     const cf_session_vals_t *v);

/**
 * A copy of @s in one allocation (strings, profile and wide times inside),
 * with every value, generation, end and risk field; not the index's
 * bookkeeping. NULL when out of memory. Free with cf_session_free().
 */
cf_session_t *cf_session_copy(const cf_session_t *s);

/**
 * Effective limits: the strictest of @configured and @requested, field by
 * field. A requested value of 0 means "not asked". The access TTL is also held
 * to @max_access_ttl and the idle timeout never exceeds the absolute one.
 * Pure; never fails.
 */
cf_limits_t cf_limits_resolve(const cf_limits_t *configured, cf_time_t max_access_ttl,
                              const cf_limits_t *requested);

/**
 * Allocate a live session created at @now. Strings are copied; @sid must be
 * CF_SID_LEN characters. Returns NULL only when out of memory.
 */
cf_session_t *cf_session_new(const char *sid, const char *sub, const char *client_id,
                             const char *scope, const char *roles, cf_time_t auth_time,
                             const cf_limits_t *limits, cf_time_t now);

/** Record the address and device the session is bound to (either may be NULL). */
void cf_session_bind(cf_session_t *s, const char *ip, const char *device);

/**
 * Bind @s (not an index record) to @c: its tokens need that key or
 * certificate from now on. Returns 0 or CF_ENOMEM (then @s is unchanged).
 */
int cf_session_set_cnf(cf_session_t *s, const cf_cnf_t *c);

/** cf_session_set_cnf() from the stored form @text (NULL or "": unbound). 0, CF_EINVAL, CF_ENOMEM. */
int cf_session_set_cnf_text(cf_session_t *s, const char *text);

/** The sender constraint of @s (kind NONE when unbound or unreadable). */
cf_cnf_t cf_session_cnf(const cf_session_t *s);

/** The thumbprint @s is bound to by @kind (JKT or X5T), borrowed from @s; NULL when not. */
const char *cf_session_bound(const cf_session_t *s, cf_cnf_kind_t kind);

/** Free @s and its strings. NULL is a no-op. */
void cf_session_free(cf_session_t *s);

/**
 * Has @s ended by @now, and why? Returns CF_END_NONE while it lives. A session
 * that was ended explicitly keeps its reason; otherwise the deadline that came
 * first decides (idle before absolute when both have passed). When @at is not
 * NULL it receives the instant the session ended. Pure; does not modify @s.
 */
cf_end_t cf_session_end_at(const cf_session_t *s, cf_time_t now, cf_time_t *at);

/**
 * Mark @s ended with @why at @now, unless it already ended (then nothing
 * changes and 0 is returned). Returns 1 when this call ended it.
 */
int cf_session_end(cf_session_t *s, cf_end_t why, cf_time_t now);

/**
 * Record activity at @now on a live session: moves the idle deadline forward,
 * never past the absolute deadline, and never backwards.
 */
void cf_session_touch(cf_session_t *s, cf_time_t now);

/** The refusal a request on @s gets at @now: CF_REASON_NONE while it lives. */
cf_reason_t cf_session_verdict(const cf_session_t *s, cf_time_t now);

/* Least time before the absolute deadline for which tokens are still issued. */
#define CF_REFRESH_MIN_LEFT CF_SEC

/* What to do with a presented refresh token. */
typedef enum {
    CF_REFRESH_ROTATE, /* current generation: issue a new generation */
    CF_REFRESH_GRACE,  /* previous generation inside the grace window: issue a sibling */
    CF_REFRESH_REUSE,  /* an older token: theft; end the session */
    CF_REFRESH_DENY,   /* the session already ended: refuse with *why */
} cf_refresh_action_t;

/**
 * Decide a refresh of @s with a token of generation @gen at @now.
 *
 * Rotation: the current generation is exchanged for the next one. Reuse: a
 * token from an older generation means two parties hold the session's refresh
 * tokens, so the session is ended (RFC 9700 §4.14.2). The grace window: for
 * @grace after a rotation, a token of the previous generation may be exchanged
 * again; it gets a sibling in the current generation instead of ending the
 * session, because clients that fire two refreshes at once are common and
 * killing their session for it would train users to keep long sessions.
 * A grace of 0 disables this. A session created before @not_before (the
 * later of its subject's and the global not-before, Unix ms; 0 for none) was
 * revoked with its subject or with everyone, so it is denied as
 * revoked_before even when this caller has not yet seen it ended: the epoch
 * refuses refresh tokens as it refuses access tokens. On DENY and REUSE,
 * *why tells the refusal reason.
 *
 * The last second: an access token's exp has one-second resolution and never
 * passes the absolute deadline, so with less than CF_REFRESH_MIN_LEFT left a
 * new token could not outlive its own iat. Such a rotation or grace refresh is
 * refused as absolute_timeout (DENY) instead; a reuse is still a reuse.
 * Pure; does not modify @s.
 */
cf_refresh_action_t cf_session_refresh_decide(const cf_session_t *s, uint32_t gen, cf_time_t now,
                                              cf_time_t grace, cf_time_t not_before,
                                              cf_reason_t *why);

/**
 * 1 when a not-before epoch @not_before (Unix ms, 0 for none) covers @s: it
 * was created before that instant, to the millisecond. Such a session was
 * meant to end with the revocation that set the epoch.
 */
int cf_session_revoked_before(const cf_session_t *s, cf_time_t not_before);

/**
 * The one merge rule for what a snapshot @snap (the store, another node,
 * Redis, a commit just acknowledged) says of session @s: the later activity
 * and idle deadline, the newer refresh generation (with its rotation time),
 * the first end. Never undoes an end and never moves anything backwards, so
 * merging the same snapshot twice, or two snapshots in either order, gives
 * the same session. Returns 1 when it brought @s a new end. Pure. (The
 * sender constraint, set once, is the index's to copy: cf_index_set_cnf.)
 */
int cf_session_merge(cf_session_t *s, const cf_session_t *snap);

/** Apply a rotation decided by cf_session_refresh_decide: bumps the generation. */
void cf_session_rotate(cf_session_t *s, cf_time_t now);

/**
 * Access-token expiry for a token issued at @now: now + access TTL, never past
 * the absolute deadline. Returned in whole seconds (JWT NumericDate), rounded
 * down so the token never outlives the session.
 */
int64_t cf_session_access_exp(const cf_session_t *s, cf_time_t now);

#endif
