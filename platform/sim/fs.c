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
#include "platform/platform.h"
#include "platform/mem.h"
#include "platform/sim/sim.h"
#include "platform/sim/sim_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR_LEN    512u
#define BLOCK_LEN     4096u
#define NAME_MAX_LEN  255u
#define PATH_MAX_LEN  4096u
#define MAX_DEPTH     64
#define UNLIMITED_LEN (1ull << 40)

struct buf {
    uint8_t *p;
    uint64_t len, cap;
};

/* One unsynced change of a file's bytes. */
struct change {
    struct change *next;
    bool is_trunc;
    bool lost;    /* a datasync covering it failed: it will never be durable */
    uint64_t off; /* write offset, or the new size of a truncation */
    uint64_t len;
    uint8_t *data;
};

struct entry {
    char *name;
    struct inode *ino;
};
struct entries {
    struct entry *v;
    size_t n, cap;
};

struct inode {
    struct inode *next_all;
    bool is_dir;
    bool mark;
    int nlink;  /* current entries naming it */
    int n_open; /* valid handles on it */
    uint64_t charged;
    /* files */
    struct buf cur, dur;
    struct change *ch_head, *ch_tail;
    uint64_t reserve_end, dur_reserve_end;
    /* folders */
    struct entries cur_e, dur_e;
};

enum { NS_LINK, NS_UNLINK, NS_RENAME };
/* One folder change not yet folded into the durable entries. */
struct nsop {
    struct nsop *next;
    int kind;
    bool synced;
    struct inode *dir, *dir2, *ino;
    char *name, *name2;
};

struct ed_file {
    struct ed_file *prev, *next;
    struct inode *ino; /* NULL once invalid (crash or reset) */
    int flags;
};

struct fault {
    uint64_t n;
    int err;
    bool sticky;
};

static struct {
    bool init;
    bool down;
    struct inode *root;
    struct inode *all;
    size_t n_inodes, gc_at;
    struct nsop *ns_head, *ns_tail;
    struct ed_file *handles;
    uint64_t usage, limit;
    struct ed_sim_rng rng;
    enum ed_sim_crash_mode mode;
    uint64_t crash_countdown;
    struct fault fault[ED_SIM_OP__COUNT];
    struct ed_sim_stats st;
} fs;

static void crash(void);

/* ---- memory of the simulated kernel (not Eddy's counted heap) ---- */
static void *xrealloc(void *p, size_t len)
{
    void *q = realloc(p, len ? len : 1);
    if (!q) {
        fputs("sim: out of memory\n", stderr);
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static uint64_t rnd(uint64_t n)
{
    return ed_sim_rng_below(&fs.rng, n);
}

/* ---- byte buffers ---- */
static void buf_grow(struct buf *b, uint64_t len)
{
    if (len <= b->cap) return;
    uint64_t cap = b->cap ? b->cap : 256;
    while (cap < len)
        cap *= 2;
    b->p = xrealloc(b->p, (size_t)cap);
    b->cap = cap;
}

/* Sets the size; new bytes read as zeros. */
static void buf_resize(struct buf *b, uint64_t len)
{
    buf_grow(b, len);
    if (len > b->len) memset(b->p + b->len, 0, (size_t)(len - b->len));
    b->len = len;
}

static void buf_write(struct buf *b, uint64_t off, const uint8_t *data, uint64_t len)
{
    if (len == 0) return;
    if (off + len > b->len) buf_resize(b, off + len);
    memcpy(b->p + off, data, (size_t)len);
}

static void buf_copy(struct buf *to, const struct buf *from)
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

static struct inode *ent_get(const struct entries *e, const char *name)
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
        e->v = xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n].name = xstrdup(name);
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

static void ent_copy(struct entries *to, const struct entries *from)
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

static uint64_t alloc_len(const struct inode *ino, uint64_t size, uint64_t reserve_end)
{
    ED_UNUSED(ino);
    return round_block(ED_MAX(size, reserve_end));
}

/* Re-charges ino against the disk: files that are named or open use space. */
static void charge(struct inode *ino)
{
    uint64_t want = 0;
    if (!ino->is_dir && (ino->nlink > 0 || ino->n_open > 0))
        want = alloc_len(ino, ino->cur.len, ino->reserve_end);
    fs.usage = fs.usage - ino->charged + want;
    ino->charged = want;
}

/* Would ino, grown to size/reserve_end, still fit on the disk? */
static bool fits(const struct inode *ino, uint64_t size, uint64_t reserve_end)
{
    uint64_t want = alloc_len(ino, size, reserve_end);
    if (!fs.limit || want <= ino->charged) return true;
    return fs.usage - ino->charged + want <= fs.limit;
}

static struct inode *inode_new(bool is_dir)
{
    struct inode *ino = xrealloc(NULL, sizeof *ino);
    memset(ino, 0, sizeof *ino);
    ino->is_dir = is_dir;
    ino->next_all = fs.all;
    fs.all = ino;
    fs.n_inodes++;
    return ino;
}

static void changes_free(struct inode *ino)
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
    changes_free(ino);
    ent_free(&ino->cur_e);
    ent_free(&ino->dur_e);
    free(ino);
}

