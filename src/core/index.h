/* SPDX-License-Identifier: MIT
 *
 * The session index: every session a node holds, and the structures its
 * queries need, so no query walks every session.
 *
 *   by id            open-addressing table of record pointers (the id is in the record)
 *   refresh tokens   open-addressing table of entry pointers, keyed by SHA-256
 *   by subject       a list per subject, with its not-before epoch
 *   by client        a list per client, with a live count
 *   deadlines        a 4-ary min-heap: each session sits there once, keyed by
 *                    the next instant the index must look at it
 *   creation order   an array sorted by (created_at, id): listings by cursor
 *   counters         live sessions, overall and per client, kept as they change
 *
 * Records are fixed-size (136 bytes) and pooled (no malloc per session) and
 * link to each other by 4-byte places. What sessions share is interned: the
 * subject (its group), and (client, scope, roles, limits) as one profile
 * (a thousand sessions of one client and grant share one); device, sender
 * constraint and IPv6 addresses are interned strings. An address of up to
 * 15 characters (IPv4), nearly always unique, is in the record itself; the
 * times are 32-bit offsets from creation unless one does not fit (then the
 * record is "wide", core/session.h). Pure: no I/O, no clock; every instant is
 * a parameter. One owner thread.
 *
 * The deadline heap is lazy about activity. Touching a session moves its idle
 * deadline but not its heap key; when the key comes due the index finds the
 * deadline moved and re-files the session at the new one. So the hot path
 * (a check touches its session) never reorders the heap, and expiry work is
 * proportional to what expires (and to sessions touched since they were last
 * filed), never to the number of sessions.
 */
#ifndef CF_CORE_INDEX_H
#define CF_CORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/session.h"

typedef struct cf_index cf_index_t;

/*
 * Bytes of a refresh token's SHA-256 the index keeps and compares: 128 bits.
 * The tokens are server-made secrets, so two of a million sharing them is
 * ~2^-88, and presenting a token that matches another's means a second
 * preimage of 128 bits. Half the hash and a 4-byte owner make the entry 28 B
 * (not 56).
 */
#define CF_INDEX_REFRESH_KEY 16

/* One refresh token known to the index (only its hash's first bytes). */
typedef struct cf_refresh_entry cf_refresh_entry_t;
struct cf_refresh_entry {
    uint8_t hash[CF_INDEX_REFRESH_KEY];
    uint32_t owner;        /* 1 + the owning record's place: cf_index_refresh_owner() */
    uint32_t gen;
    uint32_t next;         /* the owner's next token: 1 + its place in the index's pool, 0 at the end */
};

/*
 * The sessions of one subject or of one client, so revoking or listing them
 * does not scan everyone. Walked with cf_index_sub_next (subjects) or
 * cf_index_cli_next (clients).
 */
typedef struct cf_group {
    cf_session_t *head;
    cf_time_t not_before; /* subjects only: Unix ms, 0 for none */
    uint32_t count;       /* sessions in the list (records have 32-bit places) */
    uint32_t active;      /* of those, counted as live (clients only) */
    uint32_t hash;
    char name[];          /* key, owned with the struct */
} cf_group_t;

typedef cf_group_t cf_subject_t;

/** The session after @s in its subject's list (cf_subject_t.head first), NULL after the last. */
cf_session_t *cf_index_sub_next(const cf_index_t *ix, const cf_session_t *s);

/** The session after @s in its client's list (cf_group_t.head first), NULL after the last. */
cf_session_t *cf_index_cli_next(const cf_index_t *ix, const cf_session_t *s);

/** A new empty index; @seed randomises its hashes. NULL when out of memory. */
cf_index_t *cf_index_new(uint64_t seed);

/** Free the index and every record, entry and string it holds. NULL is a no-op. */
void cf_index_free(cf_index_t *ix);

/** Sessions in the index. */
size_t cf_index_count(const cf_index_t *ix);

