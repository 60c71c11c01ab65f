/* Kafka's ssl.principal.mapping.rules: the rules that turn a TLS client
 * certificate's subject (RFC 2253 form, "CN=gw-17,O=Acme") into the name
 * of its principal (User:<name>). The syntax is Kafka's: rules separated
 * by commas, each `DEFAULT` (the subject as it is) or
 * `RULE:pattern/replacement/` with an optional `L` or `U` after the last
 * slash (lower or upper case the result, ASCII letters only); `\` escapes
 * a `/` inside pattern or replacement. The first rule whose pattern
 * matches the whole subject gives the name: every match of the pattern is
 * replaced as Java's String.replaceAll does ($1..$n: groups; a reference
 * to a group the pattern lacks is kept as text, as Kafka does). No rule
 * matching is a refusal.
 *
 * Patterns are Java regular expressions, of which this module takes the
 * part that mapping rules use: literals and escapes (\. \\ \d \w \s and
 * their negations, \t \n \r \f), `.`, classes [a-z] [^,], groups (...)
 * and (?:...), alternation, the quantifiers * + ? {n} {n,} {n,m} greedy or
 * lazy (with a trailing ?), ^ and $. Anything else (look-around,
 * back-references, possessive quantifiers, flags, named groups, nested
 * classes) is refused when the rules are parsed, so a rule Eddy would read
 * differently from Kafka never starts. Matching works on bytes and runs
 * under a step budget: a subject that would need more is refused. */
#ifndef ED_CORE_SSLMAP_H
#define ED_CORE_SSLMAP_H

#include "platform/base.h"

#include <stddef.h>

typedef struct ed_sslmap ed_sslmap;

#define ED_SSLMAP_MAX_RULES   32
#define ED_SSLMAP_MAX_GROUPS  16   /* capturing groups of one pattern */
#define ED_SSLMAP_MAX_SUBJECT 1024 /* bytes of a subject that can be mapped */
#define ED_SSLMAP_MAX_STEPS   200000

/* Parses rules ("" = no rule: nothing maps). ED_OK with *out (free with
 * ed_sslmap_free), or ED_ERR_INVAL with one line in why naming the rule
 * and the problem (ED_ERR_NOMEM when out of memory). */
int ed_sslmap_new(const char *rules, ed_sslmap **out, char *why, size_t why_len);
void ed_sslmap_free(ed_sslmap *m);
/* Whether the rules are DEFAULT alone (the subject is the name). */
bool ed_sslmap_is_default(const ed_sslmap *m);
/* Maps subject to a name in out (NUL-terminated). ED_OK; ED_ERR_NOENT when
 * no rule applies; ED_ERR_TOOBIG when the name does not fit in out_len or
 * the subject is over ED_SSLMAP_MAX_SUBJECT; ED_ERR_BUSY when a pattern
 * needed more than ED_SSLMAP_MAX_STEPS steps. */
int ed_sslmap_apply(const ed_sslmap *m, const char *subject, char *out, size_t out_len);

#endif
