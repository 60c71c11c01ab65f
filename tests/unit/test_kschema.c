/* Unit tests of the table-driven Kafka message codec (core/kafka/schema.c
 * over the generated core/kafka/msg_gen.c): request and response bodies
 * laid out per Kafka's message definitions are decoded, checked field by
 * field and re-encoded byte for byte (flexible and classic versions, tagged
 * fields, null strings and arrays, records); every truncation and lying
 * lengths are refused without allocating; frames recorded between real
 * clients and Eddy round-trip byte for byte; the server's ApiVersions
 * answer equals the generated ranges and the handler table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "kafka_frames.h"

struct vec {
    int16_t key, ver;
    bool response;
    const uint8_t *p;
    size_t len;
};
#define VEC(k, v, resp, bytes)                                                                     \
    {                                                                                              \
        k, v, resp, bytes, sizeof bytes                                                            \
    }

/* Metadata v1: topics ["t"]. */
static const uint8_t md_req_v1[] = {0, 0, 0, 1, 0, 1, 't'};
/* Metadata v9 (flexible): topics ["t"], allow auto-create, no ACL ops. */
static const uint8_t md_req_v9[] = {2, 2, 't', 0, 1, 0, 0, 0};
/* Metadata v12: topics null (all topics). */
static const uint8_t md_req_v12_all[] = {0, 1, 0, 0};
/* Metadata v12 response: a broker with a null rack, a null cluster id, a
 * topic with a null name and a topic id, one partition. */
static const uint8_t md_resp_v12[] = {
    0,    0,    0, 0, /* throttle */
    2,    0,    0, 0, 1, 10, '1', '2', '7', '.', '0',  '.', '0', '.', '1', 0,  0,
    0x23, 0x84, 0, 0, 0, /* cluster id null */
    0,    0,    0, 1,    /* controller */
    2,    0,    0, 0,    /* topic: error, name null */
    1,    2,    3, 4, 5, 6,  7,   8,   9,   10,  11,   12,  13,  14,  15,  16, /* topic id */
    0,                                                                         /* internal */
    2,    0,    0, 0, 0, 0,  0,   0,   0,   0,   1,    0,   0,   0,   0,   2,  0,
    0,    0,    1, 2, 0, 0,  0,   1,   1,   0,   0x80, 0,   0,   0,   0, /* topic authorized
                                                                            operations, tags */
    0};
/* Produce v3: no transactional id, acks -1, 30 s, t/0 with 5 record bytes. */
static const uint8_t prod_req_v3[] = {0xff, 0xff, 0xff, 0xff, 0, 0,   0x75, 0x30, 0,   0,  0,
                                      1,    0,    1,    't',  0, 0,   0,    1,    0,   0,  0,
                                      0,    0,    0,    0,    5, 'h', 'e',  'l',  'l', 'o'};
/* Produce v9 (flexible): the same, compact. */
static const uint8_t prod_req_v9[] = {0, 0xff, 0xff, 0, 0,   0x75, 0x30, 2,   2,   't', 2, 0,
                                      0, 0,    0,    6, 'h', 'e',  'l',  'l', 'o', 0,   0, 0};
/* Fetch v12: a full fetch of t/0 from 42, rack "", tagged ClusterId "cid". */
static const uint8_t fetch_req_v12[] = {
    0xff, 0xff, 0xff, 0xff, 0,    0,    1,    0xf4, 0,    0,    0,    1,    0,   0x10, 0,
    0,    0,    0,    0,    0,    0,    0xff, 0xff, 0xff, 0xff, 2,    2,    't', 2,    0,
    0,    0,    0,    0xff, 0xff, 0xff, 0xff, 0,    0,    0,    0,    0,    0,   0,    42,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,   0x10, 0,
    0,    0,    0,    1,    1,    1,    0,    4,    4,    'c',  'i',  'd'};
/* ApiVersions v3 response: ApiVersions 0-3, tagged FinalizedFeaturesEpoch 7. */
static const uint8_t av_resp_v3[] = {0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0,
                                     0, 1, 1, 8, 0,  0, 0, 0, 0, 0, 0, 7};
