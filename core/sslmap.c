/* Kafka's ssl.principal.mapping.rules (see sslmap.h): the rule list
 * splitter and parser as Kafka's SslPrincipalMapper reads them, a small
 * backtracking matcher for the Java regular expressions rules use, and
 * replaceAll with Java's replacement syntax. */
#include "core/sslmap.h"
#include "platform/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32   /* nested groups */
#define MAX_REPS  1000 /* {n,m} bounds */
#define UNSET     SIZE_MAX

enum ntype { N_CHAR, N_ANY, N_SET, N_GROUP, N_BOL, N_EOL };

struct seq;

struct node {
    uint8_t type;
    bool lazy;
    uint8_t ch;
    int group;    /* N_GROUP: capture number, 0 = not capturing */
    int min, max; /* repetitions; max -1 = unbounded */
    uint8_t set[32];
    struct seq *alts; /* N_GROUP */
    int n_alts;
};

struct seq {
    struct node *nodes;
    int n;
};

/* A replacement piece: text (group -1) or a group's match. */
struct piece {
    int group;
    size_t off, len; /* into the rule's lit */
};

struct rule {
    bool is_default;
    char fold; /* 0, 'L', 'U' */
    int n_groups;
    struct node root; /* the pattern: a group of alternatives */
    char *lit;
    struct piece *pieces;
    int n_pieces;
};

struct ed_sslmap {
    struct rule rules[ED_SSLMAP_MAX_RULES];
    int n;
};

/* ---- patterns ---- */

struct parser {
    const char *p, *end;
    int n_groups, depth;
    char *why;
    size_t why_len;
};

static int fail(struct parser *ps, const char *what)
{
    if (ps->why && ps->why_len) snprintf(ps->why, ps->why_len, "%s", what);
    return ED_ERR_INVAL;
}

static void set_add(uint8_t *set, unsigned c)
{
    set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool set_has(const uint8_t *set, unsigned c)
{
    return (set[c >> 3] >> (c & 7)) & 1;
}

static void set_range(uint8_t *set, unsigned lo, unsigned hi)
{
    for (unsigned c = lo; c <= hi; c++)
        set_add(set, c);
}

/* \d \w \s (negated: \D \W \S), as Java's ASCII classes. */
static void set_class(uint8_t *set, char k)
{
    uint8_t s[32] = {0};
    char lk = (char)(k | 0x20);
    if (lk == 'd') set_range(s, '0', '9');
    if (lk == 'w') {
        set_range(s, '0', '9');
        set_range(s, 'a', 'z');
        set_range(s, 'A', 'Z');
        set_add(s, '_');
    }
    if (lk == 's') {
        set_range(s, '\t', '\r'); /* \t \n \v \f \r */
        set_add(s, ' ');
    }
    bool neg = k >= 'A' && k <= 'Z';
    for (int i = 0; i < 32; i++)
        set[i] |= neg ? (uint8_t)~s[i] : s[i];
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* After a backslash: one byte in *ch, or a class added to set (*is_set). */
static int parse_escape(struct parser *ps, uint8_t *ch, uint8_t *set, bool *is_set)
{
    if (ps->p == ps->end) return fail(ps, "a backslash ends the pattern");
    char c = *ps->p++;
    *is_set = false;
    if (c && strchr("dDwWsS", c)) {
        set_class(set, c);
        *is_set = true;
        return ED_OK;
    }
    static const char from[] = "tnrfae", to[] = "\t\n\r\f\a\x1b";
    const char *k = strchr(from, c);
    if (k && c) {
        *ch = (uint8_t)to[k - from];
        return ED_OK;
    }
    if (is_alnum(c))
        return fail(
            ps,
            "an escape Eddy does not support (\\d \\w \\s \\t \\n \\r \\f, or \\ before a symbol)");
    *ch = (uint8_t)c;
    return ED_OK;
}

static int parse_class(struct parser *ps, struct node *n)
{
    n->type = N_SET;
    bool neg = ps->p < ps->end && *ps->p == '^';
    if (neg) ps->p++;
    if (ps->p < ps->end && *ps->p == ']') return fail(ps, "a class starting with ']'");
    for (;;) {
        if (ps->p == ps->end) return fail(ps, "a class without its ']'");
        char c = *ps->p++;
        if (c == ']') break;
        if (c == '[' || (c == '&' && ps->p < ps->end && *ps->p == '&'))
            return fail(ps, "nested classes and && are not supported");
        uint8_t lo = (uint8_t)c;
        if (c == '\\') {
            bool is_set;
            int rc = parse_escape(ps, &lo, n->set, &is_set);
            if (rc != ED_OK) return rc;
            if (is_set) continue;
        }
        if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] != ']') {
            ps->p++;
            uint8_t hi = (uint8_t)*ps->p++;
            if (hi == '\\') {
                bool is_set;
                int rc = parse_escape(ps, &hi, n->set, &is_set);
                if (rc != ED_OK) return rc;
                if (is_set) return fail(ps, "a range ending in a class");
            }
            if (hi < lo) return fail(ps, "a range out of order");
            set_range(n->set, lo, hi);
        } else {
            set_add(n->set, lo);
        }
    }
    if (neg)
        for (int i = 0; i < 32; i++)
            n->set[i] = (uint8_t)~n->set[i];
    return ED_OK;
}

