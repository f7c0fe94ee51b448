/* SPDX-License-Identifier: MIT
 *
 * The audit log: a sink of the event stream that writes one JSON object per
 * line (JSON Lines) for every event but `activity`, schema in docs/audit.md.
 *
 * Off the hot path: the loop thread only formats a line (cf_audit_format,
 * pure) and copies it into a bounded in-memory queue; a writer thread owns
 * the file, appends what is queued, fsyncs at most once a second and
 * reopens the file when asked (SIGHUP, for logrotate). A full queue drops
 * the line and counts it: nothing blocks a request, nothing is lost
 * silently.
 */
#ifndef CF_OBS_AUDIT_H
#define CF_OBS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/** Schema version, the `v` field of every line. Bumped only on incompatible changes. */
#define CF_AUDIT_VERSION 1

/**
 * A growing, NUL-terminated line buffer; @oom is set on the first failed
 * allocation. @time caches the quote, date and time of second @time_sec
 * (when @time_ok), so lines of one second format their timestamp once.
 * Zero-initialise it; cf_audit_format fills the rest.
 */
typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
    int time_ok;
    int64_t time_sec;
    char time[20]; /* "YYYY-MM-DDTHH:MM:SS, not terminated */
} cf_audit_line_t;

/** Free the line's buffer; it is reusable (empty) afterwards. */
void cf_audit_line_fini(cf_audit_line_t *l);

/**
 * Format @e as one JSON line, newline included, into @l (emptied first).
 * Never writes a token: refresh tokens appear only as `token_fp`, the first
 * 12 hex digits of SHA-256 of the stored token hash. Pure: no clock, no I/O.
 *
 * Returns 1 when a line was written, 0 when the event is not audited
 * (CF_EV_ACTIVITY), CF_ENOMEM when out of memory.
 */
int cf_audit_format(const cf_event_t *e, cf_audit_line_t *l);

typedef struct cf_audit cf_audit_t;

/**
 * Open the audit log at @path ("-" = stdout; appended, created 0600) with a
 * queue of @buffer bytes and start its writer thread. Returns 0 and the
 * handle in *@out, or CF_EIO / CF_ENOMEM (logged). Call before the loop runs.
 */
int cf_audit_open(const char *path, size_t buffer, cf_audit_t **out);

/**
 * The sink: format and queue every audited event of @ev. Loop thread only.
 * Never blocks on I/O; a line that does not fit is dropped and counted, and
 * `event=audit_dropped n=N` is logged at most once a second.
 */
void cf_audit_events(cf_audit_t *a, const cf_events_t *ev);

/**
 * Queue one preformatted line @line (@len bytes, a JSON object and its
 * newline) that is not an event of the stream, e.g. an `alert_fired` line.
 * Loop thread only; a line that does not fit is dropped and counted.
 * Returns 0 or CF_ETOOBIG when dropped.
 */
int cf_audit_write(cf_audit_t *a, const char *line, size_t len);

/** Ask the writer to reopen the file before its next write (SIGHUP). Any thread. */
void cf_audit_reopen(cf_audit_t *a);

/** Lines dropped because the queue was full, since open. Loop thread. */
uint64_t cf_audit_dropped(const cf_audit_t *a);

/** Write what is queued, fsync, stop the writer and free @a. NULL is a no-op. */
void cf_audit_close(cf_audit_t *a);

#endif