/* Current entry changes keep link counts (and so disk charges) right. */
static void link_set(struct inode *dir, const char *name, struct inode *ino)
{
    struct inode *old = ent_set(&dir->cur_e, name, ino);
    ino->nlink++;
    charge(ino);
    if (old) {
        old->nlink--;
        charge(old);
    }
}

static void link_del(struct inode *dir, const char *name)
{
    long i = ent_find(&dir->cur_e, name);
    if (i < 0) return;
    struct inode *old = dir->cur_e.v[i].ino;
    ent_del(&dir->cur_e, i);
    old->nlink--;
    charge(old);
}

/* ---- the folder change log ---- */
static void ns_record(int kind, struct inode *dir, const char *name, struct inode *dir2,
                      const char *name2, struct inode *ino)
{
    struct nsop *op = xrealloc(NULL, sizeof *op);
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->dir = dir;
    op->dir2 = dir2;
    op->ino = ino;
    op->name = xstrdup(name);
    op->name2 = name2 ? xstrdup(name2) : NULL;
    if (fs.ns_tail)
        fs.ns_tail->next = op;
    else
        fs.ns_head = op;
    fs.ns_tail = op;
}

/* Applies a change to the durable entries. A change whose source is not
 * there (because an earlier unsynced change was lost) does nothing. */
static void ns_apply(const struct nsop *op)
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

