/* `eddy consume`: prints the records of a topic's partitions from a start
 * position (beginning, end, an offset, or a timestamp) in a chosen format,
 * fetching over the Kafka protocol and decoding batches (compressed ones
 * too) with the storage record iterator. No consumer group is used. */
#include "tools/cli.h"
#include "tools/cmds.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CMD "consume"

static const char usage_text[] =
    "usage: eddy consume -t TOPIC [options]\n"
    "\n"
    "Prints records of a topic (all partitions, or one with -p).\n"
    "\n"
    "options:\n"
    "  -b, --bootstrap-server HOST:PORT  broker (default localhost:9092)\n"
    "  -t, --topic NAME                  topic to read\n"
    "  -p, --partition N                 read only partition N\n"
    "  -o, --offset WHERE                beginning (default), end, N (an offset),\n"
    "                                    -N (N before the end), @MS (first record at\n"
    "                                    or after this Unix time in milliseconds)\n"
    "  -c, --count N                     exit after N records\n"
    "  -e, --exit-at-end                 exit once every partition is read to its end\n"
    "  -f, --format FMT                  output per record (default '%v\\n'):\n"
    "                                    %t topic  %p partition  %o offset  %T timestamp\n"
    "                                    %k key  %v value  %K key length  %S value length\n"
    "                                    %h headers (k=v,...)  %% percent; \\n \\t \\\\ escapes\n"
    "      --max-wait MS                 longest wait per fetch (default 500)\n"
    "      --timeout MS                  request timeout (default 30000)\n"
    "  -h, --help                        this text\n"
    "\n"
    "example:\n"
    "  eddy consume -t telemetry -o beginning -e -f '%p:%o %k=%v\\n'\n";

struct cpart {
    int32_t index;
    int64_t offset; /* next offset to print */
    int64_t hwm;    /* -1 until the first fetch */
};

static void put_bytes(const uint8_t *p, int32_t len)
{
    if (len > 0) fwrite(p, 1, (size_t)len, stdout);
}

static void print_record(const char *fmt, const char *topic, int32_t part,
                         const struct ed_record *r)
{
    for (const char *f = fmt; *f; f++) {
        if (*f == '\\' && f[1]) {
            f++;
            putchar(*f == 'n' ? '\n' : *f == 't' ? '\t' : *f == '0' ? '\0' : *f);
            continue;
        }
        if (*f != '%' || !f[1]) {
            putchar(*f);
            continue;
        }
        switch (*++f) {
        case 't':
            fputs(topic, stdout);
            break;
        case 'p':
            printf("%" PRId32, part);
            break;
        case 'o':
            printf("%" PRId64, r->offset);
            break;
        case 'T':
            printf("%" PRId64, r->timestamp);
            break;
        case 'k':
            put_bytes(r->key, r->key_len);
            break;
        case 'v':
            put_bytes(r->value, r->value_len);
            break;
        case 'K':
            printf("%" PRId32, r->key_len);
            break;
        case 'S':
            printf("%" PRId32, r->value_len);
            break;
        case 'h': {
            size_t cur = 0;
            struct ed_record_header h;
            int i = 0;
            while (ed_record_next_header(r, &cur, &h) == 1) {
                if (i++) putchar(',');
                put_bytes(h.key, h.key_len);
                putchar('=');
                put_bytes(h.value, h.value_len);
            }
            break;
        }
        case '%':
            putchar('%');
            break;
        default:
            putchar('%');
            putchar(*f);
        }
    }
}

/* ListOffsets for every partition at ts; fills offsets. */
static int list_offsets(ed_kclient *c, const char *topic, struct cpart *ps, int n, int64_t ts,
                        int64_t *out)
{
    struct ed_kc_list_part *lp = ed_calloc((size_t)n, sizeof *lp);
    if (!lp) return 1;
    for (int i = 0; i < n; i++)
        lp[i] = (struct ed_kc_list_part){topic, ps[i].index, ts};
    struct ed_kc_list_offsets res;
    int rc = 0;
    if (ed_kclient_list_offsets(c, lp, n, &res) != ED_OK) {
        fprintf(stderr, "eddy consume: %s\n", ed_kclient_last_error(c));
        ed_free(lp);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int32_t k = 0; k < res.n; k++) {
            if (res.parts[k].partition != ps[i].index) continue;
            found = true;
            if (res.parts[k].error) {
                char what[64];
                snprintf(what, sizeof what, "partition %d", (int)ps[i].index);
                ed_cli_kerr(stderr, CMD, what, res.parts[k].error, (ed_kstr){NULL, -1});
                rc = 1;
            }
            out[i] = res.parts[k].offset;
        }
        if (!found) {
            fprintf(stderr, "eddy consume: no offset for partition %d\n", (int)ps[i].index);
            rc = 1;
        }
    }
    ed_kc_free(&res.mem);
    ed_free(lp);
    return rc;
}

/* Prints the records of one partition's fetched bytes; returns records
 * printed, or -1 on a corrupt batch. */
