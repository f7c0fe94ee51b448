/* SPDX-License-Identifier: MIT
 *
 * The key-set hooks of the application shell (src/api/keys.c) that the
 * cluster layer builds on: export, adopt (newer versions only, durable), and
 * the hook after a local rotation. A real cf_app_t on a temporary data dir,
 * no HTTP server started.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/error.h"
#include "core/keyset.h"
#include "util/log.h"

typedef struct {
    char dir[2][64];
    cf_config_t cfg[2];
    cf_app_t app[2];
    int calls;
    char *published;
} fixture_t;

static void on_rotate(cf_app_t *app, const char *json, void *arg)
{
    fixture_t *f = arg;

    (void)app;
    f->calls++;
    free(f->published);
    f->published = strdup(json);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    cf_log_level_set(CF_LOG_OFF);
    setenv("CURFEW_ADMIN_KEY", "unit-test-admin-key", 1);
    setenv("CURFEW_KEK", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1);
    for (int i = 0; i < 2; i++) {
        snprintf(f->dir[i], sizeof f->dir[i], "/tmp/curfew-test-keys-XXXXXX");
        assert_non_null(mkdtemp(f->dir[i]));
        cf_config_defaults(&f->cfg[i]);
        snprintf(f->cfg[i].data_dir, sizeof f->cfg[i].data_dir, "%s", f->dir[i]);
        assert_int_equal(cf_app_init(&f->app[i], &f->cfg[i], uv_default_loop()), 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    for (int i = 0; i < 2; i++)
        cf_app_stop(&f->app[i]);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* both stores' handles close */
    for (int i = 0; i < 2; i++) {
        cf_app_fini(&f->app[i]);
        cf_config_fini(&f->cfg[i]);
        snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir[i]);
        assert_int_equal(system(cmd), 0);
    }
    free(f->published);
    free(f);
    unsetenv("CURFEW_KEK");
    return 0;
}

static const char *active_kid(cf_app_t *app)
{
    return cf_jws_key_kid(cf_app_signing_key(app));
}

static void test_export_is_encrypted_under_the_kek(void **state)
{
    fixture_t *f = *state;
    char *json = NULL;

    assert_int_equal(cf_app_keyset_export(&f->app[0], &json), 0);
    assert_null(strstr(json, "\"d\""));
    assert_non_null(strstr(json, "\"A256GCM\""));
    assert_non_null(strstr(json, active_kid(&f->app[0])));
    free(json);
}

static void test_rotation_calls_the_hook_once_durable_and_peer_adopts_it(void **state)
{
    fixture_t *f = *state;
    char old[CF_JWS_KID_MAX + 1], path[128], *disk = NULL;
    size_t n = 0;
    FILE *fp;

    snprintf(old, sizeof old, "%s", active_kid(&f->app[0]));
    cf_app_keyset_set_hook(&f->app[0], on_rotate, f);
    assert_int_equal(cf_app_keys_rotate(&f->app[0], "test"), 0);
    assert_int_equal(f->calls, 1);
    assert_non_null(f->published);
    assert_string_not_equal(active_kid(&f->app[0]), old);
    /* The hook got what is on disk (same keys; nonces differ per write, so compare kids). */
    snprintf(path, sizeof path, "%s/keyset.json", f->dir[0]);
    fp = fopen(path, "r");
    assert_non_null(fp);
    disk = calloc(1, 65536);
    n = fread(disk, 1, 65535, fp);
    fclose(fp);
    assert_true(n > 0);
    assert_non_null(strstr(disk, active_kid(&f->app[0])));
    assert_non_null(strstr(f->published, active_kid(&f->app[0])));
    assert_non_null(strstr(f->published, old));
    free(disk);

    /* The other node (version 1) adopts version 2, durably; the hook is not re-fired. */
    assert_int_equal(cf_app_keyset_adopt(&f->app[1], f->published, strlen(f->published)), 1);
    assert_string_equal(active_kid(&f->app[1]), active_kid(&f->app[0]));
    assert_int_equal(cf_keyset_version(f->app[1].keys), 2);
    assert_non_null(cf_keyset_find(f->app[1].keys, old));
    assert_int_equal(f->calls, 1);
    snprintf(path, sizeof path, "%s/keyset.json", f->dir[1]);
    fp = fopen(path, "r");
    assert_non_null(fp);
    disk = calloc(1, 65536);
    assert_true(fread(disk, 1, 65535, fp) > 0);
    fclose(fp);
    assert_non_null(strstr(disk, active_kid(&f->app[0])));
    free(disk);

    /* The same document again, or an older one, is ignored. */
    assert_int_equal(cf_app_keyset_adopt(&f->app[1], f->published, strlen(f->published)), 0);
}

static void test_adopt_ignores_older_and_refuses_garbage(void **state)
{
    fixture_t *f = *state;
    char *v1 = NULL, keep[CF_JWS_KID_MAX + 1];

    assert_int_equal(cf_app_keyset_export(&f->app[1], &v1), 0); /* version 1 */
    assert_int_equal(cf_app_keys_rotate(&f->app[0], "test"), 0);   /* app 0 at version 2 */
    snprintf(keep, sizeof keep, "%s", active_kid(&f->app[0]));
    assert_int_equal(cf_app_keyset_adopt(&f->app[0], v1, strlen(v1)), 0);
    assert_string_equal(active_kid(&f->app[0]), keep);
    assert_int_equal(cf_app_keyset_adopt(&f->app[0], "{\"v\":1", 6), CF_EPARSE);
    assert_string_equal(active_kid(&f->app[0]), keep);
    free(v1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export_is_encrypted_under_the_kek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_calls_the_hook_once_durable_and_peer_adopts_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopt_ignores_older_and_refuses_garbage, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
