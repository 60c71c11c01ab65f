/* Unit tests of the metrics registry (core/metrics.c): per-topic counters
 * and their overflow row, requests, connections, histogram buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static const struct ed_metrics_topic *find(const char *name)
{
    const struct ed_metrics *m = ed_metrics_get();
    for (int i = 0; i < m->n_topics; i++)
        if (strcmp(m->topics[i].name, name) == 0) return &m->topics[i];
    return NULL;
}

static void test_topics(void **state)
{
    (void)state;
    ed_metrics_reset();
    ed_metrics_in(ED_METRICS_KAFKA, "a", 3, 300);
    ed_metrics_in(ED_METRICS_MQTT, "a", 1, 50);
    ed_metrics_in(ED_METRICS_KAFKA, "a", 2, 200);
    ed_metrics_out(ED_METRICS_KAFKA, "b", 0, 70);
    const struct ed_metrics_topic *a = find("a"), *b = find("b");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->n_in[ED_METRICS_KAFKA], 5);
    assert_int_equal(a->len_in[ED_METRICS_KAFKA], 500);
    assert_int_equal(a->n_in[ED_METRICS_MQTT], 1);
    assert_int_equal(b->len_out[ED_METRICS_KAFKA], 70);
    assert_int_equal(ed_metrics_get()->n_topics, 2);
    /* past the table, traffic is counted under "_other" */
    char name[32];
    for (int i = 0; i < ED_METRICS_MAX_TOPICS + 10; i++) {
        snprintf(name, sizeof name, "t%d", i);
        ed_metrics_in(ED_METRICS_HTTP, name, 1, 1);
    }
    const struct ed_metrics_topic *o = find("_other");
    assert_non_null(o);
    /* 127 rows of their own: a, b and 125 of the t names; 13 left over */
    assert_int_equal(o->n_in[ED_METRICS_HTTP],
                     ED_METRICS_MAX_TOPICS + 10 - (ED_METRICS_MAX_TOPICS - 3));
    assert_int_equal(ed_metrics_get()->n_topics, ED_METRICS_MAX_TOPICS);
    assert_int_equal(find("a")->n_in[ED_METRICS_KAFKA], 5); /* still its own */
    ed_metrics_in(ED_METRICS_HTTP, "t0", 1, 1);
    assert_int_equal(find("t0")->n_in[ED_METRICS_HTTP], 2);
}

static void test_requests_conns(void **state)
{
    (void)state;
    ed_metrics_reset();
    ed_metrics_request(ED_METRICS_KAFKA, 0, false);
    ed_metrics_request(ED_METRICS_KAFKA, 0, true);
    ed_metrics_request(ED_METRICS_KAFKA, 5000, false); /* clamped */
    ed_metrics_conn(ed_metrics_proto_of("MQTT"), 1);
    ed_metrics_conn(ed_metrics_proto_of("MQTT"), 1);
    ed_metrics_conn(ed_metrics_proto_of("MQTT"), -1);
    const struct ed_metrics *m = ed_metrics_get();
    assert_int_equal(m->n_requests[ED_METRICS_KAFKA][0], 2);
    assert_int_equal(m->n_errors[ED_METRICS_KAFKA][0], 1);
    assert_int_equal(m->n_requests[ED_METRICS_KAFKA][ED_METRICS_MAX_API - 1], 1);
    assert_int_equal(m->n_conns_open[ED_METRICS_MQTT], 1);
    assert_int_equal(m->n_conns_accepted[ED_METRICS_MQTT], 2);
    assert_int_equal(ed_metrics_proto_of("Kafka"), ED_METRICS_KAFKA);
    assert_int_equal(ed_metrics_proto_of("HTTP"), ED_METRICS_HTTP);
    assert_int_equal(ed_metrics_proto_of("Gopher"), ED_METRICS_OTHER);
    assert_string_equal(ed_metrics_proto_name(ED_METRICS_COAP), "coap");
}

static void test_histograms(void **state)
{
    (void)state;
    ed_metrics_reset();
    ed_metrics_flush(100, 200000);          /* first buckets */
    ed_metrics_flush(5000, 3000000);        /* 16 KiB, 5 ms */
    ed_metrics_flush(1u << 30, 9000000000); /* past every bound: +Inf */
    const struct ed_metrics *m = ed_metrics_get();
    assert_int_equal(m->n_flushes, 3);
    assert_int_equal(m->len_flushed, 100 + 5000 + (1u << 30));
    assert_int_equal(m->flush_len.counts[0], 1);
    assert_int_equal(m->flush_len.counts[2], 1);
    assert_int_equal(m->flush_len.counts[m->flush_len.n_bounds], 1);
    assert_int_equal(m->flush_ns.counts[0], 1);
    assert_int_equal(m->flush_ns.counts[4], 1);
    assert_int_equal(m->flush_ns.counts[m->flush_ns.n_bounds], 1);
    assert_int_equal(m->flush_ns.count, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_requests_conns),
        cmocka_unit_test(test_histograms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
