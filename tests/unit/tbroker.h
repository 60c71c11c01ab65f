/* A broker context assembled by hand for unit tests and fuzz targets that
 * drive a listener: the loop, a storage with the flusher thread off (a
 * flush happens only when the test ticks the storage), the topic registry,
 * and the ed_broker fields listeners read, over the caller's config. */
#ifndef ED_TESTS_TBROKER_H
#define ED_TESTS_TBROKER_H

#include "core/broker.h"

struct tbroker {
    struct ed_config *cfg; /* the caller's (log.dirs set), not freed here */
    struct ed_storage_config sc;
    ed_loop *loop;
    ed_storage *st;
    ed_topics *topics;
    ed_broker b;
};

/* Opens loop, storage and registry from t->cfg: ED_OK or the first error
 * (then tb_close undoes what was opened). */
int tb_open(struct tbroker *t);
/* Closes the registry, the storage (flushing it) and the loop. */
void tb_close(struct tbroker *t);
/* Runs one flush and its completions (the durable waits it satisfied). */
void tb_sync(struct tbroker *t);

#endif