static void ns_pop(void)
{
    struct nsop *op = fs.ns_head;
    fs.ns_head = op->next;
    if (!fs.ns_head) fs.ns_tail = NULL;
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

static void gc(void)
{
    for (struct inode *i = fs.all; i; i = i->next_all)
        i->mark = false;
    mark(fs.root);
    for (struct nsop *op = fs.ns_head; op; op = op->next) {
        mark(op->dir);
        mark(op->dir2);
        mark(op->ino);
    }
    for (struct ed_file *h = fs.handles; h; h = h->next)
        mark(h->ino);
    struct inode **pp = &fs.all;
    size_t live = 0;
    while (*pp) {
        struct inode *i = *pp;
        if (i->mark) {
            live++;
            pp = &i->next_all;
        } else {
            *pp = i->next_all;
            fs.usage -= i->charged;
            inode_free(i);
            fs.n_inodes--;
        }
    }
    fs.gc_at = ED_MAX((size_t)256, live * 2);
}

/* ---- life cycle ---- */
static void invalidate_handles(void)
{
    struct ed_file *h = fs.handles;
    while (h) {
        struct ed_file *next = h->next;
        h->ino = NULL;
        h->prev = h->next = NULL;
        h = next;
    }
    fs.handles = NULL;
}

static void free_all(void)
{
    invalidate_handles();
    while (fs.ns_head)
        ns_pop();
    struct inode *i = fs.all;
    while (i) {
        struct inode *next = i->next_all;
        inode_free(i);
        i = next;
    }
    fs.all = NULL;
    fs.root = NULL;
    fs.n_inodes = 0;
}

void ed_sim_reset(uint64_t seed)
{
    free_all();
    memset(&fs.st, 0, sizeof fs.st);
    memset(fs.fault, 0, sizeof fs.fault);
    fs.usage = 0;
    fs.limit = 0;
    fs.down = false;
    fs.mode = ED_SIM_CRASH_RANDOM;
    fs.crash_countdown = 0;
    fs.gc_at = 256;
    ed_sim_rng_seed(&fs.rng, seed);
    fs.root = inode_new(true);
    fs.root->nlink = 1;
    fs.init = true;
    ed_sim_sys_reset(seed);
}

void ed_sim_shutdown(void)
{
    free_all();
    fs.init = false;
    ed_sim_sys_shutdown();
}

static void ensure_init(void)
{
    if (!fs.init) ed_sim_reset(0);
}

/* ---- the prologue of every call ---- */
/* ED_ERR_IO while the machine is down. */
static int up(void)
{
    ensure_init();
    if (fs.down) return ED_ERR_IO;
    if (fs.n_inodes > fs.gc_at) gc();
    return ED_OK;
}

/* Counts a mutating call; the armed crash point cuts the power before it. */
static int mutation(void)
{
    fs.st.n_ops++;
    if (fs.crash_countdown && --fs.crash_countdown == 0) {
        crash();
        return ED_ERR_IO;
    }
    return ED_OK;
}

/* The injected failure of this call, if any. */
static int fault(enum ed_sim_op op)
{
    struct fault *f = &fs.fault[op];
    if (f->n > 1) {
        f->n--;
    } else if (f->n == 1) {
        if (!f->sticky) f->n = 0;
        fs.st.n_faults++;
        return f->err;
    }
    return ED_OK;
}

void ed_sim_fail_nth(enum ed_sim_op op, uint64_t n, int err, bool sticky)
{
    ensure_init();
    if ((int)op < 0 || op >= ED_SIM_OP__COUNT) return;
    fs.fault[op].n = n;
    fs.fault[op].err = err < 0 ? err : ED_ERR_IO;
    fs.fault[op].sticky = sticky;
}

void ed_sim_fail_clear(void)
{
    memset(fs.fault, 0, sizeof fs.fault);
}

void ed_sim_set_disk_limit(uint64_t len)
{
    ensure_init();
    fs.limit = len;
}

uint64_t ed_sim_disk_usage(void)
{
    ensure_init();
    return fs.usage;
}

void ed_sim_stats_get(struct ed_sim_stats *out)
{
    ensure_init();
    *out = fs.st;
}

/* ---- paths ---- */
struct path {
    int n;
    char names[MAX_DEPTH][NAME_MAX_LEN + 1];
};

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
    struct inode *d = fs.root;
    for (int i = 0; i < n; i++) {
        struct inode *c = ent_get(&d->cur_e, p->names[i]);
        if (!c || !c->is_dir) return ED_ERR_NOENT;
        d = c;
    }
    *out = d;
    return ED_OK;
}

/* Resolves the parent folder and last name of a path (not the root). */
static int parent_of(const char *path, struct path *p, struct inode **dir, const char **name)
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
static int lookup(const char *path, struct inode **out)
{
    struct path p;
    int rc = parse(path, &p);
    if (rc) return rc;
    if (p.n == 0) {
        *out = fs.root;
        return ED_OK;
    }
    struct inode *d;
    rc = walk(&p, p.n - 1, &d);
    if (rc) return rc;
    struct inode *ino = ent_get(&d->cur_e, p.names[p.n - 1]);
    if (!ino) return ED_ERR_NOENT;
    *out = ino;
    return ED_OK;
}

