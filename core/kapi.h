/* The Kafka API dispatch contract between the server (connections, framing,
 * in-order responses) and the API handlers. The server decodes the request
 * header, looks the key up in ed_kapi_table, writes the response header into
 * req->out and calls the handler, which reads its body from req->rd and
 * appends the response body to req->out.
 *
 * Details handlers rely on:
 * - The server only calls a handler with a version inside [min, max] of its
 *   entry (ApiVersions excepted: it also gets unknown versions and answers
 *   UNSUPPORTED_VERSION itself). req->flex = version >= flex_from.
 * - req->out already holds the 4-byte size prefix, the correlation id and
 *   (flexible responses other than ApiVersions) the header's tagged fields.
 *   Handlers only append; never reset or rewind req->out below the length
 *   it had on entry. The server patches the size when the response is done.
 *   req->out's ceiling is ED_KAPI_RESPONSE_MAX bytes of memory (spliced
 *   file bytes do not count); if the writer fails (sticky error) the
 *   connection is closed with a log line, so size responses sensibly.
 * - req->rd covers exactly the request body; its bytes (and req->client_id)
 *   stay valid until the request is completed, dropped or cancelled, so a
 *   PENDING handler may keep pointers into them (e.g. Produce acks=all).
 * - ED_KAPI_CLOSE: the handler may log details; the server logs the close.
 * - ED_KAPI_PENDING: the handler must have set req->cancel (asserted);
 *   ed_kreq_complete may be called before the handler has even returned
 *   (e.g. a durable wait that is already satisfied); the response is then
 *   sent as if RESPOND had been returned.
 * - ed_kreq_complete/ed_kreq_drop may be called from any handler on the loop
 *   thread (e.g. Produce on one connection waking a Fetch on another); they
 *   never close or free a connection synchronously.
 * - cancel: called at most once, on the loop thread, never from inside
 *   ed_kreq_complete or the handler itself; after it returns req is freed. */
#ifndef ED_CORE_KAPI_H
#define ED_CORE_KAPI_H

#include "core/broker.h"
#include "core/kwire.h"

typedef struct ed_kreq ed_kreq;

enum ed_kapi_status {
    ED_KAPI_RESPOND = 0,     /* response in req->out: send it */
    ED_KAPI_PENDING = 1,     /* handler completes later with ed_kreq_complete */
    ED_KAPI_NO_RESPONSE = 2, /* e.g. Produce with acks=0 */
    ED_KAPI_CLOSE = 3        /* malformed: close the connection (logged) */
};

struct ed_kreq {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    ed_kstr client_id;
    bool flex;  /* request/response use flexible encodings */
    ed_krd rd;  /* the request body; valid until completion */
    ed_kwr out; /* response: header written by the server */
    ed_broker *broker;
    const char *peer;     /* "host:port" for logs */
    const char *listener; /* the listener it came in on: Metadata advertises its address */
    /* For PENDING requests: the handler's state, and a cancel callback the
     * server calls if the connection closes first (the handler must then
     * drop every reference to req; the server frees it afterwards). */
    void *ctx;
    void (*cancel)(ed_kreq *req);
};

typedef int (*ed_kapi_fn)(ed_kreq *req);

struct ed_kapi_entry {
    int16_t min_version;
    int16_t max_version;
    int16_t flex_from; /* first flexible version; -1 = none */
    ed_kapi_fn fn;     /* NULL = not supported (not advertised) */
    const char *name;
};

#define ED_KAPI_N_KEYS       80
#define ED_KAPI_RESPONSE_MAX (16u * 1024 * 1024)

/* API keys used by name across modules. */
enum ed_kapi_key {
    ED_KAPI_PRODUCE = 0,
    ED_KAPI_FETCH = 1,
    ED_KAPI_LIST_OFFSETS = 2,
    ED_KAPI_METADATA = 3,
    ED_KAPI_API_VERSIONS = 18,
    ED_KAPI_CREATE_TOPICS = 19,
    ED_KAPI_INIT_PRODUCER_ID = 22
};
extern const struct ed_kapi_entry ed_kapi_table[ED_KAPI_N_KEYS];

/* Completes a PENDING request: its response in req->out is sent when every
 * earlier request of the connection has been answered. */
void ed_kreq_complete(ed_kreq *req);
/* Completes a PENDING request that needs no response (acks=0 never pends;
 * this is for symmetry and cleanup). */
