/* The MQTT pull bridges' keys, mqtt.bridge.<name>.<key>: their rows
 * (ed_config_bridge_keys), checked against them when set, kept per bridge
 * name, read with defaults, and listed by --help. */
#include "core/config.h"
#include "core/config_int.h"
#include "platform/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

/* The keys of one MQTT pull bridge, mqtt.bridge.<name>.<key> (core/config.h:
 * struct ed_config_bridge; the order is ED_CONFIG_BRIDGE_*). */
const struct ed_config_key ed_config_bridge_keys[] = {
    [ED_CONFIG_BRIDGE_ADDRESS] = {.name = "address",
                                  .type = ED_CFG_STRING,
                                  .def = "",
                                  .doc = "the source MQTT broker, host:port (port 1883, 8883 with "
                                         "TLS, when left out); mqtts://host:port turns TLS on"},
    [ED_CONFIG_BRIDGE_TOPICS] = {.name = "topics",
                                 .type = ED_CFG_STRING,
                                 .def = "",
                                 .doc = "topic filters subscribed to, comma-separated, each with "
                                        "an optional :QOS (0..2, default 1)"},
    [ED_CONFIG_BRIDGE_CLIENT_ID] = {.name = "client.id",
                                    .type = ED_CFG_STRING,
                                    .def = "",
                                    .doc = "the bridge's client id at the source, which names its "
                                           "persistent session (default eddy-<site.id>-<name>)"},
    [ED_CONFIG_BRIDGE_USERNAME] = {.name = "username",
                                   .type = ED_CFG_STRING,
                                   .def = "",
                                   .doc = "user name sent in CONNECT (empty = none)"},
    [ED_CONFIG_BRIDGE_PASSWORD] = {.name = "password",
                                   .type = ED_CFG_STRING,
                                   .def = "",
                                   .doc = "password sent in CONNECT (empty = none); never logged"},
    [ED_CONFIG_BRIDGE_KEEPALIVE] = {.name = "keepalive",
                                    .type = ED_CFG_INT,
                                    .min = 5,
                                    .max = 65535,
                                    .def = "30",
                                    .doc = "keep-alive in seconds: PINGREQ when idle; no answer "
                                           "within it closes the connection (half-open link)"},
    [ED_CONFIG_BRIDGE_MAX_INFLIGHT] = {.name = "max.inflight",
                                       .type = ED_CFG_INT,
                                       .min = 1,
                                       .max = 65535,
                                       .def = "256",
                                       .doc = "QoS 1/2 messages held unacknowledged until durable "
                                              "(MQTT 5 Receive Maximum); reading pauses beyond"},
    [ED_CONFIG_BRIDGE_PROTOCOL] = {.name = "protocol",
                                   .type = ED_CFG_ENUM,
                                   .def = "3.1.1",
                                   .choices = "3.1.1,5",
                                   .doc = "MQTT version spoken to the source"},
    [ED_CONFIG_BRIDGE_TLS] = {.name = "tls",
                              .type = ED_CFG_BOOL,
                              .def = "false",
                              .doc = "TLS to the source (as mqtts:// in address)"},
    [ED_CONFIG_BRIDGE_CA] = {.name = "ca.location",
                             .type = ED_CFG_STRING,
                             .def = "",
                             .doc = "PEM file of the CAs trusted for the source's certificate "
                                    "(empty = the system's)"},
    [ED_CONFIG_BRIDGE_CERT] = {.name = "certificate.location",
                               .type = ED_CFG_STRING,
                               .def = "",
                               .doc = "PEM client certificate chain, if the source asks for one"},
    [ED_CONFIG_BRIDGE_KEY] = {.name = "key.location",
                              .type = ED_CFG_STRING,
                              .def = "",
                              .doc = "PEM private key of that certificate"},
};
_Static_assert(ED_ARRAY_LEN(ed_config_bridge_keys) == ED_CONFIG_BRIDGE_N_KEYS,
               "a bridge key without a row");
static int key_index(const char *sub)
{
    for (int i = 0; i < ED_CONFIG_BRIDGE_N_KEYS; i++)
        if (strcmp(ed_config_bridge_keys[i].name, sub) == 0) return i;
    return -1;
}

/* The bridge named name[0..len), added when new: NULL when there are too
 * many (why said) or memory ran out. */
