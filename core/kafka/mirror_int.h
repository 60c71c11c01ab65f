/* The mirror's shared internals: the state of one mirror link (its
 * upstream nodes and topics, the partitions it copies) and the functions
 * its files call across one another. */
#ifndef ED_CORE_KAFKA_MIRROR_INT_H
#define ED_CORE_KAFKA_MIRROR_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/batch.h"
#include "storage/codec.h"
#include "storage/log.h"
#include "core/kafka/klink.h"
#include "core/kafka/schema.h"
#include "core/kafka/mirror.h"
#include "core/topics.h"

#define MAX_NODES           32
#define MAX_ABORTING        32
#define STATUS_MS           1000
#define RATE_WINDOW_MS      5000 /* throughput in the status: over this window */
#define RESCAN_MS           5000
#define FLUSH_POLL_MS       20    /* idle, records appended but not on flash yet */
#define RATE_BUCKET_MAX_MS  10000 /* the bandwidth cap's bucket: at most this long's bytes */
#define RETRY_MS            200
#define METADATA_RETRY_MS   100 /* a partition without a leader yet */
#define CONCURRENT_RETRY_MS 5
#define FENCE_GRACE_MS      5000
#define MOVE_TRIES          20  /* Metadata refreshes for moved leaders within one transaction */
#define MOVE_BACKOFF_MS     100 /* ... the first after this long, doubling up to a second */
#define READ_CHUNK_LEN      (128u << 10) /* local batches read at a time (at least one) */
#define ROUNDS_IN_FLIGHT    3    /* Produce requests of one transaction per link (idempotence: 5) */
#define STATE_SAVE_MS       1000 /* mirror.state: rewritten at most this often while copying */
#define ZSTD_TABLE_LOG      14   /* zstd's match tables capped (storage/codec.h) */
#ifndef ZSTD_WINDOW_LOG
#define ZSTD_WINDOW_LOG 14 /* zstd's window of the batches sent upstream: 16 KiB */
#endif
#define STATE_MAGIC   0x4544524du /* "EDRM" */
#define STATE_VERSION 2           /* 2: the mapping after an upstream topic grew; 1 still read */

/* Kafka error codes the mirror acts on. */
enum {
    K_OFFSET_OUT_OF_RANGE = 1,
    K_UNKNOWN_TOPIC = 3,
    K_LEADER_NOT_AVAILABLE = 5,
    K_NOT_LEADER = 6,
    K_COORD_LOADING = 14,
    K_COORD_NOT_AVAILABLE = 15,
    K_NOT_COORD = 16,
    K_NOT_ENOUGH_REPLICAS = 19,
    K_TOPIC_EXISTS = 36,
    K_INVALID_PRODUCER_EPOCH = 47,
    K_CONCURRENT_TXNS = 51,
    K_PRODUCER_FENCED = 90,
};

enum phase {
    P_WAIT,    /* for the bootstrap connection */
    P_META,    /* Metadata */
    P_CREATE,  /* CreateTopics */
    P_CONFIGS, /* DescribeConfigs: the upstream topics' timestamp settings */
    P_COORD,   /* FindCoordinator */
    P_INIT,    /* InitProducerId */
    P_CKPT,    /* reading the checkpoints */
    P_SCAN,    /* mirror.resume.fallback=scan: looking upstream for resume points */
    P_IDLE,    /* between transactions */
    P_REFRESH, /* between transactions: Metadata (leaders, partition counts) */
    P_ADD,     /* AddPartitionsToTxn */
    P_PRODUCE, /* Produce requests out */
    P_LEADERS, /* a leader moved: Metadata, then the refused batches to the new leaders */
    P_RECOORD, /* the coordinator moved: FindCoordinator, then the refused request again */
    P_END,     /* EndTxn */
    P_STOPPED  /* fenced or refused: needs the operator */
};

struct node {
    int32_t id;
    char host[256];
    uint16_t port;
    ed_klink *link;
};

/* An upstream topic and, per partition, its leader, the producer's next
 * sequence and the batch being built for the current transaction. */
