/* Unit tests of ssl.principal.mapping.rules (core/sslmap.h): Kafka's own
 * examples and rule splitting, Java's replaceAll and group references,
 * bad rules refused with a line naming them, and the step budget. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/sslmap.h"

static ed_sslmap *rules(const char *text)
{
    ed_sslmap *m = NULL;
    char why[256] = "";
    int rc = ed_sslmap_new(text, &m, why, sizeof why);
    if (rc != ED_OK) fail_msg("rules '%s' refused: %s", text, why);
    return m;
}

static void maps(const ed_sslmap *m, const char *subject, const char *name)
{
    char out[256];
    int rc = ed_sslmap_apply(m, subject, out, sizeof out);
    if (rc != ED_OK) fail_msg("'%s' not mapped: %d", subject, rc);
    assert_string_equal(out, name);
}

/* Rules text maps subject to name. */
static void maps1(const char *text, const char *subject, const char *name)
{
    ed_sslmap *m = rules(text);
    maps(m, subject, name);
    ed_sslmap_free(m);
}

static void no_rule(const ed_sslmap *m, const char *subject)
{
    char out[256];
    assert_int_equal(ed_sslmap_apply(m, subject, out, sizeof out), ED_ERR_NOENT);
}

/* Kafka's SslPrincipalMapperTest cases. */
static void test_kafka_examples(void **state)
{
    (void)state;
    ed_sslmap *m = rules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, "
                         "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, "
                         "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, "
                         "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT");
    maps(m, "CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke");
    maps(m, "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme");
    maps(m, "cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME");
    maps(m, "cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE");
    maps(m, "OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US");
    assert_false(ed_sslmap_is_default(m));
    ed_sslmap_free(m);
    /* an escaped comma inside a name, commas inside the pattern */
    maps1("RULE:^CN=((\\\\, *|\\w)+)(,.*|$)/$1/,DEFAULT", "CN=Tkac\\, Adam,OU=ITZ,DC=geodis,DC=cz",
          "Tkac\\, Adam");
    m = rules("RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/");
    maps(m, "CN=sensor-gw-17,O=Acme", "sensor-gw-17");
    no_rule(m, "CN=DEFAULT,O=Acme");
    ed_sslmap_free(m);
    m = rules("DEFAULT");
    assert_true(ed_sslmap_is_default(m));
    maps(m, "CN=a,O=b", "CN=a,O=b");
    ed_sslmap_free(m);
}

static void test_splitting(void **state)
{
    (void)state;
    /* empty rules are skipped; nothing matches an empty list */
    ed_sslmap *m = rules(",   , , ,      , , ,   ");
    no_rule(m, "CN=x");
    ed_sslmap_free(m);
    m = rules("");
    no_rule(m, "CN=x");
    ed_sslmap_free(m);
    /* RULE:// is a rule with an empty pattern: only "" matches it */
    maps1(",,RULE://,,,DEFAULT,,", "CN=x", "CN=x");
    m = rules("  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/<$1>/,   DEFAULT  ");
    maps(m, "ABC", "ABC");
    maps(m, "abc", "<abc>");
    maps(m, "a1", "a1");
    ed_sslmap_free(m);
    /* escapes: \/ in a pattern and in a replacement */
    maps1("RULE:^a\\/b$/x\\/y/", "a/b", "x/y");
    /* Kafka's "rules rule": commas and RULE: inside patterns */
    m = rules("RULE:,RULE:,/,RULE:,\\//U,RULE:,/RULE:,/,DEFAULT");
    maps(m, ",RULE:,", ",RULE:,/");
    maps(m, ",", "RULE:,");
    ed_sslmap_free(m);
}

