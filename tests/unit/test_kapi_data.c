/* Unit tests of the data-path Kafka handlers (Produce, Fetch, ListOffsets,
 * OffsetForLeaderEpoch, InitProducerId) and the idempotent-producer state,
 * driven directly with encoded requests over a real storage and topic
 * registry in a temporary folder, with a real event loop for long-poll. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/broker.h"
#include "core/config.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_data.h"
#include "core/kafka/kapi_handlers.h"
#include "core/pidstate.h"
#include "core/topics.h"
#include "fetch_golden.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "storage/format.h"
#include "storage/varint.h"
#include "storage/log.h"

/* ---- fixture ---- */

struct fx {
    char dir[64];
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_pids *pids;
    struct ed_storage_config sc;
    ed_broker b;
};

static int n_completed;
static ed_kreq *last_completed;

/* The server's side of PENDING: the tests stand in for it. */
void ed_kreq_complete(ed_kreq *req)
{
    n_completed++;
    last_completed = req;
    ed_plat_loop_stop(req->broker->loop);
}

void ed_kreq_drop(ed_kreq *req)
{
    (void)req;
}

static void rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static uint32_t fx_gather_ms; /* eddy.flush.gather.ms of the next fx_open */

static void fx_open(struct fx *f)
{
    ed_storage_config_default(&f->sc);
    f->sc.dir = f->dir;
    f->sc.gather_ms = fx_gather_ms;
    f->sc.use_flusher_thread = false;
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open(f->st, &f->sc.log, &f->topics), ED_OK);
    assert_int_equal(ed_kapi_data_attach(f->topics), ED_OK);
    assert_int_equal(ed_pids_open(f->dir, &f->pids), ED_OK);
    memset(&f->b, 0, sizeof f->b);
    f->b.loop = f->loop;
    f->b.storage = f->st;
    f->b.topics = f->topics;
    f->b.pids = f->pids;
    f->b.node_id = 1;
}

