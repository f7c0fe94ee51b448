/* SPDX-License-Identifier: MIT
 *
 * Errors, as opposed to verdicts. A refused token is a normal answer (see
 * reason.h); these are for things that went wrong: bad input that cannot be
 * interpreted, a full buffer, a failing disk. Functions return 0 or one of
 * these negative values (libuv style).
 */
#ifndef CF_CORE_ERROR_H
#define CF_CORE_ERROR_H

#define CF_ERRNO_MAP(X)                                      \
    X(EINVAL, -22, "invalid argument")                       \
    X(ENOMEM, -12, "out of memory")                          \
    X(ENOENT, -2, "not found")                               \
    X(EEXIST, -17, "already exists")                         \
    X(EIO, -5, "i/o error")                                  \
    X(ETOOBIG, -1001, "input too large")                     \
    X(ESTORE, -1002, "store failure")                        \
    X(ECRYPTO, -1003, "cryptographic failure")               \
    X(ECONFIG, -1004, "invalid configuration")               \
    X(EPARSE, -1005, "malformed input")                      \
    X(ENOTSUP, -1006, "not supported")

typedef enum {
#define X(name, val, str) CF_##name = (val),
    CF_ERRNO_MAP(X)
#undef X
} cf_errno_t;

/** Human text for an error code; never NULL. */
const char *cf_strerror(int err);

#endif