static int parse_alts(struct parser *ps, struct node *g);

static bool parse_num(struct parser *ps, int *out)
{
    int v = 0;
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && v <= MAX_REPS)
        v = v * 10 + (*ps->p++ - '0');
    *out = v;
    return ps->p > start && v <= MAX_REPS;
}

static int parse_quant(struct parser *ps, struct node *n)
{
    n->min = n->max = 1;
    if (ps->p == ps->end) return ED_OK;
    char c = *ps->p;
    if (c == '*' || c == '+' || c == '?') {
        ps->p++;
        n->min = c == '+' ? 1 : 0;
        n->max = c == '?' ? 1 : -1;
    } else if (c == '{') {
        ps->p++;
        if (!parse_num(ps, &n->min)) return fail(ps, "a bad {n,m} repetition");
        n->max = n->min;
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            n->max = -1;
            if (ps->p < ps->end && *ps->p != '}' && !parse_num(ps, &n->max))
                return fail(ps, "a bad {n,m} repetition");
        }
        if (ps->p == ps->end || *ps->p++ != '}' || (n->max >= 0 && n->max < n->min))
            return fail(ps, "a bad {n,m} repetition");
    } else {
        return ED_OK;
    }
    if (n->type == N_BOL || n->type == N_EOL) return fail(ps, "a repeated ^ or $");
    if (ps->p < ps->end && *ps->p == '?') {
        n->lazy = true;
        ps->p++;
    } else if (ps->p < ps->end && *ps->p == '+') {
        return fail(ps, "possessive quantifiers are not supported");
    }
    return ED_OK;
}

static int parse_atom(struct parser *ps, struct node *n)
{
    char c = *ps->p++;
    switch (c) {
    case '(':
        if (ps->p < ps->end && *ps->p == '?') {
            if (ps->end - ps->p < 2 || ps->p[1] != ':')
                return fail(ps, "only (...) and (?:...) groups are supported");
            ps->p += 2;
        } else {
            if (++ps->n_groups > ED_SSLMAP_MAX_GROUPS) return fail(ps, "too many groups");
            n->group = ps->n_groups;
        }
        if (++ps->depth > MAX_DEPTH) return fail(ps, "groups nested too deep");
        n->type = N_GROUP;
        int rc = parse_alts(ps, n);
        if (rc != ED_OK) return rc;
        if (ps->p == ps->end || *ps->p != ')') return fail(ps, "a group without its ')'");
        ps->p++;
        ps->depth--;
        return ED_OK;
    case '[':
        return parse_class(ps, n);
    case '.':
        n->type = N_ANY;
        return ED_OK;
    case '^':
        n->type = N_BOL;
        return ED_OK;
    case '$':
        n->type = N_EOL;
        return ED_OK;
    case '*':
    case '+':
    case '?':
    case '{':
        return fail(ps, "a repetition of nothing");
    case '\\': {
        bool is_set = false;
        int erc = parse_escape(ps, &n->ch, n->set, &is_set);
        n->type = is_set ? N_SET : N_CHAR;
        return erc;
    }
    default:
        n->type = N_CHAR;
        n->ch = (uint8_t)c;
        return ED_OK;
    }
}