/* Fetch v4 response: one partition with null aborted transactions and a
 * record batch slice. */
static const uint8_t fetch_resp_v4[] = {
    0,    0,    0,    0,                               /* throttle */
    0,    0,    0,    1,    0,   1,   't', 0, 0, 0, 1, /* topic t, one partition */
    0,    0,    0,    0,    0,   0,                    /* partition 0, no error */
    0,    0,    0,    0,    0,   0,   0,   9,          /* high watermark */
    0,    0,    0,    0,    0,   0,   0,   9,          /* last stable offset */
    0xff, 0xff, 0xff, 0xff,                            /* aborted transactions: null */
    0,    0,    0,    3,    'a', 'b', 'c'};
/* Request header v2: Metadata v12, correlation 7, client "eddy". */
static const uint8_t req_hdr_v2[] = {0, 3, 0, 12, 0, 0, 0, 7, 0, 4, 'e', 'd', 'd', 'y', 0};

static const struct vec vecs[] = {
    VEC(ED_KMSG_METADATA, 1, false, md_req_v1),
    VEC(ED_KMSG_METADATA, 9, false, md_req_v9),
    VEC(ED_KMSG_METADATA, 12, false, md_req_v12_all),
    VEC(ED_KMSG_METADATA, 12, true, md_resp_v12),
    VEC(ED_KMSG_PRODUCE, 3, false, prod_req_v3),
    VEC(ED_KMSG_PRODUCE, 9, false, prod_req_v9),
    VEC(ED_KMSG_FETCH, 12, false, fetch_req_v12),
    VEC(ED_KMSG_API_VERSIONS, 3, true, av_resp_v3),
    VEC(ED_KMSG_FETCH, 4, true, fetch_resp_v4),
};

static const struct ed_kstruct *desc_of(const struct vec *v, bool *flex)
{
    const struct ed_kmsg_api *api = ed_kschema_api(v->key);
    assert_non_null(api);
    *flex = ed_kschema_flexible(api, v->ver);
    return v->response ? api->response : api->request;
}

static uint8_t arena_buf[1 << 16];

/* Decodes v (which must take every byte) into out. */
static int decode(const struct vec *v, size_t len, ed_karena *a, void *out)
{
    bool flex;
    const struct ed_kstruct *s = desc_of(v, &flex);
    ed_krd r;
    ed_krd_init(&r, v->p, len);
    int rc = ed_kschema_decode(s, v->ver, flex, &r, a, out);
    if (rc == ED_OK) assert_int_equal(ed_krd_left(&r), 0);
    return rc;
}

static void assert_reencodes(const struct vec *v, const void *msg, const uint8_t *want,
                             size_t want_len)
{
    bool flex;
    const struct ed_kstruct *s = desc_of(v, &flex);
    ed_kwr w;
    ed_kwr_init(&w, 1 << 16);
    ed_kschema_encode(s, v->ver, flex, &w, msg);
    assert_true(ed_kwr_ok(&w));
    assert_int_equal(w.len, want_len);
    assert_memory_equal(w.buf, want, want_len);
    ed_kwr_free(&w);
}

static void test_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < ED_ARRAY_LEN(vecs); i++) {
        _Alignas(max_align_t) uint8_t msg[512];
        ed_karena a;
        ed_karena_init(&a, arena_buf, sizeof arena_buf);
        bool flex;
        assert_true(desc_of(&vecs[i], &flex)->size <= sizeof msg);
        if (decode(&vecs[i], vecs[i].len, &a, msg) != ED_OK) fail_msg("vector %zu", i);
        assert_reencodes(&vecs[i], msg, vecs[i].p, vecs[i].len);
    }
}

