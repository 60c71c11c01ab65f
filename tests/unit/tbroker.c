/* A broker context assembled by hand for tests (see tbroker.h). */
#include "tbroker.h"

#include <string.h>

int tb_open(struct tbroker *t)
{
    ed_config_storage(t->cfg, &t->sc);
    t->sc.use_flusher_thread = false;
    int rc = ed_plat_loop_new(&t->loop);
    if (rc == ED_OK) rc = ed_storage_open(&t->sc, &t->st);
    if (rc == ED_OK) rc = ed_topics_open_dir(t->st, t->sc.dir, &t->sc.log, &t->topics);
    if (rc != ED_OK) return rc;
    ed_topics_set_broker_config(t->topics, t->cfg);
    memset(&t->b, 0, sizeof t->b);
    t->b.loop = t->loop;
    t->b.storage = t->st;
    t->b.topics = t->topics;
    t->b.cfg = t->cfg;
    return ED_OK;
}

void tb_close(struct tbroker *t)
{
    if (t->topics) ed_topics_close(t->topics);
    if (t->st) ed_storage_close(t->st);
    if (t->loop) ed_plat_loop_free(t->loop);
    t->topics = NULL;
    t->st = NULL;
    t->loop = NULL;
}

void tb_sync(struct tbroker *t)
{
    ed_storage_tick(t->st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(t->st);
}