void ed_kreq_drop(ed_kreq *req);

/* Kafka error codes used across handlers. */
enum ed_kerr {
    ED_KERR_UNKNOWN_SERVER_ERROR = -1,
    ED_KERR_NONE = 0,
    ED_KERR_OFFSET_OUT_OF_RANGE = 1,
    ED_KERR_CORRUPT_MESSAGE = 2,
    ED_KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    ED_KERR_INVALID_FETCH_SIZE = 4,
    ED_KERR_LEADER_NOT_AVAILABLE = 5,
    ED_KERR_NOT_LEADER_OR_FOLLOWER = 6,
    ED_KERR_REQUEST_TIMED_OUT = 7,
    ED_KERR_MESSAGE_TOO_LARGE = 10,
    ED_KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    ED_KERR_COORDINATOR_NOT_AVAILABLE = 15,
    ED_KERR_NOT_COORDINATOR = 16,
    ED_KERR_INVALID_TOPIC_EXCEPTION = 17,
    ED_KERR_RECORD_LIST_TOO_LARGE = 18,
    ED_KERR_NOT_ENOUGH_REPLICAS = 19,
    ED_KERR_INVALID_REQUIRED_ACKS = 21,
    ED_KERR_ILLEGAL_GENERATION = 22,
    ED_KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    ED_KERR_INVALID_GROUP_ID = 24,
    ED_KERR_UNKNOWN_MEMBER_ID = 25,
    ED_KERR_INVALID_SESSION_TIMEOUT = 26,
    ED_KERR_REBALANCE_IN_PROGRESS = 27,
    ED_KERR_INVALID_COMMIT_OFFSET_SIZE = 28,
    ED_KERR_TOPIC_AUTHORIZATION_FAILED = 29,
    ED_KERR_GROUP_AUTHORIZATION_FAILED = 30,
    ED_KERR_INVALID_TIMESTAMP = 32,
    ED_KERR_UNSUPPORTED_SASL_MECHANISM = 33,
    ED_KERR_ILLEGAL_SASL_STATE = 34,
    ED_KERR_UNSUPPORTED_VERSION = 35,
    ED_KERR_TOPIC_ALREADY_EXISTS = 36,
    ED_KERR_INVALID_PARTITIONS = 37,
    ED_KERR_INVALID_REPLICATION_FACTOR = 38,
    ED_KERR_INVALID_REPLICA_ASSIGNMENT = 39,
    ED_KERR_INVALID_CONFIG = 40,
    ED_KERR_NOT_CONTROLLER = 41,
    ED_KERR_INVALID_REQUEST = 42,
    ED_KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    ED_KERR_POLICY_VIOLATION = 44,
    ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    ED_KERR_DUPLICATE_SEQUENCE_NUMBER = 46,
    ED_KERR_INVALID_PRODUCER_EPOCH = 47,
    ED_KERR_INVALID_TXN_STATE = 48,
    ED_KERR_INVALID_PRODUCER_ID_MAPPING = 49,
    ED_KERR_INVALID_TRANSACTION_TIMEOUT = 50,
    ED_KERR_CONCURRENT_TRANSACTIONS = 51,
    ED_KERR_UNKNOWN_TOPIC_ID = 100,
    ED_KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
    ED_KERR_KAFKA_STORAGE_ERROR = 56,
    ED_KERR_NON_EMPTY_GROUP = 68,
    ED_KERR_GROUP_ID_NOT_FOUND = 69,
    ED_KERR_FETCH_SESSION_ID_NOT_FOUND = 70,
    ED_KERR_INVALID_FETCH_SESSION_EPOCH = 71,
    ED_KERR_UNKNOWN_LEADER_EPOCH = 75,
    ED_KERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
    ED_KERR_MEMBER_ID_REQUIRED = 79,
    ED_KERR_GROUP_MAX_SIZE_REACHED = 81,
    ED_KERR_FENCED_INSTANCE_ID = 82,
    ED_KERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    ED_KERR_UNSTABLE_OFFSET_COMMIT = 88,
    ED_KERR_THROTTLING_QUOTA_EXCEEDED = 89,
    ED_KERR_PRODUCER_FENCED = 90,
    ED_KERR_INVALID_RECORD = 87,
    ED_KERR_UNKNOWN_PRODUCER_ID = 59
};

#endif
