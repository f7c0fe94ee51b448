/* SPDX-License-Identifier: MIT */
#include "core/reason.h"

#include <string.h>

static const char *const reason_names[] = {
#define X(name, str, desc, st, err, bst, berr, tst, terr, ch) str,
    CF_REASON_MAP(X)
#undef X
};

static const char *const reason_descs[] = {
#define X(name, str, desc, st, err, bst, berr, tst, terr, ch) desc,
    CF_REASON_MAP(X)
#undef X
};

/* One answer per endpoint kind; 0 / NULL in a column means "as for CF_ENDPOINT_API". */
typedef struct {
    int status[CF_ENDPOINT__COUNT];
    const char *error[CF_ENDPOINT__COUNT];
    const char *challenge;
} answer_t;

static const answer_t answers[] = {
#define X(name, str, desc, st, err, bst, berr, tst, terr, ch) {{st, bst, tst}, {err, berr, terr}, ch},
    CF_REASON_MAP(X)
#undef X
};

static const char *const end_names[] = {
#define X(name, str, refusal) str,
    CF_END_MAP(X)
#undef X
};

static const cf_reason_t end_refusals[] = {
#define X(name, str, refusal) refusal,
    CF_END_MAP(X)
#undef X
};

const char *cf_reason_name(cf_reason_t r)
{
    return (unsigned)r < CF_REASON__COUNT ? reason_names[r] : "unknown";
}

const char *cf_reason_describe(cf_reason_t r)
{
    return (unsigned)r < CF_REASON__COUNT ? reason_descs[r] : "unknown reason";
}

cf_reason_t cf_reason_from_name(const char *name)
{
    for (int i = 0; i < CF_REASON__COUNT; i++)
        if (strcmp(reason_names[i], name) == 0)
            return (cf_reason_t)i;
    return CF_REASON__COUNT;
}

int cf_reason_status(cf_reason_t r, cf_endpoint_t kind)
{
    const answer_t *a;

    if ((unsigned)r >= CF_REASON__COUNT || r == CF_REASON_NONE)
        return 500;
    a = &answers[r];
    if ((unsigned)kind < CF_ENDPOINT__COUNT && a->status[kind] != 0)
        return a->status[kind];
    return a->status[CF_ENDPOINT_API];
}

const char *cf_reason_error(cf_reason_t r, cf_endpoint_t kind)
{
    const answer_t *a;

    if ((unsigned)r >= CF_REASON__COUNT || r == CF_REASON_NONE)
        return "server_error";
    a = &answers[r];
    if ((unsigned)kind < CF_ENDPOINT__COUNT && a->error[kind] != NULL)
        return a->error[kind];
    return a->error[CF_ENDPOINT_API];
}

const char *cf_reason_challenge(cf_reason_t r)
{
    return (unsigned)r < CF_REASON__COUNT ? answers[r].challenge : NULL;
}

const char *cf_end_name(cf_end_t e)
{
    return (unsigned)e < CF_END__COUNT ? end_names[e] : "unknown";
}

cf_reason_t cf_end_refusal(cf_end_t e)
{
    return (unsigned)e < CF_END__COUNT ? end_refusals[e] : CF_REASON_SESSION_REVOKED;
}

cf_end_t cf_end_from_name(const char *name)
{
    for (int i = 0; i < CF_END__COUNT; i++)
        if (strcmp(end_names[i], name) == 0)
            return (cf_end_t)i;
    return CF_END__COUNT;
}
