/* The simulated port's file system: folders and files in memory with a
 * durable image beside the visible one, unsynced writes and folder changes
 * kept as ordered logs, fault injection, a disk size limit and power cuts
 * that replay the unsynced logs at random (see platform/sim/sim.h).
 *
 * Layout of the state: inodes (files or folders) on one list; a folder maps
 * names to inodes twice, as seen now (cur_e) and as durable (dur_e); a file
 * holds its visible bytes (cur), its durable bytes (dur) and the changes in
 * between. Folder changes not yet folded into dur_e wait in one global log in
 * call order; a folder sync marks the ones touching that folder as synced and
 * folds the synced prefix of the log. */
#include "platform/mem.h"
#include "platform/sim/fs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ed_simfs ed_simfs;

/* ---- memory of the simulated kernel (not Eddy's counted heap) ---- */
void *ed_simfs_xrealloc(void *p, size_t len)
{
    void *q = realloc(p, len ? len : 1);
    if (!q) {
        fputs("sim: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *ed_simfs_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(ed_simfs_xrealloc(NULL, n), s, n);
}

uint64_t ed_simfs_rnd(uint64_t n)
{
    return ed_sim_rng_below(&ed_simfs.rng, n);
}

/* ---- byte buffers ---- */
static void buf_grow(struct buf *b, uint64_t len)
{
    if (len <= b->cap) return;
    uint64_t cap = b->cap ? b->cap : 256;
    while (cap < len)
        cap *= 2;
    b->p = ed_simfs_xrealloc(b->p, (size_t)cap);
    b->cap = cap;
}

/* Sets the size; new bytes read as zeros. */
void ed_simfs_buf_resize(struct buf *b, uint64_t len)
{
    buf_grow(b, len);
    if (len > b->len) memset(b->p + b->len, 0, (size_t)(len - b->len));
    b->len = len;
}

void ed_simfs_buf_write(struct buf *b, uint64_t off, const uint8_t *data, uint64_t len)
{
    if (len == 0) return;
    if (off + len > b->len) ed_simfs_buf_resize(b, off + len);
    memcpy(b->p + off, data, (size_t)len);
}

void ed_simfs_buf_copy(struct buf *to, const struct buf *from)
{
    buf_grow(to, from->len);
    if (from->len) memcpy(to->p, from->p, (size_t)from->len);
    to->len = from->len;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- folder entries ---- */
static long ent_find(const struct entries *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i].name, name) == 0) return (long)i;
    return -1;
}

struct inode *ed_simfs_ent_get(const struct entries *e, const char *name)
{
    long i = ent_find(e, name);
    return i < 0 ? NULL : e->v[i].ino;
}

/* Points name at ino, replacing what was there; returns the replaced inode. */
static struct inode *ent_set(struct entries *e, const char *name, struct inode *ino)
{
    long i = ent_find(e, name);
    if (i >= 0) {
        struct inode *old = e->v[i].ino;
        e->v[i].ino = ino;
        return old;
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->v = ed_simfs_xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n].name = ed_simfs_xstrdup(name);
    e->v[e->n].ino = ino;
    e->n++;
    return NULL;
}

static void ent_del(struct entries *e, long i)
{
    free(e->v[i].name);
    e->v[i] = e->v[e->n - 1];
    e->n--;
}

static void ent_clear(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].name);
    e->n = 0;
}

static void ent_free(struct entries *e)
{
    ent_clear(e);
    free(e->v);
    memset(e, 0, sizeof *e);
}

void ed_simfs_ent_copy(struct entries *to, const struct entries *from)
{
    ent_clear(to);
    for (size_t i = 0; i < from->n; i++)
        ent_set(to, from->v[i].name, from->v[i].ino);
}

/* ---- inodes and space ---- */
static uint64_t round_block(uint64_t len)
{
    return (len + BLOCK_LEN - 1) / BLOCK_LEN * BLOCK_LEN;
}

