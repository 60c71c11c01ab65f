/* Kafka's error codes (the numbers of Kafka's protocol) as a leaf header:
 * the broker domain reports outcomes with them without including the Kafka
 * layer. Names match Kafka's (ERROR_NAME -> ED_KERR_ERROR_NAME). */
#ifndef ED_CORE_KAFKA_ERRORS_H
#define ED_CORE_KAFKA_ERRORS_H

#include <stdint.h>

enum ed_kerr {
    ED_KERR_UNKNOWN_SERVER_ERROR = -1,
    ED_KERR_NONE = 0,
    ED_KERR_COORDINATOR_NOT_AVAILABLE = 15,
    ED_KERR_ILLEGAL_GENERATION = 22,
    ED_KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    ED_KERR_INVALID_GROUP_ID = 24,
    ED_KERR_UNKNOWN_MEMBER_ID = 25,
    ED_KERR_INVALID_SESSION_TIMEOUT = 26,
    ED_KERR_REBALANCE_IN_PROGRESS = 27,
    ED_KERR_INVALID_REQUEST = 42,
    ED_KERR_MEMBER_ID_REQUIRED = 79,
    ED_KERR_GROUP_MAX_SIZE_REACHED = 81,
    ED_KERR_FENCED_INSTANCE_ID = 82
};

#endif
