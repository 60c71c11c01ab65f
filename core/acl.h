/* Kafka ACLs: the store of bindings (resource pattern, principal, host,
 * operation, permission) kept in one small file of the data directory,
 * ED_ACL_FILE, replaced atomically on every change, and the authorizer
 * that answers "may PRINCIPAL from HOST do OPERATION on RESOURCE" with
 * Kafka's semantics:
 * - a super user (super.users) may do everything;
 * - a binding applies when its resource type matches, its pattern matches
 *   the name (LITERAL: equal, or the name "*"; PREFIXED: a prefix of the
 *   name), its principal is the caller's or "User:*", its host the caller's
 *   or "*";
 * - an applying DENY for the operation (or ALL) refuses; otherwise an
 *   applying ALLOW for the operation, ALL, or one that implies it (READ,
 *   WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies
 *   DESCRIBE_CONFIGS) permits;
 * - with no binding at all on the resource (any principal), the answer is
 *   allow.everyone.if.no.acl.found; otherwise refused.
 * Enum values are Kafka's wire codes. A change is durable when the call
 * returns ED_OK and leaves the store untouched otherwise; a file that fails
 * any check is refused whole at open (ED_ERR_CORRUPT, logged). The layout
 * is in docs/format.md. */
#ifndef ED_CORE_ACL_H
#define ED_CORE_ACL_H

#include "platform/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_ACL_FILE "acls"
#ifndef ED_ACL_MAX
#define ED_ACL_MAX 4096 /* bindings in the store */
#endif
#define ED_ACL_MAX_NAME      255 /* resource name or prefix */
#define ED_ACL_MAX_PRINCIPAL 255 /* "User:NAME" */
#define ED_ACL_MAX_HOST      64

enum ed_acl_res {
    ED_ACL_RES_ANY = 1, /* filters only */
    ED_ACL_RES_TOPIC = 2,
    ED_ACL_RES_GROUP = 3,
    ED_ACL_RES_CLUSTER = 4,
    ED_ACL_RES_TRANSACTIONAL_ID = 5
};
enum ed_acl_pattern {
    ED_ACL_PAT_ANY = 1,   /* filters: either type, the exact name */
    ED_ACL_PAT_MATCH = 2, /* filters: every binding that applies to the name */
    ED_ACL_PAT_LITERAL = 3,
    ED_ACL_PAT_PREFIXED = 4
};
enum ed_acl_op {
    ED_ACL_OP_ANY = 1, /* filters only */
    ED_ACL_OP_ALL = 2,
    ED_ACL_OP_READ = 3,
    ED_ACL_OP_WRITE = 4,
    ED_ACL_OP_CREATE = 5,
    ED_ACL_OP_DELETE = 6,
    ED_ACL_OP_ALTER = 7,
    ED_ACL_OP_DESCRIBE = 8,
    ED_ACL_OP_CLUSTER_ACTION = 9,
    ED_ACL_OP_DESCRIBE_CONFIGS = 10,
    ED_ACL_OP_ALTER_CONFIGS = 11,
    ED_ACL_OP_IDEMPOTENT_WRITE = 12
};
enum ed_acl_perm { ED_ACL_PERM_ANY = 1, ED_ACL_PERM_DENY = 2, ED_ACL_PERM_ALLOW = 3 };

/* The name of Kafka's cluster resource. */
#define ED_ACL_CLUSTER_NAME "kafka-cluster"

/* A binding, or a filter (ANY values, NULL strings = any). Strings are
 * not NUL-terminated: pointer and length. */
struct ed_acl_binding {
    uint8_t res_type, pattern, op, perm;
    const char *name;
    size_t name_len;
    const char *principal;
    size_t principal_len;
    const char *host;
    size_t host_len;
};

typedef struct ed_acl ed_acl;

/* Opens the store of data directory dir; a missing file is an empty store.
 * ED_ERR_CORRUPT for a torn, truncated or altered file. */
int ed_acl_open(const char *dir, ed_acl **out);
/* The same from a file image already in memory (tests, fuzzing). */
int ed_acl_open_image(const char *dir, const uint8_t *image, size_t len, ed_acl **out);
void ed_acl_close(ed_acl *a); /* NULL is a no-op */

/* Authorizer settings: super.users ("User:a;User:b", Kafka's format; NULL
 * or "" = none) and allow.everyone.if.no.acl.found. ED_ERR_NOMEM. */
int ed_acl_configure(ed_acl *a, const char *super_users, bool allow_if_no_acl);

size_t ed_acl_count(const ed_acl *a);
/* The i-th binding (i < ed_acl_count); strings valid until the next change. */
void ed_acl_get(const ed_acl *a, size_t i, struct ed_acl_binding *out);

/* Whether b is a valid binding (no ANY values, a non-empty name and
 * principal "TYPE:NAME", host given, lengths within the limits; the
 * cluster's name is ED_ACL_CLUSTER_NAME); why says what is wrong. */
bool ed_acl_binding_ok(const struct ed_acl_binding *b, const char **why);
/* Whether b matches filter f (Kafka's AclBindingFilter semantics). */
bool ed_acl_filter_matches(const struct ed_acl_binding *f, const struct ed_acl_binding *b);

/* Adds n bindings in one durable write (bindings already present are
 * kept once). ED_ERR_INVAL when one is invalid, ED_ERR_TOOBIG when the
 * store would be over ED_ACL_MAX, or the file's write error; nothing
 * changes then. */
int ed_acl_add(ed_acl *a, const struct ed_acl_binding *b, size_t n);
/* Removes every binding matching any of the n filters in one durable
 * write (the caller lists the matches with ed_acl_filter_matches first);
 * *n_removed gets the count. */
int ed_acl_remove(ed_acl *a, const struct ed_acl_binding *f, size_t n, size_t *n_removed);

/* The authorizer (above). principal "User:NAME", host the client's
 * address; name NUL-free with its length. */
bool ed_acl_authorize(const ed_acl *a, const char *principal, const char *host, enum ed_acl_op op,
                      enum ed_acl_res res, const char *name, size_t name_len);
/* Whether principal may do op on some resource of type res (Kafka's
 * authorizeByResourceType, as InitProducerId uses it: WRITE on any topic):
 * a super user; not when a DENY of op (or ALL) covers every name (literal
 * "*"); yes when an ALLOW grants op on any name; otherwise
 * allow.everyone.if.no.acl.found when no binding of that type exists. */
bool ed_acl_authorize_any(const ed_acl *a, const char *principal, const char *host,
                          enum ed_acl_op op, enum ed_acl_res res);
/* The host part of a peer address "1.2.3.4:5678" or "[::1]:5678" into out
 * (cap bytes; "" when it does not fit). */
void ed_acl_peer_host(const char *peer, char *out, size_t cap);
/* ed_acl_authorize for a user name (NULL: "User:ANONYMOUS") connected
 * from peer ("host:port"); true when a is NULL (no authorizer). */
bool ed_acl_authorize_user(const ed_acl *a, const char *user, const char *peer, enum ed_acl_op op,
                           enum ed_acl_res res, const char *name, size_t name_len);
/* Whether principal is a super user. */
bool ed_acl_is_super(const ed_acl *a, const char *principal);

#endif