/** Refresh tokens in the index. */
size_t cf_index_refresh_count(const cf_index_t *ix);

/** The session @sid (@len bytes), or NULL. */
/**
 * Bind indexed session @s to the sender constraint @cnf (its stored form,
 * core/session.h) unless it is bound already: a binding is made once and
 * never changed. Returns 0 or CF_ENOMEM.
 */
int cf_index_set_cnf(cf_index_t *ix, cf_session_t *s, const char *cnf);

cf_session_t *cf_index_get(const cf_index_t *ix, const char *sid, size_t len);

/**
 * Copy @src into a new pooled record (its strings interned, bookkeeping
 * cleared) and index it at @now. @src stays the caller's. Returns the record;
 * NULL when out of memory or when the id is already indexed.
 */
cf_session_t *cf_index_add(cf_index_t *ix, const cf_session_t *src, cf_time_t now);

/** Remove @s (a record of @ix) with its refresh tokens, and free it. */
void cf_index_remove(cf_index_t *ix, cf_session_t *s);

/**
 * Re-file @s after its end or deadlines changed outside cf_index_touch()
 * (a merge, an end): counters and heap follow. Cheap; call freely.
 */
void cf_index_sync(cf_index_t *ix, cf_session_t *s, cf_time_t now);

/**
 * Activity on @s at @now (cf_session_touch plus bookkeeping). O(1): the
 * heap learns of the later deadline when the old one comes due.
 */
void cf_index_touch(cf_index_t *ix, cf_session_t *s, cf_time_t now);

/** Index refresh token @hash of generation @gen for @s. 0, CF_ENOMEM or CF_EEXIST. */
int cf_index_add_refresh(cf_index_t *ix, cf_session_t *s, const uint8_t hash[32], uint32_t gen);

/** The session refresh token @e belongs to. */
cf_session_t *cf_index_refresh_owner(const cf_index_t *ix, const cf_refresh_entry_t *e);

/** The refresh token with SHA-256 @hash, or NULL. */
cf_refresh_entry_t *cf_index_refresh(const cf_index_t *ix, const uint8_t hash[32]);

/** The sessions of subject @sub, or NULL when it has none (and no epoch). */
cf_subject_t *cf_index_subject(const cf_index_t *ix, const char *sub);

/** The sessions of client @client_id ("" for none), or NULL when it has none. */
cf_group_t *cf_index_client(const cf_index_t *ix, const char *client_id);

/** Iterate clients with sessions: *pos = 0 first; NULL at the end. */
cf_group_t *cf_index_next_client(const cf_index_t *ix, size_t *pos);

/** Raise @sub's not-before epoch to @at (Unix ms). 0 or CF_ENOMEM. */
int cf_index_set_not_before(cf_index_t *ix, const char *sub, cf_time_t at);

/** @sub's own not-before epoch (Unix ms), 0 for none. */
cf_time_t cf_index_not_before(const cf_index_t *ix, const char *sub);

/**
 * How long an ended session stays indexed before cf_index_expire() offers
 * it for purging (so late requests still learn why it ended). Default 0.
 */
void cf_index_set_purge_after(cf_index_t *ix, cf_time_t purge_after);

/**
 * Bring the counters to @now: sessions whose deadline passed stop counting
 * as active and are queued as lapsed (see cf_index_next_lapsed). Costs what
 * came due since the last call.
 */
void cf_index_advance(cf_index_t *ix, cf_time_t now);

/**
 * cf_index_advance(), but re-filing or lapsing at most @max sessions, so a
 * burst of deadlines (100k sessions created in one minute idle out in the
 * same one) is worked off in slices. Returns 1 when more is due at @now.
 */
int cf_index_advance_max(cf_index_t *ix, cf_time_t now, size_t max);

/** 1 when a deadline at or before @now is still to be looked at (see above). */
int cf_index_behind(const cf_index_t *ix, cf_time_t now);

/** Sessions counted as live (not ended, deadlines not passed as of the last advance). */
size_t cf_index_active(const cf_index_t *ix);

