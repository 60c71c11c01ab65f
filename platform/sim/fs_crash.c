/* Power cuts of the simulated file system: the unsynced changes of each
 * file are replayed at random (kept, lost, torn at a sector or garbled,
 * per the crash mode) and folder changes not made durable are undone; and
 * helpers for tests that put and get whole files. */
#include "platform/mem.h"
#include "platform/sim/fs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- power cuts ---- */
enum { KEEP, DROP, TORN, GONE };

/* Puts one unsynced write (or truncation) onto the durable image b the way
 * a power cut may leave it. */
static void change_replay(struct buf *b, const struct change *c, int how)
{
    if (c->is_trunc) {
        if (how == KEEP || (how == TORN && ed_simfs_rnd(2))) ed_simfs_buf_resize(b, c->off);
        return;
    }
    uint64_t end = c->off + c->len;
    if (how == KEEP) {
        ed_simfs_buf_write(b, c->off, c->data, c->len);
    } else if (how == DROP) {
        if (end > b->len && ed_simfs_rnd(3) == 0)
            ed_simfs_buf_resize(b, end); /* size got out, data not */
    } else {
        /* sector by sector: new bytes, old bytes, or garbage */
        uint8_t junk[SECTOR_LEN];
        uint64_t at = c->off;
        while (at < end) {
            uint64_t s_end = ED_MIN((at / SECTOR_LEN + 1) * SECTOR_LEN, end);
            uint64_t n = s_end - at;
            uint64_t pick = ed_simfs_rnd(3);
            if (pick == 0) {
                ed_simfs_buf_write(b, at, c->data + (at - c->off), n);
            } else if (pick == 1) {
                for (uint64_t i = 0; i < n; i++)
                    junk[i] = (uint8_t)ed_sim_rng_next(&ed_simfs.rng);
                ed_simfs_buf_write(b, at, junk, n);
            }
            at = s_end;
        }
        if (end > b->len && ed_simfs_rnd(4) == 0) ed_simfs_buf_resize(b, end);
    }
}

static int pick_how(void)
{
    uint64_t r = ed_simfs_rnd(10);
    return r < 4 ? KEEP : r < 7 ? DROP : TORN;
}

/* Rebuilds a file from its durable image and its unsynced changes. */
static void file_after_crash(struct inode *ino)
{
    size_t n = 0;
    for (struct change *c = ino->ch_head; c; c = c->next)
        n++;
    bool prefix = ed_simfs_rnd(2) == 0;
    size_t cut = (size_t)ed_simfs_rnd(n + 1);
    size_t i = 0;
    for (struct change *c = ino->ch_head; c; c = c->next, i++) {
        int how;
        if (ed_simfs.mode == ED_SIM_CRASH_KEEP_ALL)
            how = KEEP;
        else if (ed_simfs.mode == ED_SIM_CRASH_DROP_ALL)
            how = GONE;
        else if (prefix)
            how = i < cut ? KEEP : i == cut ? pick_how() : GONE;
        else
            how = pick_how();
        if (how == GONE) continue;
        change_replay(&ino->dur, c, how);
    }
    ed_simfs_changes_free(ino);
    ed_simfs_buf_copy(&ino->cur, &ino->dur);
    ino->reserve_end = ino->dur_reserve_end;
}

static void count_links(struct inode *d)
{
    for (size_t i = 0; i < d->cur_e.n; i++) {
        struct inode *c = d->cur_e.v[i].ino;
        c->nlink++;
        if (c->is_dir && c->nlink == 1) count_links(c);
    }
}

