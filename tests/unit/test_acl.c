/* Unit tests of the ACL store and authorizer: Kafka's semantics (deny wins,
 * literal, prefixed and wildcard patterns, wildcard principal and host,
 * implied operations, super users, the no-ACL-found default), filters as
 * DescribeAcls/DeleteAcls use them, and the file: a round trip, and a torn,
 * truncated or altered file refused at open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "log_testutil.h"

#define S(x) (x), strlen(x)

static struct ed_acl_binding bind(enum ed_acl_res res, enum ed_acl_pattern pat, const char *name,
                                  const char *principal, const char *host, enum ed_acl_op op,
                                  enum ed_acl_perm perm)
{
    return (struct ed_acl_binding){res,       pat,
                                   op,        perm,
                                   name,      name ? strlen(name) : 0,
                                   principal, principal ? strlen(principal) : 0,
                                   host,      host ? strlen(host) : 0};
}

static bool can(const ed_acl *a, const char *pr, const char *host, enum ed_acl_op op,
                enum ed_acl_res res, const char *name)
{
    return ed_acl_authorize(a, pr, host, op, res, S(name));
}

static void add1(ed_acl *a, struct ed_acl_binding b)
{
    assert_int_equal(ed_acl_add(a, &b, 1), ED_OK);
}

static ed_acl *fresh(char **dir)
{
    *dir = lt_tmpdir();
    ed_acl *a;
    assert_int_equal(ed_acl_open(*dir, &a), ED_OK);
    return a;
}

static void done(ed_acl *a, char *dir)
{
    ed_acl_close(a);
    lt_rmtree(dir);
    free(dir);
}

static void test_deny_wins_and_patterns(void **state)
{
    (void)state;
    char *dir;
    ed_acl *a = fresh(&dir);
    const char *al = "User:alice", *h = "10.0.0.5";
    /* no authorizer decision without ACLs: Kafka's default refuses */
    assert_false(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "t1"));
    add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_PREFIXED, "sensor.", "User:alice", "*",
                 ED_ACL_OP_READ, ED_ACL_PERM_ALLOW));
    assert_true(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.temp"));
    assert_true(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor."));
    assert_false(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor"));
    assert_false(can(a, al, h, ED_ACL_OP_WRITE, ED_ACL_RES_TOPIC, "sensor.temp"));
    assert_false(can(a, "User:bob", h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.temp"));
    /* the same name on a group is another resource */
    assert_false(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "sensor.temp"));
    /* a literal DENY on one topic beats the prefixed ALLOW */
    add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "sensor.secret", "User:*", "*",
                 ED_ACL_OP_READ, ED_ACL_PERM_DENY));
    assert_false(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.secret"));
    assert_true(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.secrets"));
    /* DENY ALL from one host beats everything from there, nowhere else */
    add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "*", "User:alice", "10.9.9.9", ED_ACL_OP_ALL,
                 ED_ACL_PERM_DENY));
    assert_false(can(a, al, "10.9.9.9", ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.temp"));
    assert_true(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.temp"));
    /* the literal "*" applies to every name; User:* to every principal */
    add1(a, bind(ED_ACL_RES_GROUP, ED_ACL_PAT_LITERAL, "*", "User:*", h, ED_ACL_OP_READ,
                 ED_ACL_PERM_ALLOW));
    assert_true(can(a, "User:carol", h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "any-group"));
    assert_false(can(a, "User:carol", "10.0.0.6", ED_ACL_OP_READ, ED_ACL_RES_GROUP, "g"));
    /* a DENY of READ does not deny DESCRIBE (implication is for ALLOW only) */
    add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "sensor.temp", "User:alice", "*",
                 ED_ACL_OP_DESCRIBE, ED_ACL_PERM_ALLOW));
    add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "sensor.temp", "User:alice", "*",
                 ED_ACL_OP_READ, ED_ACL_PERM_DENY));
    assert_false(can(a, al, h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "sensor.temp"));
    assert_true(can(a, al, h, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, "sensor.temp"));
    done(a, dir);
}

