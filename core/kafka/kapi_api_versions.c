/* ApiVersions 0-4 on the decoded request and response structs; the
 * advertised ranges are the server's in the schema's API list, for every
 * key the dispatch table serves. An unknown version is answered in the v0
 * format with UNSUPPORTED_VERSION and every range, so the client can pick
 * a version it shares (KIP-511). */
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"

/* KIP-511 client software name/version: [a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])? */
static bool valid_software(ed_kstr s)
{
    if (s.len <= 0) return false;
    for (int32_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && c != '.') || i == 0 || i == s.len - 1)) return false;
    }
    return true;
}

int ed_kapi_api_versions(ed_kreq *req)
{
    const struct ed_kmsg_api *api = req->api;
    const struct ed_kmsg_api_versions_request *body = req->body;
    struct ed_kmsg_api_versions_response_api_version keys[ED_KMSG_N_APIS];
    struct ed_kmsg_api_versions_response resp;
    ed_kschema_init(api->response, &resp);
    if (!body) { /* a version outside the range: not decoded */
        req->api_version = 0;
        resp.error_code = ED_KERR_UNSUPPORTED_VERSION;
    } else if (ed_kschema_has(api->request, req->api_version, "ClientSoftwareName") &&
               (!valid_software(body->client_software_name) ||
                !valid_software(body->client_software_version))) {
        resp.error_code = ED_KERR_INVALID_REQUEST;
    }
    resp.n_api_keys = 0;
    resp.api_keys = keys;
    for (size_t i = 0; i < ED_KMSG_N_APIS && resp.error_code != ED_KERR_INVALID_REQUEST; i++) {
        const struct ed_kmsg_api *a = &ed_kmsg_apis[i];
        if (a->srv_min < 0 || !ed_kapi_table[a->key].fn) continue;
        keys[resp.n_api_keys++] = (struct ed_kmsg_api_versions_response_api_version){
            .api_key = a->key, .min_version = a->srv_min, .max_version = a->srv_max};
    }
    /* no supported or finalized features */
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}
