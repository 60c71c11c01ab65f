/* Unit tests of the bearer-token store: a token made by add verifies as
 * its user after a reopen, anything else (another secret, a changed
 * character, a wrong length or prefix, an expired or revoked token) is
 * refused the same way, and a damaged file is refused whole at open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokens.h"
#include "log_testutil.h"

#define NOW INT64_C(1765100000000)

static int verify(const ed_tokens *t, const char *token, int64_t now, char *user)
{
    return ed_tokens_verify(t, token, strlen(token), now, user, 256);
}

static void test_add_verify_revoke(void **state)
{
    (void)state;
    char *dir = lt_tmpdir(), user[256], a[ED_TOKEN_LEN + 1], b[ED_TOKEN_LEN + 1];
    ed_tokens *t;
    assert_int_equal(ed_tokens_open(dir, &t), ED_OK);
    assert_int_equal(ed_tokens_count(t), 0);
    assert_int_equal(ed_tokens_add(t, "alice", 5, NOW, 0, a), ED_OK);
    assert_int_equal(ed_tokens_add(t, "bob", 3, NOW, NOW + 1000, b), ED_OK);
    assert_int_equal(strlen(a), ED_TOKEN_LEN);
    assert_memory_equal(a, "eddy_", 5);
    ed_tokens_close(t);

    assert_int_equal(ed_tokens_open(dir, &t), ED_OK);
    assert_int_equal(ed_tokens_count(t), 2);
    assert_int_equal(verify(t, a, NOW + 1, user), ED_OK);
    assert_string_equal(user, "alice");
    assert_int_equal(verify(t, b, NOW + 999, user), ED_OK);
    assert_string_equal(user, "bob");
    /* expired at expires_ms */
    assert_int_equal(verify(t, b, NOW + 1000, user), ED_ERR_PERM);
    /* every single changed character of the secret or the id */
    char c[ED_TOKEN_LEN + 1];
    for (size_t i = 0; i < ED_TOKEN_LEN; i++) {
        memcpy(c, a, sizeof c);
        c[i] = c[i] == '0' ? '1' : '0';
        assert_int_equal(verify(t, c, NOW, user), ED_ERR_PERM);
    }
    assert_int_equal(ed_tokens_verify(t, a, ED_TOKEN_LEN - 1, NOW, user, 256), ED_ERR_PERM);
    assert_int_equal(verify(t, "", NOW, user), ED_ERR_PERM);
    assert_int_equal(verify(t, "alice:pw", NOW, user), ED_ERR_PERM);
    memcpy(c, a, sizeof c);
    c[ED_TOKEN_LEN - 1] = 'A'; /* only lower-case hex digits */
    assert_int_equal(verify(t, c, NOW, user), ED_ERR_PERM);
    /* the listing shows ids, users and times, never the secret */
    for (size_t i = 0; i < ed_tokens_count(t); i++) {
        struct ed_token_info ti = ed_tokens_get(t, i);
        bool is_a = memcmp(ti.id, a + 5, ED_TOKEN_ID_LEN) == 0;
        assert_int_equal(ti.created_ms, NOW);
        assert_int_equal(ti.expires_ms, is_a ? 0 : NOW + 1000);
        assert_int_equal(ti.user_len, is_a ? 5 : 3);
    }
    /* revoke by id, durably; the other token keeps working */
    char id[ED_TOKEN_ID_LEN + 1];
    memcpy(id, a + 5, ED_TOKEN_ID_LEN);
    id[ED_TOKEN_ID_LEN] = '\0';
    assert_int_equal(ed_tokens_revoke(t, id, strlen(id)), ED_OK);
    assert_int_equal(ed_tokens_revoke(t, id, strlen(id)), ED_ERR_NOENT);
    assert_int_equal(ed_tokens_revoke(t, "nothex", 6), ED_ERR_NOENT);
    ed_tokens_close(t);
    assert_int_equal(ed_tokens_open(dir, &t), ED_OK);
    assert_int_equal(verify(t, a, NOW, user), ED_ERR_PERM);
    assert_int_equal(verify(t, b, NOW, user), ED_OK);
    /* revoke by the whole token text */
    assert_int_equal(ed_tokens_revoke(t, b, strlen(b)), ED_OK);
    assert_int_equal(ed_tokens_count(t), 0);
    /* refusals change nothing */
    assert_int_equal(ed_tokens_add(t, "", 0, NOW, 0, c), ED_ERR_INVAL);
    assert_int_equal(ed_tokens_add(t, "x\n", 2, NOW, 0, c), ED_ERR_INVAL);
    assert_int_equal(ed_tokens_add(t, "x", 1, NOW, NOW, c), ED_ERR_INVAL);
    assert_int_equal(ed_tokens_add(t, "x", 1, NOW, -5, c), ED_ERR_INVAL);
    assert_int_equal(ed_tokens_count(t), 0);
    ed_tokens_close(t);
    lt_rmtree(dir);
    free(dir);
}

/* Every torn or bit-flipped copy of a valid file is refused whole. */
static void test_damaged_file(void **state)
{
    (void)state;
    char *dir = lt_tmpdir(), path[512], tok[ED_TOKEN_LEN + 1];
    ed_tokens *t;
    assert_int_equal(ed_tokens_open(dir, &t), ED_OK);
    assert_int_equal(ed_tokens_add(t, "carol", 5, NOW, 0, tok), ED_OK);
    assert_int_equal(ed_tokens_add(t, "dave", 4, NOW, NOW + 5, tok), ED_OK);
    ed_tokens_close(t);
    snprintf(path, sizeof path, "%s/%s", dir, ED_TOKENS_FILE);
    unsigned char good[1024], bad[1024];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(good, 1, sizeof good, f);
    fclose(f);
    assert_true(n > 16 && n < sizeof good);
    lt_capture_logs();
    for (size_t len = 0; len < n; len++)
        assert_int_equal(ed_tokens_open_image(dir, good, len, &t), ED_ERR_CORRUPT);
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, good, n);
        bad[i] ^= 0x10;
        assert_int_equal(ed_tokens_open_image(dir, bad, n, &t), ED_ERR_CORRUPT);
    }
    memcpy(bad, good, n);
    bad[n] = 0;
    assert_int_equal(ed_tokens_open_image(dir, bad, n + 1, &t), ED_ERR_CORRUPT);
    lt_release_logs();
    assert_int_equal(ed_tokens_open_image(dir, good, n, &t), ED_OK);
    assert_int_equal(ed_tokens_count(t), 2);
    ed_tokens_close(t);
    lt_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_verify_revoke),
        cmocka_unit_test(test_damaged_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
