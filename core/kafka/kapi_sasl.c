/* Kafka's SASL APIs and the user-credential APIs: SaslHandshake (v0-v1),
 * SaslAuthenticate (v0-v2), raw tokens after a v0 handshake, the gate
 * before authentication with KIP-368's session expiry, and
 * DescribeUserScramCredentials / AlterUserScramCredentials over the user
 * store (core/users.h), which answer only once a change is durable.
 * Requests are decoded whole through the message schema first. */
#define ED_LOG_MODULE "sasl"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/kapi_sasl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_handlers.h"
#include "core/users.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <stdio.h>
#include <string.h>

/* Kafka error codes only these APIs answer. */
enum {
    KERR_SASL_AUTHENTICATION_FAILED = 58,
    KERR_RESOURCE_NOT_FOUND = 91,
    KERR_DUPLICATE_RESOURCE = 92,
    KERR_UNACCEPTABLE_CREDENTIAL = 93,
};

/* Kafka's ScramMechanism codes. */
enum { KSCRAM_SHA_256 = 1, KSCRAM_SHA_512 = 2 };

#define ARENA_MAX (1u << 20) /* decoded arrays of one user-credential request */

static const char anonymous[] = "User:ANONYMOUS";

void ed_kauth_init(struct ed_kauth *a, bool required, const char *cert_subject)
{
    memset(a, 0, sizeof *a);
    a->required = required;
    memcpy(a->principal, anonymous, sizeof anonymous);
    if (cert_subject && *cert_subject &&
        strlen(cert_subject) + sizeof "User:" <= sizeof a->principal)
        snprintf(a->principal, sizeof a->principal, "User:%s", cert_subject);
}

void ed_kauth_fini(struct ed_kauth *a)
{
    ed_sasl_server_free(a->sasl);
    a->sasl = NULL;
}

static bool is_sasl_api(int16_t key)
{
    return key == ED_KMSG_SASL_HANDSHAKE || key == ED_KMSG_SASL_AUTHENTICATE;
}

bool ed_kauth_allows(const struct ed_kauth *a, int16_t api_key, uint64_t now_ms, const char **why)
{
    if (!a->required) return true;
    if (!a->authenticated) {
        if (api_key == ED_KMSG_API_VERSIONS || is_sasl_api(api_key)) return true;
        *why = "request before SASL authentication";
        return false;
    }
    /* An expired session ends at its next request unless that is a
     * SaslHandshake starting a re-authentication (as Kafka), or the rest of
     * one under way. */
    bool reauth =
        api_key == ED_KMSG_SASL_HANDSHAKE || (a->sasl && api_key == ED_KMSG_SASL_AUTHENTICATE);
    if (a->expires_ms && now_ms >= a->expires_ms && !reauth) {
        *why = "SASL session expired without re-authentication";
        return false;
    }
    return true;
}

static int enabled_mechs(const ed_broker *b)
{
    if (!b->cfg) return ED_SASL_ALL_MECHS;
    int m = ed_sasl_mech_list_parse(b->cfg->sasl_enabled_mechanisms);
    return m > 0 ? m : 0;
}

static int64_t reauth_ms(const ed_broker *b)
{
    return b->cfg ? b->cfg->connections_max_reauth_ms : 0;
}

static int lookup(void *arg, const char *name, size_t name_len, enum ed_sasl_mech m,
                  struct ed_scram_cred *out)
{
    const ed_broker *b = arg;
    if (!b->users) return ED_ERR_NOENT;
    return ed_users_lookup(b->users, name, name_len, m, out);
}

/* The end of an exchange: a new session, or a refusal of a re-authentication
 * as someone else (Kafka refuses a changed principal too). */
