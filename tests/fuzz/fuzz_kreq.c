/* libFuzzer target: Kafka request frames through the server's framing,
 * header decode and dispatch of every API key and version in
 * ed_kapi_table (only handlers linked into the library are in the table),
 * on a connection over the simulated network (tests/unit/tconn.h) to a
 * broker over a temporary data directory.
 * Checks that every response is a well-formed size-prefixed frame, and
 * (with ASan/LSan) that nothing crashes or leaks.
 *
 * Input: byte 0 selects the mode. Mode 0: the rest is a raw byte stream
 * (framing). Otherwise byte 1 picks the API key among the handled ones,
 * byte 2 the version (one past the maximum too), and the rest is the body
 * of one frame, or of two pipelined frames split at byte 3 (mode 3). */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/kafka/kapi.h"
#include "core/kafka/server.h"
#include "core/topics.h"
#include "platform/log.h"
#include "tconn.h"

static char dir[64];
static struct ed_config *cfg;
static ed_storage *st;
static ed_topics *topics;
static ed_loop *loop;
static ed_broker broker;
static ed_server *srv;
static int16_t keys[ED_KAPI_N_KEYS];
static int n_keys;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    ed_server_free(srv);
    ed_topics_close(topics);
    ed_storage_close(st);
    ed_plat_loop_free(loop);
    ed_config_free(cfg);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_kreq setup: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(dir, sizeof dir, "%s/eddy-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) die("mkdtemp");
    char why[256];
    if (ed_config_new(&cfg) != ED_OK) die("config");
    if (ed_config_set(cfg, "log.dirs", dir, why, sizeof why) != ED_OK ||
        ed_config_set(cfg, "log.dir.min.free.bytes", "0", why, sizeof why) != ED_OK ||
        ed_config_set(cfg, "socket.request.max.bytes", "1048576", why, sizeof why) != ED_OK ||
        /* creating topics costs syncs; the unit tests cover auto-creation */
        ed_config_set(cfg, "auto.create.topics.enable", "false", why, sizeof why) != ED_OK)
        die(why);
    struct ed_storage_config sc;
    ed_config_storage(cfg, &sc);
    sc.use_flusher_thread = false;
    if (ed_plat_loop_new(&loop) != ED_OK) die("loop");
    if (ed_storage_open(&sc, &st) != ED_OK) die("storage");
    if (ed_topics_open_dir(st, dir, &sc.log, &topics) != ED_OK) die("topics");
    ed_topics_set_broker_config(topics, cfg);
    if (ed_topics_create(topics, "a", 3, NULL, NULL, 0, NULL, NULL) != ED_OK ||
        ed_topics_create(topics, "b", 1, NULL, NULL, 0, NULL, NULL) != ED_OK)
        die("create topics");
    broker.loop = loop;
    broker.storage = st;
    broker.topics = topics;
    broker.cfg = cfg;
    broker.node_id = 1;
    snprintf(broker.cluster_id, sizeof broker.cluster_id, "FuzzClusterId000000000");
    snprintf(broker.adv_host, sizeof broker.adv_host, "127.0.0.1");
    broker.adv_port = 9092;
    if (ed_server_new(&broker, &srv) != ED_OK) die("server");
    for (int k = 0; k < ED_KAPI_N_KEYS; k++)
        if (ed_kapi_table[k].fn) keys[n_keys++] = (int16_t)k;
    atexit(cleanup);
    return 0;
}

static size_t put_frame(uint8_t *out, int16_t key, int16_t ver, int32_t corr, const uint8_t *body,
                        size_t len)
{
    const struct ed_kapi_entry *e = &ed_kapi_table[key];
    bool flex = e->flex_from >= 0 && ver >= e->flex_from;
    size_t n = 4;
    ed_put_be16(out + n, (uint16_t)key);
    ed_put_be16(out + n + 2, (uint16_t)ver);
    ed_put_be32(out + n + 4, (uint32_t)corr);
    n += 8;
    ed_put_be16(out + n, 4);
    memcpy(out + n + 2, "fuzz", 4);
    n += 6;
    if (flex) out[n++] = 0; /* empty header tags */
    memcpy(out + n, body, len);
    n += len;
    ed_put_be32(out, (uint32_t)(n - 4));
    return n;
}

static void adopt(void *arg, ed_stream *s)
{
    ed_server_adopt(arg, s);
}

/* Every response must be a complete frame: the sizes tile the output. */
static void check_output(struct tconn *c)
{
    size_t len, off = 0;
    const uint8_t *out = tc_output(c, &len);
    while (off < len) {
        if (len - off < 8) abort();
        uint32_t size = ed_get_be32(out + off);
        if (size < 4 || size > len - off - 4) abort();
        off += 4 + size;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct tconn *c = tc_open(loop, adopt, srv);
    int mode = data[0] & 3;
    if (mode == 0 || size < 3 || n_keys == 0) {
        tc_feed(c, data + 1, size - 1);
    } else {
        int16_t key = keys[data[1] % n_keys];
        const struct ed_kapi_entry *e = &ed_kapi_table[key];
        int span = e->max_version - e->min_version + 2;
        int16_t ver = (int16_t)(e->min_version + data[2] % span);
        const uint8_t *body = data + 3;
        size_t blen = size - 3;
        uint8_t *frames = malloc(2 * (blen + 32));
        if (!frames) abort();
        size_t n;
        if (mode == 3 && blen > 0) {
            size_t cut = body[0] % (blen + 1);
            n = put_frame(frames, key, ver, 1, body, cut);
            n += put_frame(frames + n, key, ver, 2, body + cut, blen - cut);
        } else {
            n = put_frame(frames, key, ver, 1, body, blen);
        }
        tc_feed(c, frames, n);
        free(frames);
    }
    /* let durable waits and timers of pending requests complete */
    ed_storage_tick(st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(st);
    tc_pump(c);
    check_output(c);
    tc_close(c);
    return 0;
}
