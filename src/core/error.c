/* SPDX-License-Identifier: MIT */
#include "core/error.h"

const char *cf_strerror(int err)
{
    switch (err) {
#define X(name, val, str) \
    case val:             \
        return str;
        CF_ERRNO_MAP(X)
#undef X
    case 0:
        return "ok";
    default:
        return "unknown error";
    }
}