static void test_replace_all(void **state)
{
    (void)state;
    /* every match is replaced, as Java's replaceAll; .* also matches the
     * empty rest */
    maps1("RULE:.*/R/", "abc", "RR");
    maps1("RULE:CN=(.*?)/[$1]/", "CN=duke", "[]duke");
    /* the pattern must match the whole subject first */
    ed_sslmap *m = rules("RULE:([a-z]+)=([a-z]+),?/$2./");
    no_rule(m, "cn=duke,o=acme");
    maps(m, "cn=duke,", "duke.");
    ed_sslmap_free(m);
    /* a reference beyond the groups stays text ($4 with three groups);
     * $12 with one group is group 1 and a "2"; $0 is the whole match */
    maps1("RULE:^(a)(b)(c)$/$1$4$12-$0/", "abc", "a$4a2-abc");
    /* \$ and \\ in a replacement; an unmatched group adds nothing */
    maps1("RULE:^(x)|(y)$/\\$1\\\\$2/", "x", "$1\\");
    /* quantifiers, classes, alternation, lazy and greedy */
    m = rules("RULE:^CN=([a-z]{2,3})(?:-[0-9]+)?(,O=(\\w+))?$/$1:$3/U");
    maps(m, "CN=gw-17,O=Acme", "GW:ACME");
    maps(m, "CN=abc", "ABC:");
    no_rule(m, "CN=abcd");
    ed_sslmap_free(m);
    maps1("RULE:^(.*),(.*)$/$2/,RULE:^(.*?),(.*)$/$2/", "a,b,c", "c");
    maps1("RULE:^(.*?),(.*)$/$2/", "a,b,c", "b,c");
    maps1("RULE:^[^=]+=([^,]*)(,.*)?$/$1/L", "CN=Sensor GW,O=A", "sensor gw");
}

static void refused(const char *text, const char *says)
{
    ed_sslmap *m = NULL;
    char why[256] = "";
    assert_int_equal(ed_sslmap_new(text, &m, why, sizeof why), ED_ERR_INVAL);
    assert_null(m);
    if (!strstr(why, says)) fail_msg("'%s': '%s' lacks '%s'", text, why, says);
}

static void test_bad_rules(void **state)
{
    (void)state;
    /* Kafka's invalid rules */
    refused("default", "rule 'default'");
    refused("DEFAUL", "not DEFAULT nor RULE");
    refused("DEFAULT/L", "unexpected '/L'");
    refused("RULE:CN=(.*?),OU=ServiceUsers.*/$1", "not DEFAULT nor RULE");
    refused("rule:^CN=(.*?),OU=ServiceUsers.*$/$1/", "not DEFAULT nor RULE");
    refused("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U", "unexpected '/U'");
    refused("RULE:^CN=(.*?),OU=ServiceUsers.*$/L", "not DEFAULT nor RULE");
    refused("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/LU", "unexpected 'U'");
    refused("DEFAULT, RULE:x/y/, nonsense", "rule 'nonsense'");
    /* patterns Eddy would not read as Java does */
    refused("RULE:(?=CN)(.*)/$1/", "(?:...)");
    refused("RULE:(a)\\1/$1/", "escape");
    refused("RULE:a*+/x/", "possessive");
    refused("RULE:[[a]]/x/", "nested");
    refused("RULE:(a/x/", "')'");
    refused("RULE:a)/x/", "')'");
    refused("RULE:[a/x/", "']'");
    refused("RULE:*a/x/", "repetition of nothing");
    refused("RULE:a{3,1}/x/", "{n,m}");
    refused("RULE:[z-a]/x/", "order");
    /* replacements Java would throw on at the first connection */
    refused("RULE:abc/$1/", "group");
    refused("RULE:(abc)/$x/", "'$'");
    refused("RULE:(abc)/x\\/", "not DEFAULT nor RULE");
}

static void test_limits(void **state)
{
    (void)state;
    /* catastrophic backtracking ends at the step budget */
    ed_sslmap *m = rules("RULE:^(a*)*b$/x/");
    char subject[64];
    memset(subject, 'a', 40);
    subject[40] = '\0';
    char out[64];
    assert_int_equal(ed_sslmap_apply(m, subject, out, sizeof out), ED_ERR_BUSY);
    ed_sslmap_free(m);
    /* a name that does not fit, a subject over the limit */
    m = rules("DEFAULT");
    assert_int_equal(ed_sslmap_apply(m, "CN=longer-than-eight", out, 8), ED_ERR_TOOBIG);
    static char big[ED_SSLMAP_MAX_SUBJECT + 2];
    memset(big, 'a', sizeof big - 1);
    assert_int_equal(ed_sslmap_apply(m, big, out, sizeof out), ED_ERR_TOOBIG);
    ed_sslmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_examples), cmocka_unit_test(test_splitting),
        cmocka_unit_test(test_replace_all),    cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