static enum ed_sasl_status conclude(struct ed_kauth *a, ed_broker *b, const char *peer,
                                    enum ed_sasl_status st, const char **reason)
{
    const char *user = ed_sasl_server_user(a->sasl);
    if (st == ED_SASL_DONE) {
        char p[ED_KAUTH_PRINCIPAL_MAX];
        snprintf(p, sizeof p, "User:%s", user);
        if (a->authenticated && strcmp(p, a->principal) != 0) {
            st = ED_SASL_FAILED;
            *reason = "Authentication failed: re-authentication as a different user";
        } else {
            memcpy(a->principal, p, sizeof p);
            a->authenticated = true;
            int64_t life = reauth_ms(b);
            a->expires_ms = life > 0 ? ed_plat_clock_mono_ms() + (uint64_t)life : 0;
            ED_LOG_DBG("%s authenticated as %s with %s", peer, a->principal,
                       ed_sasl_mech_name(a->mech));
        }
    } else if (st == ED_SASL_FAILED) {
        *reason = ed_sasl_server_reason(a->sasl);
    }
    if (st == ED_SASL_FAILED)
        ED_LOG_WARN_RL("SASL %s authentication from %s failed: %s", ed_sasl_mech_name(a->mech),
                       peer, *reason);
    if (st != ED_SASL_CONTINUE) {
        ed_sasl_server_free(a->sasl);
        a->sasl = NULL;
        a->raw = false;
    }
    return st;
}

enum ed_sasl_status ed_kauth_raw_token(struct ed_kauth *a, ed_broker *b, const char *peer,
                                       const uint8_t *in, size_t in_len, ed_kwr *out)
{
    const uint8_t *o;
    size_t ol;
    const char *reason = NULL;
    enum ed_sasl_status st = ed_sasl_server_step(a->sasl, in, in_len, &o, &ol);
    if (st != ED_SASL_FAILED) ed_kwr_raw(out, o, ol);
    return conclude(a, b, peer, st, &reason);
}

/* ---- SaslHandshake ---- */

/* Kafka's re-authentication rules (KIP-368): only when sessions expire
 * (connections.max.reauth.ms > 0), and at most one start a second. */
#define REAUTH_MIN_INTERVAL_MS 1000

static bool reauth_allowed(const struct ed_kauth *a, uint64_t now_ms)
{
    if (!a->expires_ms) return false;
    return !a->reauth_started_ms || now_ms - a->reauth_started_ms >= REAUTH_MIN_INTERVAL_MS;
}

int ed_kapi_sasl_handshake(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_SASL_HANDSHAKE);
    struct ed_kmsg_sasl_handshake_request body;
    if (ed_kschema_decode_request(api, req->api_version, &req->rd, NULL, &body) != ED_OK)
        return ED_KAPI_CLOSE;
    struct ed_kauth *a = req->auth;
    int mechs = enabled_mechs(req->broker);
    ed_kstr names[3];
    struct ed_kmsg_sasl_handshake_response resp = {0};
    resp.mechanisms = names;
    static const enum ed_sasl_mech order[] = {ED_SASL_SCRAM_SHA_256, ED_SASL_SCRAM_SHA_512,
                                              ED_SASL_PLAIN};
    for (size_t i = 0; i < ED_ARRAY_LEN(order); i++) {
        if (!(mechs & (int)order[i])) continue;
        const char *nm = ed_sasl_mech_name(order[i]);
        names[resp.n_mechanisms++] = (ed_kstr){nm, (int32_t)strlen(nm)};
    }
    enum ed_sasl_mech m = body.mechanism.len > 0
                              ? ed_sasl_mech_parse(body.mechanism.p, (size_t)body.mechanism.len)
                              : 0;
    uint64_t now = ed_plat_clock_mono_ms();
    bool stay_open = false;
    if (!a || a->sasl) {
        resp.error_code = ED_KERR_ILLEGAL_SASL_STATE;
    } else if (!a->required || (a->authenticated && !reauth_allowed(a, now))) {
        /* as Kafka: answered in band, the connection stays */
        resp.error_code = ED_KERR_ILLEGAL_SASL_STATE;
        resp.n_mechanisms = 0;
        stay_open = true;
    } else if (!m || !(mechs & (int)m)) {
        resp.error_code = ED_KERR_UNSUPPORTED_SASL_MECHANISM;
    } else if (ed_sasl_server_new(m, lookup, req->broker, &a->sasl) != ED_OK) {
        resp.error_code = ED_KERR_UNKNOWN_SERVER_ERROR;
    } else {
        a->mech = m;
        a->raw = req->api_version == 0; /* v0: raw tokens follow, not SaslAuthenticate */
        if (a->authenticated) a->reauth_started_ms = now;
    }
    if (resp.error_code && a && !stay_open) a->close_after = true;
    ed_kschema_encode_response(api, req->api_version, &req->out, &resp);
    return ED_KAPI_RESPOND;
}