static int64_t print_batches(struct ed_batch_iter *it, const char *fmt, const char *topic,
                             struct cpart *p, ed_kbytes recs, int64_t limit)
{
    int64_t printed = 0;
    const uint8_t *b = recs.p;
    size_t left = recs.len > 0 ? (size_t)recs.len : 0;
    while (left >= ED_BATCH_HEADER_LEN && (limit < 0 || printed < limit)) {
        struct ed_batch_info info;
        if (ed_batch_parse_header(b, left, &info) != ED_OK) {
            fprintf(stderr,
                    "eddy consume: partition %d: unreadable batch (only record batch v2 "
                    "is supported)\n",
                    (int)p->index);
            return -1;
        }
        size_t total = ed_batch_total_len(&info);
        if (total > left) break; /* a partial batch ends the response */
        int rc = ed_batch_iter_begin(it, b, total);
        if (rc) {
            fprintf(stderr, "eddy consume: partition %d: bad batch at offset %" PRId64 ": %s\n",
                    (int)p->index, info.base_offset, ed_strerror(rc));
            return -1;
        }
        struct ed_record r;
        while (!ed_batch_is_control(&info) && (limit < 0 || printed < limit) &&
               (rc = ed_batch_iter_next(it, &r)) == 1) {
            if (r.offset < p->offset) continue;
            print_record(fmt, topic, p->index, &r);
            p->offset = r.offset + 1;
            printed++;
        }
        if (rc < 0) {
            fprintf(stderr, "eddy consume: partition %d: bad record in batch at %" PRId64 "\n",
                    (int)p->index, info.base_offset);
            return -1;
        }
        if (limit >= 0 && printed >= limit) break;
        int64_t next = info.base_offset + info.last_offset_delta + 1;
        if (next > p->offset) p->offset = next;
        b += total;
        left -= total;
    }
    return printed;
}

