/* MQTT 5 topic aliases sent by a client (MQTT 5.0, 3.3.2.3.4): the table
 * of one connection, which maps alias numbers 1..max to topic names, and
 * the resolution of a PUBLISH against it. Aliases live and die with the
 * connection (never part of a persistent session); the table is allocated
 * at the first alias and grows only up to the highest alias used, so its
 * memory is at most max topic names. */
#ifndef ED_BRIDGE_MQTT_ALIAS_H
#define ED_BRIDGE_MQTT_ALIAS_H

#include "bridge/mqtt_codec.h"

typedef struct ed_mqtt_aliases ed_mqtt_aliases;

/* Resolves the Topic Alias of publish pk on a connection whose Topic Alias
 * Maximum is max, with table *tab (NULL until the first alias; allocated
 * here). A publish without an alias is left as it is. With one: a topic
 * name sets (or replaces) the mapping, an empty topic name takes the
 * mapped one; pk->topic is then the topic (owned by the table, valid until
 * the next call) and pk->props lose the Topic Alias property (it belongs
 * to this connection and must not reach the log or subscribers), in
 * *scratch when it had to be copied (the caller frees it after the
 * publish; NULL otherwise).
 * Returns ED_OK, or the MQTT reason code to disconnect with and *why:
 * 0x94 (alias 0 or above max), 0x82 (empty topic with an alias never
 * set), 0x80 (out of memory). The topic name itself is the caller's to
 * check. */
int ed_mqtt_alias_resolve(ed_mqtt_aliases **tab, uint16_t max, struct ed_mqtt_publish *pk,
                          uint8_t **scratch, const char **why);
/* Number of aliases set. */
uint32_t ed_mqtt_alias_count(const ed_mqtt_aliases *tab);
void ed_mqtt_alias_free(ed_mqtt_aliases *tab);

#endif