static int seq_push(struct seq *q, struct node **out)
{
    struct node *grown = ed_realloc(q->nodes, (size_t)(q->n + 1) * sizeof *grown);
    if (!grown) return ED_ERR_NOMEM;
    q->nodes = grown;
    *out = memset(&q->nodes[q->n++], 0, sizeof **out);
    return ED_OK;
}

static int parse_seq(struct parser *ps, struct seq *q)
{
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        struct node *n;
        int rc = seq_push(q, &n);
        if (rc == ED_OK) rc = parse_atom(ps, n);
        if (rc == ED_OK) rc = parse_quant(ps, n);
        if (rc != ED_OK) return rc;
    }
    return ED_OK;
}

static int parse_alts(struct parser *ps, struct node *g)
{
    for (;;) {
        struct seq *grown = ed_realloc(g->alts, (size_t)(g->n_alts + 1) * sizeof *grown);
        if (!grown) return ED_ERR_NOMEM;
        g->alts = grown;
        struct seq *q = &g->alts[g->n_alts++];
        memset(q, 0, sizeof *q);
        int rc = parse_seq(ps, q);
        if (rc != ED_OK) return rc;
        if (ps->p == ps->end || *ps->p != '|') return ED_OK;
        ps->p++;
    }
}

static void node_fini(struct node *n)
{
    for (int a = 0; a < n->n_alts; a++) {
        for (int i = 0; i < n->alts[a].n; i++)
            node_fini(&n->alts[a].nodes[i]);
        ed_free(n->alts[a].nodes);
    }
    ed_free(n->alts);
}

/* ---- matching ---- */

enum ktype { K_REP, K_CLOSE };

/* What follows once a node matched: the rest of a repetition (K_REP) or
 * the end of a capturing group (K_CLOSE), then next. */
struct cont {
    enum ktype type;
    const struct seq *q;
    int i, count;
    size_t start; /* K_REP: where the iteration began; K_CLOSE: the group's start */
    int group;
    const struct cont *next;
};

struct ctx {
    const uint8_t *s;
    size_t len;
    bool full; /* the match must end at len */
    long steps;
    size_t end;
    size_t cap[2 * (ED_SSLMAP_MAX_GROUPS + 1)];
};

static bool m_seq(struct ctx *x, const struct seq *q, int i, size_t pos, const struct cont *k);

static bool run_k(struct ctx *x, const struct cont *k, size_t pos);

static bool m_once(struct ctx *x, const struct node *n, size_t pos, const struct cont *after)
{
    if (n->type == N_GROUP) {
        struct cont close = {K_CLOSE, NULL, 0, 0, pos, n->group, after};
        for (int a = 0; a < n->n_alts; a++)
            if (m_seq(x, &n->alts[a], 0, pos, n->group ? &close : after)) return true;
        return false;
    }
    if (pos >= x->len) return false;
    uint8_t c = x->s[pos];
    bool ok = n->type == N_CHAR  ? c == n->ch
              : n->type == N_ANY ? c != '\n' && c != '\r'
                                 : set_has(n->set, c);
    return ok && run_k(x, after, pos + 1);
}

static bool m_rep(struct ctx *x, const struct seq *q, int i, int count, size_t pos,
                  const struct cont *next)
{
    if (++x->steps > ED_SSLMAP_MAX_STEPS) return false;
    const struct node *n = &q->nodes[i];
    struct cont again = {K_REP, q, i, count + 1, pos, 0, next};
    bool more = n->max < 0 || count < n->max, stop = count >= n->min;
    if (n->lazy) {
        if (stop && m_seq(x, q, i + 1, pos, next)) return true;
        return more && m_once(x, n, pos, &again);
    }
    if (more && m_once(x, n, pos, &again)) return true;
    return stop && m_seq(x, q, i + 1, pos, next);
}

