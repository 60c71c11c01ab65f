/* Shared inside the config module: the check functions the key table
 * names and small text helpers. */
#ifndef ED_CORE_CONFIG_INT_H
#define ED_CORE_CONFIG_INT_H

#include "platform/base.h"

bool ed_config_check_listeners(const char *v, char *why, size_t why_len);
bool ed_config_check_advertised(const char *v, char *why, size_t why_len);
bool ed_config_check_dirs(const char *v, char *why, size_t why_len);
bool ed_config_check_cleanup(const char *v, char *why, size_t why_len);
bool ed_config_check_mqtt_listeners(const char *v, char *why, size_t why_len);
bool ed_config_check_coap_listeners(const char *v, char *why, size_t why_len);
bool ed_config_check_http_listeners(const char *v, char *why, size_t why_len);
bool ed_config_check_sasl_mechs(const char *v, char *why, size_t why_len);
bool ed_config_check_authorizer(const char *v, char *why, size_t why_len);
bool ed_config_check_sslmap(const char *v, char *why, size_t why_len);
bool ed_config_check_overrides(const char *v, char *why, size_t why_len);
bool ed_config_check_text(const char *v, char *why, size_t why_len);

/* Case-insensitive equality. */
bool ed_config_ieq(const char *a, const char *b);
/* snprintf(why, why_len, fmt, a, b) when why is given. */
void ed_config_say(char *why, size_t why_len, const char *fmt, const char *a, const char *b);

/* mqtt.bridge.<name>.<key> (config_bridge.c). */
struct ed_config;
int ed_config_set_bridge(struct ed_config *c, const char *key, const char *value, char *why,
                         size_t why_len);
void ed_config_bridges_free(struct ed_config *c);
void ed_config_bridge_help(void (*print)(void *arg, const char *line), void *arg);

#endif