/* ---- files ---- */
static int valid(const ed_file *f)
{
    int rc = up();
    if (rc) return rc;
    return f && f->ino ? ED_OK : ED_ERR_IO;
}

static void change_add(struct inode *ino, bool is_trunc, uint64_t off, const uint8_t *data,
                       uint64_t len)
{
    struct change *c = xrealloc(NULL, sizeof *c);
    c->next = NULL;
    c->is_trunc = is_trunc;
    c->lost = false;
    c->off = off;
    c->len = len;
    c->data = NULL;
    if (len) c->data = memcpy(xrealloc(NULL, (size_t)len), data, (size_t)len);
    if (ino->ch_tail)
        ino->ch_tail->next = c;
    else
        ino->ch_head = c;
    ino->ch_tail = c;
}

static void file_write(struct inode *ino, uint64_t off, const uint8_t *data, uint64_t len)
{
    if (len == 0) return;
    buf_write(&ino->cur, off, data, len);
    change_add(ino, false, off, data, len);
    charge(ino);
    fs.st.n_writes++;
    fs.st.len_written += len;
}

static void file_truncate(struct inode *ino, uint64_t size)
{
    buf_resize(&ino->cur, size);
    change_add(ino, true, size, NULL, 0);
    charge(ino);
}

int ed_plat_file_open(const char *path, int flags, ed_file **out)
{
    int rc = up();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_OPEN);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_ERR_IO; /* the root is a folder */
    if (rc) return rc;
    struct inode *ino = ent_get(&dir->cur_e, name);
    if (ino && ino->is_dir) return ED_ERR_IO;
    if (ino && (flags & ED_FILE_CREATE) && (flags & ED_FILE_EXCL)) return ED_ERR_EXIST;
    if (!ino && !(flags & ED_FILE_CREATE)) return ED_ERR_NOENT;
    bool trunc = ino && (flags & ED_FILE_TRUNC) && (flags & ED_FILE_WRITE);
    ed_file *f = ed_malloc(sizeof *f);
    if (!f) return ED_ERR_NOMEM;
    if (!ino || trunc) {
        rc = mutation();
        if (rc) {
            ed_free(f);
            return rc;
        }
    }
    if (!ino) {
        ino = inode_new(false);
        link_set(dir, name, ino);
        ns_record(NS_LINK, dir, name, NULL, NULL, ino);
    } else if (trunc && ino->cur.len > 0) {
        file_truncate(ino, 0);
    }
    f->ino = ino;
    f->flags = flags;
    f->prev = NULL;
    f->next = fs.handles;
    if (fs.handles) fs.handles->prev = f;
    fs.handles = f;
    ino->n_open++;
    charge(ino);
    *out = f;
    return ED_OK;
}

int ed_plat_file_close(ed_file *f)
{
    if (!f) return ED_OK;
    if (f->ino) {
        f->ino->n_open--;
        charge(f->ino);
        if (f->prev)
            f->prev->next = f->next;
        else
            fs.handles = f->next;
        if (f->next) f->next->prev = f->prev;
    }
    ed_free(f);
    return ED_OK;
}

int ed_plat_file_pread(ed_file *f, void *buf, size_t len, uint64_t off, size_t *n_read)
{
    int rc = valid(f);
    if (rc) return rc;
    const struct buf *b = &f->ino->cur;
    size_t n = 0;
    if (off < b->len) n = (size_t)ED_MIN((uint64_t)len, b->len - off);
    if (n) memcpy(buf, b->p + off, n);
    *n_read = n;
    return ED_OK;
}

int ed_plat_file_pwrite(ed_file *f, const void *buf, size_t len, uint64_t off)
{
    struct ed_iovec v = {buf, len};
    return ed_plat_file_pwritev(f, &v, 1, off);
}

