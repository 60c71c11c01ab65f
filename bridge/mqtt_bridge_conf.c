/* The MQTT pull bridges' settings: one bridge's mqtt.bridge.<name>.* keys
 * checked and read into its link (address with mqtt:// or mqtts://, topic
 * filters with their QoS, client id, credentials, TLS, keep-alive, window,
 * protocol). */
#include "bridge/mqtt_bridge_int.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

/* host:port, [v6]:port, with mqtt:// or mqtts:// in front. */
static int parse_address(link *l, const char *v, bool *tls, char *why, size_t why_len)
{
    if (strncmp(v, "mqtts://", 8) == 0) {
        *tls = true;
        v += 8;
    } else if (strncmp(v, "mqtt://", 7) == 0) {
        v += 7;
    }
    const char *colon = NULL;
    const char *host = v;
    size_t host_len;
    if (*v == '[') {
        const char *end = strchr(v, ']');
        if (!end) goto bad;
        host = v + 1;
        host_len = (size_t)(end - host);
        if (end[1] == ':')
            colon = end + 1;
        else if (end[1])
            goto bad;
    } else {
        colon = strrchr(v, ':');
        host_len = colon ? (size_t)(colon - v) : strlen(v);
    }
    if (host_len == 0 || host_len >= sizeof l->host) goto bad;
    memcpy(l->host, host, host_len);
    l->host[host_len] = '\0';
    l->port = *tls ? 8883 : 1883;
    if (colon) {
        int64_t port = 0;
        if (!ed_config_parse_int(colon + 1, &port) || port < 1 || port > 65535) goto bad;
        l->port = (uint16_t)port;
    }
    return ED_OK;
bad:
    snprintf(why, why_len, "mqtt.bridge.%s.address: '%s' is not host:port", l->name, v);
    return ED_ERR_INVAL;
}

/* filter[:qos],... into l->filters (pointing into l->filters_text). */
static int parse_filters(link *l, const char *v, char *why, size_t why_len)
{
    l->filters_text = ed_strdup(v);
    if (!l->filters_text) return ED_ERR_NOMEM;
    const char *p = l->filters_text;
    size_t n;
    while (p) {
        const char *item = ed_config_list_item(&p, &n);
        if (n == 0) continue;
        uint8_t qos = 1;
        if (n >= 2 && item[n - 2] == ':' && item[n - 1] >= '0' && item[n - 1] <= '2') {
            qos = (uint8_t)(item[n - 1] - '0');
            n -= 2;
        }
        if (l->n_filters == MAX_FILTERS) {
            snprintf(why, why_len, "mqtt.bridge.%s.topics: more than %d filters", l->name,
                     MAX_FILTERS);
            return ED_ERR_INVAL;
        }
        if (!ed_mqtt_filter_ok((const uint8_t *)item, n) ||
            !ed_mqtt_utf8_ok((const uint8_t *)item, n)) {
            snprintf(why, why_len, "mqtt.bridge.%s.topics: '%.*s' is not an MQTT topic filter",
                     l->name, (int)ED_MIN(n, 200), item);
            return ED_ERR_INVAL;
        }
        l->filters[l->n_filters] = (struct ed_mqtt_bytes){(const uint8_t *)item, n};
        l->qos[l->n_filters++] = qos;
    }
    if (l->n_filters == 0) {
        snprintf(why, why_len, "mqtt.bridge.%s.topics: no topic filter given", l->name);
        return ED_ERR_INVAL;
    }
    return ED_OK;
}

static int setup_tls(link *l, const struct ed_config_bridge *br, char *why, size_t why_len)
{
    struct ed_tls_settings st = {
        .ca_file = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_CA),
        .cert_file = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_CERT),
        .key_file = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_KEY),
        .verify_host = true,
    };
    if (!*st.ca_file) st.ca_file = NULL;
    char e[256];
    int rc = ed_plat_tls_conf_new(&st, &l->tls, e, sizeof e);
    if (rc != ED_OK) snprintf(why, why_len, "mqtt.bridge.%s TLS: %s", l->name, e);
    return rc;
}

static char *dup_or_null(const char *v)
{
    return *v ? ed_strdup(v) : NULL;
}

int ed_mqtt_bridge_link_setup(ed_mqtt_bridges *s, link *l, const struct ed_config_bridge *br,
                              char *why, size_t why_len)
{
    l->s = s;
    snprintf(l->name, sizeof l->name, "%s", br->name);
    const char *addr = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_ADDRESS);
    if (!*addr) {
        snprintf(why, why_len, "mqtt.bridge.%s.address: not set", l->name);
        return ED_ERR_INVAL;
    }
    bool tls = ed_config_bridge_int(br, ED_CONFIG_BRIDGE_TLS) != 0;
    int rc = parse_address(l, addr, &tls, why, why_len);
    if (rc == ED_OK)
        rc = parse_filters(l, ed_config_bridge_str(br, ED_CONFIG_BRIDGE_TOPICS), why, why_len);
    if (rc == ED_OK && tls) rc = setup_tls(l, br, why, why_len);
    if (rc != ED_OK) return rc;
    const char *id = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_CLIENT_ID);
    const char *site = s->b->cfg->site_id;
    if (*id)
        snprintf(l->client_id, sizeof l->client_id, "%s", id);
    else
        snprintf(l->client_id, sizeof l->client_id, "eddy-%s%s%s", site, *site ? "-" : "", l->name);
    const char *user = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_USERNAME);
    const char *pass = ed_config_bridge_str(br, ED_CONFIG_BRIDGE_PASSWORD);
    l->username = dup_or_null(user);
    l->password = dup_or_null(pass);
    l->level = strcmp(ed_config_bridge_str(br, ED_CONFIG_BRIDGE_PROTOCOL), "5") == 0 ? 5 : 4;
    l->keepalive_s = (uint16_t)ed_config_bridge_int(br, ED_CONFIG_BRIDGE_KEEPALIVE);
    l->cap = (uint32_t)ed_config_bridge_int(br, ED_CONFIG_BRIDGE_MAX_INFLIGHT);
    l->ring = ed_calloc(l->cap, sizeof *l->ring);
    l->qos2 = ed_calloc(65536 / 8, 1);
    if ((*user && !l->username) || (*pass && !l->password) || !l->ring || !l->qos2)
        return ED_ERR_NOMEM;
    return ED_OK;
}

void ed_mqtt_bridge_link_free(link *l)
{
    if (!l->s) return;
    ed_plat_timer_stop(l->s->b->loop, &l->timer);
    ed_plat_stream_close(l->st);
    l->st = NULL;
    ed_plat_tls_conf_unref(l->tls);
    ed_free(l->filters_text);
    ed_free(l->username);
    if (l->password) memset(l->password, 0, strlen(l->password));
    ed_free(l->password);
    ed_free(l->out);
    ed_free(l->in);
    ed_free(l->ring);
    ed_free(l->qos2);
}
