/* Unit tests of the user store: a round trip through the file (reopen sees
 * the same credentials, passwords check against them, both mechanisms
 * answer a real SCRAM exchange), deletion, limits, and refusal of a torn,
 * truncated or altered file at open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/users.h"
#include "log_testutil.h"

static char *store_path(const char *dir)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, ED_USERS_FILE);
    return p;
}

static size_t slurp(const char *path, unsigned char *b, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(b, 1, cap, f);
    fclose(f);
    return n;
}

static void spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static bool contains(const unsigned char *b, size_t n, const char *needle)
{
    size_t l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(b + i, needle, l) == 0) return true;
    return false;
}

static enum ed_sasl_status scram(ed_users *u, enum ed_sasl_mech m, const char *name, const char *pw)
{
    ed_sasl_server *s;
    ed_sasl_client *c;
    assert_int_equal(ed_sasl_server_new(m, ed_users_sasl_lookup, u, &s), ED_OK);
    assert_int_equal(ed_sasl_client_new(m, name, pw, &c), ED_OK);
    const uint8_t *co, *so;
    size_t col, sol;
    enum ed_sasl_status ss = ED_SASL_FAILED;
    enum ed_sasl_status cs = ed_sasl_client_step(c, NULL, 0, &co, &col);
    while (cs == ED_SASL_CONTINUE) {
        ss = ed_sasl_server_step(s, co, col, &so, &sol);
        if (ss == ED_SASL_FAILED) break;
        cs = ed_sasl_client_step(c, so, sol, &co, &col);
        if (ss == ED_SASL_DONE) break;
    }
    ed_sasl_client_free(c);
    ed_sasl_server_free(s);
    return ss;
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    ed_users *u;
    assert_int_equal(ed_users_open(dir, &u), ED_OK);
    assert_int_equal(ed_users_count(u), 0);
    assert_false(lt_exists(store_path(dir)));
    assert_int_equal(ed_users_set_password(u, "bob", 3, "builder", 7, 4096), ED_OK);
    assert_int_equal(ed_users_set_password(u, "alice", 5, "wonder", 6, 8192), ED_OK);
    assert_int_equal(ed_users_count(u), 4);
    ed_users_close(u);

    assert_int_equal(ed_users_open(dir, &u), ED_OK);
    assert_int_equal(ed_users_count(u), 4);
    struct ed_user_info ui = ed_users_get(u, 0);
    assert_true(ui.name_len == 5 && memcmp(ui.name, "alice", 5) == 0);
    assert_int_equal(ui.mech, ED_SASL_SCRAM_SHA_256);
    assert_int_equal(ui.iterations, 8192);
    ui = ed_users_get(u, 3);
    assert_true(ui.name_len == 3 && memcmp(ui.name, "bob", 3) == 0);
    assert_int_equal(ui.mech, ED_SASL_SCRAM_SHA_512);
    assert_int_equal(ed_users_check_password(u, "alice", 5, "wonder", 6), ED_OK);
    assert_int_equal(ed_users_check_password(u, "alice", 5, "wondeR", 6), ED_ERR_PERM);
    assert_int_equal(ed_users_check_password(u, "carol", 5, "wonder", 6), ED_ERR_PERM);
    assert_int_equal(scram(u, ED_SASL_SCRAM_SHA_256, "bob", "builder"), ED_SASL_DONE);
    assert_int_equal(scram(u, ED_SASL_SCRAM_SHA_512, "bob", "builder"), ED_SASL_DONE);
    assert_int_equal(scram(u, ED_SASL_PLAIN, "alice", "wonder"), ED_SASL_DONE);
    assert_int_equal(scram(u, ED_SASL_SCRAM_SHA_512, "bob", "build"), ED_SASL_FAILED);

    /* one mechanism removed: the other still checks passwords */
    assert_int_equal(ed_users_delete(u, "bob", 3, ED_SASL_SCRAM_SHA_256), ED_OK);
    assert_int_equal(ed_users_delete(u, "bob", 3, ED_SASL_SCRAM_SHA_256), ED_ERR_NOENT);
    assert_int_equal(ed_users_check_password(u, "bob", 3, "builder", 7), ED_OK);
    assert_int_equal(scram(u, ED_SASL_SCRAM_SHA_256, "bob", "builder"), ED_SASL_FAILED);
    assert_int_equal(ed_users_delete(u, "bob", 3, 0), ED_OK);
    assert_int_equal(ed_users_delete(u, "nobody", 6, 0), ED_ERR_NOENT);
    ed_users_close(u);
    assert_int_equal(ed_users_open(dir, &u), ED_OK);
    assert_int_equal(ed_users_count(u), 2);
    assert_int_equal(ed_users_check_password(u, "bob", 3, "builder", 7), ED_ERR_PERM);

    /* a credential as AlterUserScramCredentials carries it */
    struct ed_scram_cred c;
    uint8_t salt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(ed_scram_cred_make(ED_SASL_SCRAM_SHA_512, "pw", 2, salt, 8, 4096, &c), ED_OK);
    assert_int_equal(ed_users_put(u, "a,b=c", 5, ED_SASL_SCRAM_SHA_512, &c), ED_OK);
    assert_int_equal(scram(u, ED_SASL_SCRAM_SHA_512, "a,b=c", "pw"), ED_SASL_DONE);
    /* the store holds no password: the file never contains one */
    unsigned char b[8192];
    size_t n = slurp(store_path(dir), b, sizeof b);
    assert_false(contains(b, n, "wonder"));
    assert_true(contains(b, n, "alice"));
    ed_users_close(u);
    lt_rmtree(dir);
    free(dir);
}

