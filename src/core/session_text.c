/* SPDX-License-Identifier: MIT
 *
 * A session's JSON view without allocations: see session_text.h.
 */
#include <string.h>

#include "core/session_text.h"

/* Plain member names and punctuation: "," then "\"name\":" */
#define KEY(w, first, name) cf_jsonw_raw((w), (first) ? "\"" name "\":" : ",\"" name "\":", \
                                         sizeof(name) + 2 + !(first))

size_t cf_session_text_max(const cf_session_t *s)
{
    size_t n = strlen(s->id) + strlen(s->sub) + strlen(cf_session_client_id(s)) +
               2 * strlen(cf_session_roles(s)) + strlen(cf_session_scope(s));

    /* 6 bytes per string byte at worst (\u00XX), the quotes and commas of
     * every role, and the fixed part: names, punctuation, 8 integers. */
    return 6 * n + 512;
}

static void roles_text(cf_jsonw_t *w, const char *roles)
{
    const char *p = roles;
    int first = 1;

    cf_jsonw_raw(w, "[", 1);
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) {
            if (!first)
                cf_jsonw_raw(w, ",", 1);
            cf_jsonw_strn(w, p, n);
            first = 0;
        }
        p += n + (e != NULL);
    }
    cf_jsonw_raw(w, "]", 1);
}

void cf_session_text(cf_jsonw_t *w, const cf_session_t *s, cf_time_t now)
{
    cf_time_t ended_at;
    cf_end_t end = cf_session_end_at(s, now, &ended_at);

    cf_jsonw_raw(w, "{", 1);
    KEY(w, 1, "session_id");
    cf_jsonw_str(w, s->id);
    KEY(w, 0, "sub");
    cf_jsonw_str(w, s->sub);
    KEY(w, 0, "client_id");
    cf_jsonw_str(w, cf_session_client_id(s));
    KEY(w, 0, "roles");
    roles_text(w, cf_session_roles(s));
    KEY(w, 0, "scope");
    cf_jsonw_str(w, cf_session_scope(s));
    KEY(w, 0, "auth_time");
    cf_jsonw_int(w, cf_time_to_sec(cf_session_auth_time(s)));
    KEY(w, 0, "created_at");
    cf_jsonw_int(w, cf_time_to_sec(s->created_at));
    KEY(w, 0, "last_activity");
    cf_jsonw_int(w, cf_time_to_sec(cf_session_last_activity(s)));
    KEY(w, 0, "idle_expires_at");
    cf_jsonw_int(w, cf_time_to_sec(cf_session_idle_deadline(s)));
    KEY(w, 0, "absolute_expires_at");
    cf_jsonw_int(w, cf_time_to_sec(cf_session_absolute_deadline(s)));
    KEY(w, 0, "idle_timeout");
    cf_jsonw_int(w, cf_session_limits(s)->idle_timeout / CF_SEC);
    KEY(w, 0, "absolute_timeout");
    cf_jsonw_int(w, cf_session_limits(s)->absolute_timeout / CF_SEC);
    KEY(w, 0, "state");
    cf_jsonw_raw(w, end == CF_END_NONE ? "\"active\"" : "\"ended\"", end == CF_END_NONE ? 8 : 7);
    KEY(w, 0, "end_reason");
    if (end == CF_END_NONE)
        cf_jsonw_raw(w, "null", 4);
    else
        cf_jsonw_str(w, cf_end_name(end));
    KEY(w, 0, "ended_at");
    if (end == CF_END_NONE)
        cf_jsonw_raw(w, "null", 4);
    else
        cf_jsonw_int(w, cf_time_to_sec(ended_at));
    cf_jsonw_raw(w, "}", 1);
}
