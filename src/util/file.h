/* SPDX-License-Identifier: MIT
 *
 * Small files that must survive a crash: the signing key set
 * (DATA_DIR/keyset.json), the admin key's hash, the KEK file. One writer for
 * all of them, so every one is replaced atomically and durably the same way.
 */
#ifndef CF_UTIL_FILE_H
#define CF_UTIL_FILE_H

#include <stddef.h>

/**
 * Create @path and its missing parents with mode 0700. Returns 0, CF_EINVAL
 * (empty or too long) or CF_EIO (errno says why; @path's failing prefix is
 * not reported, callers log @path).
 */
int cf_file_mkdirs(const char *path);

/**
 * Read the whole file @path (at most @cap bytes) into a new NUL-terminated
 * buffer *@out (free it; cleanse it first when it holds a secret). Returns 0,
 * CF_ENOENT, CF_EIO, CF_ENOMEM, or CF_ETOOBIG when longer than @cap.
 */
int cf_file_read_all(const char *path, size_t cap, char **out, size_t *len);

/** fsync the directory @dir, so a rename or unlink in it is durable. 0 or CF_EIO. */
int cf_file_fsync_dir(const char *dir);

/**
 * Replace @path (in directory @dir) by @data atomically and durably, mode
 * 0600: a temp file is written, fsynced and renamed over @path, then @dir is
 * fsynced. A reader, or a restart after a crash, sees the old file or the
 * new one, never a mix; once this returns 0 the new one survives a power
 * cut. Returns 0, CF_ETOOBIG (path too long) or CF_EIO (errno says why; the
 * temp file is removed).
 */
int cf_file_replace(const char *dir, const char *path, const void *data, size_t len);

#endif
