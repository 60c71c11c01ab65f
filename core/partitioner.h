/* Kafka's default partitioner for keyed records, so that every writer of
 * the broker (the MQTT routes, the eddy CLI, later CoAP and HTTP) puts a key
 * in the partition Kafka's own clients would: murmur2 as in Kafka's
 * Utils.murmur2 (seed 0x9747b28c), then (hash & 0x7fffffff) % n. */
#ifndef ED_CORE_PARTITIONER_H
#define ED_CORE_PARTITIONER_H

#include "platform/base.h"

int32_t ed_partitioner_murmur2(const uint8_t *p, size_t len);
/* The partition of key among n (0 when n <= 1). */
int32_t ed_partitioner_pick(const uint8_t *key, size_t len, int32_t n_partitions);

#endif