static bool m_seq(struct ctx *x, const struct seq *q, int i, size_t pos, const struct cont *k)
{
    if (++x->steps > ED_SSLMAP_MAX_STEPS) return false;
    if (i == q->n) return run_k(x, k, pos);
    const struct node *n = &q->nodes[i];
    if (n->type == N_BOL) return pos == 0 && m_seq(x, q, i + 1, pos, k);
    if (n->type == N_EOL) /* Java: the end, or before a final line break */
        return (pos == x->len || (pos + 1 == x->len && x->s[pos] == '\n')) &&
               m_seq(x, q, i + 1, pos, k);
    return m_rep(x, q, i, 0, pos, k);
}

static bool run_k(struct ctx *x, const struct cont *k, size_t pos)
{
    if (!k) {
        if (x->full && pos != x->len) return false;
        x->end = pos;
        return true;
    }
    if (k->type == K_REP) {
        /* an empty iteration beyond the minimum would loop: not taken */
        if (pos == k->start && k->count > k->q->nodes[k->i].min) return false;
        return m_rep(x, k->q, k->i, k->count, pos, k->next);
    }
    size_t *c = &x->cap[2 * k->group];
    size_t was0 = c[0], was1 = c[1];
    c[0] = k->start;
    c[1] = pos;
    if (run_k(x, k->next, pos)) return true;
    c[0] = was0;
    c[1] = was1;
    return false;
}

/* A match of the rule's pattern starting at start: x->end, x->cap. */
static bool match_at(struct ctx *x, const struct rule *r, size_t start)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(x->cap); i++)
        x->cap[i] = UNSET;
    for (int a = 0; a < r->root.n_alts; a++)
        if (m_seq(x, &r->root.alts[a], 0, start, NULL)) {
            x->cap[0] = start;
            x->cap[1] = x->end;
            return true;
        }
    return false;
}

/* ---- rules ---- */

/* Java's \s. */
static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Whether \s*(,|$) matches at q. */
static bool at_sep(const char *s, size_t q, size_t len)
{
    while (q < len && is_space(s[q]))
        q++;
    return q == len || s[q] == ',';
}

/* Kafka's ((\\.|[^\\/])*): from q to the first unescaped '/' (or to
 * where it cannot go on); returns the end. */
static size_t scan_part(const char *s, size_t q, size_t len)
{
    while (q < len && s[q] != '/') {
        if (s[q] == '\\') {
            if (q + 1 == len) break;
            q++;
        }
        q++;
    }
    return q;
}

/* RULE:pattern/replacement/[LU] at s[0..len): the end of what matched (0
 * if it does not), with the parts' bounds. */
static size_t scan_rule(const char *s, size_t len, size_t *pat_end, size_t *rep_end)
{
    if (len < 5 || memcmp(s, "RULE:", 5) != 0) return 0;
    size_t q = scan_part(s, 5, len);
    if (q == len || s[q] != '/') return 0;
    *pat_end = q;
    q = scan_part(s, q + 1, len);
    if (q == len || s[q] != '/') return 0;
    *rep_end = q;
    q++;
    if (q < len && (s[q] == 'L' || s[q] == 'U')) q++;
    return q;
}

static int say(char *why, size_t why_len, const char *rule, size_t len, const char *what)
{
    if (why && why_len) snprintf(why, why_len, "rule '%.*s': %s", (int)len, rule, what);
    return ED_ERR_INVAL;
}

/* Kafka's escaping of $n naming a group the pattern lacks (kept as text),
 * then Java's replacement syntax: \x is x, $n a group (as many digits as
 * still name a group). */