struct utopic {
    char name[ED_TOPIC_NAME_MAX + 1];
    int32_t n_src;   /* partitions of the source (for creation) */
    int32_t n_parts; /* upstream; 0 = unknown or missing */
    int32_t *leader;
    int32_t *seq;
    int32_t *n_added; /* records in this transaction's batch */
    ed_batch_builder **bld;
    uint8_t **batch; /* finished batch of this transaction */
    size_t *batch_len;
    bool *acked;  /* its batch is written upstream (a moved leader's wait) */
    bool refused; /* message.timestamp.type=LogAppendTime upstream: not mirrored */
};

#define ED_MIRROR_MAX_GAPS 256 /* dropped ranges waiting to be announced */

/* A range of offsets deleted locally before it was mirrored
 * (mirror.on.full=drop-oldest), kept in mirror.gaps until announced. */
struct ed_mirror_gap {
    char topic[ED_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int64_t first, last; /* offsets, inclusive */
    uint64_t n_records;  /* records the range held */
    int64_t dropped_ms;  /* wall clock of the (first) drop */
    int64_t split;       /* >= 0: first..split-1 were in a transaction in flight at the drop */
    uint64_t n_below;    /* records of first..split-1 */
    bool announced;      /* the gap record is committed upstream */
};

/* A mirrored source partition. */
struct mpart {
    char topic[ED_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int ut;             /* its upstream topic */
    int64_t next;       /* next source offset to copy (from the checkpoint) */
    int64_t txn_next;   /* next once the open transaction commits */
    int64_t mark;       /* durable local mark: offsets below are upstream */
    int64_t ckpt;       /* value found in the checkpoint topic, -1 none */
    int64_t lag;        /* records not yet upstream */
    uint64_t n_copied;  /* records copied since start */
    uint64_t idle_len;  /* its log's size when the mirror last went idle */
    int64_t gap_last;   /* >= 0: this transaction announces next..gap_last as a gap */
    int32_t prio;       /* mirror.priority: higher goes first */
    int32_t map_n;      /* upstream partition count its records are mapped by (0: not yet) */
    int64_t remap_from; /* >= 0: the upstream grew; the new mapping once next reaches it */
    bool scan_need;     /* no checkpoint though mirrored before: scan upstream */
    /* status detail, recomputed when the offsets they depend on move */
    uint64_t lag_len;                  /* bytes on flash not yet upstream */
    int64_t lag_len_done, lag_len_end; /* the offsets lag_len was computed for */
    int64_t oldest_ts, oldest_off;     /* CreateTime of the record at oldest_off (-1: unknown) */
    int64_t rate_done;                 /* mirrored offset at the start of the rate window */
    int64_t records_per_sec;           /* over the last rate window */
};

/* Where an iterator stands in the records of its batch. */
struct ed_mirror_kept_at {
    const uint8_t *pos, *end;
    int32_t n_left, prev_delta;
};

/* A compressed local batch a round stopped inside (decoded in m->it): the
 * next round goes on there rather than read and decompress it again. */
struct ed_mirror_kept {
    const struct ed_log *log; /* NULL: none */
    int64_t at;               /* offset of the record the iterator is at */
    int64_t base_offset;      /* the batch, to check it is still the one in m->it */
    int32_t length;
    uint32_t crc;
    const uint8_t *buf;
    struct ed_mirror_kept_at where;
};

/* One round's Produce requests still out (the answers' callback argument:
 * an answer marks batches acked only while they are its round's). */
struct ed_mirror_round {
    struct ed_mirror *m;
    int round;   /* 1, 2, ... within the transaction */
    int n_out;   /* its requests not answered yet */
    int n_parts; /* partitions sent and not answered yet */
};

struct ed_mirror {
    ed_broker *b;
    const struct ed_config *cfg;
    char site[128];
    char txn_id[300];
    char template_[256];
    char ck_topic[ED_TOPIC_NAME_MAX + 1];
    char *topics_cfg; /* copy of mirror.topics */
    char state_path[1024], status_path[1024], gaps_path[1024];
    bool create_topics;
    int64_t txn_max_len, txn_max_ms, linger_ms, batch_len, request_ms;
    int compression; /* enum ed_compression of the batches sent upstream */
    int64_t rate;    /* mirror.rate.bytes.per.sec, 0 = unlimited */
    int64_t tokens;  /* bytes the uplink may still send now (below 0: owed) */
    uint64_t tokens_ms;
    int64_t txn_took_ms; /* the last committed transaction, AddPartitionsToTxn to commit */
    bool txn_filled;     /* the last transaction built reached its limit: a backlog */

