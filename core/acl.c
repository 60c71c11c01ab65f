/* The ACL store and authorizer (see core/acl.h): bindings in one array in
 * the order they were added, the file read whole and checked before
 * anything is taken from it, every change written as a new file that
 * replaces the old one, and an index the authorizer looks bindings up in,
 * so that its cost does not grow with the number of bindings: every
 * binding sorted by (resource type, pattern type, name, principal), so the
 * bindings of one name — and of one principal among them — are one run
 * found through a hash table of names, then by binary search among many
 * principals; and per resource type the distinct lengths of
 * PREFIXED names (the only prefixes of a name worth looking up). The
 * index is built for a new array before the file is written, and adopted
 * with it.
 *
 * File layout (big-endian; docs/format.md), frame of core/store_file.h:
 *   header  16 bytes: "EDAC", version u16 (1), reserved u16 (0),
 *           n_records u32, crc32c of the 12 bytes before it
 *   record  len u32, crc32c u32 of the body, body:
 *           resource_type u8, pattern_type u8, operation u8, permission u8,
 *           name_len u8, name, principal_len u8, principal, host_len u8, host
 * The file ends right after the last record. */
#define ED_LOG_MODULE "acl"
#include "core/acl.h"

#include "core/store_file.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACL_MAGIC    "EDAC"
#define ACL_VERSION  1
#define REC_MAX_BODY (7 + ED_ACL_MAX_NAME + ED_ACL_MAX_PRINCIPAL + ED_ACL_MAX_HOST)
#define FILE_MAX                                                                                   \
    (ED_STORE_FILE_HDR_LEN + (size_t)ED_ACL_MAX * (ED_STORE_FILE_REC_HDR + REC_MAX_BODY))
#define SUPER_MAX 64

struct entry {
    uint8_t res, pat, op, perm;
    uint8_t name_len, pr_len, host_len;
    char name[ED_ACL_MAX_NAME];
    char pr[ED_ACL_MAX_PRINCIPAL];
    char host[ED_ACL_MAX_HOST];
};

#define N_RES (ED_ACL_RES_TRANSACTIONAL_ID - ED_ACL_RES_TOPIC + 1)

/* A run of by_key holding one (resource type, pattern type, name). */
struct run {
    uint32_t lo, hi; /* hi 0: an empty slot */
};

struct index {
    const struct entry **by_key; /* every binding, sorted (above) */
    struct run *runs;            /* open addressing by name_hash, a power of two of slots */
    uint32_t n_slots;
    uint8_t plen[N_RES][ED_ACL_MAX_NAME]; /* distinct PREFIXED name lengths, ascending */
    uint16_t n_plen[N_RES];
};

struct ed_acl {
    struct ed_store_file_at at;
    struct entry *e;
    size_t n;
    struct index ix; /* of e */
    char *supers;    /* super.users, each principal NUL-terminated */
    size_t n_supers;
    bool allow_if_no_acl;
};

static bool same(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && memcmp(a, b, al) == 0;
}

static bool is_star(const char *s, size_t l)
{
    return l == 1 && s[0] == '*';
}

static void to_binding(const struct entry *e, struct ed_acl_binding *b)
{
    *b = (struct ed_acl_binding){e->res,      e->pat, e->op,     e->perm, e->name,
                                 e->name_len, e->pr,  e->pr_len, e->host, e->host_len};
}

static void from_binding(const struct ed_acl_binding *b, struct entry *e)
{
    memset(e, 0, sizeof *e);
    e->res = b->res_type;
    e->pat = b->pattern;
    e->op = b->op;
    e->perm = b->perm;
    e->name_len = (uint8_t)b->name_len;
    memcpy(e->name, b->name, b->name_len);
    e->pr_len = (uint8_t)b->principal_len;
    memcpy(e->pr, b->principal, b->principal_len);
    e->host_len = (uint8_t)b->host_len;
    memcpy(e->host, b->host, b->host_len);
}

