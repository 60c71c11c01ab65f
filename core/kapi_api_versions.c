/* ApiVersions 0-4, generated from ed_kapi_table. An unknown version is
 * answered in the v0 format with UNSUPPORTED_VERSION and every range, so
 * the client can pick a version it shares (KIP-511). */
#include "core/kapi.h"
#include "core/kapi_handlers.h"

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

static void write_keys(ed_kwr *w, bool flex)
{
    int32_t n = 0;
    for (int k = 0; k < ED_KAPI_N_KEYS; k++)
        if (ed_kapi_table[k].fn) n++;
    ed_kwr_array(w, n, flex);
    for (int k = 0; k < ED_KAPI_N_KEYS; k++) {
        const struct ed_kapi_entry *e = &ed_kapi_table[k];
        if (!e->fn) continue;
        ed_kwr_i16(w, (int16_t)k);
        ed_kwr_i16(w, e->min_version);
        ed_kwr_i16(w, e->max_version);
        ed_kwr_tags(w, flex);
    }
}

int ed_kapi_api_versions(ed_kreq *req)
{
    const struct ed_kapi_entry *me = &ed_kapi_table[ED_KAPI_API_VERSIONS];
    ed_kwr *w = &req->out;
    if (req->api_version < me->min_version || req->api_version > me->max_version) {
        ed_kwr_i16(w, ED_KERR_UNSUPPORTED_VERSION);
        write_keys(w, false);
        return ED_KAPI_RESPOND;
    }
    bool flex = req->flex;
    int16_t err = ED_KERR_NONE;
    if (req->api_version >= 3) {
        ed_kstr name = ed_krd_str(&req->rd, true);
        ed_kstr version = ed_krd_str(&req->rd, true);
        ed_krd_tags(&req->rd, true);
        if (!ed_krd_ok(&req->rd)) return ED_KAPI_CLOSE;
        if (!valid_software(name) || !valid_software(version)) err = ED_KERR_INVALID_REQUEST;
    }
    ed_kwr_i16(w, err);
    if (err == ED_KERR_NONE)
        write_keys(w, flex);
    else
        ed_kwr_array(w, 0, flex);
    if (req->api_version >= 1) ed_kwr_i32(w, 0); /* throttle_time_ms */
    ed_kwr_tags(w, flex);                        /* no supported or finalized features */
    return ED_KAPI_RESPOND;
}