/* ---- SaslAuthenticate ---- */

int ed_kapi_sasl_authenticate(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_SASL_AUTHENTICATE);
    struct ed_kmsg_sasl_authenticate_request body;
    if (ed_kschema_decode_request(api, req->api_version, &req->rd, NULL, &body) != ED_OK)
        return ED_KAPI_CLOSE;
    struct ed_kauth *a = req->auth;
    struct ed_kmsg_sasl_authenticate_response resp = {0};
    resp.auth_bytes = (ed_kbytes){(const uint8_t *)"", 0};
    const char *reason = NULL;
    uint8_t answer[ED_SASL_MAX_MSG]; /* the exchange (and its output) ends in conclude() */
    bool stay_open = false;
    if (a && !a->sasl && (!a->required || a->authenticated)) {
        /* as Kafka: answered in band, the connection stays */
        resp.error_code = ED_KERR_ILLEGAL_SASL_STATE;
        reason = "SaslAuthenticate request received after successful authentication";
        stay_open = true;
    } else if (!a || !a->sasl || a->raw) {
        resp.error_code = ED_KERR_ILLEGAL_SASL_STATE;
        reason = "SaslAuthenticate without a SaslHandshake before it";
    } else {
        const uint8_t *o;
        size_t ol;
        size_t in_len = body.auth_bytes.len > 0 ? (size_t)body.auth_bytes.len : 0;
        enum ed_sasl_status st = ed_sasl_server_step(a->sasl, body.auth_bytes.p, in_len, &o, &ol);
        if (st != ED_SASL_FAILED) {
            memcpy(answer, o, ol);
            resp.auth_bytes = (ed_kbytes){answer, (int32_t)ol};
        }
        st = conclude(a, req->broker, req->peer, st, &reason);
        if (st == ED_SASL_FAILED) {
            resp.error_code = KERR_SASL_AUTHENTICATION_FAILED;
            resp.auth_bytes = (ed_kbytes){(const uint8_t *)"", 0};
        } else if (st == ED_SASL_DONE) {
            int64_t life = reauth_ms(req->broker);
            resp.session_lifetime_ms = life > 0 ? life : 0;
        }
    }
    if (resp.error_code && a && !stay_open) a->close_after = true;
    /* no error: an empty message, not a null one (as Kafka) */
    resp.error_message = reason ? (ed_kstr){reason, (int32_t)strlen(reason)} : (ed_kstr){"", 0};
    ed_kschema_encode_response(api, req->api_version, &req->out, &resp);
    return ED_KAPI_RESPOND;
}

/* ---- DescribeUserScramCredentials / AlterUserScramCredentials ---- */

static enum ed_sasl_mech mech_of(int8_t code)
{
    return code == KSCRAM_SHA_256   ? ED_SASL_SCRAM_SHA_256
           : code == KSCRAM_SHA_512 ? ED_SASL_SCRAM_SHA_512
                                    : 0;
}

static int8_t code_of(enum ed_sasl_mech m)
{
    return m == ED_SASL_SCRAM_SHA_256 ? KSCRAM_SHA_256 : KSCRAM_SHA_512;
}