uint64_t ed_simfs_alloc_len(const struct inode *ino, uint64_t size, uint64_t reserve_end)
{
    ED_UNUSED(ino);
    return round_block(ED_MAX(size, reserve_end));
}

/* Re-charges ino against the disk: files that are named or open use space. */
void ed_simfs_charge(struct inode *ino)
{
    uint64_t want = 0;
    if (!ino->is_dir && (ino->nlink > 0 || ino->n_open > 0))
        want = ed_simfs_alloc_len(ino, ino->cur.len, ino->reserve_end);
    ed_simfs.usage = ed_simfs.usage - ino->charged + want;
    ino->charged = want;
}

/* Would ino, grown to size/reserve_end, still fit on the disk? */
bool ed_simfs_fits(const struct inode *ino, uint64_t size, uint64_t reserve_end)
{
    uint64_t want = ed_simfs_alloc_len(ino, size, reserve_end);
    if (!ed_simfs.limit || want <= ino->charged) return true;
    return ed_simfs.usage - ino->charged + want <= ed_simfs.limit;
}

struct inode *ed_simfs_inode_new(bool is_dir)
{
    struct inode *ino = ed_simfs_xrealloc(NULL, sizeof *ino);
    memset(ino, 0, sizeof *ino);
    ino->is_dir = is_dir;
    ino->next_all = ed_simfs.all;
    ed_simfs.all = ino;
    ed_simfs.n_inodes++;
    return ino;
}

void ed_simfs_changes_free(struct inode *ino)
{
    struct change *c = ino->ch_head;
    while (c) {
        struct change *next = c->next;
        free(c->data);
        free(c);
        c = next;
    }
    ino->ch_head = ino->ch_tail = NULL;
}

static void inode_free(struct inode *ino)
{
    buf_free(&ino->cur);
    buf_free(&ino->dur);
    ed_simfs_changes_free(ino);
    ent_free(&ino->cur_e);
    ent_free(&ino->dur_e);
    free(ino);
}

/* Current entry changes keep link counts (and so disk charges) right. */
void ed_simfs_link_set(struct inode *dir, const char *name, struct inode *ino)
{
    struct inode *old = ent_set(&dir->cur_e, name, ino);
    ino->nlink++;
    ed_simfs_charge(ino);
    if (old) {
        old->nlink--;
        ed_simfs_charge(old);
    }
}

void ed_simfs_link_del(struct inode *dir, const char *name)
{
    long i = ent_find(&dir->cur_e, name);
    if (i < 0) return;
    struct inode *old = dir->cur_e.v[i].ino;
    ent_del(&dir->cur_e, i);
    old->nlink--;
    ed_simfs_charge(old);
}

/* ---- the folder change log ---- */
void ed_simfs_ns_record(int kind, struct inode *dir, const char *name, struct inode *dir2,
                        const char *name2, struct inode *ino)
{
    struct nsop *op = ed_simfs_xrealloc(NULL, sizeof *op);
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->dir = dir;
    op->dir2 = dir2;
    op->ino = ino;
    op->name = ed_simfs_xstrdup(name);
    op->name2 = name2 ? ed_simfs_xstrdup(name2) : NULL;
    if (ed_simfs.ns_tail)
        ed_simfs.ns_tail->next = op;
    else
        ed_simfs.ns_head = op;
    ed_simfs.ns_tail = op;
}

/* Applies a change to the durable entries. A change whose source is not
 * there (because an earlier unsynced change was lost) does nothing. */
void ed_simfs_ns_apply(const struct nsop *op)
{
    long i;
    switch (op->kind) {
    case NS_LINK:
        ent_set(&op->dir->dur_e, op->name, op->ino);
        break;
    case NS_UNLINK:
        i = ent_find(&op->dir->dur_e, op->name);
        if (i >= 0 && op->dir->dur_e.v[i].ino == op->ino) ent_del(&op->dir->dur_e, i);
        break;
    case NS_RENAME:
        i = ent_find(&op->dir->dur_e, op->name);
        if (i < 0 || op->dir->dur_e.v[i].ino != op->ino) break;
        ent_del(&op->dir->dur_e, i);
        ent_set(&op->dir2->dur_e, op->name2, op->ino);
        break;
    }
}