int ed_plat_file_pwritev(ed_file *f, const struct ed_iovec *iov, int n_iov, uint64_t off)
{
    int rc = valid(f);
    if (rc) return rc;
    if (!(f->flags & ED_FILE_WRITE) || n_iov < 0) return ED_ERR_IO;
    rc = mutation();
    if (rc) return rc;
    uint64_t total = 0;
    for (int i = 0; i < n_iov; i++)
        total += iov[i].len;
    uint8_t *data = xrealloc(NULL, (size_t)total);
    uint64_t at = 0;
    for (int i = 0; i < n_iov; i++) {
        if (iov[i].len) memcpy(data + at, iov[i].base, iov[i].len);
        at += iov[i].len;
    }
    struct inode *ino = f->ino;
    rc = fault(ED_SIM_OP_WRITE);
    if (rc) { /* a failed write may have put any prefix of its bytes down */
        if (rnd(2)) {
            uint64_t part = rnd(total + 1);
            if (fits(ino, ED_MAX(ino->cur.len, off + part), ino->reserve_end))
                file_write(ino, off, data, part);
        }
    } else if (!fits(ino, ED_MAX(ino->cur.len, off + total), ino->reserve_end)) {
        /* the disk fills up part way: what fits may be written */
        uint64_t others = fs.usage - ino->charged;
        uint64_t room = fs.limit > others ? (fs.limit - others) / BLOCK_LEN * BLOCK_LEN : 0;
        room = ED_MAX(room, alloc_len(ino, ino->cur.len, ino->reserve_end));
        uint64_t part = room > off ? ED_MIN(total, room - off) : 0;
        if (part && rnd(2)) file_write(ino, off, data, part);
        fs.st.n_nospc++;
        rc = ED_ERR_NOSPC;
    } else {
        file_write(ino, off, data, total);
    }
    free(data);
    return rc;
}

int ed_plat_file_size(ed_file *f, uint64_t *size)
{
    int rc = valid(f);
    if (rc) return rc;
    *size = f->ino->cur.len;
    return ED_OK;
}

int ed_plat_file_truncate(ed_file *f, uint64_t size)
{
    int rc = valid(f);
    if (rc) return rc;
    if (!(f->flags & ED_FILE_WRITE)) return ED_ERR_INVAL;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_TRUNCATE);
    if (rc) return rc;
    if (!fits(f->ino, size, f->ino->reserve_end)) {
        fs.st.n_nospc++;
        return ED_ERR_NOSPC;
    }
    file_truncate(f->ino, size);
    return ED_OK;
}

static void change_apply(struct buf *b, const struct change *c)
{
    if (c->is_trunc)
        buf_resize(b, c->off);
    else
        buf_write(b, c->off, c->data, c->len);
}

int ed_plat_file_datasync(ed_file *f)
{
    int rc = valid(f);
    if (rc) return rc;
    rc = mutation();
    if (rc) return rc;
    struct inode *ino = f->ino;
    rc = fault(ED_SIM_OP_DATASYNC);
    if (rc) {
        /* as Linux does after a writeback error: the pages stay readable but
         * clean, so no later datasync writes them */
        for (struct change *c = ino->ch_head; c; c = c->next)
            c->lost = true;
        return rc;
    }
    for (struct change *c = ino->ch_head; c; c = c->next)
        if (!c->lost) change_apply(&ino->dur, c);
    changes_free(ino);
    ino->dur_reserve_end = ino->reserve_end;
    fs.st.n_datasyncs++;
    return ED_OK;
}

int ed_plat_file_reserve(ed_file *f, uint64_t off, uint64_t len)
{
    int rc = valid(f);
    if (rc) return rc;
    if (!(f->flags & ED_FILE_WRITE)) return ED_ERR_IO;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_RESERVE);
    if (rc) return rc;
    struct inode *ino = f->ino;
    uint64_t end = off + len;
    if (end <= ino->reserve_end) return ED_OK;
    if (!fits(ino, ino->cur.len, end)) {
        fs.st.n_nospc++;
        return ED_ERR_NOSPC;
    }
    ino->reserve_end = end;
    charge(ino);
    return ED_OK;
}

