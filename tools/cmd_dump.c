/* `eddy dump FILE|DIR [--no-records] [--max-bytes N]`: prints the batches
 * of .log segment files (every header field, whether the CRC holds, and the
 * records), and the entries of .index and .timeindex files; for a folder,
 * every segment file in it (or in its partition folders), in offset order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/batch.h"
#include "storage/segdir.h"
#include "tools/cmds.h"

#define MAX_BATCH_LEN (64u << 20) /* larger length fields are reported, not read */
#define SHOW_LEN      160         /* bytes of a key or value printed */

struct opts {
    bool records;
    uint64_t max_bytes;
};

static const char *codec_name(int c)
{
    static const char *const n[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return c >= 0 && c <= 4 ? n[c] : "unknown";
}

static void show_bytes(const char *label, const uint8_t *p, int32_t len)
{
    printf(" %s: ", label);
    if (len < 0 || !p) {
        printf("null");
        return;
    }
    int32_t n = len > SHOW_LEN ? SHOW_LEN : len;
    for (int32_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    if (n < len) printf("...(%" PRId32 " bytes)", len);
}

static void dump_records(struct ed_batch_iter *it, const uint8_t *buf, size_t len,
                         const struct ed_batch_info *b)
{
    int rc = ed_batch_iter_begin(it, buf, len);
    if (rc != ED_OK) {
        printf("| records not readable: %s\n", ed_strerror(rc));
        return;
    }
    struct ed_record r;
    int32_t i = 0;
    while ((rc = ed_batch_iter_next(it, &r)) == 1) {
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %" PRId32 " valueSize: %" PRId32
               " sequence: %" PRId64 " headers: %" PRId32,
               r.offset, ed_batch_is_log_append_time(b) ? "LogAppendTime" : "CreateTime",
               r.timestamp, r.key_len, r.value_len,
               b->base_sequence < 0 ? -1 : (int64_t)b->base_sequence + i, r.n_headers);
        size_t cur = 0;
        struct ed_record_header h;
        while (ed_record_next_header(&r, &cur, &h) == 1) {
            printf(" [");
            show_bytes("hkey", h.key, h.key_len);
            show_bytes("hvalue", h.value, h.value_len);
            printf(" ]");
        }
        show_bytes("key", r.key, r.key_len);
        show_bytes("payload", r.value, r.value_len);
        printf("\n");
        i++;
    }
    if (rc < 0) printf("| records end early: %s\n", ed_strerror(rc));
}

/* Opens path for reading and tells its size; false (said) if it cannot. */
static bool open_sized(const char *path, ed_file **f, uint64_t *size)
{
    int rc = ed_plat_file_open(path, ED_FILE_READ, f);
    if (rc == ED_OK) {
        rc = ed_plat_file_size(*f, size);
        if (rc != ED_OK) ed_plat_file_close(*f);
    }
    if (rc != ED_OK) fprintf(stderr, "eddy dump: %s: %s\n", path, ed_strerror(rc));
    return rc == ED_OK;
}

/* Whether the file holds only zeros from pos to size (blocks written
 * ahead of the appends past a segment's last batch). */
static bool zeros_to_end(ed_file *f, uint64_t pos, uint64_t size)
{
    uint8_t buf[4096];
    while (pos < size) {
        size_t got = 0;
        size_t want = (size_t)(size - pos < sizeof buf ? size - pos : sizeof buf);
        if (ed_plat_file_pread(f, buf, want, pos, &got) != ED_OK || got == 0) return false;
        for (size_t i = 0; i < got; i++)
            if (buf[i]) return false;
        pos += got;
    }
    return true;
}

static int dump_log(const char *path, int64_t base, const struct opts *o)
{
    ed_file *f;
    uint64_t size = 0;
    if (!open_sized(path, &f, &size)) return 2;
    printf("Dumping %s\nLog starting offset: %" PRId64 "\n", path, base);
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, MAX_BATCH_LEN);
    int status = 0;
    uint64_t limit = o->max_bytes && o->max_bytes < size ? o->max_bytes : size;
    for (uint64_t pos = 0; pos < limit;) {
        uint8_t h[ED_BATCH_HEADER_LEN];
        size_t got = 0;
        struct ed_batch_info b;
        int rc = ed_plat_file_pread(f, h, sizeof h, pos, &got);
        if (rc != ED_OK || got < sizeof h || ed_batch_parse_header(h, got, &b) != ED_OK) {
            if (rc == ED_OK && zeros_to_end(f, pos, size)) {
                /* The active segment of a running (or crashed) broker. */
                printf("position %" PRIu64 ": end of the batches; %" PRIu64
                       " bytes of zeros written ahead follow\n",
                       pos, size - pos);
                break;
            }
            printf("position %" PRIu64 ": no valid batch header (%" PRIu64 " bytes left)\n", pos,
                   size - pos);
            status = 1;
            break;
        }
        size_t total = ed_batch_total_len(&b);
        if (total > MAX_BATCH_LEN || total > size - pos) {
            printf("position %" PRIu64 ": batch of %zu bytes runs past the end of the file\n", pos,
                   total);
            status = 1;
            break;
        }
        if (total > cap) {
            uint8_t *p = ed_realloc(buf, total);
            if (!p) {
                status = 2;
                break;
            }
            buf = p;
            cap = total;
        }
        rc = ed_plat_file_pread(f, buf, total, pos, &got);
        if (rc != ED_OK || got != total) {
            status = 2;
            break;
        }
        const char *why = NULL;
        bool valid = ed_batch_check_why(buf, total, NULL, &why) == ED_OK;
        printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %" PRId32
               " baseSequence: %" PRId32 " lastSequence: %" PRId64 " producerId: %" PRId64
               " producerEpoch: %d partitionLeaderEpoch: %" PRId32
               " isTransactional: %s isControl: %s position: %" PRIu64 " %s: %" PRId64
               " size: %zu magic: 2 compresscodec: %s crc: %" PRIu32 " isvalid: %s%s%s\n",
               b.base_offset, b.base_offset + b.last_offset_delta, b.record_count, b.base_sequence,
               b.base_sequence < 0 ? -1 : (int64_t)b.base_sequence + b.last_offset_delta,
               b.producer_id, (int)b.producer_epoch, b.leader_epoch,
               ed_batch_is_transactional(&b) ? "true" : "false",
               ed_batch_is_control(&b) ? "true" : "false", pos,
               ed_batch_is_log_append_time(&b) ? "LogAppendTime" : "CreateTime", b.max_timestamp,
               total, codec_name(ed_batch_compression(&b)), b.crc, valid ? "true" : "false",
               valid ? "" : " (", valid ? "" : why);
        if (!valid) {
            printf(")\n");
            status = 1;
        } else if (o->records) {
            dump_records(&it, buf, total, &b);
        }
        pos += total;
    }
    ed_batch_iter_release(&it);
    ed_free(buf);
    ed_plat_file_close(f);
    return status;
}

