/* The port contract's file and folder calls (ed_plat_file_*,
 * ed_plat_path_*, ed_plat_dir_*, ed_plat_fs_space) on the simulated file
 * system: visible bytes change at once, durable ones at a sync; every
 * mutating call can be failed by injection or cut by a power cut. */
#include "platform/mem.h"
#include "platform/sim/fs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- files ---- */
static int valid(const ed_file *f)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    return f && f->ino ? ED_OK : ED_ERR_IO;
}

static void change_add(struct inode *ino, bool is_trunc, uint64_t off, const uint8_t *data,
                       uint64_t len)
{
    struct change *c = ed_simfs_xrealloc(NULL, sizeof *c);
    c->next = NULL;
    c->is_trunc = is_trunc;
    c->lost = false;
    c->off = off;
    c->len = len;
    c->data = NULL;
    if (len) c->data = memcpy(ed_simfs_xrealloc(NULL, (size_t)len), data, (size_t)len);
    if (ino->ch_tail)
        ino->ch_tail->next = c;
    else
        ino->ch_head = c;
    ino->ch_tail = c;
}

static void file_write(struct inode *ino, uint64_t off, const uint8_t *data, uint64_t len)
{
    if (len == 0) return;
    ed_simfs_buf_write(&ino->cur, off, data, len);
    change_add(ino, false, off, data, len);
    ed_simfs_charge(ino);
    ed_simfs.st.n_writes++;
    ed_simfs.st.len_written += len;
}

static void file_truncate(struct inode *ino, uint64_t size)
{
    ed_simfs_buf_resize(&ino->cur, size);
    change_add(ino, true, size, NULL, 0);
    ed_simfs_charge(ino);
}

int ed_plat_file_open(const char *path, int flags, ed_file **out)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_OPEN);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = ed_simfs_parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_ERR_IO; /* the root is a folder */
    if (rc) return rc;
    struct inode *ino = ed_simfs_ent_get(&dir->cur_e, name);
    if (ino && ino->is_dir) return ED_ERR_IO;
    if (ino && (flags & ED_FILE_CREATE) && (flags & ED_FILE_EXCL)) return ED_ERR_EXIST;
    if (!ino && !(flags & ED_FILE_CREATE)) return ED_ERR_NOENT;
    bool trunc = ino && (flags & ED_FILE_TRUNC) && (flags & ED_FILE_WRITE);
    ed_file *f = ed_malloc(sizeof *f);
    if (!f) return ED_ERR_NOMEM;
    if (!ino || trunc) {
        rc = ed_simfs_mutation();
        if (rc) {
            ed_free(f);
            return rc;
        }
    }
    if (!ino) {
        ino = ed_simfs_inode_new(false);
        ed_simfs_link_set(dir, name, ino);
        ed_simfs_ns_record(NS_LINK, dir, name, NULL, NULL, ino);
    } else if (trunc && ino->cur.len > 0) {
        file_truncate(ino, 0);
    }
    f->ino = ino;
    f->flags = flags;
    f->prev = NULL;
    f->next = ed_simfs.handles;
    if (ed_simfs.handles) ed_simfs.handles->prev = f;
    ed_simfs.handles = f;
    ino->n_open++;
    ed_simfs_charge(ino);
    *out = f;
    return ED_OK;
}

