/* SPDX-License-Identifier: MIT */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/error.h"

int cf_file_mkdirs(const char *path)
{
    char buf[512];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof buf)
        return CF_EINVAL;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return CF_EIO;
        buf[i] = path[i];
    }
    return 0;
}

int cf_file_read_all(const char *path, size_t cap, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf;
    size_t n = 0;

    *out = NULL;
    if (fd < 0)
        return errno == ENOENT ? CF_ENOENT : CF_EIO;
    buf = malloc(cap + 2);
    if (buf == NULL) {
        close(fd);
        return CF_ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                break;
            close(fd);
            free(buf);
            return CF_EIO;
        }
        n += (size_t)r;
        if (n > cap) {
            close(fd);
            OPENSSL_cleanse(buf, n);
            free(buf);
            return CF_ETOOBIG;
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int cf_file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return CF_EIO;
    if (fsync(fd) < 0)
        rc = CF_EIO;
    close(fd);
    return rc;
}

/* Write all of @data to @fd, through short writes and EINTR. */
static int write_all(int fd, const char *data, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return CF_EIO;
        off += (size_t)w;
    }
    return 0;
}

int cf_file_replace(const char *dir, const char *path, const void *data, size_t len)
{
    char tmp[640];
    int fd, rc = CF_EIO, saved;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return CF_ETOOBIG; /* a truncated name could clobber another file */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return CF_EIO;
    /* fchmod: a stale temp file may have had another mode */
    if (fchmod(fd, 0600) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        saved = errno;
        close(fd);
        goto fail;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        saved = errno;
        goto fail;
    }
    if (cf_file_fsync_dir(dir) < 0)
        return CF_EIO; /* renamed, but not yet durable: the caller must not rely on it */
    return 0;
fail:
    (void)unlink(tmp); /* best effort: the temp file is useless now */
    errno = saved;
    return rc;
}