static int dump_index(const char *path, int64_t base, bool time)
{
    ed_file *f;
    uint64_t size = 0;
    if (!open_sized(path, &f, &size)) return 2;
    printf("Dumping %s\n", path);
    size_t elen = time ? 12 : 8;
    int status = 0;
    if (size % elen) {
        printf("size %" PRIu64 " is not a whole number of %zu-byte entries\n", size, elen);
        status = 1;
    }
    for (uint64_t pos = 0; pos + elen <= size; pos += elen) {
        uint8_t e[12];
        size_t got = 0;
        if (ed_plat_file_pread(f, e, elen, pos, &got) != ED_OK || got != elen) {
            status = 2;
            break;
        }
        if (time)
            printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", (int64_t)ed_get_be64(e),
                   base + (int64_t)ed_get_be32(e + 8));
        else
            printf("offset: %" PRId64 " position: %" PRIu32 "\n", base + (int64_t)ed_get_be32(e),
                   ed_get_be32(e + 4));
    }
    if (size == 0) printf("%s is empty.\n", path);
    ed_plat_file_close(f);
    return status;
}

static int dump_file(const char *path, const struct opts *o)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    int64_t base;
    switch (ed_segdir_kind_of(name, &base)) {
    case ED_SEGDIR_LOG:
        return dump_log(path, base, o);
    case ED_SEGDIR_INDEX:
        return dump_index(path, base, false);
    case ED_SEGDIR_TIMEINDEX:
        return dump_index(path, base, true);
    case ED_SEGDIR_OTHER:
        break;
    }
    fprintf(stderr, "eddy dump: %s: not a .log, .index or .timeindex file\n", path);
    return 2;
}

static int dump_dir(const char *dir, const struct opts *o, int depth)
{
    struct ed_segdir l;
    int rc = ed_segdir_list(dir, &l);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy dump: %s: %s\n", dir, ed_strerror(rc));
        return 2;
    }
    int status = 0;
    /* Offset order, and .log before .index before .timeindex. */
    for (uint32_t i = 0; i < l.n_segment_files; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, l.files[i].name);
        int s = dump_file(p, o);
        if (s > status) status = s;
    }
    for (uint32_t i = 0; depth == 0 && l.n_segment_files == 0 && i < l.n_dirs; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, l.dirs[i]);
        int s = dump_dir(p, o, depth + 1);
        if (s > status) status = s;
    }
    ed_segdir_free(&l);
    return status;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: eddy dump FILE|DIR [--no-records] [--max-bytes N]\n"
                 "  FILE  a <offset>.log, .index or .timeindex file\n"
                 "  DIR   a partition folder, or a data directory (every partition)\n"
                 "  --no-records   batch headers only\n"
                 "  --max-bytes N  read at most N bytes of each .log file\n");
}

int ed_cmd_dump(int argc, char **argv)
{
    struct opts o = {true, 0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-records") == 0) {
            o.records = false;
        } else if (strcmp(argv[i], "--max-bytes") == 0 && i + 1 < argc) {
            char *end;
            o.max_bytes = strtoull(argv[++i], &end, 10);
            if (*end || !o.max_bytes) {
                fprintf(stderr, "eddy dump: --max-bytes needs a positive number\n");
                return 2;
            }
        } else {
            int status = ed_cmd_path_arg("dump", argv[i], &path, usage);
            if (status >= 0) return status;
        }
    }
    if (!path) return ed_cmd_path_arg("dump", NULL, &path, usage);
    bool is_dir = false;
    int rc = ed_plat_path_stat(path, &is_dir, NULL);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy dump: %s: %s\n", path, ed_strerror(rc));
        return 2;
    }
    return is_dir ? dump_dir(path, &o, 0) : dump_file(path, &o);
}