static void test_refusals(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    ed_users *u;
    assert_int_equal(ed_users_open(dir, &u), ED_OK);
    struct ed_scram_cred c;
    memset(&c, 0, sizeof c);
    c.iterations = 4095;
    c.salt_len = 4;
    assert_int_equal(ed_users_put(u, "x", 1, ED_SASL_SCRAM_SHA_256, &c), ED_ERR_INVAL);
    c.iterations = 4096;
    assert_int_equal(ed_users_put(u, "x", 1, ED_SASL_PLAIN, &c), ED_ERR_INVAL);
    assert_int_equal(ed_users_put(u, "", 0, ED_SASL_SCRAM_SHA_256, &c), ED_ERR_INVAL);
    assert_int_equal(ed_users_put(u, "a\nb", 3, ED_SASL_SCRAM_SHA_256, &c), ED_ERR_INVAL);
    assert_int_equal(ed_users_set_password(u, "x", 1, "", 0, 4096), ED_ERR_INVAL);
    assert_int_equal(ed_users_set_password(u, "x", 1, "p", 1, 100), ED_ERR_INVAL);
    assert_int_equal(ed_users_count(u), 0);
    assert_false(lt_exists(store_path(dir)));
    ed_users_close(u);
    lt_rmtree(dir);
    free(dir);
}

/* Every damaged copy of a valid file is refused whole at open. */
static void test_damaged_file(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    ed_users *u;
    assert_int_equal(ed_users_open(dir, &u), ED_OK);
    assert_int_equal(ed_users_set_password(u, "bob", 3, "builder", 7, 4096), ED_OK);
    ed_users_close(u);
    unsigned char good[4096], bad[4096];
    size_t n = slurp(store_path(dir), good, sizeof good);
    assert_true(n > 16);

    lt_capture_logs();
    /* torn: every shorter prefix, including an empty file */
    for (size_t len = 0; len < n; len++) {
        spit(store_path(dir), good, len);
        assert_int_equal(ed_users_open(dir, &u), ED_ERR_CORRUPT);
    }
    /* one flipped bit anywhere */
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, good, n);
        bad[i] ^= 0x10;
        spit(store_path(dir), bad, n);
        assert_int_equal(ed_users_open(dir, &u), ED_ERR_CORRUPT);
    }
    /* trailing bytes */
    lt_capture_logs();
    memcpy(bad, good, n);
    bad[n] = 0;
    spit(store_path(dir), bad, n + 1);
    assert_int_equal(ed_users_open(dir, &u), ED_ERR_CORRUPT);
    assert_true(lt_log_contains("bytes after the last record"));
    lt_release_logs();

    spit(store_path(dir), good, n);
    assert_int_equal(ed_users_open(dir, &u), ED_OK);
    assert_int_equal(ed_users_check_password(u, "bob", 3, "builder", 7), ED_OK);
    ed_users_close(u);
    lt_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_damaged_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
