/* Internals shared by the simulated file system's files (fs.c: state,
 * inodes, folder change log, paths and faults; fs_io.c: the port's file
 * and folder calls; fs_crash.c: power cuts and test helpers). */
#ifndef ED_PLATFORM_SIM_FS_INT_H
#define ED_PLATFORM_SIM_FS_INT_H

#include "platform/platform.h"
#include "platform/sim/sim.h"
#include "platform/sim/sim_int.h"

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

/* The whole simulated machine's file system state. */
struct ed_simfs {
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
};
extern struct ed_simfs ed_simfs;

struct path {
    int n;
    char names[MAX_DEPTH][NAME_MAX_LEN + 1];
};

uint64_t ed_simfs_alloc_len(const struct inode *ino, uint64_t size, uint64_t reserve_end);
void ed_simfs_buf_copy(struct buf *to, const struct buf *from);
/* Sets the size; new bytes read as zeros. */
void ed_simfs_buf_resize(struct buf *b, uint64_t len);
void ed_simfs_buf_write(struct buf *b, uint64_t off, const uint8_t *data, uint64_t len);
void ed_simfs_changes_free(struct inode *ino);
/* Re-charges ino against the disk: files that are named or open use space. */
void ed_simfs_charge(struct inode *ino);
void ed_simfs_crash(void);
void ed_simfs_ensure_init(void);
void ed_simfs_ent_copy(struct entries *to, const struct entries *from);
struct inode *ed_simfs_ent_get(const struct entries *e, const char *name);
/* The injected failure of this call, if any. */
int ed_simfs_fault(enum ed_sim_op op);
/* Would ino, grown to size/reserve_end, still fit on the disk? */
bool ed_simfs_fits(const struct inode *ino, uint64_t size, uint64_t reserve_end);
void ed_simfs_gc(void);
struct inode *ed_simfs_inode_new(bool is_dir);
void ed_simfs_invalidate_handles(void);
void ed_simfs_link_del(struct inode *dir, const char *name);
/* Current entry changes keep link counts (and so disk charges) right. */
void ed_simfs_link_set(struct inode *dir, const char *name, struct inode *ino);
/* The inode a path names (the root for "/"). */
int ed_simfs_lookup(const char *path, struct inode **out);
/* Counts a mutating call; the armed crash point cuts the power before it. */
int ed_simfs_mutation(void);
/* Applies a change to the durable entries. A change whose source is not
 * there (because an earlier unsynced change was lost) does nothing. */
void ed_simfs_ns_apply(const struct nsop *op);
void ed_simfs_ns_pop(void);
void ed_simfs_ns_record(int kind, struct inode *dir, const char *name, struct inode *dir2,
                        const char *name2, struct inode *ino);
/* Resolves the parent folder and last name of a path (not the root). */
int ed_simfs_parent_of(const char *path, struct path *p, struct inode **dir, const char **name);
uint64_t ed_simfs_rnd(uint64_t n);
/* ED_ERR_IO while the machine is down. */
int ed_simfs_up(void);
void *ed_simfs_xrealloc(void *p, size_t len);
char *ed_simfs_xstrdup(const char *s);

#endif