static bool text_ok(const char *s, size_t l, size_t max)
{
    if (!s || l == 0 || l > max) return false;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

bool ed_acl_binding_ok(const struct ed_acl_binding *b, const char **why)
{
    if (b->res_type < ED_ACL_RES_TOPIC || b->res_type > ED_ACL_RES_TRANSACTIONAL_ID) {
        *why = "unknown or ANY resource type";
        return false;
    }
    if (b->pattern != ED_ACL_PAT_LITERAL && b->pattern != ED_ACL_PAT_PREFIXED) {
        *why = "the pattern type must be LITERAL or PREFIXED";
        return false;
    }
    if (b->op < ED_ACL_OP_ALL || b->op > ED_ACL_OP_IDEMPOTENT_WRITE) {
        *why = "unknown or ANY operation";
        return false;
    }
    if (b->perm != ED_ACL_PERM_DENY && b->perm != ED_ACL_PERM_ALLOW) {
        *why = "the permission must be ALLOW or DENY";
        return false;
    }
    if (!text_ok(b->name, b->name_len, ED_ACL_MAX_NAME)) {
        *why = "bad resource name";
        return false;
    }
    if (b->res_type == ED_ACL_RES_CLUSTER &&
        (b->pattern != ED_ACL_PAT_LITERAL ||
         !same(b->name, b->name_len, ED_ACL_CLUSTER_NAME, strlen(ED_ACL_CLUSTER_NAME)))) {
        *why = "the cluster resource is the literal kafka-cluster";
        return false;
    }
    const char *colon = b->principal ? memchr(b->principal, ':', b->principal_len) : NULL;
    if (!text_ok(b->principal, b->principal_len, ED_ACL_MAX_PRINCIPAL) || !colon ||
        colon == b->principal || (size_t)(colon - b->principal) + 1 == b->principal_len) {
        *why = "the principal must be TYPE:NAME, e.g. User:alice or User:*";
        return false;
    }
    if (!text_ok(b->host, b->host_len, ED_ACL_MAX_HOST)) {
        *why = "bad host";
        return false;
    }
    return true;
}

/* ---- filters (Kafka's AclBindingFilter) ---- */

static bool pattern_filter_matches(const struct ed_acl_binding *f, const struct entry *e)
{
    if (f->res_type != ED_ACL_RES_ANY && f->res_type != e->res) return false;
    switch (f->pattern) {
    case ED_ACL_PAT_ANY:
        return !f->name || same(f->name, f->name_len, e->name, e->name_len);
    case ED_ACL_PAT_MATCH:
        if (!f->name) return true;
        if (e->pat == ED_ACL_PAT_LITERAL)
            return same(f->name, f->name_len, e->name, e->name_len) ||
                   is_star(e->name, e->name_len);
        return f->name_len >= e->name_len && memcmp(f->name, e->name, e->name_len) == 0;
    default:
        return f->pattern == e->pat &&
               (!f->name || same(f->name, f->name_len, e->name, e->name_len));
    }
}

static bool filter_matches(const struct ed_acl_binding *f, const struct entry *e)
{
    return pattern_filter_matches(f, e) &&
           (!f->principal || same(f->principal, f->principal_len, e->pr, e->pr_len)) &&
           (!f->host || same(f->host, f->host_len, e->host, e->host_len)) &&
           (f->op == ED_ACL_OP_ANY || f->op == e->op) &&
           (f->perm == ED_ACL_PERM_ANY || f->perm == e->perm);
}

bool ed_acl_filter_matches(const struct ed_acl_binding *f, const struct ed_acl_binding *b)
{
    struct entry e;
    from_binding(b, &e);
    return filter_matches(f, &e);
}

/* ---- the index ---- */

static int cmp_text(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, ED_MIN(al, bl));
    return c ? c : (al > bl) - (al < bl);
}

/* e against the key (res, pat, name, principal); principal NULL compares
 * up to the name only. */
static int cmp_key(const struct entry *e, uint8_t res, uint8_t pat, const char *name, size_t nl,
                   const char *pr, size_t pl)
{
    if (e->res != res) return e->res < res ? -1 : 1;
    if (e->pat != pat) return e->pat < pat ? -1 : 1;
    int c = cmp_text(e->name, e->name_len, name, nl);
    return c || !pr ? c : cmp_text(e->pr, e->pr_len, pr, pl);
}

static int cmp_entries(const void *x, const void *y)
{
    const struct entry *a = *(const struct entry *const *)x, *b = *(const struct entry *const *)y;
    return cmp_key(a, b->res, b->pat, b->name, b->name_len, b->pr, b->pr_len);
}