int ed_plat_file_handle(const ed_file *f)
{
    ED_UNUSED(f);
    return -1;
}

/* ---- paths and folders ---- */
static bool is_inside(struct inode *dir, const struct path *p, int n)
{
    struct inode *d = fs.root;
    if (d == dir) return true;
    for (int i = 0; i < n; i++) {
        d = ent_get(&d->cur_e, p->names[i]);
        if (!d) return false;
        if (d == dir) return true;
    }
    return false;
}

int ed_plat_path_rename(const char *from, const char *to)
{
    int rc = up();
    if (rc) return rc;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_RENAME);
    if (rc) return rc;
    struct path pf, pt;
    struct inode *df, *dt;
    const char *nf, *nt;
    rc = parent_of(from, &pf, &df, &nf);
    if (rc) return rc;
    rc = parent_of(to, &pt, &dt, &nt);
    if (rc) return rc;
    struct inode *src = ent_get(&df->cur_e, nf);
    if (!src) return ED_ERR_NOENT;
    struct inode *dst = ent_get(&dt->cur_e, nt);
    if (dst == src) return ED_OK;
    if (src->is_dir) {
        if (dst && !dst->is_dir) return ED_ERR_NOENT; /* ENOTDIR */
        if (dst && dst->cur_e.n > 0) return ED_ERR_EXIST;
        if (is_inside(src, &pt, pt.n - 1)) return ED_ERR_INVAL;
    } else if (dst && dst->is_dir) {
        return ED_ERR_IO; /* EISDIR */
    }
    ns_record(NS_RENAME, df, nf, dt, nt, src);
    src->nlink++; /* keep it charged while it moves */
    link_del(df, nf);
    link_set(dt, nt, src);
    src->nlink--;
    charge(src);
    return ED_OK;
}

int ed_plat_path_unlink(const char *path)
{
    int rc = up();
    if (rc) return rc;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_UNLINK);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_ERR_IO;
    if (rc) return rc;
    struct inode *ino = ent_get(&dir->cur_e, name);
    if (!ino) return ED_ERR_NOENT;
    if (ino->is_dir) return ED_ERR_IO; /* EISDIR */
    ns_record(NS_UNLINK, dir, name, NULL, NULL, ino);
    link_del(dir, name);
    return ED_OK;
}

int ed_plat_path_stat(const char *path, bool *is_dir, uint64_t *size)
{
    int rc = up();
    if (rc) return rc;
    struct inode *ino;
    rc = lookup(path, &ino);
    if (rc) return rc;
    if (is_dir) *is_dir = ino->is_dir;
    if (size) *size = ino->is_dir ? BLOCK_LEN : ino->cur.len;
    return ED_OK;
}

int ed_plat_dir_make(const char *path)
{
    int rc = up();
    if (rc) return rc;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_MKDIR);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_OK; /* the root */
    if (rc) return rc;
    struct inode *ino = ent_get(&dir->cur_e, name);
    if (ino) return ino->is_dir ? ED_OK : ED_ERR_EXIST;
    ino = inode_new(true);
    link_set(dir, name, ino);
    ns_record(NS_LINK, dir, name, NULL, NULL, ino);
    return ED_OK;
}

int ed_plat_dir_remove(const char *path)
{
    int rc = up();
    if (rc) return rc;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_RMDIR);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_ERR_BUSY;
    if (rc) return rc;
    struct inode *ino = ent_get(&dir->cur_e, name);
    if (!ino || !ino->is_dir) return ED_ERR_NOENT;
    if (ino->cur_e.n > 0) return ED_ERR_EXIST;
    ns_record(NS_UNLINK, dir, name, NULL, NULL, ino);
    link_del(dir, name);
    return ED_OK;
}