static bool same(ed_kstr a, ed_kstr b)
{
    return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

static ed_kstr kstr(const char *s)
{
    return s ? (ed_kstr){s, (int32_t)strlen(s)} : (ed_kstr){NULL, -1};
}

int ed_kapi_describe_user_scram_credentials(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_DESCRIBE_USER_SCRAM_CREDENTIALS);
    struct ed_kmsg_describe_user_scram_credentials_request body;
    ed_karena ar;
    ed_karena_init_heap(&ar, ARENA_MAX);
    if (ed_kschema_decode_request(api, req->api_version, &req->rd, &ar, &body) != ED_OK) {
        ed_karena_free(&ar);
        return ED_KAPI_CLOSE;
    }
    if (!ed_kapi_allowed_z(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME)) {
        struct ed_kmsg_describe_user_scram_credentials_response denied = {0};
        denied.error_code = ED_KERR_CLUSTER_AUTHORIZATION_FAILED;
        denied.error_message = kstr("Cluster authorization failed.");
        ed_kschema_encode_response(api, req->api_version, &req->out, &denied);
        ed_karena_free(&ar);
        return ED_KAPI_RESPOND;
    }
    const ed_users *u = req->broker->users;
    size_t n_creds = u ? ed_users_count(u) : 0;
    /* null or empty: every user (the store is sorted by name); else the
     * named users in request order */
    bool all = body.n_users <= 0;
    size_t n_want = all ? n_creds : (size_t)body.n_users;
    ed_kstr *want = ed_karena_alloc(&ar, (n_want ? n_want : 1) * sizeof *want);
    struct ed_kmsg_describe_user_scram_credentials_response resp = {0};
    resp.results = ed_karena_alloc(&ar, (n_want ? n_want : 1) * sizeof *resp.results);
    struct ed_kmsg_describe_user_scram_credentials_response_credential_info *infos =
        ed_karena_alloc(&ar, (n_creds ? n_creds : 1) * sizeof *infos);
    if (!want || !resp.results || !infos) {
        ed_karena_free(&ar);
        return ED_KAPI_CLOSE;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_want; i++) {
        if (!all) {
            want[n++] = body.users[i].name;
            continue;
        }
        struct ed_user_info ui = ed_users_get(u, i);
        ed_kstr name = {ui.name, (int32_t)ui.name_len};
        if (n == 0 || !same(want[n - 1], name)) want[n++] = name;
    }
    size_t n_infos = 0;
    for (size_t r = 0; r < n; r++) {
        struct
            ed_kmsg_describe_user_scram_credentials_response_describe_user_scram_credentials_result
                *res = &resp.results[resp.n_results++];
        res->user = want[r];
        res->error_message = (ed_kstr){NULL, -1};
        for (size_t k = 0; k < r && !all; k++)
            if (same(want[k], want[r])) {
                res->error_code = KERR_DUPLICATE_RESOURCE;
                res->error_message = kstr("Cannot describe SCRAM credentials for the same user "
                                          "twice in a single request");
            }
        if (res->error_code) continue;
        res->credential_infos = &infos[n_infos];
        for (size_t i = 0; i < n_creds; i++) {
            struct ed_user_info ui = ed_users_get(u, i);
            if (!same(want[r], (ed_kstr){ui.name, (int32_t)ui.name_len})) continue;
            infos[n_infos].mechanism = code_of(ui.mech);
            infos[n_infos++].iterations = (int32_t)ui.iterations;
            res->n_credential_infos++;
        }
        if (!res->n_credential_infos) {
            res->error_code = KERR_RESOURCE_NOT_FOUND;
            res->error_message = kstr("Attempt to describe a user credential that does not exist");
        }
    }
    resp.error_message = (ed_kstr){NULL, -1};
    ed_kschema_encode_response(api, req->api_version, &req->out, &resp);
    ed_karena_free(&ar);
    return ED_KAPI_RESPOND;
}

/* Checks one user's deletions and upsertions as Kafka does; 0 when the
 * user's changes may be applied. */