/* The first position in [lo, hi) whose key is >= (upper: >) the given. */
static size_t bound(const struct index *ix, size_t lo, size_t hi, uint8_t res, uint8_t pat,
                    const char *name, size_t nl, const char *pr, size_t pl, bool upper)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(ix->by_key[mid], res, pat, name, nl, pr, pl);
        if (c < 0 || (upper && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t name_hash(uint8_t res, uint8_t pat, const char *name, size_t nl)
{
    uint32_t h = 2166136261u ^ res;
    h = (h * 16777619u) ^ pat;
    for (size_t i = 0; i < nl; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h;
}

/* The run of (res, pat, name): *lo == *hi when no binding has it. */
static void find_run(const struct index *ix, uint8_t res, uint8_t pat, const char *name, size_t nl,
                     size_t *lo, size_t *hi)
{
    *lo = *hi = 0;
    if (!ix->n_slots) return;
    for (uint32_t h = name_hash(res, pat, name, nl);; h++) {
        const struct run *r = &ix->runs[h & (ix->n_slots - 1)];
        if (!r->hi) return;
        if (cmp_key(ix->by_key[r->lo], res, pat, name, nl, NULL, 0) == 0) {
            *lo = r->lo;
            *hi = r->hi;
            return;
        }
    }
}

static void index_free(struct index *ix)
{
    ed_free(ix->by_key);
    ed_free(ix->runs);
    memset(ix, 0, sizeof *ix);
}

/* The hash table of runs: at least twice as many slots as bindings. */
static int index_runs(struct index *ix, size_t n)
{
    ix->n_slots = 8;
    while (ix->n_slots < 2 * n)
        ix->n_slots *= 2;
    ix->runs = ed_calloc(ix->n_slots, sizeof *ix->runs);
    if (!ix->runs) return ED_ERR_NOMEM;
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        const struct entry *e = ix->by_key[lo];
        for (hi = lo + 1; hi < n; hi++)
            if (cmp_key(ix->by_key[hi], e->res, e->pat, e->name, e->name_len, NULL, 0) != 0) break;
        uint32_t h = name_hash(e->res, e->pat, e->name, e->name_len);
        while (ix->runs[h & (ix->n_slots - 1)].hi)
            h++;
        ix->runs[h & (ix->n_slots - 1)] = (struct run){(uint32_t)lo, (uint32_t)hi};
    }
    return ED_OK;
}

static int index_build(struct index *ix, const struct entry *e, size_t n)
{
    memset(ix, 0, sizeof *ix);
    ix->by_key = ed_malloc((n ? n : 1) * sizeof *ix->by_key);
    if (!ix->by_key) return ED_ERR_NOMEM;
    bool seen[N_RES][ED_ACL_MAX_NAME + 1] = {{false}};
    for (size_t i = 0; i < n; i++) {
        ix->by_key[i] = &e[i];
        if (e[i].pat == ED_ACL_PAT_PREFIXED)
            seen[e[i].res - ED_ACL_RES_TOPIC][e[i].name_len] = true;
    }
    qsort(ix->by_key, n, sizeof *ix->by_key, cmp_entries);
    if (index_runs(ix, n) != ED_OK) {
        index_free(ix);
        return ED_ERR_NOMEM;
    }
    for (int r = 0; r < N_RES; r++)
        for (int l = 1; l <= ED_ACL_MAX_NAME; l++)
            if (seen[r][l]) ix->plen[r][ix->n_plen[r]++] = (uint8_t)l;
    return ED_OK;
}

/* ---- reading ---- */

static int take(const char *path, const uint8_t *b, size_t len, size_t *pos, char *out,
                uint8_t *out_len, size_t max)
{
    if (*pos >= len) return ED_ERR_CORRUPT_AT("%s: short record", path);
    size_t l = b[(*pos)++];
    if (l > max || len - *pos < l) return ED_ERR_CORRUPT_AT("%s: short record", path);
    memcpy(out, b + *pos, l);
    *out_len = (uint8_t)l;
    *pos += l;
    return ED_OK;
}

static int parse_record(const char *path, const uint8_t *b, size_t len, struct entry *e)
{
    if (len < 4) return ED_ERR_CORRUPT_AT("%s: short record", path);
    memset(e, 0, sizeof *e);
    e->res = b[0];
    e->pat = b[1];
    e->op = b[2];
    e->perm = b[3];
    size_t pos = 4;
    int rc = take(path, b, len, &pos, e->name, &e->name_len, ED_ACL_MAX_NAME);
    if (!rc) rc = take(path, b, len, &pos, e->pr, &e->pr_len, ED_ACL_MAX_PRINCIPAL);
    if (!rc) rc = take(path, b, len, &pos, e->host, &e->host_len, ED_ACL_MAX_HOST);
    if (rc) return rc;
    if (pos != len) return ED_ERR_CORRUPT_AT("%s: record length does not match its fields", path);
    struct ed_acl_binding bb;
    const char *why;
    to_binding(e, &bb);
    if (!ed_acl_binding_ok(&bb, &why)) return ED_ERR_CORRUPT_AT("%s: %s", path, why);
    return ED_OK;
}

static int parse_elem(const char *path, const uint8_t *body, size_t len, void *elems, uint32_t i)
{
    return parse_record(path, body, len, (struct entry *)elems + i);
}

/* Opens the store of dir from image (len bytes) or, when image is NULL,
 * from its file. */
static int open_with(const char *dir, const uint8_t *image, size_t len, ed_acl **out)
{
    static const struct ed_store_file_fmt fmt = {ED_ACL_FILE,          ACL_MAGIC,    ACL_VERSION,
                                                 ED_ACL_MAX,           REC_MAX_BODY, FILE_MAX,
                                                 sizeof(struct entry), parse_elem};
    ed_acl *a = ed_calloc(1, sizeof *a);
    if (!a) return ED_ERR_NOMEM;
    void *e;
    int rc = ed_store_file_open(&a->at, dir, &fmt, image, len, &e, &a->n);
    a->e = e;
    if (rc == ED_OK) rc = index_build(&a->ix, a->e, a->n);
    if (rc) {
        ed_acl_close(a);
        return rc;
    }
    *out = a;
    return ED_OK;
}

int ed_acl_open(const char *dir, ed_acl **out)
{
    return open_with(dir, NULL, 0, out);
}

int ed_acl_open_image(const char *dir, const uint8_t *image, size_t len, ed_acl **out)
{
    static const uint8_t empty[1];
    return open_with(dir, image ? image : empty, len, out);
}

void ed_acl_close(ed_acl *a)
{
    if (!a) return;
    index_free(&a->ix);
    ed_free(a->e);
    ed_free(a->supers);
    ed_store_file_at_free(&a->at);
    ed_free(a);
}

int ed_acl_configure(ed_acl *a, const char *super_users, bool allow_if_no_acl)
{
    a->allow_if_no_acl = allow_if_no_acl;
    ed_free(a->supers);
    a->supers = NULL;
    a->n_supers = 0;
    if (!super_users || !*super_users) return ED_OK;
    size_t l = strlen(super_users);
    char *s = ed_malloc(l + 1);
    if (!s) return ED_ERR_NOMEM;
    /* "User:a; User:b": split on ';', trim blanks, drop empty items */
    size_t o = 0;
    for (const char *p = super_users; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ';');
        if (!end) end = p + strlen(p);
        const char *t = end;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > p) {
            memcpy(s + o, p, (size_t)(t - p));
            o += (size_t)(t - p);
            s[o++] = '\0';
            a->n_supers++;
        }
        p = *end ? end + 1 : end;
    }
    a->supers = s;
    return ED_OK;
}