static void test_implied_super_and_default(void **state)
{
    (void)state;
    char *dir;
    ed_acl *a = fresh(&dir);
    const char *h = "127.0.0.1";
    static const enum ed_acl_op implies_describe[] = {ED_ACL_OP_READ, ED_ACL_OP_WRITE,
                                                      ED_ACL_OP_DELETE, ED_ACL_OP_ALTER};
    char name[8];
    for (size_t i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "t%zu", i);
        add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, name, "User:u", "*", implies_describe[i],
                     ED_ACL_PERM_ALLOW));
        assert_true(can(a, "User:u", h, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, name));
        assert_false(can(a, "User:u", h, ED_ACL_OP_CREATE, ED_ACL_RES_TOPIC, name));
    }
    add1(a, bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "c", "User:u", "*", ED_ACL_OP_CREATE,
                 ED_ACL_PERM_ALLOW));
    assert_false(can(a, "User:u", h, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, "c"));
    add1(a, bind(ED_ACL_RES_CLUSTER, ED_ACL_PAT_LITERAL, ED_ACL_CLUSTER_NAME, "User:u", "*",
                 ED_ACL_OP_ALTER_CONFIGS, ED_ACL_PERM_ALLOW));
    assert_true(
        can(a, "User:u", h, ED_ACL_OP_DESCRIBE_CONFIGS, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME));
    assert_false(can(a, "User:u", h, ED_ACL_OP_DESCRIBE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME));
    add1(a, bind(ED_ACL_RES_GROUP, ED_ACL_PAT_LITERAL, "g", "User:u", "*", ED_ACL_OP_ALL,
                 ED_ACL_PERM_ALLOW));
    assert_true(can(a, "User:u", h, ED_ACL_OP_DELETE, ED_ACL_RES_GROUP, "g"));

    /* super users pass even a DENY; the list is Kafka's "a;b" with blanks */
    add1(a, bind(ED_ACL_RES_GROUP, ED_ACL_PAT_LITERAL, "g", "User:*", "*", ED_ACL_OP_ALL,
                 ED_ACL_PERM_DENY));
    assert_false(can(a, "User:admin", h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "g"));
    assert_int_equal(ed_acl_configure(a, "User:ops; User:admin ;", false), ED_OK);
    assert_true(can(a, "User:admin", h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "g"));
    assert_true(can(a, "User:ops", h, ED_ACL_OP_ALTER, ED_ACL_RES_TOPIC, "nothing"));
    assert_false(can(a, "User:u", h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "g"));
    assert_false(can(a, "User:adm", h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "g"));

    /* allow.everyone.if.no.acl.found: only where no ACL names the resource */
    assert_false(can(a, "User:x", h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "free"));
    assert_int_equal(ed_acl_configure(a, NULL, true), ED_OK);
    assert_true(can(a, "User:x", h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "free"));
    assert_false(can(a, "User:x", h, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, "t0"));
    assert_false(can(a, "User:admin", h, ED_ACL_OP_READ, ED_ACL_RES_GROUP, "g"));
    done(a, dir);
}