static int16_t check_user(const struct ed_kmsg_alter_user_scram_credentials_request *b,
                          ed_kstr user, const ed_users *u, const char **why)
{
    if (user.len <= 0) {
        *why = "Username must not be empty";
        return KERR_UNACCEPTABLE_CREDENTIAL;
    }
    if (!ed_users_name_ok(user.p, (size_t)user.len)) {
        *why = "Username is too long or has control characters";
        return KERR_UNACCEPTABLE_CREDENTIAL;
    }
    /* Kafka (KRaft) takes one change per user and request: naming a user
     * twice, even for two mechanisms, refuses that user's changes. */
    int32_t named = 0;
    for (int32_t i = 0; i < b->n_deletions; i++)
        named += same(b->deletions[i].name, user);
    for (int32_t i = 0; i < b->n_upsertions; i++)
        named += same(b->upsertions[i].name, user);
    if (named > 1) {
        *why = "A user credential cannot be altered twice in the same request";
        return KERR_DUPLICATE_RESOURCE;
    }
    for (int32_t i = 0; i < b->n_deletions; i++) {
        const struct ed_kmsg_alter_user_scram_credentials_request_scram_credential_deletion *d =
            &b->deletions[i];
        if (!same(d->name, user)) continue;
        enum ed_sasl_mech m = mech_of(d->mechanism);
        if (!m) {
            *why = "Unknown SCRAM mechanism";
            return ED_KERR_UNSUPPORTED_SASL_MECHANISM;
        }
        struct ed_scram_cred c;
        if (!u || ed_users_lookup(u, user.p, (size_t)user.len, m, &c) != ED_OK) {
            *why = "Attempt to delete a user credential that does not exist";
            return KERR_RESOURCE_NOT_FOUND;
        }
    }
    for (int32_t i = 0; i < b->n_upsertions; i++) {
        const struct ed_kmsg_alter_user_scram_credentials_request_scram_credential_upsertion *p =
            &b->upsertions[i];
        if (!same(p->name, user)) continue;
        enum ed_sasl_mech m = mech_of(p->mechanism);
        if (!m) {
            *why = "Unknown SCRAM mechanism";
            return ED_KERR_UNSUPPORTED_SASL_MECHANISM;
        }
        if (p->iterations < ED_SCRAM_MIN_ITER) {
            *why = "Too few iterations";
            return KERR_UNACCEPTABLE_CREDENTIAL;
        }
        if (p->iterations > ED_SCRAM_MAX_ITER) {
            *why = "Too many iterations";
            return KERR_UNACCEPTABLE_CREDENTIAL;
        }
        size_t hl = ed_plat_crypto_hash_len(ed_sasl_mech_hash(m));
        if (p->salt.len <= 0 || p->salt.len > ED_SCRAM_MAX_SALT ||
            p->salted_password.len != (int32_t)hl) {
            *why = "Salt or salted password of the wrong length";
            return KERR_UNACCEPTABLE_CREDENTIAL;
        }
    }
    return 0;
}

/* Applies one checked user's changes; each is durable when it returns. */
static int apply_user(const struct ed_kmsg_alter_user_scram_credentials_request *b, ed_kstr user,
                      ed_users *u)
{
    int rc = ED_OK;
    for (int32_t i = 0; i < b->n_deletions && rc == ED_OK; i++)
        if (same(b->deletions[i].name, user))
            rc = ed_users_delete(u, user.p, (size_t)user.len, mech_of(b->deletions[i].mechanism));
    for (int32_t i = 0; i < b->n_upsertions && rc == ED_OK; i++) {
        const struct ed_kmsg_alter_user_scram_credentials_request_scram_credential_upsertion *p =
            &b->upsertions[i];
        if (!same(p->name, user)) continue;
        struct ed_scram_cred c;
        enum ed_sasl_mech m = mech_of(p->mechanism);
        rc = ed_scram_cred_from_salted(m, p->salted_password.p, p->salt.p, (size_t)p->salt.len,
                                       (uint32_t)p->iterations, &c);
        if (rc == ED_OK) rc = ed_users_put(u, user.p, (size_t)user.len, m, &c);
        memset(&c, 0, sizeof c);
    }
    return rc;
}