    ed_klink *boot;   /* to the mirror.bootstrap.servers, each in turn */
    ed_tls_conf *tls; /* mirror.security.protocol SSL or SASL_SSL, else NULL */
    int sasl_mech;    /* enum ed_sasl_mech, 0 = no SASL */
    char sasl_user[256], sasl_password[256]; /* the login (SIGHUP may change it) */
    struct node nodes[MAX_NODES];
    int n_nodes;
    int32_t coord; /* node id of the transaction coordinator */

    struct utopic *ut;
    int n_ut;
    int ck_ut; /* index of the checkpoint topic */
    int32_t ck_part;
    struct mpart *mp;
    int n_mp;
    bool have_state; /* the local state file existed: this site has mirrored before */
    bool new_parts;  /* partitions found since the checkpoints were read */
    bool fence_retried;
    uint64_t init_ms;      /* when InitProducerId last succeeded */
    uint64_t txn_start_ms; /* when the transaction in flight sent its AddPartitionsToTxn */
    uint64_t txn_t_ns[5];  /* debug log: build, AddPartitionsToTxn, Produce, EndTxn, commit */

    enum phase phase;
    bool blocked;  /* the phase's request waits for a connection */
    bool sleeping; /* idle, nothing appended: an append wakes it */
    bool woken;    /* an append armed the timer */
    ed_timer timer;
    ed_timer status_timer;
    uint64_t next_rescan_ms;
    int64_t pid;
    int16_t epoch;
    int64_t ck_pos, ck_lso;
    bool scan_fallback; /* mirror.resume.fallback=scan */
    int scan_mp;        /* the partition being scanned for */
    int32_t scan_up;    /* the upstream partition being scanned */
    int scan_step;      /* 0: its end, 1: its start, 2: fetching a window */
    int64_t scan_start, scan_end, scan_lo, scan_hi, scan_pos;
    int64_t scan_found; /* last source offset of the partition found upstream, -1 none */
    int64_t scan_here;  /* ... in the upstream partition being scanned */
    int64_t scan_win;   /* offsets in the window being read (doubles going back) */
    int n_produce_out;  /* Produce requests not answered yet (every round) */
    int n_rounds;       /* rounds of the transaction sent */
    struct ed_mirror_round rounds[ROUNDS_IN_FLIGHT + 1]; /* the rounds out, by n_rounds */
    bool round_ready;                                    /* a round is built, not sent yet */
    bool txn_more;          /* the transaction may take another round */
    int64_t round_ms;       /* the last transaction's first Produce round trip */
    uint64_t round_sent_ms; /* when the transaction's first round went, 0 once answered */
    bool state_dirty;       /* marks moved since mirror.state was written */
    uint64_t n_txns_idle;   /* n_txns when the mirror last caught up */
    uint64_t state_saved_ms;
    bool moved;            /* a Produce of this transaction was refused: the leader moved */
    bool moved_lost;       /* ... a refused batch is no longer held (a later round built) */
    int n_move_tries;      /* Metadata refreshes for it in this transaction */
    int n_coord_tries;     /* FindCoordinator lookups in this transaction */
    enum phase coord_back; /* P_RECOORD: the phase whose request the old coordinator refused */
    uint64_t next_meta_ms; /* the next Metadata refresh between transactions */
    int64_t meta_age_ms;   /* mirror.metadata.max.age.ms */
    int rr;                /* round-robin start among partitions */
    int64_t txn_len;
    int64_t txn_limit; /* record bytes this transaction may still grow to */
    char *prio_cfg;    /* copy of mirror.priority */
    uint64_t n_txns;
    char last_error[512];
    const char *link_state;

