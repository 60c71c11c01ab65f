/* The user store: SCRAM credentials (salt, iterations, StoredKey, ServerKey
 * per user and mechanism, never a password) kept in one small file of the
 * data directory, ED_USERS_FILE, replaced atomically on every change (write
 * a temporary file, sync it, rename it over, sync the folder). A change is
 * durable when the call returns ED_OK and leaves the store untouched
 * otherwise. A file that fails any check is refused whole at open
 * (ED_ERR_CORRUPT, logged with the reason), never half-read. The layout is
 * in docs/format.md. PLAIN and MQTT passwords are checked against the same
 * credentials. */
#ifndef ED_CORE_USERS_H
#define ED_CORE_USERS_H

#include "core/sasl.h"

#define ED_USERS_FILE "users"
#ifndef ED_USERS_MAX
#define ED_USERS_MAX 1024 /* credentials in the store (a user has one per mechanism) */
#endif

typedef struct ed_users ed_users;

/* Opens the store of data directory dir; a missing file is an empty store.
 * ED_ERR_CORRUPT for a torn, truncated or altered file. */
int ed_users_open(const char *dir, ed_users **out);
/* The same from a file image already in memory (tests, fuzzing); the
 * store's changes still go to dir. */
int ed_users_open_image(const char *dir, const uint8_t *image, size_t len, ed_users **out);
void ed_users_close(ed_users *u); /* NULL is a no-op */

/* Number of credentials; 0 means no user exists. */
size_t ed_users_count(const ed_users *u);
/* What a listing shows of one credential; name is not NUL-terminated and
 * valid until the next change. */
struct ed_user_info {
    const char *name;
    size_t name_len;
    enum ed_sasl_mech mech;
    uint32_t iterations;
};
/* The i-th credential in (name, mechanism) order, i < ed_users_count(). */
struct ed_user_info ed_users_get(const ed_users *u, size_t i);

/* ED_OK with *out, or ED_ERR_NOENT. */
int ed_users_lookup(const ed_users *u, const char *name, size_t name_len, enum ed_sasl_mech m,
                    struct ed_scram_cred *out);
/* The same as an ed_sasl_lookup_fn: arg is the ed_users. */
int ed_users_sasl_lookup(void *arg, const char *name, size_t name_len, enum ed_sasl_mech m,
                         struct ed_scram_cred *out);
/* ED_OK when pw is the user's password (checked against SCRAM-SHA-256, or
 * SCRAM-SHA-512 when the user has only that); ED_ERR_PERM for a wrong
 * password or an unknown user alike. */
int ed_users_check_password(const ed_users *u, const char *name, size_t name_len, const void *pw,
                            size_t pw_len);

/* Adds or replaces one credential (AlterUserScramCredentials' upsertion).
 * ED_ERR_INVAL for a bad name, mechanism or credential, ED_ERR_TOOBIG when
 * the store is full, or the file's write error. */
int ed_users_put(ed_users *u, const char *name, size_t name_len, enum ed_sasl_mech m,
                 const struct ed_scram_cred *cred);
/* Sets a password: both SCRAM mechanisms with fresh random salts at
 * iterations, in one durable write. */
int ed_users_set_password(ed_users *u, const char *name, size_t name_len, const void *pw,
                          size_t pw_len, uint32_t iterations);
/* Removes the user's credential for m, or every credential when m is 0.
 * ED_ERR_NOENT when there was none. */
int ed_users_delete(ed_users *u, const char *name, size_t name_len, enum ed_sasl_mech m);

/* A user name Eddy accepts: 1..ED_SASL_MAX_NAME bytes, no control bytes. */
bool ed_users_name_ok(const char *name, size_t name_len);

#endif
