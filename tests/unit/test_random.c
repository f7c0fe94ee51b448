/* SPDX-License-Identifier: MIT
 *
 * util/random.c hands out bytes from a per-thread block: no byte twice, not
 * across threads, not across fork().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/random.h"

#define DRAWS 4096

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Every 16-byte draw distinct, across block refills and odd sizes in between. */
static void test_draws_never_repeat(void **state)
{
    static uint8_t v[DRAWS][16];
    uint8_t odd[129];

    (void)state;
    for (size_t i = 0; i < DRAWS; i++) {
        cf_random_bytes(v[i], 16);
        cf_random_bytes(odd, 1 + i % sizeof odd); /* small, large and pass-through draws */
    }
    qsort(v, DRAWS, 16, cmp16);
    for (size_t i = 1; i < DRAWS; i++)
        assert_true(memcmp(v[i - 1], v[i], 16) != 0);
}

static void *draw_thread(void *arg)
{
    cf_random_bytes(arg, 16);
    return NULL;
}

static void test_threads_get_different_bytes(void **state)
{
    uint8_t a[16], b[16];
    pthread_t t;

    (void)state;
    cf_random_bytes(a, 16); /* this thread's block is filled */
    assert_int_equal(pthread_create(&t, NULL, draw_thread, b), 0);
    pthread_join(t, NULL);
    assert_true(memcmp(a, b, 16) != 0);
}

/* After fork() the child must not hand out what the parent's block still holds. */
static void test_fork_child_does_not_repeat_the_parent(void **state)
{
    uint8_t mine[16], child[16];
    int fd[2];
    pid_t pid;
    int status;

    (void)state;
    cf_random_bytes(mine, 1); /* a block is filled, most of it unused */
    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cf_random_bytes(child, 16);
        _exit(write(fd[1], child, 16) == 16 ? 0 : 1);
    }
    cf_random_bytes(mine, 16);
    assert_int_equal(read(fd[0], child, 16), 16);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(memcmp(mine, child, 16) != 0);
    close(fd[0]);
    close(fd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draws_never_repeat),
        cmocka_unit_test(test_threads_get_different_bytes),
        cmocka_unit_test(test_fork_child_does_not_repeat_the_parent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