int ed_plat_file_close(ed_file *f)
{
    if (!f) return ED_OK;
    if (f->ino) {
        f->ino->n_open--;
        ed_simfs_charge(f->ino);
        if (f->prev)
            f->prev->next = f->next;
        else
            ed_simfs.handles = f->next;
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
    rc = ed_simfs_mutation();
    if (rc) return rc;
    uint64_t total = 0;
    for (int i = 0; i < n_iov; i++)
        total += iov[i].len;
    uint8_t *data = ed_simfs_xrealloc(NULL, (size_t)total);
    uint64_t at = 0;
    for (int i = 0; i < n_iov; i++) {
        if (iov[i].len) memcpy(data + at, iov[i].base, iov[i].len);
        at += iov[i].len;
    }
    struct inode *ino = f->ino;
    rc = ed_simfs_fault(ED_SIM_OP_WRITE);
    if (rc) { /* a failed write may have put any prefix of its bytes down */
        if (ed_simfs_rnd(2)) {
            uint64_t part = ed_simfs_rnd(total + 1);
            if (ed_simfs_fits(ino, ED_MAX(ino->cur.len, off + part), ino->reserve_end))
                file_write(ino, off, data, part);
        }
    } else if (!ed_simfs_fits(ino, ED_MAX(ino->cur.len, off + total), ino->reserve_end)) {
        /* the disk fills up part way: what fits may be written */
        uint64_t others = ed_simfs.usage - ino->charged;
        uint64_t room =
            ed_simfs.limit > others ? (ed_simfs.limit - others) / BLOCK_LEN * BLOCK_LEN : 0;
        room = ED_MAX(room, ed_simfs_alloc_len(ino, ino->cur.len, ino->reserve_end));
        uint64_t part = room > off ? ED_MIN(total, room - off) : 0;
        if (part && ed_simfs_rnd(2)) file_write(ino, off, data, part);
        ed_simfs.st.n_nospc++;
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
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_TRUNCATE);
    if (rc) return rc;
    if (!ed_simfs_fits(f->ino, size, f->ino->reserve_end)) {
        ed_simfs.st.n_nospc++;
        return ED_ERR_NOSPC;
    }
    file_truncate(f->ino, size);
    return ED_OK;
}

static void change_apply(struct buf *b, const struct change *c)
{
    if (c->is_trunc)
        ed_simfs_buf_resize(b, c->off);
    else
        ed_simfs_buf_write(b, c->off, c->data, c->len);
}

int ed_plat_file_datasync(ed_file *f)
{
    int rc = valid(f);
    if (rc) return rc;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    struct inode *ino = f->ino;
    rc = ed_simfs_fault(ED_SIM_OP_DATASYNC);
    if (rc) {
        /* as Linux does after a writeback error: the pages stay readable but
         * clean, so no later datasync writes them */
        for (struct change *c = ino->ch_head; c; c = c->next)
            c->lost = true;
        return rc;
    }
    for (struct change *c = ino->ch_head; c; c = c->next)
        if (!c->lost) change_apply(&ino->dur, c);
    ed_simfs_changes_free(ino);
    ino->dur_reserve_end = ino->reserve_end;
    ed_simfs.st.n_datasyncs++;
    return ED_OK;
}

int ed_plat_file_reserve(ed_file *f, uint64_t off, uint64_t len)
{
    int rc = valid(f);
    if (rc) return rc;
    if (!(f->flags & ED_FILE_WRITE)) return ED_ERR_IO;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_RESERVE);
    if (rc) return rc;
    struct inode *ino = f->ino;
    uint64_t end = off + len;
    if (end <= ino->reserve_end) return ED_OK;
    if (!ed_simfs_fits(ino, ino->cur.len, end)) {
        ed_simfs.st.n_nospc++;
        return ED_ERR_NOSPC;
    }
    ino->reserve_end = end;
    ed_simfs_charge(ino);
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
    struct inode *d = ed_simfs.root;
    if (d == dir) return true;
    for (int i = 0; i < n; i++) {
        d = ed_simfs_ent_get(&d->cur_e, p->names[i]);
        if (!d) return false;
        if (d == dir) return true;
    }
    return false;
}

int ed_plat_path_rename(const char *from, const char *to)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_RENAME);
    if (rc) return rc;
    struct path pf, pt;
    struct inode *df, *dt;
    const char *nf, *nt;
    rc = ed_simfs_parent_of(from, &pf, &df, &nf);
    if (rc) return rc;
    rc = ed_simfs_parent_of(to, &pt, &dt, &nt);
    if (rc) return rc;
    struct inode *src = ed_simfs_ent_get(&df->cur_e, nf);
    if (!src) return ED_ERR_NOENT;
    struct inode *dst = ed_simfs_ent_get(&dt->cur_e, nt);
    if (dst == src) return ED_OK;
    if (src->is_dir) {
        if (dst && !dst->is_dir) return ED_ERR_NOENT; /* ENOTDIR */
        if (dst && dst->cur_e.n > 0) return ED_ERR_EXIST;
        if (is_inside(src, &pt, pt.n - 1)) return ED_ERR_INVAL;
    } else if (dst && dst->is_dir) {
        return ED_ERR_IO; /* EISDIR */
    }
    ed_simfs_ns_record(NS_RENAME, df, nf, dt, nt, src);
    src->nlink++; /* keep it charged while it moves */
    ed_simfs_link_del(df, nf);
    ed_simfs_link_set(dt, nt, src);
    src->nlink--;
    ed_simfs_charge(src);
    return ED_OK;
}