int ed_plat_dir_sync(const char *path)
{
    int rc = up();
    if (rc) return rc;
    rc = mutation();
    if (rc) return rc;
    rc = fault(ED_SIM_OP_DIRSYNC);
    if (rc) return rc;
    struct inode *dir;
    rc = lookup(path, &dir);
    if (rc) return rc;
    if (!dir->is_dir) return ED_ERR_NOENT;
    for (struct nsop *op = fs.ns_head; op; op = op->next)
        if (op->dir == dir || op->dir2 == dir) op->synced = true;
    while (fs.ns_head && fs.ns_head->synced) {
        ns_apply(fs.ns_head);
        ns_pop();
    }
    fs.st.n_dirsyncs++;
    return ED_OK;
}

int ed_plat_dir_list(const char *path, ed_dir_cb cb, void *arg)
{
    int rc = up();
    if (rc) return rc;
    struct inode *dir;
    rc = lookup(path, &dir);
    if (rc) return rc;
    if (!dir->is_dir) return ED_ERR_NOENT;
    /* a snapshot in shuffled order: callers may change the folder meanwhile
     * and must not depend on any order */
    size_t n = dir->cur_e.n;
    struct entry *v = xrealloc(NULL, n * sizeof *v);
    bool *d = xrealloc(NULL, n * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        v[i].name = xstrdup(dir->cur_e.v[i].name);
        d[i] = dir->cur_e.v[i].ino->is_dir;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rnd(i);
        struct entry t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
        bool b = d[i - 1];
        d[i - 1] = d[j];
        d[j] = b;
    }
    rc = ED_OK;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cb(arg, v[i].name, d[i]);
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    free(d);
    return rc;
}

int ed_plat_fs_space(const char *path, uint64_t *free_len, uint64_t *total_len)
{
    int rc = up();
    if (rc) return rc;
    struct inode *ino;
    rc = lookup(path, &ino);
    if (rc) return rc;
    uint64_t total = fs.limit ? fs.limit : UNLIMITED_LEN;
    if (free_len) *free_len = total > fs.usage ? total - fs.usage : 0;
    if (total_len) *total_len = total;
    return ED_OK;
}

/* ---- power cuts ---- */
enum { KEEP, DROP, TORN, GONE };

/* Puts one unsynced write (or truncation) onto the durable image b the way
 * a power cut may leave it. */
static void change_replay(struct buf *b, const struct change *c, int how)
{
    if (c->is_trunc) {
        if (how == KEEP || (how == TORN && rnd(2))) buf_resize(b, c->off);
        return;
    }
    uint64_t end = c->off + c->len;
    if (how == KEEP) {
        buf_write(b, c->off, c->data, c->len);
    } else if (how == DROP) {
        if (end > b->len && rnd(3) == 0) buf_resize(b, end); /* size got out, data not */
    } else {
        /* sector by sector: new bytes, old bytes, or garbage */
        uint8_t junk[SECTOR_LEN];
        uint64_t at = c->off;
        while (at < end) {
            uint64_t s_end = ED_MIN((at / SECTOR_LEN + 1) * SECTOR_LEN, end);
            uint64_t n = s_end - at;
            uint64_t pick = rnd(3);
            if (pick == 0) {
                buf_write(b, at, c->data + (at - c->off), n);
            } else if (pick == 1) {
                for (uint64_t i = 0; i < n; i++)
                    junk[i] = (uint8_t)ed_sim_rng_next(&fs.rng);
                buf_write(b, at, junk, n);
            }
            at = s_end;
        }
        if (end > b->len && rnd(4) == 0) buf_resize(b, end);
    }
}

static int pick_how(void)
{
    uint64_t r = rnd(10);
    return r < 4 ? KEEP : r < 7 ? DROP : TORN;
}

