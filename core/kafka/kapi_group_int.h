/* What the two files of the group handlers share (core/kafka/kapi_group.c:
 * membership; core/kafka/kapi_group_offsets.c: offsets and group
 * administration): the per-request context with its arena, the durable
 * wait on __consumer_offsets, and small conversions. */
#ifndef ED_CORE_KAFKA_KAPI_GROUP_INT_H
#define ED_CORE_KAFKA_KAPI_GROUP_INT_H

#include "core/group_int.h"
#include "core/kafka/kapi.h"
#include "core/kafka/msg_gen.h"

#include <string.h>

/* Kafka's error 12: commit metadata over offset.metadata.max.bytes. */
#define KERR_OFFSET_METADATA_TOO_LARGE 12
/* AclOperation bits a describing client may use (no authorizer): READ 3,
 * DELETE 6, DESCRIBE 8. */
#define GROUP_OPS ((1 << 3) | (1 << 6) | (1 << 8))

/* One group request being answered. */
struct gctx {
    ed_kreq *req; /* NULL once the connection went away (durable waits) */
    const struct ed_kmsg_api *api;
    const char *what; /* for logs */
    ed_karena arena;
    void *resp;       /* the response struct, in the arena */
    bool answered;    /* the coordinator reported during the call */
    bool parked;      /* waiting with the coordinator */
    int16_t **stored; /* error codes of records appended: the durability outcome */
    int32_t n_stored, cap_stored;
};

static inline ed_kstr ks(const char *z)
{
    return z ? (ed_kstr){z, (int32_t)strlen(z)} : (ed_kstr){NULL, -1};
}

static inline ed_kstr ks_or_empty(const char *z)
{
    return ks(z ? z : "");
}

static inline ed_kbytes kb(const uint8_t *p, int32_t len)
{
    return p ? (ed_kbytes){p, len} : (ed_kbytes){NULL, 0};
}

static inline ed_gstr gs(ed_kstr s)
{
    return (ed_gstr){s.p, s.len};
}

/* n zeroed elements of size sz from the request's arena; NULL if out. */
void *ed_kgroup_alloc(struct gctx *c, int32_t n, size_t sz);
int ed_kgroup_begin(ed_kreq *req, int16_t key, const char *what, struct gctx **out, void **body);
int ed_kgroup_close(struct gctx *c);
int ed_kgroup_respond(struct gctx *c);
int ed_kgroup_note_stored(struct gctx *c, int16_t *err);
void ed_kgroup_set_stored(struct gctx *c, int16_t code);
int ed_kgroup_finish_durable(struct gctx *c, bool appended, int64_t last);
int16_t ed_kgroup_append_error(int rc);

#endif