static void test_fields(void **state)
{
    (void)state;
    ed_karena a;
    ed_karena_init(&a, arena_buf, sizeof arena_buf);
    struct ed_kmsg_metadata_request mq;
    assert_int_equal(decode(&vecs[2], vecs[2].len, &a, &mq), ED_OK);
    assert_int_equal(mq.n_topics, -1);
    assert_true(mq.allow_auto_topic_creation);

    struct ed_kmsg_metadata_response md;
    assert_int_equal(decode(&vecs[3], vecs[3].len, &a, &md), ED_OK);
    assert_int_equal(md.n_brokers, 1);
    assert_true(ed_kstr_eq(md.brokers[0].host, "127.0.0.1"));
    assert_int_equal(md.brokers[0].port, 9092);
    assert_int_equal(md.brokers[0].rack.len, -1);
    assert_int_equal(md.cluster_id.len, -1);
    assert_int_equal(md.controller_id, 1);
    assert_int_equal(md.topics[0].name.len, -1);
    assert_int_equal(md.topics[0].topic_id[15], 16);
    assert_int_equal(md.topics[0].partitions[0].leader_id, 1);
    assert_int_equal(md.topics[0].partitions[0].n_isr_nodes, 1);
    assert_int_equal(md.topics[0].partitions[0].n_offline_replicas, 0);
    assert_int_equal(md.topics[0].topic_authorized_operations, INT32_MIN);
    /* cluster_authorized_operations exists in v8-10 only: its default */
    assert_int_equal(md.cluster_authorized_operations, INT32_MIN);

    struct ed_kmsg_produce_request pr;
    assert_int_equal(decode(&vecs[5], vecs[5].len, &a, &pr), ED_OK);
    assert_int_equal(pr.transactional_id.len, -1);
    assert_int_equal(pr.acks, -1);
    assert_int_equal(pr.timeout_ms, 30000);
    const ed_kbytes *rec = &pr.topic_data[0].partition_data[0].records;
    assert_int_equal(rec->len, 5);
    /* records are a slice of the input, not a copy */
    assert_ptr_equal(rec->p, prod_req_v9 + 16);

    struct ed_kmsg_fetch_request fq;
    assert_int_equal(decode(&vecs[6], vecs[6].len, &a, &fq), ED_OK);
    assert_true(ed_kstr_eq(fq.cluster_id, "cid"));
    assert_int_equal(fq.topics[0].partitions[0].fetch_offset, 42);
    assert_int_equal(fq.rack_id.len, 0);

    struct ed_kmsg_api_versions_response av;
    assert_int_equal(decode(&vecs[7], vecs[7].len, &a, &av), ED_OK);
    assert_int_equal(av.finalized_features_epoch, 7);
    assert_int_equal(av.api_keys[0].max_version, 3);
    assert_int_equal(av.n_supported_features, 0);

    struct ed_kmsg_fetch_response fr;
    assert_int_equal(decode(&vecs[8], vecs[8].len, &a, &fr), ED_OK);
    assert_int_equal(fr.responses[0].partitions[0].n_aborted_transactions, -1);
    assert_int_equal(fr.responses[0].partitions[0].records.len, 3);
}

static void test_header(void **state)
{
    (void)state;
    struct ed_kmsg_request_header h;
    ed_krd r;
    ed_krd_init(&r, req_hdr_v2, sizeof req_hdr_v2);
    assert_int_equal(ed_kschema_decode(&ed_kmsg_request_header_desc, 2, true, &r, NULL, &h), ED_OK);
    assert_int_equal(h.request_api_key, 3);
    assert_int_equal(h.correlation_id, 7);
    assert_true(ed_kstr_eq(h.client_id, "eddy")); /* int16 length though flexible */
    ed_kwr w;
    ed_kwr_init(&w, 256);
    ed_kschema_encode(&ed_kmsg_request_header_desc, 2, true, &w, &h);
    assert_int_equal(w.len, sizeof req_hdr_v2);
    assert_memory_equal(w.buf, req_hdr_v2, sizeof req_hdr_v2);
    ed_kwr_free(&w);
    const struct ed_kmsg_api *av = ed_kschema_api(ED_KMSG_API_VERSIONS);
    assert_int_equal(ed_kschema_response_header_version(av, 3), 0);
    assert_int_equal(ed_kschema_request_header_version(av, 3), 2);
    assert_int_equal(ed_kschema_response_header_version(ed_kschema_api(ED_KMSG_FETCH), 12), 1);
    assert_int_equal(ed_kschema_response_header_version(ed_kschema_api(ED_KMSG_FETCH), 11), 0);
}

