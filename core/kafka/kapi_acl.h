/* Authorization of Kafka requests: the one call each handler makes before
 * acting (the connection's principal and address against the broker's
 * ACLs, core/acl.h), and the authorized-operations bitfields of Metadata,
 * DescribeGroups and DescribeCluster. Without an authorizer
 * (authorizer.class.name empty) everything is allowed, as in Kafka. The
 * CreateAcls, DescribeAcls and DeleteAcls handlers are in
 * core/kafka/kapi_handlers.h. */
#ifndef ED_CORE_KAPI_ACL_H
#define ED_CORE_KAPI_ACL_H

#include "core/acl.h"
#include "core/kafka/kapi.h"

/* Whether req's principal may do op on the resource res named name. */
bool ed_kapi_allowed(const ed_kreq *req, enum ed_acl_op op, enum ed_acl_res res, ed_kstr name);
/* The same with a C string name (the cluster: ED_ACL_CLUSTER_NAME). */
bool ed_kapi_allowed_z(const ed_kreq *req, enum ed_acl_op op, enum ed_acl_res res,
                       const char *name);
/* InitProducerId without a transactional id: IDEMPOTENT_WRITE on the
 * cluster or WRITE on any topic (Kafka since KIP-679). */
bool ed_kapi_idempotent_allowed(const ed_kreq *req);
/* Kafka's authorized-operations bitfield (bit i = operation code i): the
 * bits of ops (the operations the resource type has) that req's principal
 * may do on the resource. */
int32_t ed_kapi_allowed_ops(const ed_kreq *req, enum ed_acl_res res, ed_kstr name, int32_t ops);

#endif
