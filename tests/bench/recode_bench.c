/* Re-encoding cost and result (storage/recode.c) on the wind-turbine
 * recording: its lines as Kafka records of uncompressed producer batches of
 * N lines, re-encoded to zstd at several levels and to gzip, lz4 and
 * snappy: bytes stored per CSV byte, the same lines compressed alone in the
 * same chunks (so the difference is what record framing costs after
 * compression), and the CPU time per MiB of records re-encoded (the event
 * loop's time on an otherwise idle core). Records carry no key and
 * timestamps 20 a millisecond apart, as a producer replaying at full speed
 * sends them.
 *
 *   build/bench/recode_bench [CSV] [LINES_PER_BATCH ...]
 *
 * Defaults: tests/data/wind-turbine-scada-T1.csv; 100 1000 16000 lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/batch.h"
#include "storage/recode.h"

struct line {
    const char *p;
    size_t len;
};

/* The whole file, NUL-terminated, read in 64 KiB steps. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, got = 0;
    while (f) {
        char *more = realloc(buf, n + (64u << 10) + 1);
        if (!more) break;
        buf = more;
        got = fread(buf + n, 1, 64u << 10, f);
        n += got;
        if (got < (64u << 10)) break;
    }
    if (f) fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* The data lines (after the header), without their line ends. */
static size_t split(char *text, struct line **out, size_t *csv_len)
{
    size_t n = 0, cap = 1024;
    struct line *v = malloc(cap * sizeof *v);
    char *p = strchr(text, '\n');
    *csv_len = 0;
    while (v && p && *++p) {
        char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[len - 1] == '\r') len--;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        if (!v) break;
        v[n++] = (struct line){p, len};
        *csv_len += len;
        p = e;
    }
    *out = v;
    return n;
}

struct result {
    size_t stored, alone, records;
    double cpu_s; /* process CPU time re-encoding (the loop's time on an idle core) */
};

static int run(const struct line *lines, size_t n, size_t per_batch, int codec, int level,
               struct result *r)
{
    ed_batch_builder *b;
    struct ed_recoder rc;
    struct ed_codec alone = {0};
    char *chunk = malloc(per_batch * 256);
    uint8_t *z = malloc(ed_codec_compress_bound(ED_COMPRESSION_ZSTD, per_batch * 256) + 1024);
    if (!chunk || !z || ed_batch_builder_new(64u << 20, &b) != ED_OK) return 1;
    ed_recode_init(&rc, 64u << 20);
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i += per_batch) {
        size_t m = n - i < per_batch ? n - i : per_batch, clen = 0;
        if (ed_batch_builder_begin(b, ED_COMPRESSION_NONE, 1700000000000, -1, -1, -1) != ED_OK)
            return 1;
        for (size_t k = 0; k < m; k++) {
            const struct line *l = &lines[i + k];
            if (ed_batch_builder_add(b, NULL, 0, l->p, l->len, NULL, 0,
                                     1700000000000 + (int64_t)k / 20) != ED_OK)
                return 1;
            memcpy(chunk + clen, l->p, l->len);
            clen += l->len;
        }
        uint8_t *in, *out;
        size_t in_len, out_len, zl = 0;
        if (ed_batch_builder_finish(b, &in, &in_len) != ED_OK) return 1;
        clock_t t0 = clock();
        if (ed_recode_batch(&rc, in, in_len, codec, level, &out, &out_len) != ED_OK || !out)
            return 1;
        r->cpu_s += (double)(clock() - t0) / CLOCKS_PER_SEC;
        r->stored += out_len;
        r->records += in_len - ED_BATCH_HEADER_LEN;
        if (ed_codec_compress(&alone, codec, level, (const uint8_t *)chunk, clen, z,
                              ed_codec_compress_bound(codec, clen), &zl) != ED_OK)
            return 1;
        r->alone += zl;
    }
    ed_recode_release(&rc);
    ed_codec_release(&alone);
    ed_batch_builder_free(b);
    free(chunk);
    free(z);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/wind-turbine-scada-T1.csv";
    size_t text_len, csv_len;
    char *text = slurp(path, &text_len);
    if (!text) {
        fprintf(stderr, "recode_bench: cannot read %s\n", path);
        return 1;
    }
    struct line *lines;
    size_t n = split(text, &lines, &csv_len);
    static const size_t def_sizes[] = {100, 1000, 16000};
    static const struct {
        const char *name;
        int codec, level;
    } targets[] = {{"zstd 1", ED_COMPRESSION_ZSTD, 1},  {"zstd 3", ED_COMPRESSION_ZSTD, 3},
                   {"zstd 9", ED_COMPRESSION_ZSTD, 9},  {"zstd 19", ED_COMPRESSION_ZSTD, 19},
                   {"gzip", ED_COMPRESSION_GZIP, 0},    {"lz4", ED_COMPRESSION_LZ4, 0},
                   {"snappy", ED_COMPRESSION_SNAPPY, 0}};
    printf("%zu lines, %zu CSV bytes (without line ends)\n\n", n, csv_len);
    printf("| lines per batch | codec | stored / CSV | lines alone / CSV | framing after "
           "compression | CPU ms per MiB of records |\n|---:|---|---:|---:|---:|---:|\n");
    size_t n_sizes = argc > 2 ? (size_t)argc - 2 : sizeof def_sizes / sizeof def_sizes[0];
    for (size_t s = 0; s < n_sizes; s++) {
        size_t per = argc > 2 ? strtoul(argv[2 + s], NULL, 10) : def_sizes[s];
        if (per == 0) continue;
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
            if (!ed_codec_supported(targets[t].codec, true)) continue;
            struct result r;
            if (run(lines, n, per, targets[t].codec, targets[t].level, &r) != 0) {
                fprintf(stderr, "recode_bench: %s failed\n", targets[t].name);
                return 1;
            }
            double mib = (double)r.records / (1 << 20);
            printf("| %zu | %s | %.3f | %.3f | %.3f | %.1f |\n", per, targets[t].name,
                   (double)r.stored / (double)csv_len, (double)r.alone / (double)csv_len,
                   (double)(r.stored - r.alone) / (double)csv_len, r.cpu_s * 1e3 / mib);
        }
    }
    free(lines);
    free(text);
    return 0;
}