static void fx_close(struct fx *f)
{
    ed_pids_close(f->pids);
    ed_topics_close(f->topics);
    ed_storage_close(f->st);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/eddy-kapi-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    fx_open(f);
    ed_topic *t;
    const char *why = NULL;
    assert_int_equal(ed_topics_create(f->topics, "t", 3, NULL, NULL, 0, &why, &t), ED_OK);
    n_completed = 0;
    last_completed = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_gather_ms = 0;
    fx_close(f);
    ed_plat_loop_free(f->loop);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Reopens storage, registry and allocator as after a restart. */
static void fx_restart(struct fx *f)
{
    fx_close(f);
    fx_open(f);
}

/* Drives flushes and their completions without a flusher thread. */
static void fx_flush(struct fx *f)
{
    ed_storage_tick(f->st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(f->st);
}

static ed_partition *part(struct fx *f, const char *topic, int32_t i)
{
    ed_topic *t = ed_topics_find(f->topics, topic);
    assert_non_null(t);
    return ed_topic_partition(t, i);
}

/* ---- requests ---- */

struct call {
    ed_kreq req;
    uint8_t *body; /* owned copy: handlers may write into it */
    int status;
};

static int32_t call_n_open = 1; /* the connection's open requests, the next included */

static void call_start(struct fx *f, struct call *c, int16_t key, int16_t ver, bool flex,
                       const ed_kwr *body)
{
    memset(c, 0, sizeof *c);
    c->req.n_open = call_n_open;
    c->body = malloc(body->len + 1);
    memcpy(c->body, body->buf, body->len);
    c->req.api_key = key;
    c->req.api_version = ver;
    c->req.correlation_id = 7;
    c->req.flex = flex;
    c->req.broker = &f->b;
    c->req.peer = "test:1";
    ed_krd_init(&c->req.rd, c->body, body->len);
    ed_kwr_init(&c->req.out, 1u << 24);
    c->status = ed_kapi_serve(&c->req);
}

static void call_end(struct call *c)
{
    ed_kreq_release(&c->req);
    ed_kwr_free(&c->req.out);
    free(c->body);
}

/* The response body with spliced file slices copied in. */
static uint8_t *flatten(const ed_kwr *w, size_t *len)
{
    size_t total = ed_kwr_total_len(w);
    uint8_t *out = malloc(total + 1);
    size_t mem = 0, o = 0;
    for (int i = 0; i < w->n_splices; i++) {
        const struct ed_conn_splice *s = &w->splices[i];
        memcpy(out + o, w->buf + mem, s->at - mem);
        o += s->at - mem;
        mem = s->at;
        assert_int_equal(ed_log_slice_copy(&s->slice, out + o, s->slice.len), ED_OK);
        o += s->slice.len;
    }
    memcpy(out + o, w->buf + mem, w->len - mem);
    o += w->len - mem;
    assert_int_equal(o, total);
    *len = total;
    return out;
}

/* ---- record batches ---- */

struct rec {
    const char *key;
    const char *value;
    int64_t ts;
};

/* Encodes an uncompressed RecordBatch v2. */
static size_t make_batch(uint8_t *out, size_t cap, const struct rec *r, int n, int64_t pid,
                         int16_t epoch, int32_t seq)
{
    ed_kwr recs;
    ed_kwr_init(&recs, 1u << 20);
    int64_t base_ts = r[0].ts, max_ts = r[0].ts;
    for (int i = 0; i < n; i++) {
        if (r[i].ts > max_ts) max_ts = r[i].ts;
        ed_kwr body;
        ed_kwr_init(&body, 1u << 20);
        ed_kwr_i8(&body, 0);
        ed_kwr_varlong(&body, r[i].ts - base_ts);
        ed_kwr_varint(&body, i);
        if (r[i].key) {
            ed_kwr_varint(&body, (int32_t)strlen(r[i].key));
            ed_kwr_raw(&body, r[i].key, strlen(r[i].key));
        } else {
            ed_kwr_varint(&body, -1);
        }
        ed_kwr_varint(&body, (int32_t)strlen(r[i].value));
        ed_kwr_raw(&body, r[i].value, strlen(r[i].value));
        ed_kwr_varint(&body, 0); /* headers */
        ed_kwr_varint(&recs, (int32_t)body.len);
        ed_kwr_raw(&recs, body.buf, body.len);
        ed_kwr_free(&body);
    }
    size_t total = ED_BATCH_HEADER_LEN + recs.len;
    assert_true(total <= cap);
    ed_put_be64(out, 0);
    ed_put_be32(out + 8, (uint32_t)(total - 12));
    ed_put_be32(out + 12, (uint32_t)-1);
    out[16] = 2;
    ed_put_be16(out + 21, 0);
    ed_put_be32(out + 23, (uint32_t)(n - 1));
    ed_put_be64(out + 27, (uint64_t)base_ts);
    ed_put_be64(out + 35, (uint64_t)max_ts);
    ed_put_be64(out + 43, (uint64_t)pid);
    ed_put_be16(out + 51, (uint16_t)epoch);
    ed_put_be32(out + 53, (uint32_t)seq);
    ed_put_be32(out + 57, (uint32_t)n);
    memcpy(out + ED_BATCH_HEADER_LEN, recs.buf, recs.len);
    ed_put_be32(out + 17, ed_crc32c(0, out + 21, total - 21));
    ed_kwr_free(&recs);
    return total;
}

static size_t simple_batch(uint8_t *out, size_t cap, int n, int64_t ts, int64_t pid, int16_t epoch,
                           int32_t seq)
{
    struct rec r[16];
    char vals[16][16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        r[i] = (struct rec){"k", vals[i], ts + i};
    }
    return make_batch(out, cap, r, n, pid, epoch, seq);
}

/* ---- produce ---- */

struct pres {
    int16_t err;
    int64_t base_offset;
    int64_t log_append_time;
    int64_t log_start_offset;
    char msg[128];
    int32_t bad_record; /* record_errors[0].batch_index, -1 if none */
};

/* One topic, one partition, one records blob. */
static void produce_body(ed_kwr *w, int16_t ver, bool flex, int16_t acks, const char *topic,
                         int32_t partition, const uint8_t *rec, int32_t rec_len)
{
    ed_kwr_init(w, 1u << 24);
    if (ver >= 3) ed_kwr_str(w, NULL, flex);
    ed_kwr_i16(w, acks);
    ed_kwr_i32(w, 30000);
    ed_kwr_array(w, 1, flex);
    ed_kwr_str(w, topic, flex);
    ed_kwr_array(w, 1, flex);
    ed_kwr_i32(w, partition);
    ed_kwr_bytes(w, rec, rec_len, flex);
    ed_kwr_tags(w, flex);
    ed_kwr_tags(w, flex);
    ed_kwr_tags(w, flex);
}

static void parse_produce(const ed_kwr *out, int16_t ver, bool flex, const char *topic,
                          int32_t partition, struct pres *p)
{
    ed_krd r;
    ed_krd_init(&r, out->buf, out->len);
    assert_int_equal(ed_krd_array(&r, flex, 0), 1);
    assert_true(ed_kstr_eq(ed_krd_str(&r, flex), topic));
    assert_int_equal(ed_krd_array(&r, flex, 0), 1);
    assert_int_equal(ed_krd_i32(&r), partition);
    p->err = ed_krd_i16(&r);
    p->base_offset = ed_krd_i64(&r);
    p->log_append_time = ver >= 2 ? ed_krd_i64(&r) : -1;
    p->log_start_offset = ver >= 5 ? ed_krd_i64(&r) : -1;
    p->msg[0] = 0;
    p->bad_record = -1;
    if (ver >= 8) {
        int32_t n_errors = ed_krd_array(&r, flex, 0);
        assert_true(n_errors == 0 || (n_errors == 1 && p->err == ED_KERR_INVALID_RECORD));
        if (n_errors == 1) {
            p->bad_record = ed_krd_i32(&r);
            assert_true(ed_krd_str(&r, flex).len > 0);
            ed_krd_tags(&r, flex);
        }
        ed_kstr m = ed_krd_str(&r, flex);
        if (m.len > 0) ed_kstr_copy(m, p->msg, sizeof p->msg);
    }
    ed_krd_tags(&r, flex);
    ed_krd_tags(&r, flex);
    if (ver >= 1) assert_int_equal(ed_krd_i32(&r), 0); /* throttle_time_ms last */
    ed_krd_tags(&r, flex);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_left(&r), 0);
}

/* Produces one blob and returns the status; fills *p when answered. */
static int produce(struct fx *f, int16_t ver, int16_t acks, const char *topic, int32_t partition,
                   const uint8_t *rec, int32_t rec_len, struct pres *p)
{
    bool flex = ver >= 9;
    ed_kwr w;
    produce_body(&w, ver, flex, acks, topic, partition, rec, rec_len);
    struct call c;
    call_start(f, &c, 0, ver, flex, &w);
    ed_kwr_free(&w);
    if (c.status == ED_KAPI_PENDING) {
        for (int i = 0; i < 100 && n_completed == 0; i++)
            fx_flush(f);
        assert_int_equal(n_completed, 1);
        assert_ptr_equal(last_completed, &c.req);
        n_completed = 0;
        parse_produce(&c.req.out, ver, flex, topic, partition, p);
        call_end(&c);
        return ED_KAPI_PENDING;
    }
    if (c.status == ED_KAPI_RESPOND)
        parse_produce(&c.req.out, ver, flex, topic, partition, p);
    else
        assert_int_equal(c.req.out.len, 0);
    int st = c.status;
    call_end(&c);
    return st;
}

static void produce_ok(struct fx *f, int16_t ver, const char *topic, int32_t partition,
                       const uint8_t *rec, size_t len, int64_t want_base)
{
    struct pres p;
    assert_int_equal(produce(f, ver, 1, topic, partition, rec, (int32_t)len, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, 0);
    assert_int_equal(p.base_offset, want_base);
}

static void test_produce_versions(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    int64_t next = 0;
    for (int16_t v = 0; v <= 11; v++) {
        size_t n = simple_batch(buf, sizeof buf, 3, 1000 + v, -1, -1, -1);
        struct pres p;
        assert_int_equal(produce(f, v, 1, "t", 1, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
        assert_int_equal(p.err, 0);
        assert_int_equal(p.base_offset, next);
        if (v >= 2) assert_int_equal(p.log_append_time, -1);
        if (v >= 5) assert_int_equal(p.log_start_offset, 0);
        next += 3;
    }
    assert_int_equal(ed_log_end_offset(part(f, "t", 1)->log), next);
    assert_int_equal(ed_log_end_offset(part(f, "t", 0)->log), 0);
}

static void fix_crc(uint8_t *b, size_t len)
{
    ed_put_be32(b + ED_BATCH_OFF_CRC,
                ed_crc32c(0, b + ED_BATCH_OFF_ATTRIBUTES, len - ED_BATCH_OFF_ATTRIBUTES));
}

/* Batches whose CRC holds but whose records are malformed are refused and
 * change nothing: CORRUPT_MESSAGE before Produce v8, INVALID_RECORD naming
 * the record from v8; the partition's offsets go on without a gap. */
static void test_produce_poisoned_records(void **state)
{
    struct fx *f = *state;
    uint8_t good[4096], bad[4096];
    struct pres p;
    ed_log *log = part(f, "t", 0)->log;
    size_t n = simple_batch(good, sizeof good, 3, 5000, -1, -1, -1);
    produce_ok(f, 9, "t", 0, good, n, 0);
    enum { GARBAGE, LENGTH_LIES, GZIP_FLAG, TWO_IN_ONE, HEADERS_LIE, SECOND_BAD, N_CASES };
    for (int k = 0; k < N_CASES; k++) {
        size_t len = n;
        memcpy(bad, good, n);
        int32_t want_record = 0;
        uint8_t *rec = bad + ED_BATCH_HEADER_LEN;
        switch (k) {
        case GARBAGE:
            for (size_t i = ED_BATCH_HEADER_LEN; i < len; i++)
                bad[i] = (uint8_t)(i * 0x9d + 7);
            break;
        case LENGTH_LIES:
            rec[0] = (uint8_t)(rec[0] + 2);
            break;
        case GZIP_FLAG:
            ed_put_be16(bad + ED_BATCH_OFF_ATTRIBUTES, ED_COMPRESSION_GZIP);
            want_record = -1;
            break;
        case TWO_IN_ONE:
            len = simple_batch(bad, sizeof bad, 2, 5000, -1, -1, -1);
            ed_put_be32(bad + ED_BATCH_OFF_LAST_OFFSET_DELTA, 0);
            ed_put_be32(bad + ED_BATCH_OFF_RECORD_COUNT, 1);
            want_record = 1;
            break;
        case HEADERS_LIE: /* the last byte of record 0 is its header count */
            rec[rec[0] / 2] = 2;
            break;
        case SECOND_BAD: { /* record 1's offset delta is 5 */
            size_t r0 = 1 + (size_t)rec[0] / 2;
            rec[r0 + 3] = 10;
            want_record = 1;
            break;
        }
        }
        fix_crc(bad, len);
        struct ed_batch_info bi;
        assert_int_equal(ed_batch_check(bad, len, &bi), ED_OK); /* header and CRC hold */
        assert_int_equal(produce(f, 7, 1, "t", 0, bad, (int32_t)len, &p), ED_KAPI_RESPOND);
        assert_int_equal(p.err, ED_KERR_CORRUPT_MESSAGE);
        assert_int_equal(p.base_offset, -1);
        assert_int_equal(produce(f, 9, -1, "t", 0, bad, (int32_t)len, &p), ED_KAPI_RESPOND);
        if (want_record < 0) {
            assert_int_equal(p.err, ED_KERR_CORRUPT_MESSAGE);
        } else {
            assert_int_equal(p.err, ED_KERR_INVALID_RECORD);
            assert_int_equal(p.bad_record, want_record);
        }
        assert_true(strlen(p.msg) > 0);
        assert_int_equal(ed_log_end_offset(log), 3);
    }
#if ED_WITH_GZIP
    /* the same records, really compressed, are taken */
    struct ed_codec enc = {0};
    uint8_t z[4096];
    size_t z_len;
    assert_int_equal(ed_codec_compress(&enc, ED_COMPRESSION_GZIP, 0, good + ED_BATCH_HEADER_LEN,
                                       n - ED_BATCH_HEADER_LEN, z, sizeof z, &z_len),
                     ED_OK);
    ed_codec_release(&enc);
    memcpy(bad, good, ED_BATCH_HEADER_LEN);
    memcpy(bad + ED_BATCH_HEADER_LEN, z, z_len);
    ed_put_be32(bad + ED_BATCH_OFF_LENGTH, (uint32_t)(ED_BATCH_HEADER_LEN + z_len - 12));
    ed_put_be16(bad + ED_BATCH_OFF_ATTRIBUTES, ED_COMPRESSION_GZIP);
    fix_crc(bad, ED_BATCH_HEADER_LEN + z_len);
    produce_ok(f, 9, "t", 0, bad, ED_BATCH_HEADER_LEN + z_len, 3);
#else
    produce_ok(f, 9, "t", 0, good, n, 3);
#endif
    produce_ok(f, 9, "t", 0, good, n, 6);
}

#if ED_WITH_ZSTD
/* A decompression bomb: one record whose 80 MiB value of zeros compresses
 * to a few KiB. Produce refuses it (its records decompress past 64 MiB)
 * without ever holding the records: memory stays within the streaming
 * window. Nothing is stored. */
static void test_produce_bomb_bounded(void **state)
{
    struct fx *f = *state;
    size_t big = 80u << 20, k = 0;
    uint8_t head[32];
    head[k++] = 0;
    head[k++] = 0; /* timestamp delta 0 */
    head[k++] = 0; /* offset delta 0 */
    head[k++] = 1; /* null key */
    k += ed_varint_put(head + k, (int64_t)big);
    uint8_t *sec = calloc(1, big + 64);
    size_t h = ed_varint_put(sec, (int64_t)(k + big + 1));
    memcpy(sec + h, head, k);
    size_t sec_len = h + k + big + 1;
    uint8_t *b = malloc(1u << 20);
    struct ed_codec enc = {0};
    size_t z_len;
    assert_int_equal(ed_codec_compress(&enc, ED_COMPRESSION_ZSTD, 0, sec, sec_len,
                                       b + ED_BATCH_HEADER_LEN, (1u << 20) - ED_BATCH_HEADER_LEN,
                                       &z_len),
                     ED_OK);
    ed_codec_release(&enc);
    free(sec);
    uint8_t hdr[256];
    (void)simple_batch(hdr, sizeof hdr, 1, 5000, -1, -1, -1);
    memcpy(b, hdr, ED_BATCH_HEADER_LEN); /* its header, the bomb's records */
    size_t len = ED_BATCH_HEADER_LEN + z_len;
    ed_put_be32(b + ED_BATCH_OFF_LENGTH, (uint32_t)(len - ED_BATCH_LOG_OVERHEAD));
    ed_put_be16(b + ED_BATCH_OFF_ATTRIBUTES, ED_COMPRESSION_ZSTD);
    fix_crc(b, len);
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    struct pres p;
    assert_int_equal(produce(f, 9, 1, "t", 0, b, (int32_t)len, &p), ED_KAPI_RESPOND);
    ed_mem_stats_get(&m1);
    assert_int_equal(p.err, ED_KERR_MESSAGE_TOO_LARGE);
    assert_int_equal(ed_log_end_offset(part(f, "t", 0)->log), 0);
    assert_true(m1.peak_len - m0.cur_len < (9u << 20)); /* window, never the records */
    free(b);
}
#endif

static void test_produce_errors(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    struct pres p;
    size_t n = simple_batch(buf, sizeof buf, 2, 5000, -1, -1, -1);
    ed_log *log = part(f, "t", 0)->log;

    assert_int_equal(produce(f, 7, 1, "nosuch", 0, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(p.base_offset, -1);
    assert_int_equal(produce(f, 7, 1, "t", 3, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(produce(f, 7, 1, "t", -1, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);

    /* Bad CRC: nothing appended. */
    uint8_t bad[4096];
    memcpy(bad, buf, n);
    bad[n - 1] ^= 0x40;
    assert_int_equal(produce(f, 8, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_CORRUPT_MESSAGE);
    assert_true(strlen(p.msg) > 0);
    assert_int_equal(ed_log_end_offset(log), 0);

    /* Truncated batch. */
    assert_int_equal(produce(f, 7, 1, "t", 0, buf, (int32_t)n - 3, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_CORRUPT_MESSAGE);

    /* Two batches in one partition's records. */
    uint8_t two[8192];
    memcpy(two, buf, n);
    memcpy(two + n, buf, n);
    assert_int_equal(produce(f, 7, 1, "t", 0, two, (int32_t)(2 * n), &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_RECORD);

    /* Old message formats. */
    memcpy(bad, buf, n);
    bad[16] = 1;
    assert_int_equal(produce(f, 2, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT);
    assert_int_equal(produce(f, 7, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_RECORD);

    /* Null and empty records. */
    assert_int_equal(produce(f, 7, 1, "t", 0, NULL, -1, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_RECORD);
    assert_int_equal(produce(f, 9, 1, "t", 0, buf, 0, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_RECORD);

    /* Record count disagreeing with lastOffsetDelta. */
    memcpy(bad, buf, n);
    ed_put_be32(bad + 57, 5);
    ed_put_be32(bad + 17, ed_crc32c(0, bad + 21, n - 21));
    assert_int_equal(produce(f, 7, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_RECORD);

    /* Control and transactional batches. */
    memcpy(bad, buf, n);
    ed_put_be16(bad + 21, 0x20);
    ed_put_be32(bad + 17, ed_crc32c(0, bad + 21, n - 21));
    assert_int_equal(produce(f, 7, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_RECORD);
    ed_put_be16(bad + 21, 0x10);
    ed_put_be32(bad + 17, ed_crc32c(0, bad + 21, n - 21));
    assert_int_equal(produce(f, 7, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_TXN_STATE);

    /* zstd needs v7. */
    memcpy(bad, buf, n);
    ed_put_be16(bad + 21, ED_COMPRESSION_ZSTD);
    ed_put_be32(bad + 17, ed_crc32c(0, bad + 21, n - 21));
    assert_int_equal(produce(f, 6, 1, "t", 0, bad, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_UNSUPPORTED_COMPRESSION_TYPE);

    /* Bad acks: nothing appended. */
    assert_int_equal(produce(f, 7, 2, "t", 0, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_INVALID_REQUIRED_ACKS);
    assert_int_equal(ed_log_end_offset(log), 0);

    /* acks=0: appended, no response; an error closes the connection. */
    assert_int_equal(produce(f, 7, 0, "t", 0, buf, (int32_t)n, &p), ED_KAPI_NO_RESPONSE);
    assert_int_equal(ed_log_end_offset(log), 2);
    assert_int_equal(produce(f, 7, 0, "nosuch", 0, buf, (int32_t)n, &p), ED_KAPI_CLOSE);

    /* Still appendable after all that. */
    produce_ok(f, 7, "t", 0, buf, n, 2);
}

static void test_produce_too_large(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    const char *why = NULL;
    const char *keys[] = {"max.message.bytes"};
    const char *vals[] = {"200"};
    assert_int_equal(ed_topics_create(f->topics, "small", 1, keys, vals, 1, &why, &t), ED_OK);
    uint8_t buf[4096];
    struct rec r[8];
    for (int i = 0; i < 8; i++)
        r[i] = (struct rec){"key", "a value long enough to go past two hundred bytes", 1};
    size_t n = make_batch(buf, sizeof buf, r, 8, -1, -1, -1);
    assert_true(n > 200);
    struct pres p;
    assert_int_equal(produce(f, 8, 1, "small", 0, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, ED_KERR_MESSAGE_TOO_LARGE);
    assert_int_equal(ed_log_end_offset(ed_topic_partition(t, 0)->log), 0);
    n = make_batch(buf, sizeof buf, r, 1, -1, -1, -1);
    produce_ok(f, 8, "small", 0, buf, n, 0);
}

static void test_produce_acks_all(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 4, 7000, -1, -1, -1);
    struct pres p;
    for (int16_t v = 3; v <= 11; v += 4) {
        /* Nothing is flushed before the tests tick the storage. */
        assert_int_equal(produce(f, v, -1, "t", 2, buf, (int32_t)n, &p), ED_KAPI_PENDING);
        assert_int_equal(p.err, 0);
        ed_log *log = part(f, "t", 2)->log;
        /* Answered only once durable. */
        assert_true(ed_log_durable_offset(log) >= p.base_offset + 4);
    }
}

static void test_produce_acks_all_cancel(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 2, 7000, -1, -1, -1);
    ed_kwr w;
    produce_body(&w, 7, false, -1, "t", 0, buf, (int32_t)n);
    struct call c;
    call_start(f, &c, 0, 7, false, &w);
    ed_kwr_free(&w);
    assert_int_equal(c.status, ED_KAPI_PENDING);
    assert_non_null(c.req.cancel);
    c.req.cancel(&c.req); /* the connection closed */
    call_end(&c);
    for (int i = 0; i < 10; i++)
        fx_flush(f);
    assert_int_equal(n_completed, 0);
    assert_true(ed_log_durable_offset(part(f, "t", 0)->log) >= 2);
    assert_int_equal(ed_log_end_offset(part(f, "t", 0)->log), 2);
}

static void test_produce_malformed(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 2, 1, -1, -1, -1);
    for (int16_t v = 3; v <= 11; v++) {
        bool flex = v >= 9;
        ed_kwr w;
        produce_body(&w, v, flex, 1, "t", 0, buf, (int32_t)n);
        for (size_t cut = 0; cut < w.len; cut += (cut < 40 ? 1 : 29)) {
            ed_kwr part_w = w;
            part_w.len = cut;
            struct call c;
            call_start(f, &c, 0, v, flex, &part_w);
            assert_int_equal(c.status, ED_KAPI_CLOSE);
            assert_int_equal(c.req.out.len, 0);
            call_end(&c);
        }
        ed_kwr_free(&w);
    }
    assert_int_equal(ed_log_end_offset(part(f, "t", 0)->log), 0);
}

/* ---- idempotence ---- */

static int16_t produce_seq(struct fx *f, int32_t partition, int64_t pid, int16_t epoch, int32_t seq,
                           int n, int64_t *base)
{
    uint8_t buf[4096];
    size_t len = simple_batch(buf, sizeof buf, n, 100, pid, epoch, seq);
    struct pres p;
    assert_int_equal(produce(f, 11, -1, "t", partition, buf, (int32_t)len, &p) != ED_KAPI_CLOSE, 1);
    if (base) *base = p.base_offset;
    return p.err;
}

static int64_t init_pid(struct fx *f, int16_t v, const char *txn, int16_t *err, int16_t *epoch)
{
    bool flex = v >= 2;
    ed_kwr w;
    ed_kwr_init(&w, 1024);
    ed_kwr_str(&w, txn, flex);
    ed_kwr_i32(&w, 60000);
    if (v >= 3) {
        ed_kwr_i64(&w, -1);
        ed_kwr_i16(&w, -1);
    }
    ed_kwr_tags(&w, flex);
    struct call c;
    call_start(f, &c, 22, v, flex, &w);
    ed_kwr_free(&w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    ed_krd r;
    ed_krd_init(&r, c.req.out.buf, c.req.out.len);
    assert_int_equal(ed_krd_i32(&r), 0);
    *err = ed_krd_i16(&r);
    int64_t id = ed_krd_i64(&r);
    *epoch = ed_krd_i16(&r);
    ed_krd_tags(&r, flex);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_left(&r), 0);
    call_end(&c);
    return id;
}

static void test_init_producer_id(void **state)
{
    struct fx *f = *state;
    int16_t err, epoch;
    int64_t prev = -1;
    for (int16_t v = 0; v <= 5; v++) {
        int64_t id = init_pid(f, v, NULL, &err, &epoch);
        assert_int_equal(err, 0);
        assert_int_equal(epoch, 0);
        assert_true(id > prev);
        prev = id;
    }
    int64_t id = init_pid(f, 4, "txn-1", &err, &epoch);
    assert_int_equal(err, ED_KERR_UNSUPPORTED_VERSION);
    assert_int_equal(id, -1);
    assert_int_equal(epoch, -1);

    /* Ids are never handed out twice across restarts. */
    fx_restart(f);
    id = init_pid(f, 4, NULL, &err, &epoch);
    assert_int_equal(err, 0);
    assert_true(id > prev);
}

static void test_pids_file(void **state)
{
    struct fx *f = *state;
    int64_t a, b;
    assert_int_equal(ed_pids_allocate(f->pids, &a), ED_OK);
    assert_int_equal(ed_pids_allocate(f->pids, &b), ED_OK);
    assert_int_equal(b, a + 1);
    /* A producer id seen in a log pushes the allocator past it. */
    assert_int_equal(ed_pids_observe(f->pids, b + 5000), ED_OK);
    assert_int_equal(ed_pids_allocate(f->pids, &a), ED_OK);
    assert_int_equal(a, b + 5001);
    fx_restart(f);
    assert_int_equal(ed_pids_allocate(f->pids, &b), ED_OK);
    assert_true(b > a);

    /* A damaged file stops the open with a clear error. */
    char path[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, ED_PIDS_FILE);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 9, SEEK_SET);
    fputc(0x55, fp);
    fclose(fp);
    ed_pids *p2 = NULL;
    assert_int_equal(ed_pids_open(f->dir, &p2), ED_ERR_CORRUPT);
    assert_null(p2);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(ed_pids_open(f->dir, &p2), ED_OK);
    ed_pids_close(p2);
}

static void test_idempotence(void **state)
{
    struct fx *f = *state;
    int16_t err, epoch;
    int64_t pid = init_pid(f, 4, NULL, &err, &epoch);
    ed_log *log = part(f, "t", 0)->log;
    int64_t base;

    assert_int_equal(produce_seq(f, 0, pid, 0, 0, 3, &base), 0); /* seq 0..2 */
    assert_int_equal(base, 0);
    assert_int_equal(produce_seq(f, 0, pid, 0, 3, 2, &base), 0); /* 3..4 */
    assert_int_equal(base, 3);
    /* Duplicate of the first batch: same answer, not appended again. */
    assert_int_equal(produce_seq(f, 0, pid, 0, 0, 3, &base), 0);
    assert_int_equal(base, 0);
    assert_int_equal(produce_seq(f, 0, pid, 0, 3, 2, &base), 0);
    assert_int_equal(base, 3);
    assert_int_equal(ed_log_end_offset(log), 5);
    /* A gap. */
    assert_int_equal(produce_seq(f, 0, pid, 0, 7, 1, &base), ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(base, -1);
    /* Overlapping but not a remembered batch. */
    assert_int_equal(produce_seq(f, 0, pid, 0, 1, 1, NULL), ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(ed_log_end_offset(log), 5);
    /* Sequences are per partition. */
    assert_int_equal(produce_seq(f, 1, pid, 0, 0, 1, &base), 0);
    /* New epoch must start at 0; then the old epoch is fenced. */
    assert_int_equal(produce_seq(f, 0, pid, 1, 5, 1, NULL), ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(produce_seq(f, 0, pid, 1, 0, 1, &base), 0);
    assert_int_equal(base, 5);
    assert_int_equal(produce_seq(f, 0, pid, 0, 5, 1, NULL), ED_KERR_INVALID_PRODUCER_EPOCH);
    /* An unknown producer may start anywhere. */
    assert_int_equal(produce_seq(f, 0, pid + 100, 3, 42, 2, &base), 0);
    assert_int_equal(base, 6);
    assert_int_equal(produce_seq(f, 0, pid + 100, 3, 44, 1, &base), 0);
    assert_int_equal(ed_log_end_offset(log), 9);
    /* Only the last five batches are remembered. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(produce_seq(f, 0, pid, 1, 1 + i, 1, NULL), 0);
    assert_int_equal(produce_seq(f, 0, pid, 1, 2, 1, &base), 0); /* still remembered */
    assert_int_equal(base, 10);
    assert_int_equal(produce_seq(f, 0, pid, 1, 0, 1, NULL), ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* Negative sequence with a producer id. */
    assert_int_equal(produce_seq(f, 0, pid, 1, -5, 1, NULL), ED_KERR_INVALID_RECORD);
    assert_int_equal(ed_pidstate_count(part(f, "t", 0)), 2);
}

/* Starts an acks=all produce of one record on partition 0 as the
 * connection's n_open-th open request; it stays pending. */
static void produce_open(struct fx *f, struct call *c, int64_t pid, int32_t seq, int32_t n_open)
{
    uint8_t buf[4096];
    size_t len = simple_batch(buf, sizeof buf, 1, 100, pid, 0, seq);
    ed_kwr w;
    produce_body(&w, 11, true, -1, "t", 0, buf, (int32_t)len);
    call_n_open = n_open;
    call_start(f, c, 0, 11, true, &w);
    call_n_open = 1;
    ed_kwr_free(&w);
    assert_int_equal(c->status, ED_KAPI_PENDING);
}

/* Durable waits gather (eddy.flush.gather.ms, here long enough that
 * nothing depends on time), but an idempotent producer with 5 requests
 * open can send nothing more: its flush starts at the next tick. */
static void test_produce_full_window_not_gathered(void **state)
{
    struct fx *f = *state;
    fx_gather_ms = 10000;
    fx_restart(f);
    int16_t err, epoch;
    int64_t pid = init_pid(f, 4, NULL, &err, &epoch);
    struct call a, b, c, d;
    produce_open(f, &a, pid, 0, 5); /* the window is full: synced now */
    fx_flush(f);
    assert_int_equal(n_completed, 1);
    produce_open(f, &b, pid, 1, 4); /* room for one more: gathers */
    for (int i = 0; i < 3; i++)
        fx_flush(f);
    assert_int_equal(n_completed, 1);
    produce_open(f, &c, pid, 2, 5); /* full again: b and c synced now */
    fx_flush(f);
    assert_int_equal(n_completed, 3);
    assert_true(ed_log_durable_offset(part(f, "t", 0)->log) >= 3);
    produce_open(f, &d, -1, -1, 5); /* no producer id: its window is unknown */
    for (int i = 0; i < 3; i++)
        fx_flush(f);
    assert_int_equal(n_completed, 3);
    d.req.cancel(&d.req);
    call_end(&a);
    call_end(&b);
    call_end(&c);
    call_end(&d);
}

/* A producer without idempotence may have any number of requests open;
 * its waits gather until the server, which then reads no more from the
 * connection, urges its open requests (librdkafka without idempotence at
 * linger.ms=0 got about 2,700 acks=all answers a second through 128
 * requests gathering 100 ms each). */
static void test_produce_urged_not_gathered(void **state)
{
    struct fx *f = *state;
    fx_gather_ms = 10000;
    fx_restart(f);
    struct call a, b, c;
    produce_open(f, &a, -1, -1, 1); /* the log's first sync: nothing to gather after */
    fx_flush(f);
    assert_int_equal(n_completed, 1);
    produce_open(f, &b, -1, -1, 1);
    produce_open(f, &c, -1, -1, 2);
    for (int i = 0; i < 3; i++)
        fx_flush(f);
    assert_int_equal(n_completed, 1); /* gathering */
    assert_non_null(c.req.urge);
    c.req.urge(&c.req); /* the connection is full */
    fx_flush(f);
    assert_int_equal(n_completed, 3); /* b shares c's sync */
    assert_null(b.req.urge);          /* answered: no longer urged */
    call_end(&a);
    call_end(&c);
    call_end(&b);
}

/* Appends non-idempotent batches of 16 records to t-partition until at
 * least n offsets were added (straight to the log: fast). */
static void fill(struct fx *f, int32_t partition, int64_t n)
{
    ed_log *log = part(f, "t", partition)->log;
    int64_t until = ed_log_end_offset(log) + n;
    while (ed_log_end_offset(log) < until) {
        uint8_t buf[1024];
        size_t len = simple_batch(buf, sizeof buf, 16, 100, -1, -1, -1);
        struct ed_append_result res;
        assert_int_equal(ed_log_append(log, buf, len, &res), ED_OK);
    }
}

static void snap_name(struct fx *f, int32_t partition, int64_t at, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/t-%d/%020lld.snapshot", f->dir, (int)partition, (long long)at);
}

/* A clean stop snapshots the producer state: a producer whose batches lie
 * further back than the scan window is still known after a restart, and a
 * damaged snapshot is ignored (the state is then rebuilt by the scan). */
static void test_pidstate_snapshot(void **state)
{
    struct fx *f = *state;
    int16_t err, epoch;
    int64_t pid = init_pid(f, 4, NULL, &err, &epoch);
    int64_t base;
    assert_int_equal(produce_seq(f, 0, pid, 0, 0, 2, NULL), 0);
    assert_int_equal(produce_seq(f, 0, pid, 0, 2, 2, &base), 0);
    assert_int_equal(base, 2);
    fill(f, 0, ED_PIDSTATE_SCAN_OFFSETS + 100);
    int64_t end = ed_log_end_offset(part(f, "t", 0)->log);
    fx_restart(f);
    char path[256];
    snap_name(f, 0, end, path, sizeof path);
    assert_int_equal(access(path, F_OK), 0);
    /* A retry of the producer's last batch is recognised. */
    assert_int_equal(produce_seq(f, 0, pid, 0, 2, 2, &base), 0);
    assert_int_equal(base, 2);
    assert_int_equal(ed_log_end_offset(part(f, "t", 0)->log), end);
    assert_int_equal(produce_seq(f, 0, pid, 0, 5, 1, NULL), ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);

    /* Damage the snapshot the next start would use: it is not trusted. */
    fx_restart(f);
    assert_int_equal(access(path, F_OK), 0);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 40, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 40, SEEK_SET);
    fputc(c ^ 0x20, fp);
    fclose(fp);
    assert_int_equal(produce_seq(f, 0, pid, 0, 2, 2, &base), 0);
    assert_int_equal(base, end); /* unknown producer again: appended */
    assert_int_equal(access(path, F_OK), 0);
}

/* Rewrites the snapshot at path: its first producer becomes pid, the CRC
 * of the batch it names below its offset is flipped if bad_last, and the
 * file checksum is fixed up. */
static void snap_edit(const char *path, int64_t pid, bool bad_last)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    uint8_t b[4096];
    size_t n = fread(b, 1, sizeof b, fp);
    assert_true(n > 48 && n < sizeof b);
    ed_put_be64(b + 32, (uint64_t)pid);
    if (bad_last) b[27] ^= 1;
    ed_put_be32(b + n - 4, ed_crc32c(0, b, n - 4));
    fseek(fp, 0, SEEK_SET);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

/* A crash between a segment roll and the snapshot it brings: the state is
 * rebuilt from the segments; with the roll's snapshot on disk but no clean
 * stop, the batches after the snapshot are scanned on top of it. A
 * snapshot that names a batch no longer in the log is not used. */
static void test_pidstate_snapshot_crash(void **state)
{
    struct fx *f = *state;
    int16_t err, epoch;
    int64_t pid = init_pid(f, 4, NULL, &err, &epoch);
    ed_partition *p = part(f, "t", 1);
    struct ed_log_config cfg = *ed_log_get_config(p->log);
    cfg.segment_len = 2048;
    ed_log_set_config(p->log, &cfg);
    int32_t seq = 0;
    while (ed_log_active_base(p->log) == 0) {
        assert_int_equal(produce_seq(f, 1, pid, 0, seq, 4, NULL), 0);
        seq += 4;
    }
    int64_t snap_at = ed_log_end_offset(p->log); /* written after the roll's first append */
    char path[256];
    snap_name(f, 1, snap_at, path, sizeof path);
    assert_int_equal(access(path, F_OK), 0);
    int64_t last_base;
    assert_int_equal(produce_seq(f, 1, pid, 0, seq, 4, &last_base), 0);
    seq += 4;

    /* Crash before the roll's snapshot reached the disk: none on disk, no
     * clean-stop snapshot either. */
    assert_int_equal(unlink(path), 0);
    ed_pidstate_release(p);
    fx_restart(f);
    p = part(f, "t", 1);
    int64_t base;
    assert_int_equal(produce_seq(f, 1, pid, 0, seq - 4, 4, &base), 0);
    assert_int_equal(base, last_base);
    assert_int_equal(produce_seq(f, 1, pid, 0, seq + 1, 1, NULL),
                     ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);

    /* The roll's snapshot written, then a crash: loaded, then the batches
     * after it scanned. */
    cfg = *ed_log_get_config(p->log);
    cfg.segment_len = 2048;
    ed_log_set_config(p->log, &cfg);
    int64_t act = ed_log_active_base(p->log);
    while (ed_log_active_base(p->log) == act) {
        assert_int_equal(produce_seq(f, 1, pid, 0, seq, 4, NULL), 0);
        seq += 4;
    }
    snap_at = ed_log_end_offset(p->log);
    snap_name(f, 1, snap_at, path, sizeof path);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(produce_seq(f, 1, pid, 0, seq, 4, &last_base), 0);
    seq += 4;
    ed_pidstate_release(p);
    fx_restart(f);
    p = part(f, "t", 1);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(produce_seq(f, 1, pid, 0, seq - 4, 4, &base), 0);
    assert_int_equal(base, last_base);
    assert_int_equal(produce_seq(f, 1, pid, 0, seq - 8, 4, &base), 0);
    assert_int_equal(base, snap_at - 4);

    /* A snapshot is used only while the batch below its offset is still
     * the one it names. Rewrite the last snapshot to speak for another
     * producer (checksum fixed up): trusted, that producer is known. */
    int64_t other_pid = pid + 7;
    ed_pidstate_release(p);
    fx_restart(f);
    p = part(f, "t", 1);
    snap_edit(path, other_pid, false); /* the roll's, the newest */
    assert_int_equal(produce_seq(f, 1, other_pid, 0, 1000, 1, NULL),
                     ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* The same, but the log's last batch differs from the one named (its
     * tail was lost and rewritten): ignored, the producer is unknown. */
    ed_pidstate_release(p);
    fx_restart(f);
    p = part(f, "t", 1);
    snap_edit(path, other_pid, true);
    assert_int_equal(produce_seq(f, 1, other_pid, 0, 1000, 1, NULL), 0);
    /* A snapshot past the log end is removed. */
    ed_pidstate_release(p);
    int64_t end = ed_log_end_offset(p->log);
    fx_restart(f);
    char other[256];
    snap_name(f, 1, end + 50, other, sizeof other);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, other);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(produce_seq(f, 1, pid, 0, seq, 1, NULL), 0);
    assert_int_equal(access(other, F_OK), -1); /* past the end: removed */
}

static void test_idempotence_after_restart(void **state)
{
    struct fx *f = *state;
    int16_t err, epoch;
    int64_t pid = init_pid(f, 4, NULL, &err, &epoch);
    int64_t base;
    for (int i = 0; i < 8; i++)
        assert_int_equal(produce_seq(f, 2, pid, 0, i * 2, 2, NULL), 0);
    fx_restart(f);
    ed_log *log = part(f, "t", 2)->log;
    assert_int_equal(ed_log_end_offset(log), 16);
    /* A retry of the last batch after the restart is recognised. */
    assert_int_equal(produce_seq(f, 2, pid, 0, 14, 2, &base), 0);
    assert_int_equal(base, 14);
    assert_int_equal(ed_log_end_offset(log), 16);
    assert_int_equal(produce_seq(f, 2, pid, 0, 17, 1, NULL), ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(produce_seq(f, 2, pid, 0, 16, 1, &base), 0);
    assert_int_equal(base, 16);
    /* The allocator never hands out an id found in the log. */
    int64_t id = init_pid(f, 4, NULL, &err, &epoch);
    assert_true(id > pid);
}

/* ---- fetch ---- */

struct fpreq {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
};

/* The id of a topic (zeros when there is no such topic). */
static void topic_id(struct fx *f, const char *name, uint8_t id[16])
{
    ed_topic *t = ed_topics_find(f->topics, name);
    if (t)
        memcpy(id, ed_topic_id(t), 16);
    else
        memset(id, 0, 16);
}

static void fetch_body(struct fx *f, ed_kwr *w, int16_t v, int32_t max_wait, int32_t min_bytes,
                       int32_t max_bytes, int32_t session_id, int32_t session_epoch,
                       const struct fpreq *p, int n)
{
    bool flex = v >= 12;
    ed_kwr_init(w, 1u << 20);
    if (v <= 14) ed_kwr_i32(w, -1);
    ed_kwr_i32(w, max_wait);
    ed_kwr_i32(w, min_bytes);
    ed_kwr_i32(w, max_bytes);
    ed_kwr_i8(w, 0);
    if (v >= 7) {
        ed_kwr_i32(w, session_id);
        ed_kwr_i32(w, session_epoch);
    }
    /* One topic entry per consecutive run of the same topic. */
    int n_topics = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(p[i].topic, p[i - 1].topic)) n_topics++;
    ed_kwr_array(w, n_topics, flex);
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(p[j].topic, p[i].topic))
            j++;
        if (v >= 13) {
            uint8_t id[16];
            topic_id(f, p[i].topic, id);
            ed_kwr_uuid(w, id);
        } else {
            ed_kwr_str(w, p[i].topic, flex);
        }
        ed_kwr_array(w, j - i, flex);
        for (int k = i; k < j; k++) {
            ed_kwr_i32(w, p[k].partition);
            if (v >= 9) ed_kwr_i32(w, -1);
            ed_kwr_i64(w, p[k].offset);
            if (v >= 12) ed_kwr_i32(w, -1);
            if (v >= 5) ed_kwr_i64(w, -1);
            ed_kwr_i32(w, p[k].max_bytes);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
        i = j;
    }
    if (v >= 7) ed_kwr_array(w, 0, flex);
    if (v >= 11) ed_kwr_str(w, "", flex);
    ed_kwr_tags(w, flex);
}

struct fpres {
    int16_t err;
    int64_t hw;
    int64_t lso;
    int64_t log_start;
    uint8_t *records; /* copy */
    int32_t records_len;
};

struct fres {
    int16_t err;
    int32_t session_id;
    int n;
    struct fpres p[8];
};

static void parse_fetch(const ed_kwr *out, int16_t v, struct fres *res)
{
    bool flex = v >= 12;
    size_t len;
    uint8_t *flat = flatten(out, &len);
    ed_krd r;
    ed_krd_init(&r, flat, len);
    memset(res, 0, sizeof *res);
    assert_int_equal(ed_krd_i32(&r), 0);
    if (v >= 7) {
        res->err = ed_krd_i16(&r);
        res->session_id = ed_krd_i32(&r);
    }
    int32_t nt = ed_krd_array(&r, flex, 0);
    for (int32_t t = 0; t < nt; t++) {
        if (v >= 13)
            ed_krd_skip(&r, 16);
        else
            ed_krd_str(&r, flex);
        int32_t np = ed_krd_array(&r, flex, 0);
        for (int32_t i = 0; i < np; i++) {
            assert_true(res->n < 8);
            struct fpres *p = &res->p[res->n++];
            ed_krd_i32(&r);
            p->err = ed_krd_i16(&r);
            p->hw = ed_krd_i64(&r);
            p->lso = ed_krd_i64(&r);
            p->log_start = v >= 5 ? ed_krd_i64(&r) : -1;
            int32_t na = ed_krd_array(&r, flex, 0);
            assert_true(na <= 0);
            if (v >= 11) assert_int_equal(ed_krd_i32(&r), -1);
            ed_kbytes b = ed_krd_bytes(&r, flex);
            p->records_len = b.len < 0 ? 0 : b.len;
            p->records = malloc((size_t)p->records_len + 1);
            if (b.len > 0) memcpy(p->records, b.p, (size_t)b.len);
            ed_krd_tags(&r, flex);
        }
        ed_krd_tags(&r, flex);
    }
    ed_krd_tags(&r, flex);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_left(&r), 0);
    free(flat);
}

static void fres_free(struct fres *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->p[i].records);
}

/* Runs a fetch; pending ones run the loop until they complete. */
static void fetch(struct fx *f, int16_t v, int32_t max_wait, int32_t min_bytes, int32_t max_bytes,
                  const struct fpreq *p, int n, struct fres *res)
{
    ed_kwr w;
    fetch_body(f, &w, v, max_wait, min_bytes, max_bytes, 0, -1, p, n);
    struct call c;
    call_start(f, &c, 1, v, v >= 12, &w);
    ed_kwr_free(&w);
    /* With data there (or a partition in error) the answer never waits. */
    if (max_wait > 1000) assert_int_equal(c.status, ED_KAPI_RESPOND);
    if (c.status == ED_KAPI_PENDING) {
        assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
        assert_int_equal(n_completed, 1);
        n_completed = 0;
    } else {
        assert_int_equal(c.status, ED_KAPI_RESPOND);
    }
    parse_fetch(&c.req.out, v, res);
    call_end(&c);
}

/* Counts records in a run of batches and checks each batch's CRC. */
static int count_records(const uint8_t *p, int32_t len, int64_t *first, int64_t *last)
{
    int n = 0;
    size_t o = 0;
    *first = *last = -1;
    while (o + ED_BATCH_HEADER_LEN <= (size_t)len) {
        struct ed_batch_info bi;
        assert_int_equal(ed_batch_check(p + o, (size_t)len - o, &bi), ED_OK);
        if (*first < 0) *first = bi.base_offset;
        *last = bi.base_offset + bi.last_offset_delta;
        n += bi.record_count;
        o += ed_batch_total_len(&bi);
    }
    assert_int_equal(o, (size_t)len);
    return n;
}

/* Two batches into t-0: 5 records, then n2. */
static void produce_two_batches(struct fx *f, int n2)
{
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 5, 1000, -1, -1, -1);
    produce_ok(f, 7, "t", 0, buf, n, 0);
    n = simple_batch(buf, sizeof buf, n2, 2000, -1, -1, -1);
    produce_ok(f, 7, "t", 0, buf, n, 5);
}

static void test_fetch_versions(void **state)
{
    struct fx *f = *state;
    produce_two_batches(f, 5);
    for (int16_t v = 4; v <= 17; v++) {
        struct fpreq p[] = {{"t", 0, 0, 1 << 20}, {"t", 1, 0, 1 << 20}, {"nosuch", 0, 0, 100}};
        struct fres r;
        fetch(f, v, 60000, 1, 1 << 20, p, 3, &r);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.session_id, 0);
        assert_int_equal(r.n, 3);
        assert_int_equal(r.p[0].err, 0);
        assert_int_equal(r.p[0].hw, 10);
        assert_int_equal(r.p[0].lso, 10);
        if (v >= 5) assert_int_equal(r.p[0].log_start, 0);
        int64_t first, last;
        assert_int_equal(count_records(r.p[0].records, r.p[0].records_len, &first, &last), 10);
        assert_int_equal(first, 0);
        assert_int_equal(last, 9);
        assert_int_equal(r.p[1].err, 0);
        assert_int_equal(r.p[1].hw, 0);
        assert_int_equal(r.p[1].records_len, 0);
        assert_int_equal(r.p[2].err,
                         v >= 13 ? ED_KERR_UNKNOWN_TOPIC_ID : ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        assert_int_equal(r.p[2].hw, -1);
        fres_free(&r);
    }
    /* Fetching inside a batch returns the whole batch. */
    struct fpreq p[] = {{"t", 0, 7, 1 << 20}};
    struct fres r;
    fetch(f, 11, 0, 1, 1 << 20, p, 1, &r);
    int64_t first, last;
    assert_int_equal(count_records(r.p[0].records, r.p[0].records_len, &first, &last), 5);
    assert_int_equal(first, 5);
    fres_free(&r);
    /* Out of range, both sides. */
    struct fpreq q[] = {{"t", 0, 11, 1 << 20}, {"t", 0, -1, 1 << 20}};
    fetch(f, 11, 60000, 1, 1 << 20, q, 2, &r);
    assert_int_equal(r.p[0].err, ED_KERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(r.p[1].err, ED_KERR_OFFSET_OUT_OF_RANGE);
    fres_free(&r);
}

/* A Fetch response byte for byte as the hand-written encoder wrote it
 * before Fetch moved to the message schema (fetch_golden.h was recorded
 * from that encoder), versions 4-17: a partition with two batches spliced
 * from its segment, an empty one, an unknown topic, an offset out of range.
 * The records must still be spliced, not copied. The topic id (v13+) is
 * random per run: it is compared as zeros. */
static void test_fetch_bytes_as_before(void **state)
{
    struct fx *f = *state;
    produce_two_batches(f, 3);
    uint8_t id[16];
    topic_id(f, "t", id);
    for (int16_t v = 4; v <= 17; v++) {
        struct fpreq p[] = {
            {"t", 0, 0, 1 << 20}, {"t", 1, 0, 1 << 20}, {"t", 2, 9, 100}, {"nosuch", 0, 0, 100}};
        ed_kwr w;
        fetch_body(f, &w, v, 0, 1, 1 << 20, 0, -1, p, 4);
        struct call c;
        call_start(f, &c, 1, v, v >= 12, &w);
        ed_kwr_free(&w);
        assert_int_equal(c.status, ED_KAPI_RESPOND);
        assert_int_equal(c.req.out.n_splices, 1);
        size_t len;
        uint8_t *flat = flatten(&c.req.out, &len);
        for (size_t i = 0; i + 16 <= len; i++)
            if (memcmp(flat + i, id, 16) == 0) memset(flat + i, 0, 16);
        const struct golden *g = &fetch_golden[v - 4];
        assert_int_equal(len, g->len);
        assert_memory_equal(flat, g->bytes, len);
        free(flat);
        call_end(&c);
    }
}

static void test_fetch_limits(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    for (int32_t i = 0; i < 3; i++) {
        for (int k = 0; k < 3; k++) {
            size_t n = simple_batch(buf, sizeof buf, 4, 100, -1, -1, -1);
            produce_ok(f, 7, "t", i, buf, n, 4 * k);
        }
    }
    size_t one = simple_batch(buf, sizeof buf, 4, 100, -1, -1, -1);
    struct fpreq p[] = {{"t", 0, 0, 1}, {"t", 1, 0, 1 << 20}, {"t", 2, 0, (int32_t)(2 * one)}};
    struct fres r;
    /* KIP-74: the first partition gets one batch although it is over both
     * limits; the others get nothing once max_bytes is spent. */
    fetch(f, 11, 60000, 1, 10, p, 3, &r);
    assert_int_equal(r.p[0].records_len, (int32_t)one);
    assert_int_equal(r.p[1].records_len, 0);
    assert_int_equal(r.p[1].hw, 12);
    assert_int_equal(r.p[2].records_len, 0);
    fres_free(&r);
    /* Partition limits with room in max_bytes: whole batches only. */
    fetch(f, 11, 0, 1, 1 << 20, p, 3, &r);
    assert_int_equal(r.p[0].records_len, (int32_t)one);
    assert_int_equal(r.p[1].records_len, (int32_t)(3 * one));
    assert_int_equal(r.p[2].records_len, (int32_t)(2 * one));
    fres_free(&r);
}

/* An answer goes on into the next segment when its first ends at a roll
 * with room left, whole batches within the limits; a partition limit that
 * the roll's first batch would exceed still ends it at the roll. */
static void test_fetch_across_segments(void **state)
{
    struct fx *f = *state;
    ed_partition *p = part(f, "t", 0);
    struct ed_log_config cfg = *ed_log_get_config(p->log);
    cfg.segment_len = 2048;
    ed_log_set_config(p->log, &cfg);
    uint8_t buf[4096];
    size_t one = simple_batch(buf, sizeof buf, 4, 100, -1, -1, -1);
    int64_t off = 0;
    while (ed_log_active_base(p->log) == 0) {
        produce_ok(f, 7, "t", 0, buf, one, off);
        off += 4;
    }
    int64_t roll = ed_log_active_base(p->log); /* segment 2's first batch */
    for (int k = 0; k < 3; k++) {
        produce_ok(f, 7, "t", 0, buf, one, off);
        off += 4;
    }
    /* From two batches before the roll: those two, then all four of
     * segment 2. */
    struct fpreq q[] = {{"t", 0, roll - 8, 1 << 20}};
    struct fres r;
    fetch(f, 11, 0, 1, 1 << 20, q, 1, &r);
    int64_t first, last;
    assert_int_equal(count_records(r.p[0].records, r.p[0].records_len, &first, &last), 24);
    assert_int_equal(first, roll - 8);
    assert_int_equal(last, off - 1);
    fres_free(&r);
    /* Room for the two before the roll and half a batch: no more. */
    q[0].max_bytes = (int32_t)(2 * one + one / 2);
    fetch(f, 11, 0, 1, 1 << 20, q, 1, &r);
    assert_int_equal(count_records(r.p[0].records, r.p[0].records_len, &first, &last), 8);
    assert_int_equal(last, roll - 1);
    fres_free(&r);
    /* The total limit counts both segments' bytes. */
    q[0].max_bytes = 1 << 20;
    fetch(f, 11, 0, 1, (int32_t)(3 * one), q, 1, &r);
    assert_int_equal(count_records(r.p[0].records, r.p[0].records_len, &first, &last), 12);
    assert_int_equal(last, roll + 3);
    fres_free(&r);
}

static void test_fetch_session(void **state)
{
    struct fx *f = *state;
    struct fpreq p[] = {{"t", 0, 0, 100}};
    for (int k = 0; k < 2; k++) {
        ed_kwr w;
        fetch_body(f, &w, 11, 0, 1, 100, k == 0 ? 5 : 0, k == 0 ? 1 : 3, p, 1);
        struct call c;
        call_start(f, &c, 1, 11, false, &w);
        ed_kwr_free(&w);
        assert_int_equal(c.status, ED_KAPI_RESPOND);
        struct fres r;
        parse_fetch(&c.req.out, 11, &r);
        assert_int_equal(r.err, ED_KERR_FETCH_SESSION_ID_NOT_FOUND);
        assert_int_equal(r.n, 0);
        call_end(&c);
    }
    /* A request for a new session (epoch 0) gets a full answer, no session. */
    ed_kwr w;
    fetch_body(f, &w, 12, 0, 1, 100, 0, 0, p, 1);
    struct call c;
    call_start(f, &c, 1, 12, true, &w);
    ed_kwr_free(&w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    struct fres r;
    parse_fetch(&c.req.out, 12, &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.session_id, 0);
    assert_int_equal(r.n, 1);
    fres_free(&r);
    call_end(&c);
}

static void test_fetch_malformed(void **state)
{
    struct fx *f = *state;
    struct fpreq p[] = {{"t", 0, 0, 100}, {"t", 1, 0, 100}};
    for (int16_t v = 4; v <= 17; v++) {
        ed_kwr w;
        fetch_body(f, &w, v, 0, 1, 100, 0, -1, p, 2);
        for (size_t cut = 0; cut < w.len; cut++) {
            ed_kwr pw = w;
            pw.len = cut;
            struct call c;
            call_start(f, &c, 1, v, v >= 12, &pw);
            assert_int_equal(c.status, ED_KAPI_CLOSE);
            call_end(&c);
        }
        ed_kwr_free(&w);
    }
}

/* A pending fetch is woken by a produce on another "connection". */
struct produce_later {
    struct fx *f;
    ed_timer t;
    int32_t partition;
};

static void on_produce_later(ed_timer *t, void *arg)
{
    (void)t;
    struct produce_later *pl = arg;
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 2, 3000, -1, -1, -1);
    struct pres p;
    assert_int_equal(produce(pl->f, 7, 1, "t", pl->partition, buf, (int32_t)n, &p),
                     ED_KAPI_RESPOND);
    assert_int_equal(p.err, 0);
}

static void test_fetch_long_poll(void **state)
{
    struct fx *f = *state;
    struct fpreq p[] = {{"t", 0, 0, 1 << 20}, {"t", 1, 0, 1 << 20}};
    ed_kwr w;
    fetch_body(f, &w, 11, 60000, 1, 1 << 20, 0, -1, p, 2);
    struct call c;
    call_start(f, &c, 1, 11, false, &w);
    ed_kwr_free(&w);
    assert_int_equal(c.status, ED_KAPI_PENDING);
    assert_non_null(part(f, "t", 0)->fetch_waiters);
    assert_non_null(part(f, "t", 1)->fetch_waiters);
    struct produce_later pl = {f, {0}, 1};
    ed_plat_timer_start(f->loop, &pl.t, 10, on_produce_later, &pl);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    assert_int_equal(n_completed, 1);
    assert_null(part(f, "t", 0)->fetch_waiters);
    assert_null(part(f, "t", 1)->fetch_waiters);
    struct fres r;
    parse_fetch(&c.req.out, 11, &r);
    assert_int_equal(r.p[0].records_len, 0);
    int64_t first, last;
    assert_int_equal(count_records(r.p[1].records, r.p[1].records_len, &first, &last), 2);
    fres_free(&r);
    call_end(&c);
}

static void test_fetch_long_poll_timeout(void **state)
{
    struct fx *f = *state;
    struct fpreq p[] = {{"t", 2, 0, 1 << 20}};
    struct fres r;
    fetch(f, 12, 30, 1, 1 << 20, p, 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.p[0].err, 0);
    assert_int_equal(r.p[0].records_len, 0);
    fres_free(&r);
    assert_null(part(f, "t", 2)->fetch_waiters);
}

static void test_fetch_min_bytes(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 2, 3000, -1, -1, -1);
    produce_ok(f, 7, "t", 0, buf, n, 0);
    /* One batch is available but min_bytes asks for more: wait for a
     * second append. */
    struct fpreq p[] = {{"t", 0, 0, 1 << 20}};
    ed_kwr w;
    fetch_body(f, &w, 11, 60000, (int32_t)n + 1, 1 << 20, 0, -1, p, 1);
    struct call c;
    call_start(f, &c, 1, 11, false, &w);
    ed_kwr_free(&w);
    assert_int_equal(c.status, ED_KAPI_PENDING);
    struct produce_later pl = {f, {0}, 0};
    ed_plat_timer_start(f->loop, &pl.t, 5, on_produce_later, &pl);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    assert_int_equal(n_completed, 1);
    struct fres r;
    parse_fetch(&c.req.out, 11, &r);
    int64_t first, last;
    assert_int_equal(count_records(r.p[0].records, r.p[0].records_len, &first, &last), 4);
    fres_free(&r);
    call_end(&c);
}

static void test_fetch_cancel_and_delete(void **state)
{
    struct fx *f = *state;
    struct fpreq p[] = {{"t", 0, 0, 1 << 20}, {"t", 2, 0, 1 << 20}};
    ed_kwr w;
    fetch_body(f, &w, 11, 60000, 1, 1 << 20, 0, -1, p, 2);
    struct call c1, c2;
    call_start(f, &c1, 1, 11, false, &w);
    call_start(f, &c2, 1, 11, false, &w);
    ed_kwr_free(&w);
    assert_int_equal(c1.status, ED_KAPI_PENDING);
    assert_int_equal(c2.status, ED_KAPI_PENDING);
    /* The first connection closes. */
    c1.req.cancel(&c1.req);
    call_end(&c1);
    assert_non_null(part(f, "t", 0)->fetch_waiters);
    /* The topic goes away: the second fetch answers at once. */
    assert_int_equal(ed_topics_delete(f->topics, ed_topics_find(f->topics, "t")), ED_OK);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    assert_int_equal(n_completed, 1);
    struct fres r;
    parse_fetch(&c2.req.out, 11, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.p[0].err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(r.p[1].err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    fres_free(&r);
    call_end(&c2);
}

/* ---- list offsets / leader epochs ---- */

struct lres {
    int16_t err;
    int64_t ts;
    int64_t offset;
    int32_t epoch;
    int32_t n_old;
};

static void list_offsets(struct fx *f, int16_t v, const char *topic, int32_t partition, int64_t ts,
                         struct lres *out)
{
    bool flex = v >= 6;
    ed_kwr w;
    ed_kwr_init(&w, 1024);
    ed_kwr_i32(&w, -1);
    if (v >= 2) ed_kwr_i8(&w, 0);
    ed_kwr_array(&w, 1, flex);
    ed_kwr_str(&w, topic, flex);
    ed_kwr_array(&w, 1, flex);
    ed_kwr_i32(&w, partition);
    if (v >= 4) ed_kwr_i32(&w, -1);
    ed_kwr_i64(&w, ts);
    if (v == 0) ed_kwr_i32(&w, 1);
    ed_kwr_tags(&w, flex);
    ed_kwr_tags(&w, flex);
    ed_kwr_tags(&w, flex);
    struct call c;
    call_start(f, &c, 2, v, flex, &w);
    ed_kwr_free(&w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    ed_krd r;
    ed_krd_init(&r, c.req.out.buf, c.req.out.len);
    if (v >= 2) assert_int_equal(ed_krd_i32(&r), 0);
    assert_int_equal(ed_krd_array(&r, flex, 0), 1);
    assert_true(ed_kstr_eq(ed_krd_str(&r, flex), topic));
    assert_int_equal(ed_krd_array(&r, flex, 0), 1);
    assert_int_equal(ed_krd_i32(&r), partition);
    out->err = ed_krd_i16(&r);
    out->ts = out->offset = -1;
    out->epoch = -1;
    out->n_old = -1;
    if (v == 0) {
        out->n_old = ed_krd_array(&r, flex, 8);
        if (out->n_old == 1) out->offset = ed_krd_i64(&r);
    } else {
        out->ts = ed_krd_i64(&r);
        out->offset = ed_krd_i64(&r);
        if (v >= 4) out->epoch = ed_krd_i32(&r);
    }
    ed_krd_tags(&r, flex);
    ed_krd_tags(&r, flex);
    ed_krd_tags(&r, flex);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_left(&r), 0);
    call_end(&c);
}

static void test_list_offsets(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    /* Batches with records at 1000..1004, 2000..2004, 3000..3004 ms. */
    for (int k = 0; k < 3; k++) {
        size_t n = simple_batch(buf, sizeof buf, 5, 1000 * (k + 1), -1, -1, -1);
        produce_ok(f, 7, "t", 0, buf, n, 5 * k);
    }
    struct lres r;
    for (int16_t v = 0; v <= 7; v++) {
        list_offsets(f, v, "t", 0, -1, &r);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.offset, 15);
        list_offsets(f, v, "t", 0, -2, &r);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.offset, 0);
        if (v >= 4) assert_int_equal(r.epoch, 0);
        /* By timestamp: the exact record inside the batch. */
        list_offsets(f, v, "t", 0, 2002, &r);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.offset, 7);
        if (v >= 1) assert_int_equal(r.ts, 2002);
        list_offsets(f, v, "t", 0, 1500, &r);
        assert_int_equal(r.offset, 5);
        if (v >= 1) assert_int_equal(r.ts, 2000);
        /* Later than everything: no offset. */
        list_offsets(f, v, "t", 0, 99999, &r);
        assert_int_equal(r.err, 0);
        if (v == 0)
            assert_int_equal(r.n_old, 0);
        else
            assert_int_equal(r.offset, -1);
        list_offsets(f, v, "nosuch", 0, -1, &r);
        assert_int_equal(r.err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        list_offsets(f, v, "t", 9, -1, &r);
        assert_int_equal(r.err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    }
    list_offsets(f, 7, "t", 0, -3, &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ts, 3004);
    assert_int_equal(r.offset, 14);
    list_offsets(f, 7, "t", 1, -3, &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.offset, -1);
    assert_int_equal(r.ts, -1);
}

static void test_offset_for_leader_epoch(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 3, 1, -1, -1, -1);
    produce_ok(f, 7, "t", 1, buf, n, 0);
    for (int16_t v = 0; v <= 4; v++) {
        bool flex = v >= 4;
        int32_t epochs[] = {0, 3, -1};
        for (int e = 0; e < 3; e++) {
            ed_kwr w;
            ed_kwr_init(&w, 1024);
            if (v >= 3) ed_kwr_i32(&w, -1);
            ed_kwr_array(&w, 2, flex);
            ed_kwr_str(&w, "t", flex);
            ed_kwr_array(&w, 1, flex);
            ed_kwr_i32(&w, 1);
            if (v >= 2) ed_kwr_i32(&w, 0);
            ed_kwr_i32(&w, epochs[e]);
            ed_kwr_tags(&w, flex);
            ed_kwr_tags(&w, flex);
            ed_kwr_str(&w, "nosuch", flex);
            ed_kwr_array(&w, 1, flex);
            ed_kwr_i32(&w, 0);
            if (v >= 2) ed_kwr_i32(&w, -1);
            ed_kwr_i32(&w, 0);
            ed_kwr_tags(&w, flex);
            ed_kwr_tags(&w, flex);
            ed_kwr_tags(&w, flex);
            struct call c;
            call_start(f, &c, 23, v, flex, &w);
            ed_kwr_free(&w);
            assert_int_equal(c.status, ED_KAPI_RESPOND);
            ed_krd r;
            ed_krd_init(&r, c.req.out.buf, c.req.out.len);
            if (v >= 2) assert_int_equal(ed_krd_i32(&r), 0);
            assert_int_equal(ed_krd_array(&r, flex, 0), 2);
            assert_true(ed_kstr_eq(ed_krd_str(&r, flex), "t"));
            assert_int_equal(ed_krd_array(&r, flex, 0), 1);
            assert_int_equal(ed_krd_i16(&r), 0);
            assert_int_equal(ed_krd_i32(&r), 1);
            if (v >= 1) assert_int_equal(ed_krd_i32(&r), epochs[e] == 0 ? 0 : -1);
            assert_int_equal(ed_krd_i64(&r), epochs[e] == 0 ? 3 : -1);
            ed_krd_tags(&r, flex);
            ed_krd_tags(&r, flex);
            assert_true(ed_kstr_eq(ed_krd_str(&r, flex), "nosuch"));
            assert_int_equal(ed_krd_array(&r, flex, 0), 1);
            assert_int_equal(ed_krd_i16(&r), ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
            ed_krd_i32(&r);
            if (v >= 1) ed_krd_i32(&r);
            ed_krd_i64(&r);
            ed_krd_tags(&r, flex);
            ed_krd_tags(&r, flex);
            ed_krd_tags(&r, flex);
            assert_true(ed_krd_ok(&r));
            assert_int_equal(ed_krd_left(&r), 0);
            call_end(&c);
        }
    }
}

static void test_produce_log_append_time(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    const char *why = NULL;
    const char *keys[] = {"message.timestamp.type"};
    const char *vals[] = {"LogAppendTime"};
    assert_int_equal(ed_topics_create(f->topics, "lat", 1, keys, vals, 1, &why, &t), ED_OK);
    int16_t err, epoch;
    int64_t pid = init_pid(f, 4, NULL, &err, &epoch);
    uint8_t buf[4096];
    size_t n = simple_batch(buf, sizeof buf, 3, 5, pid, 0, 0);
    int64_t before = ed_plat_clock_wall_ms();
    struct pres p, d;
    assert_int_equal(produce(f, 8, 1, "lat", 0, buf, (int32_t)n, &p), ED_KAPI_RESPOND);
    assert_int_equal(p.err, 0);
    assert_true(p.log_append_time >= before);
    /* The retry of the same batch answers with the same time. */
    n = simple_batch(buf, sizeof buf, 3, 5, pid, 0, 0);
    assert_int_equal(produce(f, 8, 1, "lat", 0, buf, (int32_t)n, &d), ED_KAPI_RESPOND);
    assert_int_equal(d.err, 0);
    assert_int_equal(d.base_offset, p.base_offset);
    assert_int_equal(d.log_append_time, p.log_append_time);
    /* Served with the append time as every record's timestamp. */
    struct fpreq q[] = {{"lat", 0, 0, 1 << 20}};
    struct fres r;
    fetch(f, 11, 0, 1, 1 << 20, q, 1, &r);
    struct ed_batch_info bi;
    assert_int_equal(ed_batch_check(r.p[0].records, (size_t)r.p[0].records_len, &bi), ED_OK);
    assert_true(ed_batch_is_log_append_time(&bi));
    assert_int_equal(bi.max_timestamp, p.log_append_time);
    fres_free(&r);
    struct lres l;
    list_offsets(f, 7, "lat", 0, p.log_append_time, &l);
    assert_int_equal(l.offset, 0);
    assert_int_equal(l.ts, p.log_append_time);
}

/* Every truncation of a good request closes the connection and changes
 * nothing. */
/* Every cut of the request is refused before the handler acts: closed,
 * and not a byte of a response written. */
static void all_cuts_close(struct fx *f, int16_t key, int16_t v, bool flex, const ed_kwr *w)
{
    for (size_t cut = 0; cut < w->len; cut++) {
        ed_kwr pw = *w;
        pw.len = cut;
        struct call c;
        call_start(f, &c, key, v, flex, &pw);
        assert_int_equal(c.status, ED_KAPI_CLOSE);
        assert_int_equal(c.req.out.len, 0);
        call_end(&c);
    }
}

static void test_small_apis_malformed(void **state)
{
    struct fx *f = *state;
    for (int16_t v = 0; v <= 7; v++) {
        bool flex = v >= 6;
        ed_kwr w;
        ed_kwr_init(&w, 1024);
        ed_kwr_i32(&w, -1);
        if (v >= 2) ed_kwr_i8(&w, 0);
        ed_kwr_array(&w, 1, flex);
        ed_kwr_str(&w, "t", flex);
        ed_kwr_array(&w, 1, flex);
        ed_kwr_i32(&w, 0);
        if (v >= 4) ed_kwr_i32(&w, -1);
        ed_kwr_i64(&w, -1);
        if (v == 0) ed_kwr_i32(&w, 1);
        ed_kwr_tags(&w, flex);
        ed_kwr_tags(&w, flex);
        ed_kwr_tags(&w, flex);
        all_cuts_close(f, 2, v, flex, &w);
        ed_kwr_free(&w);
    }
    for (int16_t v = 0; v <= 4; v++) {
        bool flex = v >= 4;
        ed_kwr w;
        ed_kwr_init(&w, 1024);
        if (v >= 3) ed_kwr_i32(&w, -1);
        ed_kwr_array(&w, 1, flex);
        ed_kwr_str(&w, "t", flex);
        ed_kwr_array(&w, 1, flex);
        ed_kwr_i32(&w, 0);
        if (v >= 2) ed_kwr_i32(&w, 0);
        ed_kwr_i32(&w, 0);
        ed_kwr_tags(&w, flex);
        ed_kwr_tags(&w, flex);
        ed_kwr_tags(&w, flex);
        all_cuts_close(f, 23, v, flex, &w);
        ed_kwr_free(&w);
    }
    int64_t before;
    assert_int_equal(ed_pids_allocate(f->pids, &before), ED_OK);
    for (int16_t v = 0; v <= 5; v++) {
        bool flex = v >= 2;
        ed_kwr w;
        ed_kwr_init(&w, 1024);
        ed_kwr_str(&w, NULL, flex);
        ed_kwr_i32(&w, 1000);
        if (v >= 3) {
            ed_kwr_i64(&w, -1);
            ed_kwr_i16(&w, -1);
        }
        ed_kwr_tags(&w, flex);
        all_cuts_close(f, 22, v, flex, &w);
        ed_kwr_free(&w);
    }
    /* No producer id was spent on a malformed request. */
    int64_t after;
    assert_int_equal(ed_pids_allocate(f->pids, &after), ED_OK);
    assert_int_equal(after, before + 1);
    /* Metadata asking to auto-create a topic: no cut creates it. */
    struct ed_config *cfg;
    assert_int_equal(ed_config_new(&cfg), ED_OK); /* auto-creation on */
    ed_topics_set_broker_config(f->topics, cfg);
    for (int16_t v = 4; v <= 12; v++) {
        bool flex = v >= 9;
        ed_kwr w;
        ed_kwr_init(&w, 1024);
        ed_kwr_array(&w, 1, flex);
        if (v >= 10) ed_kwr_uuid(&w, (const uint8_t[16]){0});
        ed_kwr_str(&w, "fresh", flex);
        ed_kwr_tags(&w, flex);
        ed_kwr_bool(&w, true); /* allow auto-creation */
        if (v >= 8 && v <= 10) ed_kwr_bool(&w, false);
        if (v >= 8) ed_kwr_bool(&w, false);
        ed_kwr_tags(&w, flex);
        all_cuts_close(f, 3, v, flex, &w);
        assert_null(ed_topics_find(f->topics, "fresh"));
        if (v == 12) { /* whole, it does */
            struct call c;
            call_start(f, &c, 3, v, flex, &w);
            assert_int_equal(c.status, ED_KAPI_RESPOND);
            assert_non_null(ed_topics_find(f->topics, "fresh"));
            call_end(&c);
        }
        ed_kwr_free(&w);
    }
    ed_topics_set_broker_config(f->topics, NULL);
    ed_config_free(cfg);
    /* ApiVersions v3+: client software name and version. */
    for (int16_t v = 3; v <= 4; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 1024);
        ed_kwr_str(&w, "eddy", true);
        ed_kwr_str(&w, "1.0", true);
        ed_kwr_tags(&w, true);
        all_cuts_close(f, 18, v, true, &w);
        ed_kwr_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_produce_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_poisoned_records, setup, teardown),
#if ED_WITH_ZSTD
        cmocka_unit_test_setup_teardown(test_produce_bomb_bounded, setup, teardown),
#endif
        cmocka_unit_test_setup_teardown(test_produce_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_log_append_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_acks_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_acks_all_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_full_window_not_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_urged_not_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_producer_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pids_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotence_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pidstate_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pidstate_snapshot_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_long_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_long_poll_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_min_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_cancel_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_for_leader_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_apis_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_bytes_as_before, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
