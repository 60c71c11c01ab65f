/* RecordBatch v2: header decoding, validation, in-place stamping of offsets
 * and timestamps, record iteration with decompression, and the builder of
 * batches Eddy makes itself. Layout and offsets in storage/format.h. */
#include <inttypes.h>
#include <string.h>

#define ED_LOG_MODULE "batch"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/cstream.h"
#include "storage/format.h"
#include "storage/varint.h"

int ed_batch_parse_header(const uint8_t *buf, size_t len, struct ed_batch_info *out)
{
    if (len < ED_BATCH_HEADER_LEN) return ED_ERR_CORRUPT;
    int32_t length = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_LENGTH);
    if (length < ED_BATCH_MIN_LENGTH || buf[ED_BATCH_OFF_MAGIC] != ED_BATCH_MAGIC)
        return ED_ERR_CORRUPT;
    out->base_offset = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_BASE_OFFSET);
    out->length = length;
    out->leader_epoch = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_LEADER_EPOCH);
    out->crc = ed_get_be32(buf + ED_BATCH_OFF_CRC);
    out->attributes = (int16_t)ed_get_be16(buf + ED_BATCH_OFF_ATTRIBUTES);
    out->last_offset_delta = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_LAST_OFFSET_DELTA);
    out->base_timestamp = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_BASE_TIMESTAMP);
    out->max_timestamp = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_MAX_TIMESTAMP);
    out->producer_id = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_PRODUCER_ID);
    out->producer_epoch = (int16_t)ed_get_be16(buf + ED_BATCH_OFF_PRODUCER_EPOCH);
    out->base_sequence = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_BASE_SEQUENCE);
    out->record_count = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_RECORD_COUNT);
    return ED_OK;
}

static int fail(const char **why, const char *text, int err)
{
    if (why) *why = text;
    return err;
}

static int check_rules(const struct ed_batch_info *b, const char **why);

int ed_batch_check_why(const uint8_t *buf, size_t len, struct ed_batch_info *out, const char **why)
{
    struct ed_batch_info b;
    if (why) *why = NULL;
    if (len < ED_BATCH_HEADER_LEN) return fail(why, "shorter than a batch header", ED_ERR_CORRUPT);
    if (buf[ED_BATCH_OFF_MAGIC] != ED_BATCH_MAGIC)
        return fail(why, "magic is not 2", ED_ERR_CORRUPT);
    if (ed_batch_parse_header(buf, len, &b) != ED_OK)
        return fail(why, "length field below the header size", ED_ERR_CORRUPT);
    size_t total = ed_batch_total_len(&b);
    if (total > len) return fail(why, "batch extends past the end of the data", ED_ERR_CORRUPT);
    uint32_t crc = ed_crc32c(0, buf + ED_BATCH_OFF_ATTRIBUTES, total - ED_BATCH_OFF_ATTRIBUTES);
    if (crc != b.crc) return fail(why, "CRC32C mismatch", ED_ERR_CORRUPT);
    int rc = check_rules(&b, why);
    if (rc == ED_OK && out) *out = b;
    return rc;
}

/* Past the CRC the bytes are what a producer or Eddy wrote; these rules
 * hold for every batch Kafka itself would store. */
static int check_rules(const struct ed_batch_info *bp, const char **why)
{
    struct ed_batch_info b = *bp;
    size_t total = ed_batch_total_len(&b);
    if (ed_batch_compression(&b) > ED_COMPRESSION_ZSTD)
        return fail(why, "unknown compression codec", ED_ERR_CORRUPT);
    if (b.record_count < 0) return fail(why, "negative record count", ED_ERR_CORRUPT);
    if (b.last_offset_delta < 0) return fail(why, "negative last offset delta", ED_ERR_CORRUPT);
    if ((int64_t)b.record_count > (int64_t)b.last_offset_delta + 1)
        return fail(why, "more records than offsets", ED_ERR_CORRUPT);
    if (ed_batch_compression(&b) == ED_COMPRESSION_NONE &&
        (size_t)b.record_count > (total - ED_BATCH_HEADER_LEN) / ED_RECORD_MIN_LEN)
        return fail(why, "record count larger than the records section allows", ED_ERR_CORRUPT);
    if (ed_batch_compression(&b) != ED_COMPRESSION_NONE && b.record_count > 0 &&
        total == ED_BATCH_HEADER_LEN)
        return fail(why, "compressed batch without data", ED_ERR_CORRUPT);
    return ED_OK;
}

int ed_batch_check(const uint8_t *buf, size_t len, struct ed_batch_info *out)
{
    const char *why;
    int rc = ed_batch_check_why(buf, len, out, &why);
    if (rc != ED_OK) ED_LOG_DBG("batch rejected: %s", why);
    return rc;
}

int ed_batch_check_client(const struct ed_batch_info *b, const char **why)
{
    if (why) *why = NULL;
    if (b->last_offset_delta < 0)
        return fail(why, "batch has an invalid offset range", ED_ERR_INVAL);
    if (b->record_count <= 0)
        return fail(why, "invalid reported count for record batch", ED_ERR_INVAL);
    if ((int64_t)b->last_offset_delta + 1 != b->record_count)
        return fail(why, "inconsistent batch offset range and count of records", ED_ERR_INVAL);
    if (ed_batch_is_control(b))
        return fail(why, "clients are not allowed to write control records", ED_ERR_INVAL);
    if (b->producer_id >= 0 && b->base_sequence < 0)
        return fail(why, "invalid sequence number in batch with a producer id", ED_ERR_INVAL);
    return ED_OK;
}