static void test_filters_and_remove(void **state)
{
    (void)state;
    char *dir;
    ed_acl *a = fresh(&dir);
    struct ed_acl_binding b[] = {
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "foo", "User:a", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_PREFIXED, "fo", "User:a", "*", ED_ACL_OP_WRITE,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "*", "User:b", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_GROUP, ED_ACL_PAT_LITERAL, "foo", "User:a", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
    };
    assert_int_equal(ed_acl_add(a, b, 4), ED_OK);
    assert_int_equal(ed_acl_add(a, b, 1), ED_OK); /* already there: kept once */
    assert_int_equal(ed_acl_count(a), 4);
    struct ed_acl_binding f =
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_MATCH, "foo", NULL, NULL, ED_ACL_OP_ANY, ED_ACL_PERM_ANY);
    int hits = 0;
    for (size_t i = 0; i < ed_acl_count(a); i++) {
        struct ed_acl_binding g;
        ed_acl_get(a, i, &g);
        hits += ed_acl_filter_matches(&f, &g);
    }
    assert_int_equal(hits, 3); /* the literal, the prefix and "*" */
    f = bind(ED_ACL_RES_ANY, ED_ACL_PAT_ANY, "foo", NULL, NULL, ED_ACL_OP_ANY, ED_ACL_PERM_ANY);
    size_t n;
    assert_int_equal(ed_acl_remove(a, &f, 1, &n), ED_OK);
    assert_int_equal(n, 2); /* the literal topic and group "foo" */
    f = bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_PREFIXED, NULL, "User:b", NULL, ED_ACL_OP_ANY,
             ED_ACL_PERM_ANY);
    assert_int_equal(ed_acl_remove(a, &f, 1, &n), ED_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ed_acl_count(a), 2);

    /* invalid bindings change nothing */
    struct ed_acl_binding bad[] = {
        bind(ED_ACL_RES_ANY, ED_ACL_PAT_LITERAL, "x", "User:a", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_MATCH, "x", "User:a", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "x", "alice", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "x", "User:a", "*", ED_ACL_OP_ANY,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_CLUSTER, ED_ACL_PAT_LITERAL, "x", "User:a", "*", ED_ACL_OP_ALTER,
             ED_ACL_PERM_ALLOW),
        bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "", "User:a", "*", ED_ACL_OP_READ,
             ED_ACL_PERM_ALLOW),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ed_acl_binding two[2] = {b[3], bad[i]};
        assert_int_equal(ed_acl_add(a, two, 2), ED_ERR_INVAL);
    }
    assert_int_equal(ed_acl_count(a), 2);
    done(a, dir);
}

static char *file_of(const char *dir)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, ED_ACL_FILE);
    return p;
}

