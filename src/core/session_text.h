/* SPDX-License-Identifier: MIT
 *
 * A session's JSON view (the one cf_app_session_json() builds with jansson)
 * written straight into a buffer: a page of GET /v1/sessions at a million
 * sessions spent most of its turn in malloc, building and freeing some thirty
 * jansson values per session. The bytes are exactly those json_dumps(...,
 * JSON_COMPACT) writes for cf_app_session_json(); tests/unit/test_session_text.c
 * holds the two to it.
 */
#ifndef CF_CORE_SESSION_TEXT_H
#define CF_CORE_SESSION_TEXT_H

#include <stddef.h>

#include "core/clock.h"
#include "core/jsonw.h"
#include "core/session.h"

/** The most bytes cf_session_text() writes for @s. */
size_t cf_session_text_max(const cf_session_t *s);

/**
 * Append @s's view as of @now to @w. On a string that is not valid UTF-8
 * (which jansson would have left out of the object) @w->err is CF_EINVAL:
 * the caller falls back to cf_app_session_json() for the page.
 */
void cf_session_text(cf_jsonw_t *w, const cf_session_t *s, cf_time_t now);

#endif /* CF_CORE_SESSION_TEXT_H */
