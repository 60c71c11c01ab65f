/* Writing compaction's cleaned output: batches kept as they are or rebuilt
 * with the records that stay (re-compressed with the batch's codec, a
 * delete horizon set when tombstones stay), offsets kept continuous across
 * removed batches, all through one write buffer. */
#include <string.h>

#include "platform/mem.h"
#include "storage/compact_int.h"
#include "storage/format.h"
#include "storage/varint.h"

static int wflush(struct ed_compactor *c)
{
    if (c->wlen == 0) return ED_OK;
    int rc = ed_plat_file_pwrite(c->out, c->wbuf, c->wlen, c->out_len);
    if (rc != ED_OK) return rc;
    c->out_len += c->wlen;
    c->wlen = 0;
    return ED_OK;
}

static int out_write(struct ed_compactor *c, const uint8_t *p, size_t len)
{
    if (!c->wbuf) {
        c->wbuf = ed_malloc(WBUF_LEN);
        if (!c->wbuf) return ED_ERR_NOMEM;
    }
    if (c->wlen + len > WBUF_LEN) {
        int rc = wflush(c);
        if (rc != ED_OK) return rc;
    }
    if (len > WBUF_LEN) {
        int rc = ed_plat_file_pwrite(c->out, p, len, c->out_len);
        if (rc == ED_OK) c->out_len += len;
        return rc;
    }
    memcpy(c->wbuf + c->wlen, p, len);
    c->wlen += len;
    return ED_OK;
}

/* Offsets stay continuous inside a segment (recovery checks that each
 * batch starts where the previous one ended): the batch before a gap left
 * by removed batches is held back, and when the next one comes its
 * lastOffsetDelta is stretched over the gap (allowed by the format, as in
 * Kafka's compacted batches) if it has no producer id whose sequence
 * depends on it; otherwise an empty batch fills the gap. */
