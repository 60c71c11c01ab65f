/* The topic/partition registry: which topics exist, their partitions and
 * each partition's log, per-topic config overrides (persisted in the data
 * directory, replaced by atomic rename), auto-creation rules, and the
 * per-partition append listeners that wake long-poll fetches. */
#ifndef ED_CORE_TOPICS_H
#define ED_CORE_TOPICS_H

#include "platform/base.h"
#include "platform/net.h"
#include "storage/log.h"
#include "core/kstr.h"

typedef struct ed_topics ed_topics;
typedef struct ed_topic ed_topic;
typedef struct ed_partition ed_partition;

#define ED_TOPIC_NAME_MAX 249

/* Called after every successful append to a partition (fetch long-poll). */
typedef void (*ed_append_listener)(void *arg, ed_partition *p);

struct ed_partition {
    ed_topic *topic;
    int32_t index;
    ed_log *log;
    void *fetch_waiters; /* owned by the fetch module */
    void *pid_state;     /* owned by the idempotent-producer module */
};

/* Opens the registry over an opened storage: every log found becomes a
 * partition of its topic. Without a data directory, topic ids and config
 * overrides live in memory only (handler unit tests). */
int ed_topics_open(ed_storage *st, const struct ed_log_config *defaults, ed_topics **out);
/* Same, persisting topic ids, partition counts and config overrides in
 * <dir>/eddy-topics.properties (written to a temporary file, synced,
 * renamed, folder synced). At open the file and the logs are reconciled:
 * missing partitions of a listed topic are created (an interrupted
 * CreatePartitions), a listed topic without any log is dropped (a create
 * that never finished), logs of an unlisted topic are adopted with a new id
 * and the broker defaults. A file that fails its checksum stops the open
 * with ED_ERR_CORRUPT and a log line. */
int ed_topics_open_dir(ed_storage *st, const char *dir, const struct ed_log_config *defaults,
                       ed_topics **out);
void ed_topics_close(ed_topics *t);
/* Runs deletions (and ed_topics_create_async) in steps from a timer on
 * loop (ED_TOPICS_STEP partitions per turn) instead of inside the call. */
void ed_topics_set_loop(ed_topics *t, ed_loop *loop);

ed_topic *ed_topics_find(ed_topics *t, const char *name);
ed_topic *ed_topics_find_k(ed_topics *t, ed_kstr name);
ed_topic *ed_topics_find_id(ed_topics *t, const uint8_t id[16]);
/* Visits topics in name order. */
void ed_topics_each(ed_topics *t, void (*cb)(void *arg, ed_topic *topic), void *arg);
int32_t ed_topics_count(const ed_topics *t);

/* Kafka's topic-name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
bool ed_topics_valid_name(const char *name);
/* Creates a topic with n partitions and the given config overrides
 * (key=value pairs in Kafka's topic-config names; NULL for none).
 * ED_ERR_EXIST (also while a topic of that name is being deleted),
 * ED_ERR_INVAL (bad name, count or config: *why names it), ED_ERR_TOOBIG
 * (a cap, see ed_topics_room). */
int ed_topics_create(ed_topics *t, const char *name, int32_t n_partitions, const char *const *keys,
                     const char *const *values, int n_configs, const char **why, ed_topic **out);
/* Deletes a topic, also on a full disk: the deletion is first recorded in
 * the registry (a small reserved file is released if the disk is too full
 * for that), then the logs go and the registry forgets the topic. ED_OK
 * once recorded: from then on the topic is hidden (find, each, count), its
 * partitions are gone (remove listeners called) and its name is taken
 * until its files are gone: before returning without a loop, in steps of
 * a few partitions per loop turn with one (see ed_topics_set_loop), at the
 * next open after a crash. An error changes nothing. ED_ERR_NOENT if
 * already being deleted. */
int ed_topics_delete(ed_topics *t, ed_topic *topic);
/* Creation in steps (CreateTopics): as ed_topics_create, but with a loop
 * (ed_topics_set_loop) only the first ED_TOPICS_STEP partitions' logs are
 * made now; if more remain, *pending is set, the topic stays hidden (its
 * name taken) while a loop timer makes the rest, a few per turn, and then
 * done(arg, slot, rc) runs on the loop: ED_OK (the topic is visible) or the
 * error that made the creation fail (the topic and its logs are gone). A
 * crash meanwhile: the next open completes the topic. *out is set on
 * ED_OK also when pending. */
typedef void (*ed_topics_done_cb)(void *arg, int32_t slot, int rc);
int ed_topics_create_async(ed_topics *t, const char *name, int32_t n_partitions,
                           const char *const *keys, const char *const *values, int n_configs,
                           const char **why, ed_topics_done_cb done, void *arg, int32_t slot,
                           ed_topic **out, bool *pending);
/* Drops every done callback registered with arg (its requester went
 * away); the creations go on. */