int ed_cmd_consume(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *part_s = NULL, *off_s = NULL, *count_s = NULL,
               *fmt = "%v\\n", *wait_s = NULL, *timeout = NULL;
    bool help = false, exit_at_end = false;
    const struct ed_cli_opt opts[] = {
        {"bootstrap-server", 'b', true, &bootstrap, NULL, NULL, NULL},
        {"topic", 't', true, &topic, NULL, NULL, NULL},
        {"partition", 'p', true, &part_s, NULL, NULL, NULL},
        {"offset", 'o', true, &off_s, NULL, NULL, NULL},
        {"count", 'c', true, &count_s, NULL, NULL, NULL},
        {"exit-at-end", 'e', false, NULL, &exit_at_end, NULL, NULL},
        {"format", 'f', true, &fmt, NULL, NULL, NULL},
        {"max-wait", 0, true, &wait_s, NULL, NULL, NULL},
        {"timeout", 0, true, &timeout, NULL, NULL, NULL},
        {"help", 'h', false, NULL, &help, NULL, NULL},
    };
    int st = ed_cli_start(CMD, argc, argv, opts, (int)ED_ARRAY_LEN(opts), usage_text, &help,
                          "topic", &topic);
    if (st >= 0) return st;
    int64_t limit = -1, fixed_part = -1, max_wait = 500;
    if (count_s && !ed_cli_int(CMD, "--count", count_s, 0, INT64_MAX, &limit)) return 2;
    if (part_s && !ed_cli_int(CMD, "--partition", part_s, 0, INT32_MAX, &fixed_part)) return 2;
    if (wait_s && !ed_cli_int(CMD, "--max-wait", wait_s, 0, 600000, &max_wait)) return 2;
    /* Start position: kind 0 beginning, 1 end, 2 absolute, 3 from end, 4 time. */
    int kind = 0;
    int64_t where = 0;
    if (off_s) {
        const char *o = off_s;
        if (strcmp(o, "beginning") == 0)
            kind = 0;
        else if (strcmp(o, "end") == 0)
            kind = 1;
        else if (o[0] == '@' || (o[0] == 's' && o[1] == '@')) {
            kind = 4;
            if (!ed_cli_int(CMD, "--offset", o + (o[0] == 's' ? 2 : 1), 0, INT64_MAX, &where))
                return 2;
        } else if (o[0] == '-') {
            kind = 3;
            if (!ed_cli_int(CMD, "--offset", o + 1, 1, INT64_MAX, &where)) return 2;
        } else {
            kind = 2;
            if (!ed_cli_int(CMD, "--offset", o, 0, INT64_MAX, &where)) return 2;
        }
    }
    if (limit == 0) return 0;

    ed_kclient *c = ed_cli_connect(CMD, bootstrap, timeout);
    if (!c) return 1;
    int rc = 1, n = 0;
    struct cpart *ps = NULL;
    int64_t *tmp = NULL;
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 64u << 20);

    struct ed_kc_metadata md;
    const char *names[1] = {topic};
    if (ed_kclient_metadata(c, names, 1, false, &md) != ED_OK) {
        fprintf(stderr, "eddy consume: %s\n", ed_kclient_last_error(c));
        goto out;
    }
    int16_t merr = md.n_topics == 1 ? md.topics[0].error : 3;
    int32_t n_parts = merr ? 0 : md.topics[0].n_partitions;
    ed_kc_free(&md.mem);
    if (merr) {
        char what[300];
        snprintf(what, sizeof what, "topic '%s'", topic);
        ed_cli_kerr(stderr, CMD, what, merr, (ed_kstr){NULL, -1});
        goto out;
    }
    if (fixed_part >= n_parts) {
        fprintf(stderr, "eddy consume: topic '%s' has no partition %d (it has %d)\n", topic,
                (int)fixed_part, (int)n_parts);
        goto out;
    }
    n = fixed_part >= 0 ? 1 : n_parts;
    ps = ed_calloc((size_t)n, sizeof *ps);
    tmp = ed_calloc((size_t)n, sizeof *tmp);
    if (!ps || !tmp) goto out;
    for (int i = 0; i < n; i++)
        ps[i] = (struct cpart){fixed_part >= 0 ? (int32_t)fixed_part : i, 0, -1};

    int64_t ts = kind == 0 ? ED_KC_EARLIEST : kind == 4 ? where : ED_KC_LATEST;
    if (kind != 2 && list_offsets(c, topic, ps, n, ts, tmp)) goto out;
    for (int i = 0; i < n; i++) {
        if (kind == 2)
            ps[i].offset = where;
        else
            ps[i].offset = tmp[i];
    }
    if (kind == 4 || kind == 3) {
        /* No record at or after the time: start at the end. N before the
         * end: clamp at the log start. */
        bool any_missing = false;
        for (int i = 0; i < n; i++)
            any_missing |= ps[i].offset < 0;
        if (kind == 3 || any_missing) {
            if (list_offsets(c, topic, ps, n, kind == 3 ? ED_KC_EARLIEST : ED_KC_LATEST, tmp))
                goto out;
            for (int i = 0; i < n; i++) {
                if (kind == 3) {
                    ps[i].offset -= where;
                    if (ps[i].offset < tmp[i]) ps[i].offset = tmp[i];
                } else if (ps[i].offset < 0) {
                    ps[i].offset = tmp[i];
                }
            }
        }
    }

    struct ed_kc_fetch_part *fp = ed_calloc((size_t)n, sizeof *fp);
    if (!fp) goto out;
    int64_t printed = 0;
    for (;;) {
        int nf = 0;
        bool all_done = true;
        for (int i = 0; i < n; i++) {
            bool done = ps[i].hwm >= 0 && ps[i].offset >= ps[i].hwm;
            if (!done) all_done = false;
            if (exit_at_end && done) continue;
            fp[nf++] = (struct ed_kc_fetch_part){topic, ps[i].index, ps[i].offset, 1 << 20};
        }
        if (exit_at_end && all_done) {
            rc = 0;
            break;
        }
        struct ed_kc_fetch res;
        if (ed_kclient_fetch(c, exit_at_end ? 100 : (int32_t)max_wait, 1, 8 << 20, fp, nf, &res) !=
            ED_OK) {
            fprintf(stderr, "eddy consume: %s\n", ed_kclient_last_error(c));
            break;
        }
        if (res.error) {
            ed_cli_kerr(stderr, CMD, "fetch", res.error, (ed_kstr){NULL, -1});
            ed_kc_free(&res.mem);
            break;
        }
        bool failed = false;
        for (int32_t k = 0; k < res.n && !failed; k++) {
            struct ed_kc_fetch_result *r = &res.parts[k];
            struct cpart *p = NULL;
            for (int i = 0; i < n; i++)
                if (ps[i].index == r->partition) p = &ps[i];
            if (!p) continue;
            if (r->error == 1) { /* OFFSET_OUT_OF_RANGE: restart at the log start */
                int64_t start;
                if (list_offsets(c, topic, p, 1, ED_KC_EARLIEST, &start))
                    failed = true;
                else {
                    fprintf(stderr,
                            "eddy consume: partition %d: offset %" PRId64
                            " is out of range, resuming at %" PRId64 "\n",
                            (int)p->index, p->offset, start);
                    p->offset = start;
                }
                continue;
            }
            if (r->error) {
                char what[64];
                snprintf(what, sizeof what, "partition %d", (int)p->index);
                ed_cli_kerr(stderr, CMD, what, r->error, (ed_kstr){NULL, -1});
                failed = true;
                continue;
            }
            p->hwm = r->high_watermark;
            int64_t got =
                print_batches(&it, fmt, topic, p, r->records, limit < 0 ? -1 : limit - printed);
            if (got < 0)
                failed = true;
            else
                printed += got;
        }
        ed_kc_free(&res.mem);
        fflush(stdout);
        if (failed) break;
        if (limit >= 0 && printed >= limit) {
            rc = 0;
            break;
        }
    }
    ed_free(fp);
out:
    ed_batch_iter_release(&it);
    ed_free(ps);
    ed_free(tmp);
    ed_kclient_close(c);
    return rc;
}