static void test_file_round_trip_and_damage(void **state)
{
    (void)state;
    char *dir;
    ed_acl *a = fresh(&dir);
    assert_false(lt_exists(file_of(dir)));
    add1(a, bind(ED_ACL_RES_TRANSACTIONAL_ID, ED_ACL_PAT_PREFIXED, "tx-", "User:CN=dev,O=Plant",
                 "192.168.7.2", ED_ACL_OP_WRITE, ED_ACL_PERM_ALLOW));
    add1(a, bind(ED_ACL_RES_CLUSTER, ED_ACL_PAT_LITERAL, ED_ACL_CLUSTER_NAME, "User:ops", "*",
                 ED_ACL_OP_IDEMPOTENT_WRITE, ED_ACL_PERM_DENY));
    ed_acl_close(a);
    assert_int_equal(ed_acl_open(dir, &a), ED_OK);
    assert_int_equal(ed_acl_count(a), 2);
    struct ed_acl_binding g;
    ed_acl_get(a, 0, &g);
    assert_int_equal(g.res_type, ED_ACL_RES_TRANSACTIONAL_ID);
    assert_int_equal(g.pattern, ED_ACL_PAT_PREFIXED);
    assert_int_equal(g.op, ED_ACL_OP_WRITE);
    assert_int_equal(g.perm, ED_ACL_PERM_ALLOW);
    assert_true(g.principal_len == 19 && memcmp(g.principal, "User:CN=dev,O=Plant", 19) == 0);
    assert_true(g.host_len == 11 && memcmp(g.host, "192.168.7.2", 11) == 0);
    assert_true(ed_acl_authorize(a, "User:CN=dev,O=Plant", "192.168.7.2", ED_ACL_OP_DESCRIBE,
                                 ED_ACL_RES_TRANSACTIONAL_ID, S("tx-1")));
    ed_acl_close(a);

    long long size = lt_file_size(file_of(dir));
    assert_true(size > 16);
    FILE *f = fopen(file_of(dir), "rb");
    assert_non_null(f);
    unsigned char img[1024];
    assert_int_equal(fread(img, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    /* a torn write (every shorter prefix), a flipped bit anywhere, a byte
     * more: refused whole, by the file and by the image */
    lt_capture_logs();
    for (long long cut = 0; cut < size; cut++) {
        f = fopen(file_of(dir), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(img, 1, (size_t)cut, f), (size_t)cut);
        fclose(f);
        assert_int_equal(ed_acl_open(dir, &a), ED_ERR_CORRUPT);
    }
    for (long long i = 0; i < size; i++) {
        img[i] ^= 0x10;
        assert_int_equal(ed_acl_open_image(dir, img, (size_t)size, &a), ED_ERR_CORRUPT);
        img[i] ^= 0x10;
    }
    img[size] = 0;
    assert_int_equal(ed_acl_open_image(dir, img, (size_t)size + 1, &a), ED_ERR_CORRUPT);
    assert_true(lt_log_contains("acls: bytes after the last record"));
    lt_release_logs();
    assert_int_equal(ed_acl_open_image(dir, img, (size_t)size, &a), ED_OK);
    assert_int_equal(ed_acl_count(a), 2);
    ed_acl_close(a);
    lt_rmtree(dir);
    free(dir);
}

/* ---- the index against a linear scan ---- */

/* Kafka's rules by a scan of every binding: the authorizer as it was
 * before bindings were indexed, kept here as the oracle. */
static bool oracle(const ed_acl *a, bool allow_if_no_acl, const char *pr, const char *host,
                   enum ed_acl_op op, enum ed_acl_res res, const char *name)
{
    if (ed_acl_is_super(a, pr)) return true;
    bool any = false, allowed = false;
    size_t nl = strlen(name);
    for (size_t i = 0; i < ed_acl_count(a); i++) {
        struct ed_acl_binding b;
        ed_acl_get(a, i, &b);
        bool star = b.name_len == 1 && b.name[0] == '*';
        bool named = b.name_len == nl && memcmp(b.name, name, nl) == 0;
        bool prefix = b.name_len <= nl && memcmp(b.name, name, b.name_len) == 0;
        if (b.res_type != res || !(b.pattern == ED_ACL_PAT_PREFIXED ? prefix : named || star))
            continue;
        any = true;
        bool who =
            (b.principal_len == strlen(pr) && memcmp(b.principal, pr, b.principal_len) == 0) ||
            (b.principal_len == 6 && memcmp(b.principal, "User:*", 6) == 0);
        bool where = (b.host_len == strlen(host) && memcmp(b.host, host, b.host_len) == 0) ||
                     (b.host_len == 1 && b.host[0] == '*');
        if (!who || !where) continue;
        if (b.perm == ED_ACL_PERM_DENY && (b.op == op || b.op == ED_ACL_OP_ALL)) return false;
        if (b.perm == ED_ACL_PERM_ALLOW &&
            (b.op == op || b.op == ED_ACL_OP_ALL ||
             (op == ED_ACL_OP_DESCRIBE && (b.op == ED_ACL_OP_READ || b.op == ED_ACL_OP_WRITE ||
                                           b.op == ED_ACL_OP_DELETE || b.op == ED_ACL_OP_ALTER)) ||
             (op == ED_ACL_OP_DESCRIBE_CONFIGS && b.op == ED_ACL_OP_ALTER_CONFIGS)))
            allowed = true;
    }
    return allowed || (!any && allow_if_no_acl);
}

static unsigned pick(unsigned *seed, unsigned n)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) % n;
}

/* Random stores over small alphabets (so that names, prefixes,
 * principals and hosts collide), changed by adds and removes, asked random
 * questions: the index answers as the scan does. */
