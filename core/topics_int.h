/* Shared inside the topic registry (topics.c, topic_config.c,
 * topics_store.c): the topic and registry structs and the functions one
 * part offers the others. */
#ifndef ED_CORE_TOPICS_INT_H
#define ED_CORE_TOPICS_INT_H

#include "core/topics.h"

#define ED_TOPIC_MAX_KEYS 32 /* topic keys of the config table */
#define MAX_LISTENERS     8  /* of each kind: fetch, mirror, MQTT out, CoAP, HTTP tails, ... */
#define PARTITIONS_MAX    100000
#define PATH_MAX_LEN      1024

struct ed_config_key;

struct ed_topic {
    ed_topics *owner;
    char name[ED_TOPIC_NAME_MAX + 1];
    uint8_t id[16];
    int32_t n_partitions;
    ed_partition **parts;
    char *ov[ED_TOPIC_MAX_KEYS]; /* overrides (owned), NULL = default */
    struct ed_log_config cfg;
    bool deleting;   /* recorded as being deleted: hidden, its name still taken */
    bool detached;   /* deleting, and its partitions handed over to doomed */
    bool creating;   /* its logs are being made in steps: hidden, name taken */
    int32_t n_made;  /* partitions whose logs exist, while creating */
    int32_t grow_to; /* CreatePartitions in steps: the new count, 0 = none */
    int32_t n_grown; /* new logs made so far (not yet partitions) */
    ed_log **grow_logs;
    ed_topics_done_cb done; /* told when a creation in steps ends */
    void *done_arg;
    int32_t done_slot;
    ed_log **doomed; /* the logs a deletion has still to remove */
    int32_t n_doomed;
};

struct listener {
    ed_append_listener cb;
    void *arg;
};

struct listeners {
    struct listener v[MAX_LISTENERS];
    int n;
};

struct ed_topics {
    ed_storage *st;
    char *dir; /* NULL: nothing persisted */
    struct ed_log_config defaults;
    const struct ed_config *bcfg;
    char deftext[ED_TOPIC_MAX_KEYS][24];
    ed_topic **v; /* sorted by name */
    int32_t n, cap;
    struct listener append;    /* the fetch module's */
    struct listeners appended; /* the others' */
    struct listeners removed;
    ed_loop *loop; /* with a loop, deletions run in steps from step_timer */
    ed_timer step_timer;
    uint64_t reserve_len; /* bytes of RESERVE_FILE held, 0 when released */
    uint64_t registry_len;
    bool cap_logged; /* the last auto-creation refused by a cap was logged */
    char why[200];   /* the text behind the last *why of a cap */
};

/* ---- topics.c ---- */
ed_topic *ed_topics_topic_new(const char *name);
void ed_topics_topic_free(ed_topic *tp);

/* ---- topic_config.c: topic keys by index (Kafka's order) ---- */
int ed_topics_key_count(void);
const struct ed_config_key *ed_topics_key_at(int k);
int ed_topics_key_index(const char *key); /* -1 if unknown */
/* ED_OK or ED_ERR_INVAL with *why (valid until the next call). */
int ed_topics_key_check(int k, const char *value, const char **why);
/* topic->cfg = the registry's defaults with topic's overrides applied. */
void ed_topics_effective(const ed_topics *t, ed_topic *topic);
/* t->deftext from t->defaults (and the broker config, if any). */
void ed_topics_render_defaults(ed_topics *t);

/* ---- topics_store.c ---- */
void ed_topics_new_uuid(uint8_t id[16]);
/* Writes the registry file (no-op without a directory). */
int ed_topics_persist(ed_topics *t);
/* The same, releasing the reserve once if the disk is full. */
int ed_topics_persist_freeing(ed_topics *t);
/* Takes (grows) the reserve file to twice the registry's size. */
void ed_topics_reserve_take(ed_topics *t);
struct ed_topics_loaded {
    ed_topic *tp;
    int32_t n_parts;
};
/* Reads the registry file of dir; *n = 0 when it does not exist. */
int ed_topics_load_registry(const char *dir, struct ed_topics_loaded **out, int32_t *n);
void ed_topics_free_loaded(struct ed_topics_loaded *v, int32_t n);

#endif