int ed_plat_path_unlink(const char *path)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_UNLINK);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = ed_simfs_parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_ERR_IO;
    if (rc) return rc;
    struct inode *ino = ed_simfs_ent_get(&dir->cur_e, name);
    if (!ino) return ED_ERR_NOENT;
    if (ino->is_dir) return ED_ERR_IO; /* EISDIR */
    ed_simfs_ns_record(NS_UNLINK, dir, name, NULL, NULL, ino);
    ed_simfs_link_del(dir, name);
    return ED_OK;
}

int ed_plat_path_stat(const char *path, bool *is_dir, uint64_t *size)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    struct inode *ino;
    rc = ed_simfs_lookup(path, &ino);
    if (rc) return rc;
    if (is_dir) *is_dir = ino->is_dir;
    if (size) *size = ino->is_dir ? BLOCK_LEN : ino->cur.len;
    return ED_OK;
}

/* The simulated file system has no owners: every file is private. */
int ed_plat_path_private(const char *path)
{
    return ed_plat_path_stat(path, NULL, NULL);
}

int ed_plat_dir_make(const char *path)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_MKDIR);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = ed_simfs_parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_OK; /* the root */
    if (rc) return rc;
    struct inode *ino = ed_simfs_ent_get(&dir->cur_e, name);
    if (ino) return ino->is_dir ? ED_OK : ED_ERR_EXIST;
    ino = ed_simfs_inode_new(true);
    ed_simfs_link_set(dir, name, ino);
    ed_simfs_ns_record(NS_LINK, dir, name, NULL, NULL, ino);
    return ED_OK;
}

int ed_plat_dir_remove(const char *path)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_RMDIR);
    if (rc) return rc;
    struct path p;
    struct inode *dir;
    const char *name;
    rc = ed_simfs_parent_of(path, &p, &dir, &name);
    if (rc == ED_ERR_INVAL && p.n == 0) return ED_ERR_BUSY;
    if (rc) return rc;
    struct inode *ino = ed_simfs_ent_get(&dir->cur_e, name);
    if (!ino || !ino->is_dir) return ED_ERR_NOENT;
    if (ino->cur_e.n > 0) return ED_ERR_EXIST;
    ed_simfs_ns_record(NS_UNLINK, dir, name, NULL, NULL, ino);
    ed_simfs_link_del(dir, name);
    return ED_OK;
}

int ed_plat_dir_sync(const char *path)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    rc = ed_simfs_mutation();
    if (rc) return rc;
    rc = ed_simfs_fault(ED_SIM_OP_DIRSYNC);
    if (rc) return rc;
    struct inode *dir;
    rc = ed_simfs_lookup(path, &dir);
    if (rc) return rc;
    if (!dir->is_dir) return ED_ERR_NOENT;
    for (struct nsop *op = ed_simfs.ns_head; op; op = op->next)
        if (op->dir == dir || op->dir2 == dir) op->synced = true;
    while (ed_simfs.ns_head && ed_simfs.ns_head->synced) {
        ed_simfs_ns_apply(ed_simfs.ns_head);
        ed_simfs_ns_pop();
    }
    ed_simfs.st.n_dirsyncs++;
    return ED_OK;
}

int ed_plat_dir_list(const char *path, ed_dir_cb cb, void *arg)
{
    int rc = ed_simfs_up();
    if (rc) return rc;
    struct inode *dir;
    rc = ed_simfs_lookup(path, &dir);
    if (rc) return rc;
    if (!dir->is_dir) return ED_ERR_NOENT;
    /* a snapshot in shuffled order: callers may change the folder meanwhile
     * and must not depend on any order */
    size_t n = dir->cur_e.n;
    struct entry *v = ed_simfs_xrealloc(NULL, n * sizeof *v);
    bool *d = ed_simfs_xrealloc(NULL, n * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        v[i].name = ed_simfs_xstrdup(dir->cur_e.v[i].name);
        d[i] = dir->cur_e.v[i].ino->is_dir;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ed_simfs_rnd(i);
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
    int rc = ed_simfs_up();
    if (rc) return rc;
    struct inode *ino;
    rc = ed_simfs_lookup(path, &ino);
    if (rc) return rc;
    uint64_t total = ed_simfs.limit ? ed_simfs.limit : UNLIMITED_LEN;
    if (free_len) *free_len = total > ed_simfs.usage ? total - ed_simfs.usage : 0;
    if (total_len) *total_len = total;
    return ED_OK;
}