static void test_truncations(void **state)
{
    (void)state;
    for (size_t i = 0; i < ED_ARRAY_LEN(vecs); i++)
        for (size_t n = 0; n < vecs[i].len; n++) {
            _Alignas(max_align_t) uint8_t msg[512];
            ed_karena a;
            ed_karena_init(&a, arena_buf, sizeof arena_buf);
            assert_int_equal(decode(&vecs[i], n, &a, msg), ED_ERR_PROTO);
        }
}

static void test_lies(void **state)
{
    (void)state;
    _Alignas(max_align_t) uint8_t msg[512];
    ed_karena a;
    uint8_t b[64];
    /* A topic count of 2^31-1 in 30 bytes: refused before any allocation. */
    memcpy(b, prod_req_v3, sizeof prod_req_v3);
    b[8] = 0x7f, b[9] = 0xff, b[10] = 0xff, b[11] = 0xff;
    struct vec v = {ED_KMSG_PRODUCE, 3, false, b, sizeof prod_req_v3};
    ed_karena_init(&a, arena_buf, sizeof arena_buf);
    assert_int_equal(decode(&v, v.len, &a, msg), ED_ERR_PROTO);
    assert_int_equal(a.total, 0);
    /* A negative record length other than null. */
    memcpy(b, prod_req_v3, sizeof prod_req_v3);
    b[24] = 0xff, b[25] = 0xff, b[26] = 0xff, b[27] = 0xfe;
    assert_int_equal(decode(&v, v.len, &a, msg), ED_ERR_PROTO);
    /* A null topic name where the version does not allow it. */
    memcpy(b, prod_req_v3, sizeof prod_req_v3);
    b[12] = 0xff, b[13] = 0xff;
    assert_int_equal(decode(&v, v.len, &a, msg), ED_ERR_PROTO);
    /* A tagged field claiming 9 bytes for an int64. */
    memcpy(b, av_resp_v3, sizeof av_resp_v3);
    b[16] = 9;
    b[sizeof av_resp_v3] = 0;
    struct vec t = {ED_KMSG_API_VERSIONS, 3, true, b, sizeof av_resp_v3 + 1};
    assert_int_equal(decode(&t, t.len, &a, msg), ED_ERR_PROTO);
    /* A tag size beyond the bytes left. */
    b[16] = 100;
    assert_int_equal(decode(&t, sizeof av_resp_v3, &a, msg), ED_ERR_PROTO);
    /* An arena too small for the arrays: ED_ERR_NOMEM, nothing half-done
     * reaches the caller (the return code says so). */
    uint8_t tiny[32];
    ed_karena_init(&a, tiny, sizeof tiny);
    assert_int_equal(decode(&vecs[3], vecs[3].len, &a, msg), ED_ERR_NOMEM);
}

static void test_unknown_tags_skipped(void **state)
{
    (void)state;
    /* av_resp_v3 with an unknown tag 9 (2 bytes) before tag 1: skipped, and
     * the re-encoding writes the known tag alone. */
    uint8_t b[64];
    size_t n = 14;
    memcpy(b, av_resp_v3, n);
    b[n++] = 2;
    b[n++] = 9, b[n++] = 2, b[n++] = 0xab, b[n++] = 0xcd;
    memcpy(b + n, av_resp_v3 + 15, sizeof av_resp_v3 - 15);
    n += sizeof av_resp_v3 - 15;
    struct vec v = {ED_KMSG_API_VERSIONS, 3, true, b, n};
    struct ed_kmsg_api_versions_response av;
    ed_karena a;
    ed_karena_init(&a, arena_buf, sizeof arena_buf);
    assert_int_equal(decode(&v, n, &a, &av), ED_OK);
    assert_int_equal(av.finalized_features_epoch, 7);
    assert_reencodes(&v, &av, av_resp_v3, sizeof av_resp_v3);
}