void ed_topics_forget_waiter(ed_topics *t, void *arg);
/* Whether n_topics more topics with n_partitions more partitions in all
 * fit the broker's caps (eddy.max.topics, eddy.max.partitions; internal
 * topics are never refused). ED_ERR_TOOBIG with *why (valid until the next
 * call) naming the limit. ed_topics_create, ed_topics_auto_create and
 * ed_topics_set_partitions check it too. */
int ed_topics_room(ed_topics *t, const char *name, int32_t n_topics, int32_t n_partitions,
                   const char **why);
/* Partitions of all topics (not those being deleted). */
int32_t ed_topics_count_partitions(const ed_topics *t);
/* Auto-creation (Metadata): creates name with the broker's num.partitions
 * when auto.create.topics.enable is on (see ed_topics_set_broker_config).
 * ED_ERR_NOENT when auto-creation is off, ED_ERR_INVAL for a bad name,
 * ED_ERR_TOOBIG at a cap (logged once until a topic is created). */
int ed_topics_auto_create(ed_topics *t, const char *name, ed_topic **out);
/* Grows a topic to n partitions (never shrinks: ED_ERR_INVAL; ED_ERR_TOOBIG
 * at the partition cap; ED_ERR_BUSY while a growth in steps is under
 * way). */
int ed_topics_set_partitions(ed_topics *t, ed_topic *topic, int32_t n);
/* The same in steps (CreatePartitions), like ed_topics_create_async: with
 * a loop and more than ED_TOPICS_STEP new partitions, *pending is set and
 * done(arg, slot, rc) tells the end; the new partitions appear together
 * once all exist. A deletion of the topic meanwhile ends it with
 * ED_ERR_NOENT. */
int ed_topics_set_partitions_async(ed_topics *t, ed_topic *topic, int32_t n, ed_topics_done_cb done,
                                   void *arg, int32_t slot, bool *pending);

const char *ed_topic_name(const ed_topic *topic);
int32_t ed_topic_n_partitions(const ed_topic *topic);
ed_partition *ed_topic_partition(ed_topic *topic, int32_t index); /* NULL if out of range */
const uint8_t *ed_topic_id(const ed_topic *topic);                /* 16-byte UUID */
bool ed_topic_is_internal(const ed_topic *topic);

/* Topic config: effective value of a key (override or broker default) as
 * text, and whether it is an override. NULL for an unknown key. */
const char *ed_topic_config_get(ed_topic *topic, const char *key, bool *is_default);
/* Sets (value != NULL) or removes (NULL) an override, validates, applies to
 * the partitions' logs and persists. ED_ERR_INVAL with *why. */
int ed_topic_config_set(ed_topics *t, ed_topic *topic, const char *key, const char *value,
                        const char **why);
/* Names of every topic-level config key Eddy knows, NULL-terminated. */
const char *const *ed_topics_config_keys(void);
/* Validates one topic config value without applying it (validate_only
 * requests). ED_ERR_INVAL with *why (static text) naming the problem. */
int ed_topics_config_check(const char *key, const char *value, const char **why);
/* The broker config the registry takes its defaults' text (compression.type
 * "producer"), num.partitions and auto.create.topics.enable from; without
 * one, defaults are rendered from the ed_log_config given at open and
 * auto-creation is off. cfg must outlive t. */
struct ed_config;
void ed_topics_set_broker_config(ed_topics *t, const struct ed_config *cfg);
/* That config, or NULL (a registry without a broker: unit tests). */
const struct ed_config *ed_topics_broker_config(const ed_topics *t);

/* Persists the cluster id: reads <dir>/meta.properties (Kafka's file:
 * version, cluster.id, node.id), creating it at first start with a new
 * random cluster id (base64url UUID, 22 chars). A stored node.id different
 * from node_id is an error (ED_ERR_INVAL, logged), as in Kafka. */
int ed_topics_meta_properties(const char *dir, int32_t node_id, char cluster_id[23]);

/* The fetch module's append listener (one; long-poll Fetch). */
void ed_topics_set_append_listener(ed_topics *t, ed_append_listener cb, void *arg);
/* More append listeners (the mirror's wake-up), up to 4; called after the
 * fetch module's, on the loop thread, possibly inside a storage
 * completion: a listener only notes the append or arms a timer. */
int ed_topics_add_append_listener(ed_topics *t, ed_append_listener cb, void *arg);
void ed_topics_del_append_listener(ed_topics *t, ed_append_listener cb, void *arg);
/* Called for each partition just before it is freed (topic deleted, or the
 * registry closed), so modules that keep per-partition state (fetch
 * waiters, producer ids) can drop it. Up to 4 listeners. */
int ed_topics_add_remove_listener(ed_topics *t, ed_append_listener cb, void *arg);
/* Unregisters a listener added with ed_topics_add_remove_listener (one
 * whose arg is freed before the registry). */
void ed_topics_del_remove_listener(ed_topics *t, ed_append_listener cb, void *arg);
/* Called by whoever appended to p (produce, bridges). */
void ed_topics_appended(ed_topics *t, ed_partition *p);

#endif
