/* Listing a partition folder (see segdir.h): one walk of the folder, names
 * parsed once, segment files sorted by base offset and kind. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "storage"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/segdir.h"

static const char *const suffixes[] = {".log", ".index", ".timeindex"};

bool ed_segdir_parse_name(const char *name, const char *suffix, int64_t *base)
{
    size_t n = strlen(name), sn = strlen(suffix);
    if (n != ED_SEG_DIGITS + sn || strcmp(name + ED_SEG_DIGITS, suffix) != 0) return false;
    uint64_t v = 0;
    for (int i = 0; i < ED_SEG_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10) return false;
        v = v * 10 + d;
    }
    *base = (int64_t)v;
    return true;
}

int ed_segdir_path(char *buf, size_t cap, const char *dir, int64_t base, const char *suffix)
{
    int n = snprintf(buf, cap, "%s/%020" PRId64 "%s", dir, base, suffix);
    if (n >= 0 && (size_t)n < cap) return ED_OK;
    if (cap) buf[0] = '\0';
    return ED_ERR_INVAL;
}

enum ed_segdir_kind ed_segdir_kind_of(const char *name, int64_t *base)
{
    for (int k = ED_SEGDIR_LOG; k < ED_SEGDIR_OTHER; k++)
        if (ed_segdir_parse_name(name, suffixes[k], base)) return (enum ed_segdir_kind)k;
    *base = -1;
    return ED_SEGDIR_OTHER;
}

/* Growable arrays while the folder is walked. */
struct walk {
    struct ed_segdir *l;
    uint32_t cap_files, cap_dirs;
    int err;
};

static int grow(void **v, uint32_t n, uint32_t *cap, size_t elem)
{
    if (n < *cap) return ED_OK;
    uint32_t c = *cap ? *cap * 2 : 16;
    void *p = ed_realloc(*v, c * elem);
    if (!p) return ED_ERR_NOMEM;
    *v = p;
    *cap = c;
    return ED_OK;
}

static int walk_cb(void *arg, const char *name, bool is_dir)
{
    struct walk *w = arg;
    struct ed_segdir *l = w->l;
    char *copy = ed_strdup(name);
    if (!copy) return w->err = ED_ERR_NOMEM;
    if (is_dir) {
        w->err = grow((void **)&l->dirs, l->n_dirs, &w->cap_dirs, sizeof *l->dirs);
        if (w->err == ED_OK) l->dirs[l->n_dirs++] = copy;
    } else {
        w->err = grow((void **)&l->files, l->n_files, &w->cap_files, sizeof *l->files);
        if (w->err == ED_OK) {
            struct ed_segdir_file *f = &l->files[l->n_files++];
            f->name = copy;
            f->kind = ed_segdir_kind_of(name, &f->base);
        }
    }
    if (w->err != ED_OK) ed_free(copy);
    return w->err;
}

static int cmp_files(const void *a, const void *b)
{
    const struct ed_segdir_file *x = a, *y = b;
    bool xo = x->kind == ED_SEGDIR_OTHER, yo = y->kind == ED_SEGDIR_OTHER;
    if (xo || yo) return xo != yo ? (xo ? 1 : -1) : strcmp(x->name, y->name);
    if (x->base != y->base) return x->base < y->base ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ed_segdir_list(const char *dir, struct ed_segdir *out)
{
    memset(out, 0, sizeof *out);
    struct walk w = {out, 0, 0, ED_OK};
    int rc = ed_plat_dir_list(dir, walk_cb, &w);
    if (rc == ED_OK) rc = w.err;
    if (rc == ED_OK && out->n_files) {
        qsort(out->files, out->n_files, sizeof *out->files, cmp_files);
        uint32_t n_logs = 0;
        while (out->n_segment_files < out->n_files &&
               out->files[out->n_segment_files].kind != ED_SEGDIR_OTHER)
            n_logs += out->files[out->n_segment_files++].kind == ED_SEGDIR_LOG;
        if (n_logs && !(out->bases = ed_malloc(n_logs * sizeof *out->bases))) rc = ED_ERR_NOMEM;
        for (uint32_t i = 0; rc == ED_OK && i < out->n_segment_files; i++)
            if (out->files[i].kind == ED_SEGDIR_LOG)
                out->bases[out->n_bases++] = out->files[i].base;
    }
    if (rc == ED_OK && out->n_dirs) qsort(out->dirs, out->n_dirs, sizeof *out->dirs, cmp_names);
    if (rc != ED_OK) ed_segdir_free(out);
    return rc;
}

void ed_segdir_free(struct ed_segdir *l)
{
    for (uint32_t i = 0; i < l->n_files; i++)
        ed_free(l->files[i].name);
    for (uint32_t i = 0; i < l->n_dirs; i++)
        ed_free(l->dirs[i]);
    ed_free(l->files);
    ed_free(l->bases);
    ed_free(l->dirs);
    memset(l, 0, sizeof *l);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

bool ed_segdir_has_log(const struct ed_segdir *l, int64_t base)
{
    return l->n_bases > 0 && bsearch(&base, l->bases, l->n_bases, sizeof *l->bases, cmp_i64);
}

int ed_segdir_remove(const char *dir)
{
    struct ed_segdir l;
    int rc = ed_segdir_list(dir, &l);
    for (uint32_t i = 0; i < l.n_files; i++) {
        char p[ED_STORAGE_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, l.files[i].name);
        int urc = ed_plat_path_unlink(p);
        if (urc != ED_OK && urc != ED_ERR_NOENT && rc == ED_OK) rc = urc;
    }
    ed_segdir_free(&l);
    if (rc == ED_OK) rc = ed_plat_dir_remove(dir);
    if (rc != ED_OK) ED_LOG_ERR("cannot remove folder %s: %s", dir, ed_strerror(rc));
    return rc;
}