static void test_encode_refuses_null(void **state)
{
    (void)state;
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_PRODUCE);
    struct ed_kmsg_produce_request_topic_produce_data td;
    ed_kschema_init(&ed_kmsg_produce_request_topic_produce_data_desc, &td);
    td.name = (ed_kstr){NULL, -1};
    struct ed_kmsg_produce_request pr;
    ed_kschema_init(api->request, &pr);
    pr.n_topic_data = 1;
    pr.topic_data = &td;
    ed_kwr w;
    ed_kwr_init(&w, 1024);
    ed_kschema_encode_request(api, 9, &w, &pr);
    assert_int_equal(w.err, ED_ERR_INVAL);
    ed_kwr_free(&w);
    /* defaults come from the definitions */
    assert_int_equal(pr.transactional_id.len, -1);
}

/* The server advertises exactly the generated server ranges, and a key
 * has a handler exactly when the description says the server serves it. */
static void test_api_versions_advertised(void **state)
{
    (void)state;
    static const uint8_t body[] = {5, 'e', 'd', 'd', 'y', 4, '0', '.', '1', 0};
    ed_kreq req;
    memset(&req, 0, sizeof req);
    req.api_key = ED_KMSG_API_VERSIONS;
    req.api_version = 3;
    req.flex = true;
    ed_krd_init(&req.rd, body, sizeof body);
    ed_kwr_init(&req.out, 1 << 16);
    assert_int_equal(ed_kapi_serve(&req), ED_KAPI_RESPOND);
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_API_VERSIONS);
    struct ed_kmsg_api_versions_response av;
    ed_karena a;
    ed_karena_init(&a, arena_buf, sizeof arena_buf);
    ed_krd r;
    ed_krd_init(&r, req.out.buf, req.out.len);
    assert_int_equal(ed_kschema_decode_response(api, 3, &r, &a, &av), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    assert_int_equal(av.error_code, 0);
    int32_t served = 0;
    for (size_t i = 0; i < ED_KMSG_N_APIS; i++) {
        const struct ed_kmsg_api *g = &ed_kmsg_apis[i];
        const struct ed_kapi_entry *e = &ed_kapi_table[g->key];
        assert_int_equal(g->srv_min >= 0, e->fn != NULL);
        if (g->srv_min < 0) continue;
        assert_int_equal(e->min_version, g->srv_min);
        assert_int_equal(e->max_version, g->srv_max);
        assert_int_equal(e->flex_from, g->srv_max >= g->flex_from ? g->flex_from : -1);
        bool found = false;
        for (int32_t k = 0; k < av.n_api_keys; k++)
            if (av.api_keys[k].api_key == g->key) {
                assert_int_equal(av.api_keys[k].min_version, g->srv_min);
                assert_int_equal(av.api_keys[k].max_version, g->srv_max);
                found = true;
            }
        assert_true(found);
        served++;
    }
    for (int k = 0; k < ED_KAPI_N_KEYS; k++)
        if (ed_kapi_table[k].fn) assert_non_null(ed_kschema_api((int16_t)k));
    assert_int_equal(av.n_api_keys, served);
    ed_kreq_release(&req);
    ed_kwr_free(&req.out);
}

/* The client reads AlterConfigs responses through IncrementalAlterConfigs'
 * struct: the two generated tables must agree field by field. */
static void test_alter_responses_alike(void **state)
{
    (void)state;
    const struct ed_kstruct *a = ed_kschema_api(ED_KMSG_ALTER_CONFIGS)->response;
    const struct ed_kstruct *b = ed_kschema_api(ED_KMSG_INCREMENTAL_ALTER_CONFIGS)->response;
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->n_fields, b->n_fields);
    for (uint16_t i = 0; i < a->n_fields; i++) {
        assert_string_equal(ed_kschema_field_name(&a->fields[i]),
                            ed_kschema_field_name(&b->fields[i]));
        assert_int_equal(a->fields[i].off, b->fields[i].off);
        assert_int_equal(a->fields[i].type, b->fields[i].type);
    }
    const struct ed_kstruct *ea = a->fields[1].sub, *eb = b->fields[1].sub;
    assert_int_equal(ea->size, eb->size);
    for (uint16_t i = 0; i < ea->n_fields; i++) {
        assert_string_equal(ed_kschema_field_name(&ea->fields[i]),
                            ed_kschema_field_name(&eb->fields[i]));
        assert_int_equal(ea->fields[i].off, eb->fields[i].off);
        assert_int_equal(ea->fields[i].type, eb->fields[i].type);
    }
}