bool ed_acl_is_super(const ed_acl *a, const char *principal)
{
    const char *s = a->supers;
    for (size_t i = 0; i < a->n_supers; i++, s += strlen(s) + 1)
        if (strcmp(s, principal) == 0) return true;
    return false;
}

size_t ed_acl_count(const ed_acl *a)
{
    return a->n;
}

void ed_acl_get(const ed_acl *a, size_t i, struct ed_acl_binding *out)
{
    ED_ASSERT(i < a->n);
    to_binding(&a->e[i], out);
}

/* ---- the authorizer ---- */

/* Whether an ALLOW of op grants want: the operation itself, ALL, or one
 * that implies it. */
static bool allow_grants(uint8_t op, enum ed_acl_op want)
{
    if (op == want || op == ED_ACL_OP_ALL) return true;
    if (want == ED_ACL_OP_DESCRIBE)
        return op == ED_ACL_OP_READ || op == ED_ACL_OP_WRITE || op == ED_ACL_OP_DELETE ||
               op == ED_ACL_OP_ALTER;
    if (want == ED_ACL_OP_DESCRIBE_CONFIGS) return op == ED_ACL_OP_ALTER_CONFIGS;
    return false;
}

/* One request's question and what the bindings said so far. */
struct ask {
    const char *pr, *host;
    size_t pl, hl;
    enum ed_acl_op op;
    bool any, allowed, denied;
};

#define SHORT_RUN 8 /* runs up to this long are scanned, longer ones searched */

static bool principal_applies(const struct entry *e, const struct ask *q)
{
    return same(e->pr, e->pr_len, q->pr, q->pl) || same(e->pr, e->pr_len, "User:*", 6);
}