static void write_filler(uint8_t *h, int64_t from, int64_t to)
{
    memset(h, 0, ED_BATCH_HEADER_LEN);
    ed_put_be64(h + ED_BATCH_OFF_BASE_OFFSET, (uint64_t)from);
    ed_put_be32(h + ED_BATCH_OFF_LENGTH, ED_BATCH_HEADER_LEN - ED_BATCH_LOG_OVERHEAD);
    ed_put_be32(h + ED_BATCH_OFF_LEADER_EPOCH, UINT32_MAX);
    h[ED_BATCH_OFF_MAGIC] = ED_BATCH_MAGIC;
    ed_put_be32(h + ED_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(to - from));
    ed_put_be64(h + ED_BATCH_OFF_BASE_TIMESTAMP, UINT64_MAX);
    ed_put_be64(h + ED_BATCH_OFF_MAX_TIMESTAMP, UINT64_MAX);
    ed_put_be64(h + ED_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    ed_put_be16(h + ED_BATCH_OFF_PRODUCER_EPOCH, UINT16_MAX);
    ed_put_be32(h + ED_BATCH_OFF_BASE_SEQUENCE, UINT32_MAX);
    ed_put_be32(h + ED_BATCH_OFF_CRC, ed_crc32c(0, h + ED_BATCH_OFF_ATTRIBUTES,
                                                ED_BATCH_HEADER_LEN - ED_BATCH_OFF_ATTRIBUTES));
}

static int pend_flush(struct ed_compactor *c)
{
    if (c->pend_len == 0) return ED_OK;
    int rc = out_write(c, c->pbuf, c->pend_len);
    c->pend_len = 0;
    return rc;
}

static int emit(struct ed_compactor *c, const uint8_t *p, size_t len)
{
    int64_t base = (int64_t)ed_get_be64(p + ED_BATCH_OFF_BASE_OFFSET);
    int32_t delta = (int32_t)ed_get_be32(p + ED_BATCH_OFF_LAST_OFFSET_DELTA);
    int rc = ED_OK;
    if (base > c->expect) {
        bool stretch = c->pend_len > 0 &&
                       (int64_t)ed_get_be64(c->pbuf + ED_BATCH_OFF_PRODUCER_ID) < 0 &&
                       !(ed_get_be16(c->pbuf + ED_BATCH_OFF_ATTRIBUTES) & ED_BATCH_ATTR_CONTROL);
        if (stretch) {
            int64_t pbase = (int64_t)ed_get_be64(c->pbuf + ED_BATCH_OFF_BASE_OFFSET);
            ed_put_be32(c->pbuf + ED_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(base - 1 - pbase));
            ed_put_be32(c->pbuf + ED_BATCH_OFF_CRC,
                        ed_crc32c(0, c->pbuf + ED_BATCH_OFF_ATTRIBUTES,
                                  c->pend_len - ED_BATCH_OFF_ATTRIBUTES));
            rc = pend_flush(c);
        } else {
            uint8_t h[ED_BATCH_HEADER_LEN];
            write_filler(h, c->expect, base - 1);
            rc = pend_flush(c);
            if (rc == ED_OK) rc = out_write(c, h, sizeof h);
        }
    } else {
        rc = pend_flush(c);
    }
    if (rc != ED_OK) return rc;
    if (len > c->pcap) {
        uint8_t *np = ed_realloc(c->pbuf, len);
        if (!np) return ED_ERR_NOMEM;
        c->pbuf = np;
        c->pcap = len;
    }
    memcpy(c->pbuf, p, len);
    c->pend_len = len;
    c->expect = base + delta + 1;
    return ED_OK;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return ED_OK;
    size_t n = ED_MAX(need, *cap * 2);
    uint8_t *p = ed_realloc(*buf, n);
    if (!p) return ED_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return ED_OK;
}

static size_t put_bytes(uint8_t *o, const uint8_t *p, int32_t len)
{
    size_t n = ed_varint_put(o, len < 0 ? -1 : len);
    if (len > 0) {
        memcpy(o + n, p, (size_t)len);
        n += (size_t)len;
    }
    return n;
}

/* Does the record stay: no later offset holds its key, and it is not a
 * tombstone whose delete horizon has passed. */
static bool keeps(const struct ed_compactor *c, const struct ed_batch_info *b,
                  const struct ed_record *r, bool has_horizon)
{
    if (r->key && r->offset < c->map_end &&
        ed_compact_map_latest(c, r->key, r->key_len) > r->offset)
        return false;
    return r->value || !has_horizon || c->now_ms < b->base_timestamp;
}

/* The first walk over a batch begun in c->it: how many records stay, and
 * how many of those are tombstones. */
static int plan(struct ed_compactor *c, const struct ed_batch_info *b, int32_t *kept,
                int32_t *tombs)
{
    bool has_horizon = (b->attributes & ED_BATCH_ATTR_DELETE_HORIZON) != 0;
    struct ed_record r;
    int rc;
    *kept = *tombs = 0;
    while ((rc = ed_batch_iter_next(&c->it, &r)) == 1) {
        if (!keeps(c, b, &r, has_horizon)) continue;
        (*kept)++;
        if (!r.value) (*tombs)++;
    }
    return rc;
}

/* Is the planned batch written other than as it is? A batch kept whole
 * whose tombstones already carry a delete horizon is not; that horizon is
 * the earliest moment a later pass has work. */
static bool changes(struct ed_compactor *c, const struct ed_batch_info *b, int32_t kept,
                    int32_t tombs)
{
    bool has_horizon = (b->attributes & ED_BATCH_ATTR_DELETE_HORIZON) != 0;
    if (kept < b->record_count || (tombs > 0 && !has_horizon)) return true;
    if (tombs > 0 && (!c->min_horizon || b->base_timestamp < c->min_horizon))
        c->min_horizon = b->base_timestamp;
    return false;
}

int ed_compact_batch_changes(ed_storage *st, struct ed_compactor *c, const uint8_t *bp,
                             const struct ed_batch_info *b)
{
    /* gap fillers, control batches and emptied batches are written as
     * they are (a filler again where the gap still is) */
    if (ed_batch_is_control(b) || b->record_count == 0) return 0;
    int rc = ed_batch_iter_begin(&c->it, bp, ed_batch_total_len(b));
    int32_t kept = 0, tombs = 0;
    if (rc == ED_OK) rc = plan(c, b, &kept, &tombs);
    if (rc < 0) return ed_compact_skip_unreadable(st, c, b, rc) ? 0 : rc;
    return changes(c, b, kept, tombs) ? 1 : 0;
}

int ed_compact_copy_batch(ed_storage *st, struct ed_compactor *c, const uint8_t *bp,
                          const struct ed_batch_info *b)
{
    size_t total = ed_batch_total_len(b);
    if (b->record_count == 0 && b->producer_id < 0 && !ed_batch_is_control(b))
        return ED_OK; /* a gap filler of an earlier pass: gaps are filled again */
    if (ed_batch_is_control(b) || b->record_count == 0) return emit(c, bp, total);
    int rc = ed_batch_iter_begin(&c->it, bp, total);
    if (rc != ED_OK) return ed_compact_skip_unreadable(st, c, b, rc) ? emit(c, bp, total) : rc;
    bool has_horizon = (b->attributes & ED_BATCH_ATTR_DELETE_HORIZON) != 0;
    bool lat = ed_batch_is_log_append_time(b);
    int64_t drm = c->log->cfg.delete_retention_ms;
    int32_t kept = 0, tombs = 0;
    rc = plan(c, b, &kept, &tombs);
    if (rc < 0) return ed_compact_skip_unreadable(st, c, b, rc) ? emit(c, bp, total) : rc;
    st->stats.n_records_compacted += (uint64_t)(b->record_count - kept);
    if (!changes(c, b, kept, tombs)) return emit(c, bp, total);
    struct ed_record r;
    if (kept == 0) {
        if (!ed_compact_keep_empty(c, b)) return ED_OK;
        /* an empty batch: the header alone, records gone */
        uint8_t h[ED_BATCH_HEADER_LEN];
        memcpy(h, bp, ED_BATCH_HEADER_LEN);
        ed_put_be32(h + ED_BATCH_OFF_LENGTH, ED_BATCH_HEADER_LEN - ED_BATCH_LOG_OVERHEAD);
        ed_put_be16(h + ED_BATCH_OFF_ATTRIBUTES,
                    (uint16_t)(b->attributes & ~ED_BATCH_ATTR_COMPRESSION_MASK));
        ed_put_be32(h + ED_BATCH_OFF_RECORD_COUNT, 0);
        ed_put_be32(h + ED_BATCH_OFF_CRC, ed_crc32c(0, h + ED_BATCH_OFF_ATTRIBUTES,
                                                    ED_BATCH_HEADER_LEN - ED_BATCH_OFF_ATTRIBUTES));
        return emit(c, h, sizeof h);
    }
    /* Rebuild: the kept records re-encoded after a fresh header. A new
     * delete horizon moves baseTimestamp; deltas follow it. */
    int64_t base_ts = b->base_timestamp;
    bool horizon = has_horizon;
    if (tombs > 0 && !has_horizon) {
        base_ts = c->now_ms + drm;
        horizon = true;
    }
    if (tombs > 0 && (!c->min_horizon || base_ts < c->min_horizon)) c->min_horizon = base_ts;
    rc = ed_batch_iter_begin(&c->it, bp, total);
    if (rc != ED_OK) return rc;
    size_t need = ED_BATCH_HEADER_LEN;
    while ((rc = ed_batch_iter_next(&c->it, &r)) == 1)
        need += 64 + (size_t)(r.key_len > 0 ? r.key_len : 0) +
                (size_t)(r.value_len > 0 ? r.value_len : 0) + r.headers_len;
    if (rc < 0) return rc;
    rc = grow(&c->obuf, &c->ocap, need);
    if (rc != ED_OK) return rc;
    rc = ed_batch_iter_begin(&c->it, bp, total);
    if (rc != ED_OK) return rc;
    uint8_t *o = c->obuf + ED_BATCH_HEADER_LEN;
    int64_t max_ts = -1;
    while ((rc = ed_batch_iter_next(&c->it, &r)) == 1) {
        bool keep = keeps(c, b, &r, has_horizon);
        if (!keep) continue;
        int64_t ts_delta = lat ? 0 : r.timestamp - base_ts;
        if (!lat && r.timestamp > max_ts) max_ts = r.timestamp;
        uint8_t body[64];
        size_t bl = 0;
        body[bl++] = 0; /* attributes */
        bl += ed_varint_put(body + bl, ts_delta);
        bl += ed_varint_put(body + bl, r.offset - b->base_offset);
        size_t body_len = bl + ed_varint_len(r.key ? r.key_len : -1) +
                          (size_t)(r.key_len > 0 ? r.key_len : 0) +
                          ed_varint_len(r.value ? r.value_len : -1) +
                          (size_t)(r.value_len > 0 ? r.value_len : 0) + ed_varint_len(r.n_headers) +
                          r.headers_len;
        o += ed_varint_put(o, (int64_t)body_len);
        memcpy(o, body, bl);
        o += bl;
        o += put_bytes(o, r.key, r.key ? r.key_len : -1);
        o += put_bytes(o, r.value, r.value ? r.value_len : -1);
        o += ed_varint_put(o, r.n_headers);
        if (r.headers_len) memcpy(o, r.headers, r.headers_len);
        o += r.headers_len;
    }
    if (rc < 0) return rc;
    size_t rec_len = (size_t)(o - (c->obuf + ED_BATCH_HEADER_LEN));
    int codec = ed_batch_compression(b);
    uint8_t *out = c->obuf;
    size_t out_len = ED_BATCH_HEADER_LEN + rec_len;
    if (codec != ED_COMPRESSION_NONE && ed_codec_supported(codec, true)) {
        size_t bound = ed_codec_compress_bound(codec, rec_len);
        rc = grow(&c->zbuf, &c->zcap, ED_BATCH_HEADER_LEN + bound);
        size_t z = 0;
        if (rc == ED_OK)
            rc = ed_codec_compress(&c->codec, codec,
                                   codec == ED_COMPRESSION_ZSTD
                                       ? ED_MIN(c->log->cfg.zstd_level, ED_COMPACT_ZSTD_LEVEL_MAX)
                                       : 0,
                                   c->obuf + ED_BATCH_HEADER_LEN, rec_len,
                                   c->zbuf + ED_BATCH_HEADER_LEN, bound, &z);
        if (rc != ED_OK) return rc;
        out = c->zbuf;
        out_len = ED_BATCH_HEADER_LEN + z;
    } else {
        codec = ED_COMPRESSION_NONE;
    }
    memcpy(out, bp, ED_BATCH_HEADER_LEN); /* base offset, epoch, producer fields */
    ed_put_be32(out + ED_BATCH_OFF_LENGTH, (uint32_t)(out_len - ED_BATCH_LOG_OVERHEAD));
    int16_t attr = (int16_t)((b->attributes & ~ED_BATCH_ATTR_COMPRESSION_MASK) | codec);
    if (horizon) attr |= ED_BATCH_ATTR_DELETE_HORIZON;
    ed_put_be16(out + ED_BATCH_OFF_ATTRIBUTES, (uint16_t)attr);
    ed_put_be64(out + ED_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
    if (!lat) ed_put_be64(out + ED_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
    ed_put_be32(out + ED_BATCH_OFF_RECORD_COUNT, (uint32_t)kept);
    ed_put_be32(out + ED_BATCH_OFF_CRC,
                ed_crc32c(0, out + ED_BATCH_OFF_ATTRIBUTES, out_len - ED_BATCH_OFF_ATTRIBUTES));
    return emit(c, out, out_len);
}

int ed_compact_out_finish(struct ed_compactor *c)
{
    int rc = pend_flush(c);
    return rc == ED_OK ? wflush(c) : rc;
}
