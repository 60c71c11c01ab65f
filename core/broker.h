/* The broker: the context every request handler works in, and the object
 * that owns start-up and shutdown order. ed_broker_open builds the event
 * loop, the storage (with its flush completions and ticks on the loop), the
 * topic registry, the idempotent-producer state, the group coordinator and
 * the shared request-memory budget; listeners of every protocol (the Kafka
 * server, MQTT, later CoAP, HTTP and the mirror) register as services, are
 * shut down in the order they were added when a shutdown begins (SIGTERM,
 * SIGINT, ed_broker_shutdown) and freed in reverse order before the domain
 * they use. Tests may fill the context by hand instead (fields below). */
#ifndef ED_CORE_BROKER_H
#define ED_CORE_BROKER_H

#include "platform/net.h"
#include "storage/log.h"
#include "core/conn.h"
#include "core/config.h"
#include "core/listeners.h"
#include "core/sslmap.h"
#include "core/topics.h"

typedef struct ed_broker ed_broker;
typedef struct ed_groups ed_groups;
typedef struct ed_pids ed_pids;
typedef struct ed_users ed_users;
typedef struct ed_acl ed_acl;

struct ed_broker {
    ed_loop *loop;
    ed_storage *storage;
    ed_topics *topics;
    ed_groups *groups; /* consumer-group coordinator (NULL until built) */
    ed_pids *pids;     /* producer-id allocator (core/pidstate.h) */
    ed_users *users;   /* SASL/SCRAM credentials (core/users.h; NULL: no store) */
    ed_acl *acl;       /* ACLs and authorizer (core/acl.h; NULL: no authorizer, all allowed) */
    const struct ed_config *cfg;
    ed_conn_budget *budget;    /* queued.max.request.bytes, shared by every listener (NULL: none) */
    struct ed_broker_own *own; /* what ed_broker_open made (NULL: assembled by hand) */
    int32_t node_id;           /* node.id / broker.id */
    char cluster_id[23];       /* base64 UUID, persisted in the data dir */
    char adv_host[256];        /* advertised host for Metadata */
    uint16_t adv_port;
};

/* A listener or other client of the broker, owned from registration on. */
struct ed_broker_service {
    const char *name; /* "Kafka", "MQTT": in log lines */
    void *obj;
    void (*shutdown)(void *obj); /* stop accepting, let clients go (may be NULL) */
    void (*free)(void *obj);     /* before the domain closes */
    /* SIGHUP (may be NULL): fresh is the configuration read again (the
     * file and the command line's settings), valid during the call only;
     * the service takes what it can change without a restart */
    void (*reload)(void *obj, const struct ed_config *fresh);
};

/* Reads the configuration again for SIGHUP: ED_OK with a new *out (the
 * broker frees it with ed_config_free), else an error with why. */
typedef int (*ed_broker_config_fn)(void *arg, struct ed_config **out, char *why, size_t why_len);

/* Opens everything in order from cfg (which must outlive the broker):
 * ED_OK, or an error with why naming what failed (the data directory, the
 * topic registry, ...), and nothing left open. */
int ed_broker_open(const struct ed_config *cfg, ed_broker **out, char *why, size_t why_len);
/* Registers a service (the broker frees it at close; on error it is freed
 * now). */
int ed_broker_add_service(ed_broker *b, const struct ed_broker_service *svc);
/* The object of the service registered under name (NULL: none). */
void *ed_broker_service_obj(const ed_broker *b, const char *name);
/* Notes a bound listener: NAME=host:port lines for the port file. */
void ed_broker_note_bound(ed_broker *b, const char *name, const char *host, uint16_t port);
int ed_broker_n_bound(const ed_broker *b);
const char *ed_broker_bound(const ed_broker *b, int i);
/* Listens on the n listeners ls for the connections of set (what: "Kafka",
 * "MQTT", for messages): bound[i] gets each bound port (0: skipped, a
 * CONTROLLER listener). A PLAINTEXT listener on an address other than
 * loopback is refused unless allow.plaintext.on.public.listeners (then a
 * warning is logged); TLS listeners load ssl.* (mqtt.ssl.* first when
 * mqtt) and are reloaded by ed_broker_tls_reload. Each bound listener is
 * noted for the port file under its name. */
int ed_broker_listen(ed_broker *b, ed_conn_set *set, const char *what,
                     const struct ed_listeners_spec *ls, int n, bool mqtt, uint16_t *bound,
                     char *why, size_t why_len);
/* The address a listener binds ("" and "::" as given, "" as 0.0.0.0). */
const char *ed_broker_listen_host(const struct ed_listeners_spec *l);
/* The rule of safe defaults for one listener (ed_broker_listen applies it
 * to its own): a PLAINTEXT listener beyond loopback is ED_ERR_PERM with
 * why, unless allow.plaintext.on.public.listeners (then a warning). */
int ed_broker_check_public(const ed_broker *b, const char *what, const struct ed_listeners_spec *l,
                           char *why, size_t why_len);
/* Notes the address advertised to clients of listener name. */
void ed_broker_advertise(ed_broker *b, const char *name, const char *host, uint16_t port);
/* The address advertised to a client of listener name (NULL, "" or not
 * noted: adv_host:adv_port). */
const char *ed_broker_adv_host(const ed_broker *b, const char *name);
uint16_t ed_broker_adv_port(const ed_broker *b, const char *name);
/* Reloads the certificates of every TLS listener (SIGHUP): new connections
 * use them, open ones keep theirs; a listener whose files fail to load
 * keeps its old ones and the error is logged. */
void ed_broker_tls_reload(ed_broker *b);
/* How SIGHUP reads the configuration again for the services' reload (not
 * set: SIGHUP reloads the listeners' certificates only). */
void ed_broker_set_config_reader(ed_broker *b, ed_broker_config_fn fn, void *arg);
/* The ssl.principal.mapping.rules of Kafka TLS listener name (its
 * listener.name.* value or the broker-wide one); NULL when they are
 * DEFAULT (the subject is the name) or name is not a TLS listener. */
const ed_sslmap *ed_broker_sslmap(const ed_broker *b, const char *listener);
/* Runs the loop until a shutdown completes (SIGTERM/SIGINT start one);
 * pings systemd's watchdog while the loop turns. */
int ed_broker_run(ed_broker *b);
/* Begins a shutdown: every service stops accepting and lets its clients go,
 * in the order added; the loop then stops. */
void ed_broker_shutdown(ed_broker *b);
/* Frees the services (last added first), then the domain; the storage is
 * flushed and closed. */
void ed_broker_close(ed_broker *b);

#endif