/**
 * Pop the next session that lapsed (a deadline passed, nobody ended it) and
 * is still lapsed and not ended, copying its id to @sid. Returns 1, or 0
 * when none is left. The shell ends these (and makes the end durable).
 */
int cf_index_next_lapsed(cf_index_t *ix, char sid[CF_SID_LEN + 1]);

/**
 * Called by cf_index_expire() for a session that ended (or lapsed) at least
 * purge_after ago. Return 0 after cf_index_remove()-ing it, or a later
 * instant to be offered it again then (it is busy now).
 */
typedef cf_time_t (*cf_index_purge_fn)(void *arg, cf_session_t *s);

/**
 * Advance to @now (at most @max sessions, as cf_index_advance_max) and offer
 * each session due for purging to @fn, at most @max of them (the rest stay
 * due for the next call). Returns how many were offered.
 */
size_t cf_index_expire(cf_index_t *ix, cf_time_t now, size_t max, cf_index_purge_fn fn, void *arg);

/*
 * Listing by cursor, newest first: sessions in descending (created_at, id).
 * A cursor is the (created_at, id) of the last session returned; the next
 * page starts strictly after it, so a session present for the whole listing
 * is returned exactly once, whatever is added or removed meanwhile.
 */
typedef struct {
    cf_time_t created_at;
    char id[CF_SID_LEN + 1]; /* "" for the first page */
} cf_index_cursor_t;

/** 1 when @s matches the listing's filter. */
typedef int (*cf_index_filter_fn)(void *arg, const cf_session_t *s);

/**
 * Fill @out with up to @max sessions after @cur (NULL or "" id: from the
 * newest) that pass @filter (NULL: all), looking at no more than @budget
 * sessions. Returns how many were written; *@more is 1 when the listing
 * may continue after the last session written or looked at, whose position
 * is then in *@next.
 */
size_t cf_index_list(const cf_index_t *ix, const cf_index_cursor_t *cur, cf_index_filter_fn filter,
                     void *arg, cf_session_t **out, size_t max, size_t budget,
                     cf_index_cursor_t *next, int *more);

/**
 * Bracket a bulk load (rows in any order) with @on = 1 and @on = 0: in
 * between, sessions are appended to the creation order, which the closing
 * call sorts once (O(n log n) instead of an insertion each). Listings and
 * removals must not run in between.
 */
void cf_index_bulk(cf_index_t *ix, int on);

/*
 * Hints for a bulk load, which is bound by cache misses (at a million
 * sessions each table probe, and each record or group it compares, is one):
 * a loader that keeps a few rows in hand calls stage 0 for a row when it
 * arrives (the table slots), stage 1 some rows later (the entries those
 * slots point to) and, for sessions, stage 2 later again (the subject's
 * newest record, which linking writes), then adds it; the misses of several
 * rows then overlap. No effect on the index's contents; any stage may be
 * skipped.
 */
void cf_index_prefetch_add(const cf_index_t *ix, const cf_session_t *src, int stage);

/** The same for a refresh token @hash of session @sid (CF_SID_LEN bytes): stages 0 and 1. */
void cf_index_prefetch_refresh(const cf_index_t *ix, const char *sid, const uint8_t hash[32],
                               int stage);

/**
 * Size the tables for about @sessions sessions (one refresh token and one
 * address each) before a load, so they need not grow during it. Only
 * empty tables are sized, and to at most CF_INDEX_RESERVE_MAX sessions:
 * an estimate too high costs memory, one too low only later (incremental)
 * growth. 0 or CF_ENOMEM (the tables then grow as usual).
 */
int cf_index_reserve(cf_index_t *ix, size_t sessions);

#define CF_INDEX_RESERVE_MAX ((size_t)1 << 22)

/** Approximate bytes the index holds (records, tables, strings), for tests and logs. */
size_t cf_index_bytes(const cf_index_t *ix);

#endif