static uint8_t nibble(char c)
{
    return (uint8_t)(c <= '9' ? c - '0' : c - 'a' + 10);
}

/* Lower-case hex into out; its length in bytes. */
static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(nibble(h[2 * i]) << 4 | nibble(h[2 * i + 1]));
    return n;
}

/* Frames real clients sent and Eddy's handlers answered: header and body
 * decode, take every byte, and re-encode to the same bytes. */
static void test_real_frames(void **state)
{
    (void)state;
    struct {
        int conn;
        int32_t corr;
        int16_t key, ver;
    } sent[64];
    int n_sent = 0, n_answers = 0;
    for (size_t i = 0; i < ED_ARRAY_LEN(kafka_frames); i++) {
        const struct kafka_frame *f = &kafka_frames[i];
        uint8_t b[2048];
        size_t n = unhex(f->hex, b, sizeof b);
        int16_t key = -1, ver = -1;
        int32_t corr = (int32_t)ed_get_be32(f->request ? b + 4 : b);
        if (f->request) {
            key = (int16_t)ed_get_be16(b);
            ver = (int16_t)ed_get_be16(b + 2);
            assert_true(n_sent < (int)ED_ARRAY_LEN(sent));
            sent[n_sent].conn = f->conn;
            sent[n_sent].corr = corr;
            sent[n_sent].key = key;
            sent[n_sent++].ver = ver;
        } else {
            for (int k = 0; k < n_sent; k++)
                if (sent[k].conn == f->conn && sent[k].corr == corr)
                    key = sent[k].key, ver = sent[k].ver;
            n_answers++;
        }
        const struct ed_kmsg_api *api = ed_kschema_api(key);
        assert_non_null(api);
        int16_t hv = f->request ? ed_kschema_request_header_version(api, ver)
                                : ed_kschema_response_header_version(api, ver);
        const struct ed_kstruct *hs =
            f->request ? &ed_kmsg_request_header_desc : &ed_kmsg_response_header_desc;
        bool hflex = f->request ? hv >= 2 : hv >= 1;
        const struct ed_kstruct *bs = f->request ? api->request : api->response;
        _Alignas(max_align_t) uint8_t hdr[64], msg[512];
        assert_true(bs->size <= sizeof msg);
        ed_karena a;
        ed_karena_init(&a, arena_buf, sizeof arena_buf);
        ed_krd r;
        ed_krd_init(&r, b, n);
        assert_int_equal(ed_kschema_decode(hs, hv, hflex, &r, NULL, hdr), ED_OK);
        if (ed_kschema_decode(bs, ver, ed_kschema_flexible(api, ver), &r, &a, msg) != ED_OK)
            fail_msg("frame %zu: %s v%d %s", i, api->name, ver,
                     f->request ? "request" : "response");
        assert_int_equal(ed_krd_left(&r), 0);
        ed_kwr w;
        ed_kwr_init(&w, 1 << 16);
        ed_kschema_encode(hs, hv, hflex, &w, hdr);
        ed_kschema_encode(bs, ver, ed_kschema_flexible(api, ver), &w, msg);
        assert_true(ed_kwr_ok(&w));
        assert_int_equal(w.len, n);
        assert_memory_equal(w.buf, b, n);
        ed_kwr_free(&w);
    }
    assert_int_equal(n_sent, 17);
    assert_int_equal(n_answers, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_lies),
        cmocka_unit_test(test_unknown_tags_skipped),
        cmocka_unit_test(test_encode_refuses_null),
        cmocka_unit_test(test_api_versions_advertised),
        cmocka_unit_test(test_alter_responses_alike),
        cmocka_unit_test(test_real_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