static void ns_free(struct nsop *op)
{
    free(op->name);
    free(op->name2);
    free(op);
}

void ed_simfs_ns_pop(void)
{
    struct nsop *op = ed_simfs.ns_head;
    ed_simfs.ns_head = op->next;
    if (!ed_simfs.ns_head) ed_simfs.ns_tail = NULL;
    ns_free(op);
}

/* ---- garbage: inodes nobody can reach any more ---- */
static void mark(struct inode *ino)
{
    if (!ino || ino->mark) return;
    ino->mark = true;
    if (!ino->is_dir) return;
    for (size_t i = 0; i < ino->cur_e.n; i++)
        mark(ino->cur_e.v[i].ino);
    for (size_t i = 0; i < ino->dur_e.n; i++)
        mark(ino->dur_e.v[i].ino);
}

void ed_simfs_gc(void)
{
    for (struct inode *i = ed_simfs.all; i; i = i->next_all)
        i->mark = false;
    mark(ed_simfs.root);
    for (struct nsop *op = ed_simfs.ns_head; op; op = op->next) {
        mark(op->dir);
        mark(op->dir2);
        mark(op->ino);
    }
    for (struct ed_file *h = ed_simfs.handles; h; h = h->next)
        mark(h->ino);
    struct inode **pp = &ed_simfs.all;
    size_t live = 0;
    while (*pp) {
        struct inode *i = *pp;
        if (i->mark) {
            live++;
            pp = &i->next_all;
        } else {
            *pp = i->next_all;
            ed_simfs.usage -= i->charged;
            inode_free(i);
            ed_simfs.n_inodes--;
        }
    }
    ed_simfs.gc_at = ED_MAX((size_t)256, live * 2);
}

/* ---- life cycle ---- */
void ed_simfs_invalidate_handles(void)
{
    struct ed_file *h = ed_simfs.handles;
    while (h) {
        struct ed_file *next = h->next;
        h->ino = NULL;
        h->prev = h->next = NULL;
        h = next;
    }
    ed_simfs.handles = NULL;
}

static void free_all(void)
{
    ed_simfs_invalidate_handles();
    while (ed_simfs.ns_head)
        ed_simfs_ns_pop();
    struct inode *i = ed_simfs.all;
    while (i) {
        struct inode *next = i->next_all;
        inode_free(i);
        i = next;
    }
    ed_simfs.all = NULL;
    ed_simfs.root = NULL;
    ed_simfs.n_inodes = 0;
}

void ed_sim_reset(uint64_t seed)
{
    free_all();
    memset(&ed_simfs.st, 0, sizeof ed_simfs.st);
    memset(ed_simfs.fault, 0, sizeof ed_simfs.fault);
    ed_simfs.usage = 0;
    ed_simfs.limit = 0;
    ed_simfs.down = false;
    ed_simfs.mode = ED_SIM_CRASH_RANDOM;
    ed_simfs.crash_countdown = 0;
    ed_simfs.gc_at = 256;
    ed_sim_rng_seed(&ed_simfs.rng, seed);
    ed_simfs.root = ed_simfs_inode_new(true);
    ed_simfs.root->nlink = 1;
    ed_simfs.init = true;
    ed_sim_sys_reset(seed);
}

void ed_sim_shutdown(void)
{
    free_all();
    ed_simfs.init = false;
    ed_sim_sys_shutdown();
}

void ed_simfs_ensure_init(void)
{
    if (!ed_simfs.init) ed_sim_reset(0);
}

/* ---- the prologue of every call ---- */
/* ED_ERR_IO while the machine is down. */
int ed_simfs_up(void)
{
    ed_simfs_ensure_init();
    if (ed_simfs.down) return ED_ERR_IO;
    if (ed_simfs.n_inodes > ed_simfs.gc_at) ed_simfs_gc();
    return ED_OK;
}

