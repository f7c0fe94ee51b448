/* SPDX-License-Identifier: MIT
 *
 * One audit log line (docs/audit.md) read for `curfew tune`: the fields the
 * replay needs, by either of two readers that must agree on every line.
 *
 *  - The scanner reads the layout the server writes (src/obs/audit.c): one
 *    flat object, no whitespace, plain strings (printable ASCII without
 *    escapes), short numbers, arrays of plain strings, ending in "}\n". It
 *    allocates nothing and costs a pass over the bytes.
 *  - Anything else (an escape, a byte over 0x7e, whitespace, a nested
 *    object, a long number, a duplicate key, broken JSON) is not recognised
 *    and goes to jansson with JSON_REJECT_DUPLICATES, so odd and hostile
 *    lines are judged, and their errors worded, exactly as before.
 *
 * Pure: no I/O, no clock.
 */
#ifndef CF_CORE_AUDITLINE_H
#define CF_CORE_AUDITLINE_H

#include <stddef.h>

#include "core/clock.h"

/* The fields `curfew tune` reads; every other key is checked and skipped. */
#define CF_AUDITLINE_FIELDS(X)                                   \
    X(EVENT, "event")                                            \
    X(TS, "ts")                                                  \
    X(SID, "sid")                                                \
    X(SUB, "sub")                                                \
    X(CLIENT_ID, "client_id")                                    \
    X(ROLES, "roles")                                            \
    X(CREATED_AT, "created_at")                                  \
    X(IDLE_EXPIRES_AT, "idle_expires_at")                        \
    X(ABSOLUTE_EXPIRES_AT, "absolute_expires_at")                \
    X(IDLE_TIMEOUT_MS, "idle_timeout_ms")                        \
    X(ABSOLUTE_TIMEOUT_MS, "absolute_timeout_ms")                \
    X(ACCESS_TTL_MS, "access_ttl_ms")                            \
    X(END_REASON, "end_reason")                                  \
    X(ENDED_AT, "ended_at")                                      \
    X(LAST_ACTIVITY_AT, "last_activity_at")                      \
    X(IDLE_MS, "idle_ms")

typedef enum {
#define X(name, key) CF_AL_##name,
    CF_AUDITLINE_FIELDS(X)
#undef X
    CF_AL__COUNT
} cf_auditline_field_t;

/* A value's kind, as jansson would type it. */
typedef enum {
    CF_AL_ABSENT = 0,
    CF_AL_STRING,  /* s: NUL-terminated (jansson's C string: up to a \u0000) */
    CF_AL_INTEGER, /* i */
    CF_AL_ARRAY,   /* roles: see cf_auditline_has() */
    CF_AL_OTHER    /* null, true, false, a real, an object */
} cf_auditline_kind_t;

typedef struct {
    cf_auditline_kind_t kind;
    const char *s; /* STRING: the value; ARRAY (scanned): the bytes between [ and ] */
    size_t len;    /* ARRAY (scanned): length of those bytes */
    long long i;
    void *json; /* ARRAY (jansson): the json_t array */
} cf_auditline_value_t;

typedef struct {
    cf_auditline_value_t v[CF_AL__COUNT];
    void *root; /* jansson's object when it read the line; released by _fini */
    int scanned; /* 1: the scanner read it, 0: jansson */
} cf_auditline_t;

/**
 * Read the line @buf (@len bytes, a trailing newline allowed) into @out:
 * the scanner if it recognises the line, else jansson. @buf is modified
 * (closing quotes become NULs) and must outlive @out. 0, or -1 when the line
 * is not a JSON object: @why (at least 160 bytes) then holds jansson's words.
 * Call cf_auditline_fini() in both cases.
 */
int cf_auditline_read(cf_auditline_t *out, char *buf, size_t len, char *why);

/** The scanner alone: 0 recognised (@out filled, @buf's strings terminated), -1 not. */
int cf_auditline_scan(cf_auditline_t *out, char *buf, size_t len);

/** jansson alone (the reference): as cf_auditline_read(). */
int cf_auditline_json(cf_auditline_t *out, const char *buf, size_t len, char *why);

/** Release what jansson allocated; @l is zeroed. */
void cf_auditline_fini(cf_auditline_t *l);

/** 1 if the array value @v holds the string @want, else 0 (not an array: 0). */
int cf_auditline_has(const cf_auditline_value_t *v, const char *want);

/**
 * An RFC 3339 UTC time as the audit log writes it, 2026-01-02T03:04:05.678Z
 * (fraction optional, 1 to any digits, milliseconds kept), into ms since the
 * epoch. 0, or -1 when it is not one.
 */
int cf_auditline_time(const char *s, cf_time_t *out);

#endif