static void update_crc(uint8_t *buf)
{
    size_t total = (size_t)(int32_t)ed_get_be32(buf + ED_BATCH_OFF_LENGTH) + ED_BATCH_LOG_OVERHEAD;
    ED_ASSERT(total >= ED_BATCH_HEADER_LEN);
    ed_put_be32(buf + ED_BATCH_OFF_CRC,
                ed_crc32c(0, buf + ED_BATCH_OFF_ATTRIBUTES, total - ED_BATCH_OFF_ATTRIBUTES));
}

void ed_batch_set_max_timestamp(uint8_t *buf, bool log_append_time, int64_t max_timestamp)
{
    uint16_t attr = ed_get_be16(buf + ED_BATCH_OFF_ATTRIBUTES);
    uint16_t new_attr = log_append_time ? (uint16_t)(attr | ED_BATCH_ATTR_LOG_APPEND_TIME)
                                        : (uint16_t)(attr & ~ED_BATCH_ATTR_LOG_APPEND_TIME);
    if (new_attr == attr && (int64_t)ed_get_be64(buf + ED_BATCH_OFF_MAX_TIMESTAMP) == max_timestamp)
        return;
    ed_put_be16(buf + ED_BATCH_OFF_ATTRIBUTES, new_attr);
    ed_put_be64(buf + ED_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_timestamp);
    update_crc(buf);
}