static void test_index_matches_scan(void **state)
{
    (void)state;
    static const char *const names[] = {"a", "ab", "abc", "b", "ba", "*", "abd", "a.b"};
    static const char *const asked[] = {"a", "ab", "abc", "abcd", "b", "ba", "*", "c", "a.b.c", ""};
    static const char *const prs[] = {"User:alice", "User:bob", "User:*", "User:carol"};
    static const char *const hosts[] = {"*", "10.0.0.1", "10.0.0.2"};
    unsigned seed = 20261207;
    char *dir;
    ed_acl *a = fresh(&dir);
    for (int round = 0; round < 150; round++) {
        bool allow_if_no_acl = pick(&seed, 2);
        assert_int_equal(ed_acl_configure(a, pick(&seed, 4) ? "" : "User:carol", allow_if_no_acl),
                         ED_OK);
        /* many principals on one name now and then: the searched runs */
        size_t n_add = pick(&seed, 4) ? 1 + pick(&seed, 6) : 40;
        struct ed_acl_binding b[40];
        char many[40][32];
        for (size_t i = 0; i < n_add; i++) {
            enum ed_acl_res res = (enum ed_acl_res)(ED_ACL_RES_TOPIC + pick(&seed, 4));
            bool prefixed = res != ED_ACL_RES_CLUSTER && pick(&seed, 3) == 0;
            const char *name =
                res == ED_ACL_RES_CLUSTER ? ED_ACL_CLUSTER_NAME : names[pick(&seed, 8)];
            const char *pr = prs[pick(&seed, 3)];
            if (n_add == 40) {
                snprintf(many[i], sizeof many[i], "User:u%zu", i);
                pr = i % 13 ? many[i] : prs[pick(&seed, 3)];
            }
            b[i] = bind(res, prefixed ? ED_ACL_PAT_PREFIXED : ED_ACL_PAT_LITERAL, name, pr,
                        hosts[pick(&seed, 3)], (enum ed_acl_op)(ED_ACL_OP_ALL + pick(&seed, 11)),
                        pick(&seed, 4) ? ED_ACL_PERM_ALLOW : ED_ACL_PERM_DENY);
        }
        assert_int_equal(ed_acl_add(a, b, n_add), ED_OK);
        if (pick(&seed, 3) == 0) { /* remove what one filter matches */
            struct ed_acl_binding f = bind(ED_ACL_RES_ANY, ED_ACL_PAT_ANY, NULL, NULL, NULL,
                                           ED_ACL_OP_ANY, ED_ACL_PERM_ANY);
            f.principal = prs[pick(&seed, 3)];
            f.principal_len = strlen(f.principal);
            size_t gone;
            assert_int_equal(ed_acl_remove(a, &f, 1, &gone), ED_OK);
        }
        for (int k = 0; k < 300; k++) {
            enum ed_acl_res res = (enum ed_acl_res)(ED_ACL_RES_TOPIC + pick(&seed, 4));
            const char *name = res == ED_ACL_RES_CLUSTER && pick(&seed, 2) ? ED_ACL_CLUSTER_NAME
                                                                           : asked[pick(&seed, 10)];
            const char *pr = pick(&seed, 5) ? prs[pick(&seed, 4)] : "User:u7";
            const char *host = hosts[1 + pick(&seed, 2)];
            enum ed_acl_op op = (enum ed_acl_op)(ED_ACL_OP_READ + pick(&seed, 10));
            bool want = oracle(a, allow_if_no_acl, pr, host, op, res, name);
            if (can(a, pr, host, op, res, name) != want)
                fail_msg("round %d: %s from %s, op %d on %d:'%s': index %d, scan %d (%zu bindings)",
                         round, pr, host, op, res, name, !want, want, ed_acl_count(a));
        }
    }
    assert_true(ed_acl_count(a) > 100);
    done(a, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deny_wins_and_patterns),
        cmocka_unit_test(test_implied_super_and_default),
        cmocka_unit_test(test_filters_and_remove),
        cmocka_unit_test(test_file_round_trip_and_damage),
        cmocka_unit_test(test_index_matches_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
