/* SPDX-License-Identifier: MIT
 *
 * The alert webhook: POST a JSON body to http[s]://host:port/path, off the
 * loop thread. Over https the receiver's certificate must chain to the
 * configured CA file (or the system's CAs) and name the URL's host; a
 * receiver that fails this is a failed attempt like one that is down. cf_webhook_post() only copies the body into a bounded queue; one
 * worker thread sends each with a blocking socket (2 s timeouts) and retries
 * a failure (no connection, no 2xx) with exponential backoff, at most
 * CF_WEBHOOK_ATTEMPTS times, then drops it. A full queue drops the new body.
 * Both kinds of loss are counted, never silent.
 */
#ifndef CF_OBS_WEBHOOK_H
#define CF_OBS_WEBHOOK_H
#include <stddef.h>
#include <stdint.h>

#define CF_WEBHOOK_ATTEMPTS 3
#define CF_WEBHOOK_BACKOFF_MS 200 /* before the 2nd attempt; doubled each time */

typedef struct cf_webhook cf_webhook_t;

/**
 * Start a webhook for @url queueing at most @queue bodies; an https:// URL
 * verifies the receiver against the PEM CAs in @ca ("" or NULL: the system's).
 * Returns 0 with *@out set (freed by cf_webhook_free), CF_EINVAL for a bad
 * URL or CA file, CF_ENOMEM or CF_EIO (the thread could not start).
 */
int cf_webhook_new(const char *url, const char *ca, size_t queue, cf_webhook_t **out);

/** Queue a copy of @body (@len bytes). Returns 0, or CF_ETOOBIG when the queue is full (dropped, counted). */
int cf_webhook_post(cf_webhook_t *w, const char *body, size_t len);

/** Bodies delivered, given up after every attempt, and dropped for a full queue. */
void cf_webhook_stats(cf_webhook_t *w, uint64_t *sent, uint64_t *failed, uint64_t *dropped);

/** Stop the worker (a delivery under way finishes its attempt), drop what is queued, free. */
void cf_webhook_free(cf_webhook_t *w);

#endif