int ed_kapi_alter_user_scram_credentials(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_ALTER_USER_SCRAM_CREDENTIALS);
    struct ed_kmsg_alter_user_scram_credentials_request body;
    ed_karena ar;
    ed_karena_init_heap(&ar, ARENA_MAX);
    if (ed_kschema_decode_request(api, req->api_version, &req->rd, &ar, &body) != ED_OK) {
        ed_karena_free(&ar);
        return ED_KAPI_CLOSE;
    }
    if (body.n_deletions < 0) body.n_deletions = 0;
    if (body.n_upsertions < 0) body.n_upsertions = 0;
    size_t n_max = (size_t)body.n_deletions + (size_t)body.n_upsertions;
    struct ed_kmsg_alter_user_scram_credentials_response resp = {0};
    resp.results = ed_karena_alloc(&ar, (n_max ? n_max : 1) * sizeof *resp.results);
    if (!resp.results) {
        ed_karena_free(&ar);
        return ED_KAPI_CLOSE;
    }
    ed_users *u = req->broker->users;
    bool allowed = ed_kapi_allowed_z(req, ED_ACL_OP_ALTER, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME);
    /* one result per distinct user, in the order users first appear */
    for (size_t i = 0; i < n_max; i++) {
        ed_kstr user = i < (size_t)body.n_deletions
                           ? body.deletions[i].name
                           : body.upsertions[i - (size_t)body.n_deletions].name;
        bool dup = false;
        for (int32_t k = 0; k < resp.n_results && !dup; k++)
            dup = same(resp.results[k].user, user);
        if (dup) continue;
        struct ed_kmsg_alter_user_scram_credentials_response_alter_user_scram_credentials_result
            *res = &resp.results[resp.n_results++];
        res->user = user;
        res->error_message = (ed_kstr){NULL, -1};
        const char *why = NULL;
        if (!allowed) {
            res->error_code = ED_KERR_CLUSTER_AUTHORIZATION_FAILED;
            why = "Cluster authorization failed.";
        } else {
            res->error_code = check_user(&body, user, u, &why);
        }
        if (!res->error_code && !u) {
            res->error_code = ED_KERR_UNKNOWN_SERVER_ERROR;
            why = "this broker has no user store";
        }
        if (!res->error_code) {
            int rc = apply_user(&body, user, u);
            if (rc == ED_OK) {
                ED_LOG_INFO("%s changed the SCRAM credentials of user %.*s", req->peer, user.len,
                            user.p);
            } else {
                res->error_code = rc == ED_ERR_TOOBIG ? KERR_UNACCEPTABLE_CREDENTIAL
                                                      : ED_KERR_UNKNOWN_SERVER_ERROR;
                why =
                    rc == ED_ERR_TOOBIG ? "the user store is full" : "cannot write the user store";
            }
        }
        res->error_message = kstr(why);
    }
    ed_kschema_encode_response(api, req->api_version, &req->out, &resp);
    ed_karena_free(&ar);
    return ED_KAPI_RESPOND;
}

/* DescribeClientQuotas: Eddy has no client quotas; the answer is an empty
 * list, which `kafka-configs --describe --entity-type users` asks for
 * before the users' SCRAM credentials. */
int ed_kapi_describe_client_quotas(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_DESCRIBE_CLIENT_QUOTAS);
    struct ed_kmsg_describe_client_quotas_request body;
    ed_karena ar;
    ed_karena_init_heap(&ar, ARENA_MAX);
    int rc = ed_kschema_decode_request(api, req->api_version, &req->rd, &ar, &body);
    ed_karena_free(&ar);
    if (rc != ED_OK) return ED_KAPI_CLOSE;
    struct ed_kmsg_describe_client_quotas_response resp = {0};
    resp.error_message = (ed_kstr){NULL, -1};
    ed_kschema_encode_response(api, req->api_version, &req->out, &resp);
    return ED_KAPI_RESPOND;
}