/* Rebuilds a file from its durable image and its unsynced changes. */
static void file_after_crash(struct inode *ino)
{
    size_t n = 0;
    for (struct change *c = ino->ch_head; c; c = c->next)
        n++;
    bool prefix = rnd(2) == 0;
    size_t cut = (size_t)rnd(n + 1);
    size_t i = 0;
    for (struct change *c = ino->ch_head; c; c = c->next, i++) {
        int how;
        if (fs.mode == ED_SIM_CRASH_KEEP_ALL)
            how = KEEP;
        else if (fs.mode == ED_SIM_CRASH_DROP_ALL)
            how = GONE;
        else if (prefix)
            how = i < cut ? KEEP : i == cut ? pick_how() : GONE;
        else
            how = pick_how();
        if (how == GONE) continue;
        change_replay(&ino->dur, c, how);
    }
    changes_free(ino);
    buf_copy(&ino->cur, &ino->dur);
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

static void crash(void)
{
    fs.st.n_crashes++;
    fs.crash_countdown = 0;
    invalidate_handles();
    /* folders: the synced changes, and each unsynced one at random (or a
     * random prefix of them, as an ordered journal would leave) */
    size_t n = 0;
    for (struct nsop *op = fs.ns_head; op; op = op->next)
        n++;
    bool prefix = rnd(2) == 0;
    size_t cut = (size_t)rnd(n + 1);
    size_t i = 0;
    for (struct nsop *op = fs.ns_head; op; op = op->next, i++) {
        bool keep;
        if (op->synced || fs.mode == ED_SIM_CRASH_KEEP_ALL)
            keep = true;
        else if (fs.mode == ED_SIM_CRASH_DROP_ALL)
            keep = false;
        else
            keep = prefix ? i < cut : rnd(2) == 0;
        if (keep) ns_apply(op);
    }
    while (fs.ns_head)
        ns_pop();
    for (struct inode *ino = fs.all; ino; ino = ino->next_all)
        if (ino->is_dir) ent_copy(&ino->cur_e, &ino->dur_e);
    gc();
    fs.usage = 0;
    for (struct inode *ino = fs.all; ino; ino = ino->next_all) {
        ino->nlink = 0;
        ino->n_open = 0;
        ino->charged = 0;
    }
    fs.root->nlink = 1;
    count_links(fs.root);
    for (struct inode *ino = fs.all; ino; ino = ino->next_all) {
        if (!ino->is_dir) file_after_crash(ino);
        charge(ino);
    }
    fs.down = true;
}

void ed_sim_set_crash_mode(enum ed_sim_crash_mode mode)
{
    ensure_init();
    fs.mode = mode;
}

uint64_t ed_sim_op_count(void)
{
    ensure_init();
    return fs.st.n_ops;
}

void ed_sim_crash_at(uint64_t n)
{
    ensure_init();
    fs.crash_countdown = n;
}

void ed_sim_crash_now(void)
{
    ensure_init();
    if (!fs.down) crash();
}

void ed_sim_kill(void)
{
    ensure_init();
    invalidate_handles();
    fs.crash_countdown = 0;
    fs.down = true;
}

bool ed_sim_crashed(void)
{
    ensure_init();
    return fs.down;
}

void ed_sim_reboot(void)
{
    ensure_init();
    fs.down = false;
}

/* ---- helpers for tests ---- */
int ed_sim_file_put(const char *path, const void *buf, size_t len)
{
    int rc = up();
    if (rc) return rc;
    struct fault saved[ED_SIM_OP__COUNT];
    memcpy(saved, fs.fault, sizeof saved);
    memset(fs.fault, 0, sizeof fs.fault);
    uint64_t countdown = fs.crash_countdown;
    fs.crash_countdown = 0;
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
    memcpy(fs.fault, saved, sizeof saved);
    fs.crash_countdown = countdown;
    return rc;
}

uint8_t *ed_sim_file_get(const char *path, size_t *len)
{
    if (up()) return NULL;
    struct inode *ino;
    if (lookup(path, &ino) || ino->is_dir) return NULL;
    uint8_t *p = xrealloc(NULL, (size_t)ino->cur.len);
    if (ino->cur.len) memcpy(p, ino->cur.p, (size_t)ino->cur.len);
    *len = (size_t)ino->cur.len;
    return p;
}