static int parse_replacement(struct rule *r, const char *rep, size_t len, char *why, size_t why_len,
                             const char *rule, size_t rule_len)
{
    r->lit = ed_malloc(len + 1);
    r->pieces = ed_calloc(len + 1, sizeof *r->pieces);
    if (!r->lit || !r->pieces) return ED_ERR_NOMEM;
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        char c = rep[i];
        bool as_text = false;
        if (c == '$' && r->n_groups > 0 && i + 1 < len && rep[i + 1] >= '1' && rep[i + 1] <= '9') {
            /* Kafka: the longest prefix of the digits that is at most 9
             * or names a group; beyond the groups it stays text */
            int v = 0;
            for (size_t j = i + 1; j < len && rep[j] >= '0' && rep[j] <= '9' && v <= r->n_groups;
                 j++)
                v = v * 10 + (rep[j] - '0');
            while (v > r->n_groups && v >= 10)
                v /= 10;
            as_text = v > r->n_groups;
        }
        if (c == '\\' || as_text) {
            if (c == '\\' && ++i == len)
                return say(why, why_len, rule, rule_len, "a backslash ends the replacement");
            if (r->n_pieces == 0 || r->pieces[r->n_pieces - 1].group != -1)
                r->pieces[r->n_pieces++] = (struct piece){-1, w, 0};
            r->lit[w++] = rep[i];
            r->pieces[r->n_pieces - 1].len++;
            continue;
        }
        if (c == '$') {
            if (i + 1 == len || rep[i + 1] < '0' || rep[i + 1] > '9')
                return say(why, why_len, rule, rule_len,
                           "'$' in the replacement must name a group ($1) or be written \\$");
            int g = rep[++i] - '0';
            if (g > r->n_groups)
                return say(why, why_len, rule, rule_len,
                           "the replacement names a group the pattern does not have");
            while (i + 1 < len && rep[i + 1] >= '0' && rep[i + 1] <= '9' &&
                   g * 10 + (rep[i + 1] - '0') <= r->n_groups)
                g = g * 10 + (rep[++i] - '0');
            r->pieces[r->n_pieces++] = (struct piece){g, 0, 0};
            continue;
        }
        if (r->n_pieces == 0 || r->pieces[r->n_pieces - 1].group != -1)
            r->pieces[r->n_pieces++] = (struct piece){-1, w, 0};
        r->lit[w++] = c;
        r->pieces[r->n_pieces - 1].len++;
    }
    return ED_OK;
}

/* One rule as the splitter cut it; "" is skipped. */
static int parse_rule(ed_sslmap *m, const char *s, size_t len, char *why, size_t why_len)
{
    if (len == 0) return ED_OK;
    if (m->n == ED_SSLMAP_MAX_RULES) return say(why, why_len, s, len, "more than 32 rules");
    struct rule *r = &m->rules[m->n];
    memset(r, 0, sizeof *r);
    size_t pat_end = 0, rep_end = 0;
    size_t end =
        len >= 7 && memcmp(s, "DEFAULT", 7) == 0 ? 7 : scan_rule(s, len, &pat_end, &rep_end);
    if (end == 0) return say(why, why_len, s, len, "not DEFAULT nor RULE:pattern/replacement/[LU]");
    if (end != len) {
        char what[96];
        snprintf(what, sizeof what, "unexpected '%.*s' after it", (int)ED_MIN(len - end, 40),
                 s + end);
        return say(why, why_len, s, len, what);
    }
    m->n++; /* freed with the map from here on */
    if (end == 7 && pat_end == 0) {
        r->is_default = true;
        return ED_OK;
    }
    r->fold = s[len - 1] == 'L' || s[len - 1] == 'U' ? s[len - 1] : 0;
    char inner[160];
    struct parser ps = {s + 5, s + pat_end, 0, 0, inner, sizeof inner};
    r->root.type = N_GROUP;
    int rc = parse_alts(&ps, &r->root);
    if (rc == ED_OK && ps.p != ps.end) rc = fail(&ps, "a ')' without its group");
    if (rc == ED_ERR_INVAL) return say(why, why_len, s, len, inner);
    if (rc != ED_OK) return rc;
    r->n_groups = ps.n_groups;
    return parse_replacement(r, s + pat_end + 1, rep_end - pat_end - 1, why, why_len, s, len);
}

void ed_sslmap_free(ed_sslmap *m)
{
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        node_fini(&m->rules[i].root);
        ed_free(m->rules[i].lit);
        ed_free(m->rules[i].pieces);
    }
    ed_free(m);
}

