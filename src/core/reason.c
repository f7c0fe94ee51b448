/* SPDX-License-Identifier: MIT */
#include "core/reason.h"

#include <string.h>

static const char *const reason_names[] = {
#define X(name, str, desc) str,
    CF_REASON_MAP(X)
#undef X
};

static const char *const reason_descs[] = {
#define X(name, str, desc) desc,
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