/* The bindings at [lo, hi) of the index, of the caller or User:*. */
static void check_run(const struct index *ix, size_t lo, size_t hi, struct ask *q)
{
    for (size_t i = lo; i < hi && !q->denied; i++) {
        const struct entry *e = ix->by_key[i];
        if (!principal_applies(e, q)) continue;
        if (!same(e->host, e->host_len, q->host, q->hl) && !is_star(e->host, e->host_len)) continue;
        if (e->perm == ED_ACL_PERM_DENY)
            q->denied = e->op == q->op || e->op == ED_ACL_OP_ALL;
        else if (allow_grants(e->op, q->op))
            q->allowed = true;
    }
}

/* The bindings of pattern (res, pat, name): the caller's and User:*. */
static void check_name(const ed_acl *a, uint8_t res, uint8_t pat, const char *name, size_t nl,
                       struct ask *q)
{
    const struct index *ix = &a->ix;
    size_t lo, hi;
    find_run(ix, res, pat, name, nl, &lo, &hi);
    if (lo == hi) return;
    q->any = true;
    if (hi - lo <= SHORT_RUN) {
        check_run(ix, lo, hi, q);
        return;
    }
    /* many principals on one name: their runs by binary search */
    static const char everyone[] = "User:*";
    for (int k = 0; k < 2 && !q->denied; k++) {
        const char *pr = k ? everyone : q->pr;
        size_t pl = k ? sizeof everyone - 1 : q->pl;
        if (k && same(q->pr, q->pl, everyone, pl)) break;
        size_t l2 = bound(ix, lo, hi, res, pat, name, nl, pr, pl, false);
        check_run(ix, l2, bound(ix, l2, hi, res, pat, name, nl, pr, pl, true), q);
    }
}

bool ed_acl_authorize(const ed_acl *a, const char *principal, const char *host, enum ed_acl_op op,
                      enum ed_acl_res res, const char *name, size_t name_len)
{
    if (ed_acl_is_super(a, principal)) return true;
    if (res < ED_ACL_RES_TOPIC || res > ED_ACL_RES_TRANSACTIONAL_ID) return a->allow_if_no_acl;
    struct ask q = {principal, host, strlen(principal), strlen(host), op, false, false, false};
    /* LITERAL: the name and "*"; PREFIXED: the name's prefixes that some
     * binding of this type has the length of */
    check_name(a, res, ED_ACL_PAT_LITERAL, name, name_len, &q);
    if (!is_star(name, name_len)) check_name(a, res, ED_ACL_PAT_LITERAL, "*", 1, &q);
    int r = res - ED_ACL_RES_TOPIC;
    for (int i = 0; i < a->ix.n_plen[r] && a->ix.plen[r][i] <= name_len && !q.denied; i++)
        check_name(a, res, ED_ACL_PAT_PREFIXED, name, a->ix.plen[r][i], &q);
    return !q.denied && (q.allowed || (!q.any && a->allow_if_no_acl));
}

bool ed_acl_authorize_any(const ed_acl *a, const char *principal, const char *host,
                          enum ed_acl_op op, enum ed_acl_res res)
{
    if (ed_acl_is_super(a, principal)) return true;
    size_t pl = strlen(principal), hl = strlen(host);
    bool any = false, allowed = false;
    for (size_t i = 0; i < a->n; i++) {
        const struct entry *e = &a->e[i];
        if (e->res != res) continue;
        any = true;
        if (!same(e->pr, e->pr_len, principal, pl) && !same(e->pr, e->pr_len, "User:*", 6))
            continue;
        if (!same(e->host, e->host_len, host, hl) && !is_star(e->host, e->host_len)) continue;
        if (e->perm == ED_ACL_PERM_DENY) {
            if ((e->op == op || e->op == ED_ACL_OP_ALL) && e->pat == ED_ACL_PAT_LITERAL &&
                is_star(e->name, e->name_len))
                return false;
        } else if (allow_grants(e->op, op)) {
            allowed = true;
        }
    }
    return allowed || (!any && a->allow_if_no_acl);
}

void ed_acl_peer_host(const char *peer, char *out, size_t cap)
{
    const char *end = strrchr(peer, ':');
    size_t l = end ? (size_t)(end - peer) : strlen(peer);
    if (l >= 2 && peer[0] == '[' && peer[l - 1] == ']') {
        peer++;
        l -= 2;
    }
    if (l >= cap) l = 0;
    memcpy(out, peer, l);
    out[l] = '\0';
}

