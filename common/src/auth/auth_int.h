/*
 * auth/auth_int.h - what auth.c and jwks.c share: the algorithm enum and the JWKS key
 * cache. Not part of the auth API (auth.h); tests may include it.
 */
#ifndef RJ_AUTH_INT_H
#define RJ_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "rj/status.h"

typedef enum rj__auth_alg {
    RJ__AUTH_RS256, /* RSASSA-PKCS1-v1_5 with SHA-256 */
    RJ__AUTH_ES256, /* ECDSA P-256 with SHA-256 */
} rj__auth_alg_t;

/* A JWKS URI's keys, fetched with libcurl and cached; mutex-protected, any thread. */
typedef struct rj__jwks rj__jwks_t;

/*
 * A cache for @p uri (copied), refreshed on an unknown kid at most once per
 * @p min_refresh_s seconds (0: on every unknown kid) and when older than @p max_age_s.
 * Nothing is fetched yet. Ownership: the caller frees with rj__jwks_free().
 */
rj__jwks_t *rj__jwks_new(const char *uri, int64_t min_refresh_s, int64_t max_age_s);

/* Frees the cache. NULL is a no-op. */
void rj__jwks_free(rj__jwks_t *j);

/*
 * Fetches the JWKS now and replaces the cached keys on success (a failed fetch keeps the
 * old ones). Counts as a refresh for the rate limit. Blocks up to the fetch timeout.
 *
 * @return RJ_OK, or with the reason in @p err: RJ_ERETRY (transport failure, HTTP 5xx),
 *         RJ_ETIMEOUT, RJ_ETOOBIG (body over RJ_AUTH_JWKS_MAX_BYTES), RJ_EPROTO (another
 *         HTTP status, or a body that is not a JWKS), RJ_EIO (libcurl unusable)
 */
rj_status_t rj__jwks_refresh(rj__jwks_t *j, rj_error_t *err);

/*
 * The key for @p kid (NULL: the token names none, which matches only a set of exactly
 * one key, as jwks-rsa does). An unknown kid, or a cache past its maximum age, triggers a
 * refresh unless one happened within the minimum refresh interval; that refresh blocks.
 *
 * @return a new reference to the key (EVP_PKEY_free() it) with its algorithm in @p alg,
 *         or NULL when no usable key has that kid
 */
EVP_PKEY *rj__jwks_key(rj__jwks_t *j, const char *kid, rj__auth_alg_t *alg);

/* The number of fetch attempts so far (successful or not); for tests and logs. */
uint64_t rj__jwks_fetch_count(rj__jwks_t *j);

#endif