/* Counts a mutating call; the armed crash point cuts the power before it. */
int ed_simfs_mutation(void)
{
    ed_simfs.st.n_ops++;
    if (ed_simfs.crash_countdown && --ed_simfs.crash_countdown == 0) {
        ed_simfs_crash();
        return ED_ERR_IO;
    }
    return ED_OK;
}

/* The injected failure of this call, if any. */
int ed_simfs_fault(enum ed_sim_op op)
{
    struct fault *f = &ed_simfs.fault[op];
    if (f->n > 1) {
        f->n--;
    } else if (f->n == 1) {
        if (!f->sticky) f->n = 0;
        ed_simfs.st.n_faults++;
        return f->err;
    }
    return ED_OK;
}

void ed_sim_fail_nth(enum ed_sim_op op, uint64_t n, int err, bool sticky)
{
    ed_simfs_ensure_init();
    if ((int)op < 0 || op >= ED_SIM_OP__COUNT) return;
    ed_simfs.fault[op].n = n;
    ed_simfs.fault[op].err = err < 0 ? err : ED_ERR_IO;
    ed_simfs.fault[op].sticky = sticky;
}

void ed_sim_fail_clear(void)
{
    memset(ed_simfs.fault, 0, sizeof ed_simfs.fault);
}

void ed_sim_set_disk_limit(uint64_t len)
{
    ed_simfs_ensure_init();
    ed_simfs.limit = len;
}

uint64_t ed_sim_disk_usage(void)
{
    ed_simfs_ensure_init();
    return ed_simfs.usage;
}

void ed_sim_stats_get(struct ed_sim_stats *out)
{
    ed_simfs_ensure_init();
    *out = ed_simfs.st;
}

/* ---- paths ---- */

/* Splits a path into names, resolving "." and ".." lexically (there are no
 * links). Absolute and relative paths both start at the root. */
static int parse(const char *s, struct path *p)
{
    p->n = 0;
    if (!s || strlen(s) >= PATH_MAX_LEN) return ED_ERR_INVAL;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s) break;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len > NAME_MAX_LEN) return ED_ERR_INVAL;
        if (len == 1 && s[0] == '.') {
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (p->n > 0) p->n--;
        } else {
            if (p->n == MAX_DEPTH) return ED_ERR_INVAL;
            memcpy(p->names[p->n], s, len);
            p->names[p->n][len] = '\0';
            p->n++;
        }
        s += len;
    }
    return ED_OK;
}

/* The folder named by the first n names of p. */
static int walk(const struct path *p, int n, struct inode **out)
{
    struct inode *d = ed_simfs.root;
    for (int i = 0; i < n; i++) {
        struct inode *c = ed_simfs_ent_get(&d->cur_e, p->names[i]);
        if (!c || !c->is_dir) return ED_ERR_NOENT;
        d = c;
    }
    *out = d;
    return ED_OK;
}

/* Resolves the parent folder and last name of a path (not the root). */
int ed_simfs_parent_of(const char *path, struct path *p, struct inode **dir, const char **name)
{
    int rc = parse(path, p);
    if (rc) return rc;
    if (p->n == 0) return ED_ERR_INVAL;
    rc = walk(p, p->n - 1, dir);
    if (rc) return rc;
    *name = p->names[p->n - 1];
    return ED_OK;
}

/* The inode a path names (the root for "/"). */
int ed_simfs_lookup(const char *path, struct inode **out)
{
    struct path p;
    int rc = parse(path, &p);
    if (rc) return rc;
    if (p.n == 0) {
        *out = ed_simfs.root;
        return ED_OK;
    }
    struct inode *d;
    rc = walk(&p, p.n - 1, &d);
    if (rc) return rc;
    struct inode *ino = ed_simfs_ent_get(&d->cur_e, p.names[p.n - 1]);
    if (!ino) return ED_ERR_NOENT;
    *out = ino;
    return ED_OK;
}
