/* SPDX-License-Identifier: MIT
 *
 * An LD_PRELOAD shim for fault tests: while the file named by
 * CURFEW_FAILSYNC_FLAG exists, fsync, fdatasync and syncfs fail with EIO
 * (what a dying disk or a lost iSCSI path reports), and nothing is synced.
 * Without the variable, or once the file is gone, every call goes to libc.
 *
 * Build: cc -shared -fPIC -o failsync.so failsync.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void)
{
    const char *flag = getenv("CURFEW_FAILSYNC_FLAG");

    return flag != NULL && flag[0] != '\0' && access(flag, F_OK) == 0;
}

#define PASS_THROUGH(name, ...)                                                         \
    do {                                                                                \
        static int (*real)(int);                                                        \
        if (failing()) {                                                                \
            errno = EIO;                                                                \
            return -1;                                                                  \
        }                                                                               \
        if (real == NULL)                                                               \
            real = (int (*)(int))dlsym(RTLD_NEXT, name);                                \
        return real != NULL ? real(__VA_ARGS__) : (errno = ENOSYS, -1);                 \
    } while (0)

int fsync(int fd)
{
    PASS_THROUGH("fsync", fd);
}

int fdatasync(int fd)
{
    PASS_THROUGH("fdatasync", fd);
}

int syncfs(int fd)
{
    PASS_THROUGH("syncfs", fd);
}