void ed_simfs_crash(void)
{
    ed_simfs.st.n_crashes++;
    ed_simfs.crash_countdown = 0;
    ed_simfs_invalidate_handles();
    /* folders: the synced changes, and each unsynced one at random (or a
     * random prefix of them, as an ordered journal would leave) */
    size_t n = 0;
    for (struct nsop *op = ed_simfs.ns_head; op; op = op->next)
        n++;
    bool prefix = ed_simfs_rnd(2) == 0;
    size_t cut = (size_t)ed_simfs_rnd(n + 1);
    size_t i = 0;
    for (struct nsop *op = ed_simfs.ns_head; op; op = op->next, i++) {
        bool keep;
        if (op->synced || ed_simfs.mode == ED_SIM_CRASH_KEEP_ALL)
            keep = true;
        else if (ed_simfs.mode == ED_SIM_CRASH_DROP_ALL)
            keep = false;
        else
            keep = prefix ? i < cut : ed_simfs_rnd(2) == 0;
        if (keep) ed_simfs_ns_apply(op);
    }
    while (ed_simfs.ns_head)
        ed_simfs_ns_pop();
    for (struct inode *ino = ed_simfs.all; ino; ino = ino->next_all)
        if (ino->is_dir) ed_simfs_ent_copy(&ino->cur_e, &ino->dur_e);
    ed_simfs_gc();
    ed_simfs.usage = 0;
    for (struct inode *ino = ed_simfs.all; ino; ino = ino->next_all) {
        ino->nlink = 0;
        ino->n_open = 0;
        ino->charged = 0;
    }
    ed_simfs.root->nlink = 1;
    count_links(ed_simfs.root);
    for (struct inode *ino = ed_simfs.all; ino; ino = ino->next_all) {
        if (!ino->is_dir) file_after_crash(ino);
        ed_simfs_charge(ino);
    }
    ed_simfs.down = true;
}

void ed_sim_set_crash_mode(enum ed_sim_crash_mode mode)
{
    ed_simfs_ensure_init();
    ed_simfs.mode = mode;
}

uint64_t ed_sim_op_count(void)
{
    ed_simfs_ensure_init();
    return ed_simfs.st.n_ops;
}

void ed_sim_crash_at(uint64_t n)
{
    ed_simfs_ensure_init();
    ed_simfs.crash_countdown = n;
}

void ed_sim_crash_now(void)
{
    ed_simfs_ensure_init();
    if (!ed_simfs.down) ed_simfs_crash();
}

void ed_sim_kill(void)
{
    ed_simfs_ensure_init();
    ed_simfs_invalidate_handles();
    ed_simfs.crash_countdown = 0;
    ed_simfs.down = true;
}

bool ed_sim_crashed(void)
{
    ed_simfs_ensure_init();
    return ed_simfs.down;
}

void ed_sim_reboot(void)
{
    ed_simfs_ensure_init();
    ed_simfs.down = false;
}

/* ---- helpers for tests ---- */
int ed_sim_file_put(const char *path, const void *buf, size_t len)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    struct fault saved[ED_SIM_OP__COUNT];
    memcpy(saved, ed_simfs.fault, sizeof saved);
    memset(ed_simfs.fault, 0, sizeof ed_simfs.fault);
    uint64_t countdown = ed_simfs.crash_countdown;
    ed_simfs.crash_countdown = 0;
    ed_file *f = NULL;
    rc = ed_plat_file_open(path, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) rc = ed_plat_file_pwrite(f, buf, len, 0);
    if (rc == ED_OK) rc = ed_plat_file_datasync(f);
    ed_plat_file_close(f);
    if (rc == ED_OK) {
        char parent[PATH_MAX_LEN];
        snprintf(parent, sizeof parent, "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash) *slash = '\0';
        rc = ed_plat_dir_sync(slash ? (parent[0] ? parent : "/") : ".");
    }
    memcpy(ed_simfs.fault, saved, sizeof saved);
    ed_simfs.crash_countdown = countdown;
    return rc;
}

uint8_t *ed_sim_file_get(const char *path, size_t *len)
{
    if (ed_simfs_up()) return NULL;
    struct inode *ino;
    if (ed_simfs_lookup(path, &ino) || ino->is_dir) return NULL;
    uint8_t *p = ed_simfs_xrealloc(NULL, (size_t)ino->cur.len);
    if (ino->cur.len) memcpy(p, ino->cur.p, (size_t)ino->cur.len);
    *len = (size_t)ino->cur.len;
    return p;
}