int ed_sslmap_new(const char *rules, ed_sslmap **out, char *why, size_t why_len)
{
    *out = NULL;
    ed_sslmap *m = ed_calloc(1, sizeof *m);
    if (!m) return ED_ERR_NOMEM;
    /* Kafka trims, then finds \s*(rule)\s*(,\s*|$) again and again; a
     * rule is DEFAULT, RULE:... up to the next separator, or anything up
     * to it (which then fails to parse). */
    const char *s = rules;
    size_t len = strlen(s);
    while (len > 0 && (unsigned char)*s <= ' ') {
        s++;
        len--;
    }
    while (len > 0 && (unsigned char)s[len - 1] <= ' ')
        len--;
    size_t pos = 0;
    int rc = ED_OK;
    while (pos < len && rc == ED_OK) {
        size_t q = pos, pe, re;
        while (q < len && is_space(s[q]))
            q++;
        size_t end;
        if (len - q >= 7 && memcmp(s + q, "DEFAULT", 7) == 0 && at_sep(s, q + 7, len))
            end = q + 7;
        else if ((end = scan_rule(s + q, len - q, &pe, &re)) != 0)
            end += q;
        else
            end = q;
        while (!at_sep(s, end, len)) /* the lazy .*? up to a separator */
            end++;
        rc = parse_rule(m, s + q, end - q, why, why_len);
        pos = end;
        while (pos < len && is_space(s[pos]))
            pos++;
        if (pos < len) pos++; /* the comma */
    }
    if (rc != ED_OK) {
        ed_sslmap_free(m);
        return rc;
    }
    *out = m;
    return ED_OK;
}

bool ed_sslmap_is_default(const ed_sslmap *m)
{
    return m->n == 1 && m->rules[0].is_default;
}

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->len + n < o->cap) memcpy(o->p + o->len, p, n);
    o->len += n;
}

/* Java's replaceAll of a rule whose pattern matched the whole subject. */
static int replace_all(struct ctx *x, const struct rule *r, struct out *o)
{
    size_t pos = 0, from = 0;
    while (from <= x->len) {
        size_t start = from;
        while (start <= x->len && !match_at(x, r, start))
            start++;
        if (x->steps > ED_SSLMAP_MAX_STEPS) return ED_ERR_BUSY;
        if (start > x->len) break;
        put(o, x->s + pos, start - pos);
        for (int i = 0; i < r->n_pieces; i++) {
            const struct piece *pc = &r->pieces[i];
            if (pc->group < 0)
                put(o, r->lit + pc->off, pc->len);
            else if (x->cap[2 * pc->group] != UNSET)
                put(o, x->s + x->cap[2 * pc->group],
                    x->cap[2 * pc->group + 1] - x->cap[2 * pc->group]);
        }
        pos = x->cap[1];
        from = x->cap[1] == start ? start + 1 : x->cap[1];
    }
    put(o, x->s + pos, x->len - pos);
    return ED_OK;
}

int ed_sslmap_apply(const ed_sslmap *m, const char *subject, char *out, size_t out_len)
{
    struct ctx x = {(const uint8_t *)subject, strlen(subject), true, 0, 0, {0}};
    if (x.len > ED_SSLMAP_MAX_SUBJECT) return ED_ERR_TOOBIG;
    for (int i = 0; i < m->n; i++) {
        const struct rule *r = &m->rules[i];
        struct out o = {out, 0, out_len};
        if (r->is_default) {
            put(&o, subject, x.len);
        } else {
            x.full = true;
            bool hit = match_at(&x, r, 0);
            if (x.steps > ED_SSLMAP_MAX_STEPS) return ED_ERR_BUSY;
            if (!hit) continue;
            x.full = false;
            int rc = replace_all(&x, r, &o);
            if (rc != ED_OK) return rc;
        }
        if (o.len >= out_len) return ED_ERR_TOOBIG;
        out[o.len] = '\0';
        for (size_t k = 0; r->fold && k < o.len; k++) {
            char c = out[k];
            if (r->fold == 'L' && c >= 'A' && c <= 'Z') out[k] = (char)(c + 32);
            if (r->fold == 'U' && c >= 'a' && c <= 'z') out[k] = (char)(c - 32);
        }
        return ED_OK;
    }
    return ED_ERR_NOENT;
}