static struct ed_config_bridge *bridge_of(struct ed_config *c, const char *name, size_t len,
                                          const char *key, char *why, size_t why_len)
{
    for (int i = 0; i < c->n_bridges; i++)
        if (strlen(c->bridges[i].name) == len && strncmp(c->bridges[i].name, name, len) == 0)
            return &c->bridges[i];
    if (c->n_bridges == ED_CONFIG_MAX_BRIDGES) {
        ed_config_say(why, why_len, "%s: more than 8 MQTT bridges%s", key, "");
        return NULL;
    }
    struct ed_config_bridge *grown =
        ed_realloc(c->bridges, (size_t)(c->n_bridges + 1) * sizeof *grown);
    if (!grown) {
        ed_config_say(why, why_len, "%s: %s", key, "out of memory");
        return NULL;
    }
    c->bridges = grown;
    struct ed_config_bridge *br = &c->bridges[c->n_bridges++];
    memset(br, 0, sizeof *br);
    memcpy(br->name, name, len);
    return br;
}

int ed_config_set_bridge(struct ed_config *c, const char *key, const char *value, char *why,
                         size_t why_len)
{
    const char *name = key + strlen("mqtt.bridge.");
    size_t len = strspn(name, NAME_CHARS);
    if (len == 0 || len >= sizeof c->bridges->name || name[len] != '.') {
        ed_config_say(why, why_len,
                      "%s: expected mqtt.bridge.<name>.<key>, the name of letters, digits, '_' "
                      "and '-' (at most 31)%s",
                      key, "");
        return ED_ERR_INVAL;
    }
    int i = key_index(name + len + 1);
    if (i < 0) {
        ed_config_say(why, why_len,
                      "%s: unknown bridge key (address, topics, client.id, username, password, "
                      "keepalive, max.inflight, protocol, tls, ca.location, certificate.location, "
                      "key.location)%s",
                      key, "");
        return ED_ERR_INVAL;
    }
    char inner[200];
    if (!ed_config_key_check(&ed_config_bridge_keys[i], false, value, inner, sizeof inner)) {
        ed_config_say(why, why_len, "%s: %s", key, inner);
        return ED_ERR_INVAL;
    }
    char *v = ed_strdup(value);
    if (!v) return ED_ERR_NOMEM;
    struct ed_config_bridge *br = bridge_of(c, name, len, key, why, why_len);
    if (!br) {
        ed_free(v);
        return ED_ERR_INVAL;
    }
    ed_free(br->value[i]);
    br->value[i] = v;
    return ED_OK;
}

void ed_config_bridges_free(struct ed_config *c)
{
    for (int b = 0; b < c->n_bridges; b++)
        for (int i = 0; i < ED_CONFIG_BRIDGE_N_KEYS; i++)
            ed_free(c->bridges[b].value[i]);
    ed_free(c->bridges);
    c->bridges = NULL;
    c->n_bridges = 0;
}

const char *ed_config_bridge_str(const struct ed_config_bridge *br, int key)
{
    ED_ASSERT(key >= 0 && key < ED_CONFIG_BRIDGE_N_KEYS);
    return br->value[key] ? br->value[key] : ed_config_bridge_keys[key].def;
}

int64_t ed_config_bridge_int(const struct ed_config_bridge *br, int key)
{
    const char *v = ed_config_bridge_str(br, key);
    if (ed_config_bridge_keys[key].type == ED_CFG_BOOL) {
        bool b = false;
        ed_config_parse_bool(v, &b);
        return b;
    }
    int64_t n = 0;
    ed_config_parse_int(v, &n);
    return n;
}

void ed_config_bridge_help(void (*print)(void *arg, const char *line), void *arg)
{
    char line[512], name[64];
    for (int i = 0; i < ED_CONFIG_BRIDGE_N_KEYS; i++) {
        const struct ed_config_key *r = &ed_config_bridge_keys[i];
        snprintf(name, sizeof name, "mqtt.bridge.<name>.%s", r->name);
        snprintf(line, sizeof line, "  %-34s %s; default %s", name,
                 r->type == ED_CFG_INT    ? "int"
                 : r->type == ED_CFG_BOOL ? "true|false"
                 : r->type == ED_CFG_ENUM ? r->choices
                                          : "string",
                 *r->def ? r->def : "(unset)");
        print(arg, line);
        snprintf(line, sizeof line, "  %-34s   %s", "", r->doc);
        print(arg, line);
    }
}