bool ed_acl_authorize_user(const ed_acl *a, const char *user, const char *peer, enum ed_acl_op op,
                           enum ed_acl_res res, const char *name, size_t name_len)
{
    if (!a) return true;
    char pr[ED_ACL_MAX_PRINCIPAL + 1], host[ED_ACL_MAX_HOST];
    snprintf(pr, sizeof pr, "User:%s", user ? user : "ANONYMOUS");
    ed_acl_peer_host(peer, host, sizeof host);
    return ed_acl_authorize(a, pr, host, op, res, name, name_len);
}

/* ---- changes: build the new array, write it, then adopt it ---- */

static size_t put_text(uint8_t *r, const char *s, uint8_t l)
{
    r[0] = l;
    memcpy(r + 1, s, l);
    return 1u + l;
}

static int write_file(ed_acl *a, const struct entry *e, size_t n)
{
    uint8_t *b = ed_malloc(ED_STORE_FILE_HDR_LEN + n * (ED_STORE_FILE_REC_HDR + REC_MAX_BODY));
    if (!b) return ED_ERR_NOMEM;
    ed_store_file_put_header(b, ACL_MAGIC, ACL_VERSION, (uint32_t)n);
    size_t pos = ED_STORE_FILE_HDR_LEN;
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = b + pos + ED_STORE_FILE_REC_HDR;
        r[0] = e[i].res;
        r[1] = e[i].pat;
        r[2] = e[i].op;
        r[3] = e[i].perm;
        size_t l = 4;
        l += put_text(r + l, e[i].name, e[i].name_len);
        l += put_text(r + l, e[i].pr, e[i].pr_len);
        l += put_text(r + l, e[i].host, e[i].host_len);
        pos += ed_store_file_put_record(b + pos, l);
    }
    int rc = ed_store_file_save(&a->at, b, pos);
    ed_free(b);
    return rc;
}

static int commit(ed_acl *a, struct entry *e, size_t n)
{
    struct index ix;
    int rc = index_build(&ix, e, n);
    if (rc == ED_OK) rc = write_file(a, e, n);
    if (rc) {
        index_free(&ix);
        ed_free(e);
        return rc;
    }
    index_free(&a->ix);
    a->ix = ix;
    ed_free(a->e);
    a->e = e;
    a->n = n;
    return ED_OK;
}

static bool same_entry(const struct entry *x, const struct entry *y)
{
    return x->res == y->res && x->pat == y->pat && x->op == y->op && x->perm == y->perm &&
           same(x->name, x->name_len, y->name, y->name_len) &&
           same(x->pr, x->pr_len, y->pr, y->pr_len) &&
           same(x->host, x->host_len, y->host, y->host_len);
}

int ed_acl_add(ed_acl *a, const struct ed_acl_binding *b, size_t n)
{
    const char *why;
    for (size_t i = 0; i < n; i++)
        if (!ed_acl_binding_ok(&b[i], &why)) return ED_ERR_INVAL;
    if (n > ED_ACL_MAX) return ED_ERR_TOOBIG;
    struct entry *e = ed_calloc(a->n + n ? a->n + n : 1, sizeof *e);
    if (!e) return ED_ERR_NOMEM;
    if (a->n) memcpy(e, a->e, a->n * sizeof *e);
    size_t m = a->n;
    for (size_t i = 0; i < n; i++) {
        from_binding(&b[i], &e[m]);
        bool dup = false;
        for (size_t j = 0; j < m && !dup; j++)
            dup = same_entry(&e[j], &e[m]);
        if (!dup) m++;
    }
    if (m > ED_ACL_MAX) {
        ed_free(e);
        return ED_ERR_TOOBIG;
    }
    if (m == a->n) {
        ed_free(e);
        return ED_OK;
    }
    return commit(a, e, m);
}

int ed_acl_remove(ed_acl *a, const struct ed_acl_binding *f, size_t n, size_t *n_removed)
{
    *n_removed = 0;
    struct entry *e = ed_calloc(a->n ? a->n : 1, sizeof *e);
    if (!e) return ED_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < a->n; i++) {
        bool hit = false;
        for (size_t j = 0; j < n && !hit; j++)
            hit = filter_matches(&f[j], &a->e[i]);
        if (!hit) e[m++] = a->e[i];
    }
    if (m == a->n) {
        ed_free(e);
        return ED_OK;
    }
    size_t removed = a->n - m;
    int rc = commit(a, e, m);
    if (rc == ED_OK) *n_removed = removed;
    return rc;
}
