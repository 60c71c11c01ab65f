/* The mirror's connections upstream: the bootstrap link (every address of
 * mirror.bootstrap.servers in turn), one link per upstream broker named by
 * Metadata or FindCoordinator, their options (mirror.security.protocol
 * with its TLS and SASL settings) and what the mirror does when one comes
 * up or goes down. */
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "core/kafka/mirror_int.h"
#include "core/config.h"
#include "core/sasl.h"

static void on_up(void *arg)
{
    ed_mirror *m = arg;
    if (m->phase == P_STOPPED) return;
    if (m->phase == P_WAIT) {
        m->phase = P_META;
        ed_mirror_step(m);
    } else {
        if (m->phase >= P_IDLE) m->link_state = "up";
        if (m->blocked) ed_mirror_step(m);
    }
}

static void on_down(void *arg, const char *why)
{
    ed_mirror *m = arg;
    if (m->phase == P_STOPPED) return;
    if (m->phase == P_WAIT) {
        /* connecting or reconnecting: a refused login or certificate shows
         * in the status while the links keep retrying */
        snprintf(m->last_error, sizeof m->last_error, "%s", why);
        return;
    }
    if (m->phase == P_IDLE) {
        /* nothing outstanding: only a link we were not using */
        m->link_state = "reconnecting";
        return;
    }
    ed_mirror_restart(m, why);
}

static const struct ed_klink_cbs link_cbs = {on_up, on_down};

static struct ed_klink_opts link_opts(const ed_mirror *m)
{
    struct ed_klink_opts o;
    memset(&o, 0, sizeof o);
    o.client_id = "eddy-mirror";
    o.request_timeout_ms = (uint32_t)m->request_ms;
    o.backoff_ms = 200;
    o.backoff_max_ms = 10000;
    o.max_in_flight = 5;
    o.tls = m->tls;
    o.sasl_mech = m->sasl_mech;
    o.sasl_username = m->sasl_user;
    o.sasl_password = m->sasl_password;
    return o;
}

static struct node *node_by_id(ed_mirror *m, int32_t id)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].id == id) return &m->nodes[i];
    return NULL;
}

void ed_mirror_note_node(ed_mirror *m, int32_t id, ed_kstr host, int32_t port)
{
    char h[256];
    if (!ed_kstr_copy(host, h, sizeof h) || port <= 0 || port > 65535) return;
    struct node *n = node_by_id(m, id);
    if (n && strcmp(n->host, h) == 0 && n->port == port) return;
    if (!n) {
        if (m->n_nodes == MAX_NODES) return;
        n = &m->nodes[m->n_nodes++];
    }
    ed_klink_free(n->link);
    n->link = NULL;
    n->id = id;
    snprintf(n->host, sizeof n->host, "%s", h);
    n->port = (uint16_t)port;
    struct ed_klink_opts o = link_opts(m);
    if (ed_klink_new(m->b->loop, n->host, n->port, &o, &link_cbs, m, &n->link) != ED_OK)
        n->link = NULL;
}

ed_klink *ed_mirror_link_to(ed_mirror *m, int32_t id)
{
    struct node *n = node_by_id(m, id);
    if (n && n->link && ed_klink_up(n->link)) return n->link;
    m->blocked = true;
    return NULL;
}

int ed_mirror_link_security(ed_mirror *m, const struct ed_config *cfg, char *why, size_t why_len)
{
    const char *proto = cfg->mirror_security_protocol;
    bool ssl = strcmp(proto, "SSL") == 0 || strcmp(proto, "SASL_SSL") == 0;
    bool sasl = strncmp(proto, "SASL_", 5) == 0;
    ed_tls_conf *tls = NULL;
    int mech = 0;
    if (sasl) {
        const char *name = cfg->mirror_sasl_mechanism;
        mech = ed_sasl_mech_parse(name, strlen(name));
        size_t ul = strlen(cfg->mirror_sasl_username), pl = strlen(cfg->mirror_sasl_password);
        if (!mech || ul == 0 || ul > ED_SASL_MAX_NAME || pl == 0 || pl > ED_SASL_MAX_PASSWORD) {
            snprintf(why, why_len,
                     "mirror.security.protocol=%s: mirror.sasl.username and mirror.sasl.password "
                     "must have 1..255 bytes each",
                     proto);
            return ED_ERR_INVAL;
        }
    }
    if (ssl) {
        struct ed_tls_settings st = {
            .cert_file = cfg->mirror_ssl_certificate_location,
            .key_file = cfg->mirror_ssl_key_location,
            .ca_file = cfg->mirror_ssl_ca_location,
            .verify_host = strcmp(cfg->mirror_ssl_endpoint_identification_algorithm, "none") != 0,
        };
        char e[300];
        int rc = ed_plat_tls_conf_new(&st, &tls, e, sizeof e);
        if (rc) {
            snprintf(why, why_len, "mirror.ssl.*: %s", e);
            return rc;
        }
    }
    ed_plat_tls_conf_unref(m->tls);
    m->tls = tls;
    m->sasl_mech = mech;
    snprintf(m->sasl_user, sizeof m->sasl_user, "%s", sasl ? cfg->mirror_sasl_username : "");
    snprintf(m->sasl_password, sizeof m->sasl_password, "%s",
             sasl ? cfg->mirror_sasl_password : "");
    return ED_OK;
}

void ed_mirror_link_reload(void *obj, const struct ed_config *fresh)
{
    ed_mirror *m = obj;
    char why[400];
    if (ed_mirror_link_security(m, fresh, why, sizeof why) != ED_OK) {
        ED_LOG_ERR("SIGHUP: the uplink keeps its security settings: %s", why);
        return;
    }
    if (m->boot)
        ed_klink_set_security(m->boot, m->tls, m->sasl_mech, m->sasl_user, m->sasl_password);
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].link)
            ed_klink_set_security(m->nodes[i].link, m->tls, m->sasl_mech, m->sasl_user,
                                  m->sasl_password);
    ED_LOG_INFO("SIGHUP: uplink security settings reloaded (new connections use them)");
}

int ed_mirror_bootstrap_link(ed_mirror *m, const char *servers, char *why, size_t why_len)
{
    struct ed_klink_opts o = link_opts(m);
    for (const char *p = servers; *p;) {
        size_t n = strcspn(p, ",");
        char one[300], host[256];
        uint16_t port = 0;
        snprintf(one, sizeof one, "%.*s", (int)n, p);
        char *a = one;
        while (*a == ' ')
            a++;
        for (size_t z = strlen(a); z > 0 && a[z - 1] == ' '; z--)
            a[z - 1] = 0;
        p += n;
        if (*p == ',') p++;
        if (!*a) continue;
        if (ed_kc_parse_hostport(a, host, sizeof host, &port) != ED_OK) {
            snprintf(why, why_len, "mirror.bootstrap.servers: bad address '%s' (want host:port)",
                     a);
            return ED_ERR_INVAL;
        }
        int rc = m->boot ? ed_klink_add_address(m->boot, host, port)
                         : ed_klink_new(m->b->loop, host, port, &o, &link_cbs, m, &m->boot);
        if (rc) {
            snprintf(why, why_len, "mirror.bootstrap.servers: %s",
                     rc == ED_ERR_TOOBIG ? "at most 16 addresses" : ed_strerror(rc));
            return rc;
        }
    }
    if (!m->boot) {
        snprintf(why, why_len, "mirror.bootstrap.servers: no address");
        return ED_ERR_INVAL;
    }
    return ED_OK;
}