    struct ed_codec codec; /* lends the batches sent upstream its zstd table cap */
    uint8_t *rbuf;         /* local batches being copied */
    size_t rbuf_cap;
    struct ed_log_slice rslice; /* a batch of which rbuf holds the header only (seg NULL: none) */
    struct ed_record_header *hdrs;
    size_t hdrs_cap;
    struct ed_batch_iter it;
    struct ed_mirror_kept kept; /* it, kept between rounds */

    bool drop_oldest; /* mirror.on.full=drop-oldest */
    struct ed_mirror_gap *gaps;
    int n_gaps;
    uint64_t n_ranges_dropped, n_records_dropped; /* since start */

    const char *crash_at; /* EDDY_MIRROR_CRASH_AT: point[:n] */
    bool build_failed;    /* the last round could not be built whole */
    long crash_n;

    uint64_t n_bytes;        /* record bytes committed upstream since start */
    uint64_t rate_bytes;     /* n_bytes at the start of the rate window */
    uint64_t rate_ms;        /* start of the rate window (loop clock), 0 = none yet */
    int64_t bytes_per_sec;   /* over the last rate window */
    char topic_problem[512]; /* an upstream topic's settings, from the last check ("" = none) */
};

struct produce_arg {
    const ed_mirror *m;
    int32_t leader;
};

/* mirror.c */
/* Index of the upstream topic called name in m->ut, or -1. */
int ed_mirror_find_ut(ed_mirror *m, const char *name);
/* Test fault injection (EDDY_MIRROR_CRASH_AT=point[:n]): true the n-th
 * time point is passed (logged); crash points then end the process. */
bool ed_mirror_fault_point(ed_mirror *m, const char *point);
void ed_mirror_crash_point(ed_mirror *m, const char *point);
struct ed_log *ed_mirror_part_log(ed_mirror *m, const struct mpart *p);
void ed_mirror_restart(ed_mirror *m, const char *why);
void ed_mirror_stop_for_good(ed_mirror *m, const char *fmt, const char *a, const char *b);
void ed_mirror_later(ed_mirror *m, uint32_t ms);
void ed_mirror_kafka_error(ed_mirror *m, const char *what, int16_t err);
bool ed_mirror_decode(ed_mirror *m, ed_krd *r, int16_t key, int16_t ver, struct ed_kc_mem *mem,
                      void *msg, const char *what);
void ed_mirror_step(ed_mirror *m);
/* Sends a request to node id, or waits for its link (the phase repeats). */
void ed_mirror_send_to(ed_mirror *m, int32_t id, int16_t api, ed_kc_enc_fn enc, const void *arg,
                       ed_klink_resp_cb cb);

/* Reads local batches of log from offset pos into m->rbuf (*len bytes, 0
 * at the end). */
int ed_mirror_read_local(ed_mirror *m, struct ed_log *log, int64_t pos, size_t *len);
/* A partition moved past its log start: under drop-oldest a gap the next
 * transaction announces; under block the mirror stops. False if stopped. */
bool ed_mirror_check_start(ed_mirror *m);

/* mirror_ckpt.c */
void ed_mirror_enc_ckpt_fetch(ed_kwr *w, int16_t ver, const void *arg);
void ed_mirror_on_ckpt_fetch(void *arg, int16_t key, int16_t ver, ed_krd *r);
void ed_mirror_scan_step(ed_mirror *m);
void ed_mirror_scan_next(ed_mirror *m);

/* mirror_txn.c */
void ed_mirror_enc_add_parts(ed_kwr *w, int16_t ver, const void *arg);
void ed_mirror_enc_produce(ed_kwr *w, int16_t ver, const void *arg);
void ed_mirror_enc_end_txn(ed_kwr *w, int16_t ver, const void *arg);
uint32_t ed_mirror_rate_wait_ms(ed_mirror *m);
/* Nothing to copy: frees the buffers and contexts a transaction grows
 * (they come back with the next one). */
void ed_mirror_txn_trim(ed_mirror *m);
/* Checks mirror.priority (ED_ERR_INVAL with why); the priority of topic. */
int ed_mirror_priority_check(const char *cfg, char *why, size_t why_len);
int32_t ed_mirror_priority_of(const ed_mirror *m, const char *topic);
void ed_mirror_txn_failed(ed_mirror *m, const char *why);
/* Builds the first round of the next transaction (the phase P_ADD sends
 * its partitions); false if there is nothing to copy. */
bool ed_mirror_build_txn(ed_mirror *m);
/* P_PRODUCE: sends the built round, builds the next while the transaction
 * may grow, EndTxn once every Produce is answered and nothing is left. */
void ed_mirror_txn_pump(ed_mirror *m);
void ed_mirror_on_add_parts(void *arg, int16_t key, int16_t ver, ed_krd *r);
void ed_mirror_on_produce(void *arg, int16_t key, int16_t ver, ed_krd *r);
void ed_mirror_on_end_txn(void *arg, int16_t key, int16_t ver, ed_krd *r);

/* mirror_gap.c */
void ed_mirror_gap_load(ed_mirror *m);
/* Parses the image of a mirror.gaps file: ED_OK with *out (ed_free it)
 * and *n_out, else ED_ERR_CORRUPT (logged) or ED_ERR_NOMEM. */
int ed_mirror_gap_parse(const char *path, const uint8_t *b, size_t len, struct ed_mirror_gap **out,
                        int *n_out);
int ed_mirror_gap_drop(void *arg, struct ed_log *log, int64_t first, int64_t last);
/* Where a partition without a checkpoint resumes: its log start, or the
 * first offset of a dropped range recorded for it (to announce it). */
int64_t ed_mirror_gap_resume_from(const ed_mirror *m, const struct mpart *p, int64_t start);
/* The gap record (key, value) announcing p->next..p->gap_last. */
int ed_mirror_gap_record(ed_mirror *m, const struct mpart *p, char *key, size_t key_len, char *val,
                         size_t val_len, int *kl, int *vl);
void ed_mirror_gap_committed(ed_mirror *m);
void ed_mirror_gap_resumed(ed_mirror *m);
/* The status file's dropped ranges, from ", \"dropped_ranges\": ..."; bytes. */
size_t ed_mirror_gap_status(const ed_mirror *m, char *buf, size_t cap);

/* mirror_link.c */
/* mirror.security.protocol and its mirror.ssl.* and mirror.sasl.* keys:
 * the TLS configuration (certificates read now) and the SASL login. */
int ed_mirror_link_security(ed_mirror *m, const struct ed_config *cfg, char *why, size_t why_len);
/* SIGHUP: the security settings of fresh (mirror.security.protocol,
 * mirror.sasl.*, mirror.ssl.* with their files read again) for every
 * connection made from now on; links waiting to reconnect retry at once.
 * Settings that do not load leave the old ones, logged. */
void ed_mirror_link_reload(void *obj, const struct ed_config *fresh);
/* The first address of mirror.bootstrap.servers makes the link; the
 * others are tried in turn when it cannot connect. */
int ed_mirror_bootstrap_link(ed_mirror *m, const char *servers, char *why, size_t why_len);
/* Node id is at host:port (from Metadata or FindCoordinator): a link to it. */
void ed_mirror_note_node(ed_mirror *m, int32_t id, ed_kstr host, int32_t port);
/* The link to node id if it is up; otherwise the phase waits for it. */
ed_klink *ed_mirror_link_to(ed_mirror *m, int32_t id);

/* mirror_move.c: the upstream changing under a running mirror */
/* A batch of upstream partition p of u that this transaction still has
 * to write. */
static inline bool ed_mirror_unsent(const struct utopic *u, int32_t p)
{
    return u->batch[p] && !u->acked[p];
}
/* Sizes the per-partition arrays of u for n partitions, keeping what the
 * first ones hold (sequences, leaders). ED_ERR_NOMEM leaves u as it was. */
int ed_mirror_ut_resize(struct utopic *u, int32_t n);
/* The answers of one Produce: each written partition is acked (current:
 * the batches in ut are that request's, the last round sent); a refusal
 * because the leader moved marks the transaction moved (and lost when not
 * current: that batch is gone). Returns the first other error (0: none). */
int16_t ed_mirror_produce_results(ed_mirror *m, const struct ed_kc_produce *pr, bool current);
/* Every Produce of the transaction (of every round) answered with a
 * leader moved, the refused batches the last round's: refresh the
 * leaders, then send the refused batches again (P_LEADERS). */
void ed_mirror_leaders_moved(ed_mirror *m);
/* The upstream partition of source partition p's records: keyed records of
 * a source partition beyond the upstream's count by murmur2 of the key. */
int32_t ed_mirror_map(const struct mpart *p, const uint8_t *key, int32_t key_len);
/* Before a transaction is built: a source partition takes the upstream
 * partition count last seen once everything it held when the mirror first
 * saw that count is upstream. */
void ed_mirror_remap(ed_mirror *m);
/* Decodes a Metadata response and notes its brokers; false (after a
 * restart) when malformed. The caller frees md->mem. */
bool ed_mirror_dec_metadata(ed_mirror *m, ed_krd *r, int16_t ver, struct ed_kc_metadata *md);
/* Partitions of a topic in a Metadata response (highest index + 1). */
int32_t ed_mirror_md_parts(const struct ed_kc_topic_md *t);
/* Where Metadata goes mid-stream: the bootstrap link, else any broker's
 * link that is up; NULL (blocked: on_up steps again) when none is. */
ed_klink *ed_mirror_meta_link(ed_mirror *m);
/* A coordinator answer (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE) to
 * the request of phase P_ADD or P_END: the transaction stays open; after a
 * backoff FindCoordinator (P_RECOORD) finds where the coordinator went, and
 * the refused request goes there again, same producer id and epoch. */
void ed_mirror_coord_moved(ed_mirror *m, const char *why);
/* P_RECOORD: FindCoordinator answered with node id: the refused request
 * goes there. */
void ed_mirror_coord_found(ed_mirror *m, int32_t id);
/* Metadata for P_REFRESH and P_LEADERS. */
void ed_mirror_enc_metadata(ed_kwr *w, int16_t ver, const void *arg);
void ed_mirror_on_refresh(void *arg, int16_t key, int16_t ver, ed_krd *r);

/* mirror_configs.c: the DescribeConfigs step (P_CONFIGS) */
void ed_mirror_enc_configs(ed_kwr *w, int16_t ver, const void *arg);
void ed_mirror_on_configs(void *arg, int16_t key, int16_t ver, ed_krd *r);

/* mirror_status.c */
void ed_mirror_json_str(char *out, size_t len, const char *s);
/* Age in ms of the oldest record of p not yet upstream (0: none). */
int64_t ed_mirror_backlog_age_ms(ed_mirror *m, struct mpart *p);
int ed_mirror_save_state(ed_mirror *m);
/* One partition's entry of mirror.state. */
struct ed_mirror_state_entry {
    char topic[ED_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int64_t mark;       /* offsets below are upstream */
    int32_t map_n;      /* upstream partition count its records are mapped by (0: not yet) */
    int64_t remap_from; /* >= 0: the new count's mapping from this source offset on */
};
/* Parses the image of a mirror.state file (version 1 or 2): ED_OK with
 * *out (ed_free it) and *n_out entries; ED_ERR_CORRUPT with why (nothing
 * in *out) when any check fails; ED_ERR_NOMEM. */
int ed_mirror_state_parse(const uint8_t *b, size_t len, struct ed_mirror_state_entry **out,
                          uint32_t *n_out, char *why, size_t why_len);
/* After a commit: mirror.state at once if not written for STATE_SAVE_MS,
 * else when the mirror goes idle, shuts down or the time has passed (it
 * is a hint and the retention guard: an older mark only keeps more). */
void ed_mirror_save_state_soon(ed_mirror *m);
void ed_mirror_load_state(ed_mirror *m);
void ed_mirror_write_status(ed_mirror *m);
void ed_mirror_on_status(ed_timer *t, void *arg);

#endif