void ed_batch_stamp(uint8_t *buf, int64_t base_offset, int32_t leader_epoch,
                    int64_t log_append_time)
{
    ed_put_be64(buf + ED_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
    ed_put_be32(buf + ED_BATCH_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
    if (log_append_time >= 0) ed_batch_set_max_timestamp(buf, true, log_append_time);
}

/* ---- record iteration ---- */

void ed_batch_iter_init(struct ed_batch_iter *it, size_t max_records_len)
{
    memset(it, 0, sizeof *it);
    it->max_len = max_records_len;
}

void ed_batch_iter_release(struct ed_batch_iter *it)
{
    ed_free(it->buf);
    ed_codec_release(&it->codec);
    size_t max_len = it->max_len;
    memset(it, 0, sizeof *it);
    it->max_len = max_len;
}

static int ensure_buf(struct ed_batch_iter *it, size_t len)
{
    if (it->buf_cap >= len) return ED_OK;
    /* The old contents are never needed: free first to keep the peak low. */
    ed_free(it->buf);
    it->buf_cap = 0;
    it->buf = ed_malloc(len);
    if (!it->buf) return ED_ERR_NOMEM;
    it->buf_cap = len;
    return ED_OK;
}

/* Decompresses src into it->buf, trying a size from the stream's header (or
 * a multiple of the input) and growing fourfold while the output does not
 * fit, up to it->max_len: the total work stays within 4/3 of the last try. */
static int decompress_records(struct ed_batch_iter *it, int codec, const uint8_t *src, size_t len,
                              size_t *out_len)
{
    if (it->max_len == 0) return ED_ERR_TOOBIG;
    size_t cap = ed_codec_size_hint(codec, src, len);
    if (cap == 0) cap = len <= SIZE_MAX / 4 ? len * 4 : SIZE_MAX;
    cap = ED_MAX(cap, ED_MAX(it->buf_cap, (size_t)4096));
    cap = ED_MIN(cap, it->max_len);
    for (;;) {
        int rc = ensure_buf(it, cap);
        if (rc != ED_OK) return rc;
        rc = ed_codec_decompress(&it->codec, codec, src, len, it->buf, cap, out_len);
        if (rc != ED_ERR_TOOBIG || cap == it->max_len) return rc;
        cap = cap <= it->max_len / 4 ? cap * 4 : it->max_len;
    }
}

/* The batch's records are the out_len bytes decompressed into it->buf. */
static int records_ready(struct ed_batch_iter *it, const struct ed_batch_info *info, size_t out_len)
{
    if ((size_t)info->record_count > out_len / ED_RECORD_MIN_LEN) return it->err = ED_ERR_CORRUPT;
    it->pos = it->buf;
    it->end = it->buf + out_len;
    it->info = *info;
    it->n_left = info->record_count;
    it->prev_delta = -1;
    return ED_OK;
}

/* A batch read in pieces: where its bytes come from, and the CRC32C of
 * those read so far. */
struct piece_src {
    ed_batch_read_fn rd;
    void *arg;
    size_t at, total;
    uint32_t crc;
};

static int next_piece(void *arg, uint8_t *buf, size_t len, size_t *n)
{
    struct piece_src *ps = arg;
    *n = ED_MIN(len, ps->total - ps->at);
    if (*n == 0) return ED_OK;
    int rc = ps->rd(ps->arg, ps->at, buf, *n);
    if (rc != ED_OK) return rc;
    ps->crc = ed_crc32c(ps->crc, buf, *n);
    ps->at += *n;
    return ED_OK;
}

int ed_batch_iter_begin_read(struct ed_batch_iter *it, const uint8_t *head, size_t total_len,
                             ed_batch_read_fn rd, void *arg)
{
    struct ed_batch_info info;
    const char *why = NULL;
    it->err = ED_OK;
    it->n_left = 0;
    it->pos = it->end = NULL;
    if (head[ED_BATCH_OFF_MAGIC] != ED_BATCH_MAGIC ||
        ed_batch_parse_header(head, ED_BATCH_HEADER_LEN, &info) != ED_OK ||
        ed_batch_total_len(&info) != total_len || check_rules(&info, &why) != ED_OK)
        return it->err = ED_ERR_CORRUPT;
    int codec = ed_batch_compression(&info);
    if (info.record_count == 0 || codec != ED_COMPRESSION_ZSTD || it->max_len == 0)
        return it->err = ED_ERR_UNSUPPORTED;
    uint8_t piece[ED_BATCH_READ_PIECE];
    size_t rec_len = total_len - ED_BATCH_HEADER_LEN, out_len = 0;
    size_t cap = ED_MIN(
        ED_MAX(rec_len <= SIZE_MAX / 4 ? rec_len * 4 : SIZE_MAX, ED_MAX(it->buf_cap, (size_t)4096)),
        it->max_len);
    int rc;
    struct piece_src ps;
    for (;;) {
        rc = ensure_buf(it, cap);
        if (rc != ED_OK) return it->err = rc;
        ps = (struct piece_src){rd, arg, ED_BATCH_HEADER_LEN, total_len,
                                ed_crc32c(0, head + ED_BATCH_OFF_ATTRIBUTES,
                                          ED_BATCH_HEADER_LEN - ED_BATCH_OFF_ATTRIBUTES)};
        rc = ed_codec_decompress_read(&it->codec, codec, next_piece, &ps, piece, sizeof piece,
                                      it->buf, cap, &out_len);
        if (rc != ED_ERR_TOOBIG || cap == it->max_len) break;
        cap = cap <= it->max_len / 4 ? cap * 4 : it->max_len;
    }
    /* every byte of the batch read, so that its CRC is checked even when its
     * records do not decompress: a corrupt batch is reported as such */
    while (ps.at < ps.total && (rc == ED_OK || rc == ED_ERR_CORRUPT)) {
        size_t n = 0;
        int rrc = next_piece(&ps, piece, sizeof piece, &n);
        if (rrc != ED_OK) return it->err = rrc;
    }
    if (ps.at == ps.total && ps.crc != info.crc) return it->err = ED_ERR_CORRUPT;
    if (rc != ED_OK) return it->err = rc;
    return records_ready(it, &info, out_len);
}

int ed_batch_iter_begin(struct ed_batch_iter *it, const uint8_t *buf, size_t len)
{
    struct ed_batch_info info;
    it->err = ED_OK;
    it->n_left = 0;
    it->pos = it->end = NULL;
    int rc = ed_batch_check(buf, len, &info);
    if (rc != ED_OK) return it->err = rc;
    const uint8_t *rec = buf + ED_BATCH_OFF_RECORDS;
    size_t rec_len = ed_batch_total_len(&info) - ED_BATCH_OFF_RECORDS;
    int codec = ed_batch_compression(&info);
    if (info.record_count == 0) {
        /* Kafka reads nothing of an empty batch; an uncompressed one must
         * then really be empty. */
        if (codec == ED_COMPRESSION_NONE && rec_len != 0) return it->err = ED_ERR_CORRUPT;
    } else if (codec == ED_COMPRESSION_NONE) {
        it->pos = rec;
        it->end = rec + rec_len;
    } else {
        size_t out_len = 0;
        rc = decompress_records(it, codec, rec, rec_len, &out_len);
        if (rc != ED_OK) {
            ED_LOG_DBG("batch at offset %" PRId64 ": records do not decompress (%s)",
                       info.base_offset, ed_strerror(rc));
            return it->err = rc;
        }
        return records_ready(it, &info, out_len);
    }
    it->info = info;
    it->n_left = info.record_count;
    it->prev_delta = -1;
    return ED_OK;
}

/* Reads a length-prefixed byte field (-1 = null) from [*p, end). */
static inline bool get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **out,
                             int32_t *len)
{
    size_t n = ed_varint_get32(*p, end, len);
    if (n == 0 || *len < -1 || (*len > 0 && (size_t)*len > (size_t)(end - *p - n))) return false;
    *p += n;
    *out = *len >= 0 ? *p : NULL;
    if (*len > 0) *p += *len;
    return true;
}

/* One record at [p, end) of a batch described by info, after a record with
 * offset delta prev_delta: every field checked against the record's own
 * length, which is checked against [p, end). Returns the bytes it takes,
 * or 0 with *why naming the fault. */
static size_t parse_one(const struct ed_batch_info *info, int32_t prev_delta, const uint8_t *p,
                        const uint8_t *end, struct ed_record *r, int32_t *off_delta,
                        const char **why)
{
    const uint8_t *start = p;
    int32_t body_len;
    int64_t ts_delta;
    size_t n = ed_varint_get32(p, end, &body_len);
    if (n == 0) return *why = "malformed record length", 0;
    if (body_len < ED_RECORD_MIN_LEN - 1) return *why = "record length too small", 0;
    if ((size_t)body_len > (size_t)(end - p - n))
        return *why = "the records section ends inside a record", 0;
    p += n;
    const uint8_t *rend = p + body_len;
    p++; /* attributes: unused by Kafka */
    if ((n = ed_varint_get64(p, rend, &ts_delta)) == 0)
        return *why = "malformed timestamp delta", 0;
    p += n;
    if ((n = ed_varint_get32(p, rend, off_delta)) == 0) return *why = "malformed offset delta", 0;
    p += n;
    if (!get_bytes(&p, rend, &r->key, &r->key_len) ||
        !get_bytes(&p, rend, &r->value, &r->value_len))
        return *why = "malformed key or value", 0;
    int32_t n_headers;
    if ((n = ed_varint_get32(p, rend, &n_headers)) == 0 || n_headers < 0 ||
        (size_t)n_headers > (size_t)(rend - p - n) / 2)
        return *why = "malformed header count", 0;
    p += n;
    r->headers = p;
    for (int32_t i = 0; i < n_headers; i++) {
        const uint8_t *k, *v;
        int32_t kl, vl;
        if (!get_bytes(&p, rend, &k, &kl) || kl < 0 || !get_bytes(&p, rend, &v, &vl))
            return *why = "malformed header", 0;
    }
    if (p != rend) return *why = "record length disagrees with its fields", 0;
    r->headers_len = (size_t)(p - r->headers);
    r->n_headers = n_headers;
    /* Offsets ascend within the batch and end at lastOffsetDelta at most. */
    if (*off_delta <= prev_delta || *off_delta > info->last_offset_delta ||
        info->base_offset > INT64_MAX - *off_delta)
        return *why = "offset deltas do not ascend up to the last offset delta", 0;
    r->offset = info->base_offset + *off_delta;
    if (ed_batch_is_log_append_time(info)) {
        r->timestamp = info->max_timestamp;
    } else {
        int64_t base = info->base_timestamp;
        if ((ts_delta > 0 && base > INT64_MAX - ts_delta) ||
            (ts_delta < 0 && base < INT64_MIN - ts_delta))
            return *why = "timestamp delta overflows", 0;
        r->timestamp = base + ts_delta;
    }
    return (size_t)(rend - start);
}

static int parse_record(struct ed_batch_iter *it, struct ed_record *r)
{
    int32_t delta;
    const char *why;
    size_t n = parse_one(&it->info, it->prev_delta, it->pos, it->end, r, &delta, &why);
    if (n == 0) return ED_ERR_CORRUPT;
    it->prev_delta = delta;
    it->pos += n;
    return ED_OK;
}

int ed_batch_iter_next(struct ed_batch_iter *it, struct ed_record *rec)
{
    if (it->err != ED_OK) return it->err;
    if (it->n_left == 0) return 0;
    int rc = parse_record(it, rec);
    if (rc == ED_OK && --it->n_left == 0 && it->pos != it->end)
        rc = ED_ERR_CORRUPT; /* bytes after the declared records */
    if (rc != ED_OK) {
        ED_LOG_DBG("batch at offset %" PRId64 ": bad record %" PRId32, it->info.base_offset,
                   it->info.record_count - it->n_left);
        it->err = rc;
        it->n_left = 0;
        return rc;
    }
    return 1;
}

int ed_record_next_header(const struct ed_record *rec, size_t *cursor, struct ed_record_header *h)
{
    const uint8_t *end = rec->headers + rec->headers_len;
    const uint8_t *p = rec->headers + *cursor;
    if (p >= end) return 0;
    /* Checked by the iterator: these cannot fail. */
    if (!get_bytes(&p, end, &h->key, &h->key_len) || !get_bytes(&p, end, &h->value, &h->value_len))
        return 0;
    *cursor = (size_t)(p - rec->headers);
    return 1;
}

/* ---- validation ---- */

void ed_batch_validator_init(struct ed_batch_validator *v, size_t max_records_len)
{
    memset(v, 0, sizeof *v);
    v->max_len = max_records_len;
}

void ed_batch_validator_release(struct ed_batch_validator *v)
{
    ed_codec_release(&v->codec);
}

/* The record walk is a push parser: the records section arrives in pieces
 * (all at once when uncompressed, a window at a time from a decompressor),
 * and a field may straddle two pieces. Only a varint is ever carried over
 * (at most 10 bytes); key, value and header bytes are counted, not kept. */
enum walk_state {
    W_LEN,
    W_ATTR,
    W_TS,
    W_OFF,
    W_KEY_LEN,
    W_VAL_LEN,
    W_N_HEADERS,
    W_HKEY_LEN,
    W_HVAL_LEN,
    W_SKIP,        /* bytes of a key, value or header, then `after` */
    W_HEADER_DONE, /* (only as `after`) a header's value was passed over */
    W_DONE         /* all records read: nothing may follow */
};

struct walk {
    const struct ed_batch_info *info;
    bool client;
    enum walk_state state, after;
    int32_t index; /* record being read */
    int32_t prev_delta;
    int32_t n_headers; /* headers left in the record */
    int64_t left;      /* bytes left in the record's body */
    uint64_t skip;     /* bytes left of the field being skipped */
    uint8_t vbuf[10];  /* a varint split between pieces */
    size_t vlen;
    const char *why;
};

static int walk_fail(struct walk *w, const char *why)
{
    w->why = why;
    return ED_ERR_CORRUPT;
}

/* Reads a zigzag varint (wide: 64-bit) at *pp, bounded by end and, inside
 * a record, by the bytes left in it. 1 with *out, 0 if the piece ended
 * first (the bytes are kept), -1 if malformed or past the record. */
static int take_varint(struct walk *w, const uint8_t **pp, const uint8_t *end, bool wide,
                       int64_t *out)
{
    bool in_rec = w->state != W_LEN;
    if (in_rec && w->left == 0) return -1; /* the record ends before the field */
    const uint8_t *p = *pp;
    size_t avail = (size_t)(end - p);
    if (in_rec && (uint64_t)w->left < avail) avail = (size_t)w->left;
    size_t n = 0;
    if (w->vlen == 0) {
        if (wide) {
            n = ed_varint_get64(p, p + avail, out);
        } else {
            int32_t v32 = 0;
            n = ed_varint_get32(p, p + avail, &v32);
            *out = v32;
        }
    }
    if (n == 0) { /* carried over, or not whole in this piece */
        while (avail > 0) {
            uint8_t b = *p++;
            avail--;
            w->vbuf[w->vlen++] = b;
            if (!(b & 0x80) || w->vlen == sizeof w->vbuf) break;
        }
        bool whole = w->vlen > 0 && (!(w->vbuf[w->vlen - 1] & 0x80) || w->vlen == sizeof w->vbuf);
        if (!whole) {
            if (in_rec) w->left -= p - *pp;
            *pp = p;
            if (in_rec && w->left == 0) return -1; /* the record ends inside it */
            return 0;
        }
        const uint8_t *vb = w->vbuf, *ve = w->vbuf + w->vlen;
        if (wide) {
            n = ed_varint_get64(vb, ve, out);
        } else {
            int32_t v32 = 0;
            n = ed_varint_get32(vb, ve, &v32);
            *out = v32;
        }
        if (n != w->vlen) return -1;
        n = (size_t)(p - *pp);
        w->vlen = 0;
    }
    if (in_rec) w->left -= (int64_t)n;
    *pp += n;
    return 1;
}

/* The state after a header or the header count: the next header, or the
 * end of the record, which must be used up exactly. */
static int next_header_or_end(struct walk *w)
{
    if (w->n_headers > 0) {
        w->n_headers--;
        w->state = W_HKEY_LEN;
        return ED_OK;
    }
    if (w->left != 0) return walk_fail(w, "record length disagrees with its fields");
    w->index++;
    w->state = w->index == w->info->record_count ? W_DONE : W_LEN;
    return ED_OK;
}

static int skip_done(struct walk *w)
{
    w->state = w->after;
    return w->after == W_HEADER_DONE ? next_header_or_end(w) : ED_OK;
}

/* After a length field: len bytes of the record to pass over, then next. */
static int skip_field(struct walk *w, int64_t len, enum walk_state next)
{
    if (len > w->left) return walk_fail(w, "a length runs past the end of its record");
    w->skip = len > 0 ? (uint64_t)len : 0;
    w->state = W_SKIP;
    w->after = next;
    return w->skip == 0 ? skip_done(w) : ED_OK;
}

static const char *const malformed[] = {
    [W_LEN] = "malformed record length",          [W_TS] = "malformed timestamp delta",
    [W_OFF] = "malformed offset delta",           [W_KEY_LEN] = "malformed key length",
    [W_VAL_LEN] = "malformed value length",       [W_N_HEADERS] = "malformed header count",
    [W_HKEY_LEN] = "malformed header key length", [W_HVAL_LEN] = "malformed header value length",
};

/* One decoded varint of the current state. */
static int walk_value(struct walk *w, int64_t v)
{
    switch (w->state) {
    case W_LEN:
        if (v < ED_RECORD_MIN_LEN - 1) return walk_fail(w, "record length too small");
        w->left = v;
        w->state = W_ATTR;
        return ED_OK;
    case W_TS:
        if (!ed_batch_is_log_append_time(w->info) &&
            ((v > 0 && w->info->base_timestamp > INT64_MAX - v) ||
             (v < 0 && w->info->base_timestamp < INT64_MIN - v)))
            return walk_fail(w, "timestamp delta overflows");
        w->state = W_OFF;
        return ED_OK;
    case W_OFF:
        if (w->client && v != w->index)
            return walk_fail(w, "offset deltas are not 0, 1, 2... in order");
        if (v <= w->prev_delta || v > w->info->last_offset_delta ||
            w->info->base_offset > INT64_MAX - v)
            return walk_fail(w, "offset deltas do not ascend up to the last offset delta");
        w->prev_delta = (int32_t)v;
        w->state = W_KEY_LEN;
        return ED_OK;
    case W_KEY_LEN:
    case W_VAL_LEN:
        if (v < -1) return walk_fail(w, "negative key or value length");
        return skip_field(w, v, w->state == W_KEY_LEN ? W_VAL_LEN : W_N_HEADERS);
    case W_N_HEADERS:
        if (v < 0) return walk_fail(w, "negative header count");
        if (v > w->left / 2) return walk_fail(w, "more headers than the record holds");
        w->n_headers = (int32_t)v;
        return next_header_or_end(w);
    case W_HKEY_LEN:
        if (v < 0) return walk_fail(w, "negative header key length");
        return skip_field(w, v, W_HVAL_LEN);
    case W_HVAL_LEN:
        if (v < -1) return walk_fail(w, "negative header value length");
        return skip_field(w, v, W_HEADER_DONE);
    default:
        return walk_fail(w, "malformed record");
    }
}

static int walk_feed(struct walk *w, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    int rc = ED_OK;
    while (p < end && rc == ED_OK) {
        if (w->state == W_DONE) return walk_fail(w, "more records than the batch header says");
        if (w->state == W_SKIP) {
            uint64_t n = ED_MIN(w->skip, (uint64_t)(end - p));
            p += n;
            w->skip -= n;
            w->left -= (int64_t)n;
            if (w->skip == 0) rc = skip_done(w);
            continue;
        }
        if (w->state == W_LEN && w->vlen == 0) {
            /* Most records lie whole in the piece: one contiguous parse. */
            int32_t body_len, delta;
            size_t n = ed_varint_get32(p, end, &body_len);
            if (n && body_len >= ED_RECORD_MIN_LEN - 1 &&
                (size_t)body_len <= (size_t)(end - p) - n) {
                struct ed_record r;
                n = parse_one(w->info, w->prev_delta, p, end, &r, &delta, &w->why);
                if (n == 0) return ED_ERR_CORRUPT;
                if (w->client && delta != w->index)
                    return walk_fail(w, "offset deltas are not 0, 1, 2... in order");
                w->prev_delta = delta;
                p += n;
                w->index++;
                if (w->index == w->info->record_count) w->state = W_DONE;
                continue;
            }
        }
        if (w->state == W_ATTR) {
            p++; /* record attributes: unused by Kafka */
            w->left--;
            w->state = W_TS;
            continue;
        }
        int64_t v;
        int got = take_varint(w, &p, end, w->state == W_TS, &v);
        if (got < 0) return walk_fail(w, malformed[w->state]);
        if (got > 0) rc = walk_value(w, v);
    }
    return rc;
}

/* The section ended: every record must be whole. */
static int walk_end(struct walk *w)
{
    if (w->state == W_DONE) return ED_OK;
    if (w->state == W_LEN && w->vlen == 0)
        return walk_fail(w, "fewer records than the batch header says");
    return walk_fail(w, "the records section ends inside a record");
}

static int walk_sink(void *arg, const uint8_t *p, size_t len)
{
    return walk_feed(arg, p, len);
}

int ed_batch_validate(struct ed_batch_validator *v, const uint8_t *buf, size_t len, bool client,
                      struct ed_batch_info *info, struct ed_batch_fault *fault)
{
    struct ed_batch_info b;
    fault->record = -1;
    int rc = ed_batch_check_why(buf, len, &b, &fault->why);
    if (rc == ED_OK && client) rc = ed_batch_check_client(&b, &fault->why);
    if (rc != ED_OK) return rc;
    const uint8_t *sec = buf + ED_BATCH_OFF_RECORDS;
    size_t sec_len = ed_batch_total_len(&b) - ED_BATCH_OFF_RECORDS;
    int codec = ed_batch_compression(&b);
    if (!ed_codec_supported(codec, false))
        return fail(&fault->why, "compression codec not supported by this build",
                    ED_ERR_UNSUPPORTED);
    struct walk w = {.info = &b, .client = client, .state = W_LEN, .prev_delta = -1};
    if (b.record_count == 0) {
        /* Kafka reads nothing of an empty batch (compaction leaves them);
         * an uncompressed one must then really be empty. */
        if (codec == ED_COMPRESSION_NONE && sec_len != 0)
            return fail(&fault->why, "more records than the batch header says", ED_ERR_CORRUPT);
        if (info) *info = b;
        return ED_OK;
    }
    if (codec == ED_COMPRESSION_NONE)
        rc = walk_feed(&w, sec, sec_len);
    else
        rc = ed_codec_decompress_stream(&v->codec, codec, sec, sec_len, v->max_len, walk_sink, &w);
    if (rc == ED_OK) rc = walk_end(&w);
    if (rc != ED_OK) {
        /* w.why is set when the records were at fault, else the codec was */
        fault->record = w.why ? w.index : -1; /* = count: one record too many */
        fault->why = w.why                      ? w.why
                     : rc == ED_ERR_TOOBIG      ? "records decompress to more than the limit"
                     : rc == ED_ERR_UNSUPPORTED ? "compressed with parameters this build refuses"
                     : rc == ED_ERR_NOMEM       ? "out of memory"
                                                : "records do not decompress";
        return rc;
    }
    if (info) *info = b;
    return ED_OK;
}

/* ---- builder ---- */

struct ed_batch_builder {
    size_t max_len; /* largest batch, header included */
    uint8_t *buf;   /* header room + records, uncompressed */
    size_t buf_cap;
    size_t len;              /* bytes of the batch uncompressed, header included */
    struct ed_cstream_out z; /* header + compressed records */
    int compression;
    int level;
    bool open;
    /* streaming (ed_batch_builder_set_stream): buf holds only the records
     * not yet handed to zs, stage_len bytes */
    bool stream;
    bool streaming; /* this batch is */
    bool broken;    /* the stream failed: finish refuses the batch */
    int window_log;
    size_t stage_len;
    struct ed_cstream zs;
    int32_t count;
    int64_t default_ts, first_ts, max_ts;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    struct ed_codec codec;
    struct ed_codec *shared; /* compress with this instead of codec (NULL: none) */
};

int ed_batch_builder_new(size_t max_batch_len, ed_batch_builder **out)
{
    if (max_batch_len < 128 || max_batch_len > INT32_MAX) return ED_ERR_INVAL;
    ed_batch_builder *b = ed_calloc(1, sizeof *b);
    if (!b) return ED_ERR_NOMEM;
    b->max_len = max_batch_len;
    *out = b;
    return ED_OK;
}

void ed_batch_builder_free(ed_batch_builder *b)
{
    if (!b) return;
    ed_free(b->buf);
    ed_free(b->z.buf);
    ed_cstream_release(&b->zs);
    ed_codec_release(&b->codec);
    ed_free(b);
}

void ed_batch_builder_set_level(ed_batch_builder *b, int level)
{
    b->level = level;
}

void ed_batch_builder_set_codec(ed_batch_builder *b, struct ed_codec *codec)
{
    b->shared = codec;
}

void ed_batch_builder_set_stream(ed_batch_builder *b, int window_log)
{
    b->stream = true;
    b->window_log = window_log;
}

void ed_batch_builder_trim(ed_batch_builder *b)
{
    if (b->open) return;
    ed_free(b->buf);
    ed_free(b->z.buf);
    b->buf = b->z.buf = NULL;
    b->buf_cap = b->z.cap = 0;
    ed_cstream_release(&b->zs);
    ed_codec_release(&b->codec);
}

int32_t ed_batch_builder_count(const ed_batch_builder *b)
{
    return b->count;
}

static int grow(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
    if (*cap >= need) return ED_OK;
    size_t n = ED_MAX(need, ED_MIN(ED_MAX(*cap * 2, (size_t)4096), max));
    uint8_t *p = ed_realloc(*buf, n);
    if (!p) return ED_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return ED_OK;
}

int ed_batch_builder_begin(ed_batch_builder *b, int compression, int64_t base_timestamp,
                           int64_t producer_id, int16_t producer_epoch, int32_t base_sequence)
{
    if (!ed_codec_supported(compression, true)) return ED_ERR_UNSUPPORTED;
    b->compression = compression;
    b->default_ts = base_timestamp;
    b->producer_id = producer_id;
    b->producer_epoch = producer_epoch;
    b->base_sequence = base_sequence;
    b->count = 0;
    b->len = ED_BATCH_HEADER_LEN;
    b->stage_len = 0;
    b->broken = false;
    b->streaming = b->stream && ed_cstream_supported(compression);
    if (b->streaming) {
        /* the compressed records follow the header's room */
        b->z.len = ED_BATCH_HEADER_LEN;
        b->z.max = ED_BATCH_HEADER_LEN + ed_codec_compress_bound(compression, b->max_len);
        /* a stream keeps its context until it ends, so builders open
         * together cannot share one: each has its own, with the shared
         * one's table cap */
        if (b->shared) b->codec.zstd_table_log = b->shared->zstd_table_log;
        int rc = ed_cstream_begin(&b->zs, &b->codec, compression, b->level, b->window_log, &b->z);
        if (rc != ED_OK) return rc;
    }
    b->open = true;
    return ED_OK;
}

/* Hands the staged records to the compressor. */
static int flush_stage(ed_batch_builder *b)
{
    if (!b->stage_len) return ED_OK;
    int rc = ed_cstream_write(&b->zs, b->buf, b->stage_len, &b->z);
    if (rc != ED_OK) {
        b->broken = true;
        return rc;
    }
    b->stage_len = 0;
    return ED_OK;
}

static size_t bytes_field_len(const void *p, size_t len)
{
    return p ? ed_varint_len((int64_t)len) + len : 1;
}

static uint8_t *put_bytes_field(uint8_t *o, const void *p, size_t len)
{
    if (!p) return o + ed_varint_put(o, -1);
    o += ed_varint_put(o, (int64_t)len);
    memcpy(o, p, len);
    return o + len;
}

int ed_batch_builder_add(ed_batch_builder *b, const void *key, size_t key_len, const void *value,
                         size_t value_len, const struct ed_record_header *headers, size_t n_headers,
                         int64_t timestamp)
{
    if (!b->open) return ED_ERR_INVAL;
    if (timestamp < 0) timestamp = b->default_ts;
    if (b->count == INT32_MAX) return ED_ERR_TOOBIG;
    /* Sizes are summed in uint64 against max_len (<= INT32_MAX), so no
     * sum can wrap before the check. */
    if (key_len > b->max_len || value_len > b->max_len || n_headers > b->max_len)
        return ED_ERR_TOOBIG;
    int64_t ts_delta = b->count ? timestamp - b->first_ts : 0;
    uint64_t body = 1 + ed_varint_len(ts_delta) + ed_varint_len(b->count) +
                    bytes_field_len(key, key_len) + bytes_field_len(value, value_len) +
                    ed_varint_len((int64_t)n_headers);
    for (size_t i = 0; i < n_headers && body <= b->max_len; i++) {
        const struct ed_record_header *h = &headers[i];
        if (h->key_len < 0 || (!h->key && h->key_len > 0) || (h->value && h->value_len < 0))
            return ED_ERR_INVAL;
        body += bytes_field_len(h->key ? h->key : (const uint8_t *)"", (size_t)h->key_len) +
                bytes_field_len(h->value, h->value ? (size_t)h->value_len : 0);
    }
    uint64_t total = ed_varint_len((int64_t)body) + body;
    if (body > b->max_len || total > b->max_len - b->len) return ED_ERR_TOOBIG;
    if (b->broken) return ED_ERR_INVAL;
    if (b->streaming && b->stage_len + total > ED_BATCH_STAGE_LEN) {
        int rc = flush_stage(b);
        if (rc != ED_OK) return rc;
    }
    size_t at = b->streaming ? b->stage_len : b->len;
    int rc = grow(&b->buf, &b->buf_cap, at + (size_t)total,
                  b->streaming ? ED_MAX((size_t)ED_BATCH_STAGE_LEN, (size_t)total) : b->max_len);
    if (rc != ED_OK) return rc;
    uint8_t *o = b->buf + at;
    o += ed_varint_put(o, (int64_t)body);
    *o++ = 0; /* attributes */
    o += ed_varint_put(o, ts_delta);
    o += ed_varint_put(o, b->count);
    o = put_bytes_field(o, key, key_len);
    o = put_bytes_field(o, value, value_len);
    o += ed_varint_put(o, (int64_t)n_headers);
    for (size_t i = 0; i < n_headers; i++) {
        const struct ed_record_header *h = &headers[i];
        o = put_bytes_field(o, h->key ? h->key : (const uint8_t *)"", (size_t)h->key_len);
        o = put_bytes_field(o, h->value, h->value ? (size_t)h->value_len : 0);
    }
    ED_ASSERT((size_t)(o - (b->buf + at)) == total);
    b->len += (size_t)total;
    if (b->streaming) b->stage_len += (size_t)total;
    if (b->count == 0 || timestamp > b->max_ts) b->max_ts = timestamp;
    if (b->count == 0) b->first_ts = timestamp;
    b->count++;
    return ED_OK;
}

static void write_header(const ed_batch_builder *b, uint8_t *h, size_t total, int compression)
{
    ed_put_be64(h + ED_BATCH_OFF_BASE_OFFSET, 0);
    ed_put_be32(h + ED_BATCH_OFF_LENGTH, (uint32_t)(total - ED_BATCH_LOG_OVERHEAD));
    ed_put_be32(h + ED_BATCH_OFF_LEADER_EPOCH, UINT32_MAX); /* -1: no leader epoch yet */
    h[ED_BATCH_OFF_MAGIC] = ED_BATCH_MAGIC;
    ed_put_be16(h + ED_BATCH_OFF_ATTRIBUTES, (uint16_t)compression);
    ed_put_be32(h + ED_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
    ed_put_be64(h + ED_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)b->first_ts);
    ed_put_be64(h + ED_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)b->max_ts);
    ed_put_be64(h + ED_BATCH_OFF_PRODUCER_ID, (uint64_t)b->producer_id);
    ed_put_be16(h + ED_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)b->producer_epoch);
    ed_put_be32(h + ED_BATCH_OFF_BASE_SEQUENCE, (uint32_t)b->base_sequence);
    ed_put_be32(h + ED_BATCH_OFF_RECORD_COUNT, (uint32_t)b->count);
    update_crc(h);
}

int ed_batch_builder_finish(ed_batch_builder *b, uint8_t **out, size_t *out_len)
{
    if (!b->open || b->count == 0 || b->broken) return ED_ERR_INVAL;
    size_t rec_len = b->len - ED_BATCH_HEADER_LEN;
    if (b->streaming) {
        /* the records are gone into the stream: compressed it stays, even
         * in the rare case that it came out larger */
        int rc = flush_stage(b);
        if (rc == ED_OK) rc = ed_cstream_end(&b->zs, &b->z);
        if (rc != ED_OK) {
            b->broken = true;
            return rc;
        }
        write_header(b, b->z.buf, b->z.len, b->compression);
        b->open = false;
        *out = b->z.buf;
        *out_len = b->z.len;
        return ED_OK;
    }
    if (b->compression != ED_COMPRESSION_NONE) {
        size_t bound = ed_codec_compress_bound(b->compression, rec_len);
        int rc = grow(&b->z.buf, &b->z.cap, ED_BATCH_HEADER_LEN + bound, SIZE_MAX);
        if (rc != ED_OK) return rc;
        size_t z_len;
        rc = ed_codec_compress(b->shared ? b->shared : &b->codec, b->compression, b->level,
                               b->buf + ED_BATCH_HEADER_LEN, rec_len,
                               b->z.buf + ED_BATCH_HEADER_LEN, bound, &z_len);
        if (rc != ED_OK) return rc;
        if (z_len <= rec_len) {
            write_header(b, b->z.buf, ED_BATCH_HEADER_LEN + z_len, b->compression);
            b->open = false;
            *out = b->z.buf;
            *out_len = ED_BATCH_HEADER_LEN + z_len;
            return ED_OK;
        }
    }
    write_header(b, b->buf, b->len, ED_COMPRESSION_NONE);
    b->open = false;
    *out = b->buf;
    *out_len = b->len;
    return ED_OK;
}
