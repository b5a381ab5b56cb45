/*
 * auth/auth.h - verifying the JWTs clients present, and turning them into user envelopes.
 *
 * An application trusts one or more issuers (rj_app_token_verifier_public_key in
 * ramjet.h): each is an issuer name, a public key and the claim that holds the roles.
 * A token is accepted when one verifier accepts it, as Booster's tokenVerifiers are
 * (booster-surface.md §2): every verifier checks the token as jsonwebtoken 9's
 * verify(token, key, {algorithms, issuer}) does, in the same order and with the same
 * reason texts, because those texts reach clients unchanged.
 *
 * The algorithm is a property of the key, never of the token: an RSA key verifies RS256
 * only, a P-256 key ES256 only. A token whose header names another algorithm ("none",
 * HS256 signed with the PEM text as an HMAC secret, RS256 against an EC key) is refused
 * before any cryptography runs. This is why the signature is checked here with OpenSSL
 * rather than with libjwt's jwt_decode, which verifies with whatever algorithm the
 * token's header names (and so accepts an HS256 token keyed with the public PEM), and
 * which also rejects tokens over header details jsonwebtoken accepts (a `typ` other than
 * JWT). libjwt remains what the tests mint tokens with.
 *
 * A verifier has either one PEM key (Booster's PublicKeyTokenVerifier: `kid` is not
 * looked at) or a JWKS URI (JwksUriTokenVerifier): the key is the JWKS entry named by the
 * token header's `kid`, fetched with libcurl and cached (jwks.c). A JWKS verifier refetches
 * on an unknown kid at most once per RAMJET_JWKS_MIN_REFRESH_S seconds, and when its cache
 * is older than RJ_AUTH_JWKS_MAX_AGE_S; such a fetch blocks the verifying thread for up to
 * RJ_AUTH_JWKS_TIMEOUT_MS. rj_auth_new() fetches every JWKS once, so the common case
 * (a known kid) never waits for the network.
 *
 * What this module deliberately does not do: check `aud`
 * (Booster does not configure an audience), or decide what a user may do (app/app.h's
 * authorize attributes do).
 *
 * A verifier set is immutable once built, apart from JWKS caches, which are guarded by a
 * mutex: any number of threads may verify concurrently.
 */
#ifndef RJ_AUTH_H
#define RJ_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rj/status.h"

/* The largest token looked at (the whole `Authorization` value after "Bearer "). Real
 * tokens are a few hundred bytes to a few KiB; bounding them bounds the work a client
 * can ask for before any signature is checked. */
#define RJ_AUTH_TOKEN_MAX 16384

/* The roles claim when the application names none (Booster's default). */
#define RJ_AUTH_DEFAULT_ROLES_CLAIM "custom:role"

/* The environment variable holding the clock tolerance in seconds (default 0, as
 * jsonwebtoken's clockTolerance). */
#define RJ_AUTH_LEEWAY_ENV "RAMJET_JWT_LEEWAY_S"
#define RJ_AUTH_LEEWAY_MAX 3600 /* a larger tolerance is a misconfiguration */

/* JWKS fetching: the largest document read, the connect and total timeout, and the
 * cache's maximum age. */
#define RJ_AUTH_JWKS_MAX_BYTES (1024 * 1024)
#define RJ_AUTH_JWKS_TIMEOUT_MS 5000
#define RJ_AUTH_JWKS_MAX_AGE_S 600

/* The environment variable holding the least number of seconds between two JWKS fetches
 * an unknown kid may trigger (default RJ_AUTH_JWKS_MIN_REFRESH_DEFAULT_S; 0 disables the
 * limit, for tests). */
#define RJ_AUTH_JWKS_MIN_REFRESH_ENV "RAMJET_JWKS_MIN_REFRESH_S"
#define RJ_AUTH_JWKS_MIN_REFRESH_DEFAULT_S 30
#define RJ_AUTH_JWKS_MIN_REFRESH_MAX 86400 /* one day */

/* The GraphQL extensions.code of each way verification fails (Booster's error classes). */
#define RJ_AUTH_CODE_DENIED "NotAuthorizedError"
#define RJ_AUTH_CODE_EXPIRED "BoosterTokenExpiredError"
#define RJ_AUTH_CODE_NOT_BEFORE "BoosterTokenNotBeforeError"

typedef struct rj_auth rj_auth_t;

/**
 * An application's extra check on a token a standard verifier accepted (signature, alg,
 * nbf, exp and issuer all good): an audience, a revocation list, a required claim.
 *
 * @param header  the token's JWT header; borrowed
 * @param claims  its payload; borrowed
 * @param err     on refusal, the reason the client reads (empty: "JsonWebTokenError:
 *                token refused"); its code, when set to RJ_AUTH_CODE_EXPIRED or
 *                RJ_AUTH_CODE_NOT_BEFORE, counts as that kind of failure
 * @return RJ_OK to accept; any error status refuses the token for this verifier
 *
 * Runs on the verifying thread (gateway loop, pusher loop): must not block for long.
 */
typedef rj_status_t (*rj_auth_check_fn)(const json_t *header, const json_t *claims,
                                        rj_error_t *err);

/**
 * A verifier the application implements whole (Booster's custom TokenVerifier): it gets
 * the raw token, which need not be a JWT, and decides.
 *
 * @param token   the token, NUL-terminated, at most RJ_AUTH_TOKEN_MAX bytes; borrowed
 * @param header  on RJ_OK optionally a header object (a new reference); may be left NULL
 * @param claims  on RJ_OK the claims the user envelope is built from (a new reference,
 *                an object); roles come from the verifier's roles claim
 * @param err     on refusal, as for rj_auth_check_fn
 * @return RJ_OK to accept; any error status refuses
 */
typedef rj_status_t (*rj_auth_custom_fn)(const char *token, json_t **header, json_t **claims,
                                         rj_error_t *err);

/** One trusted issuer, with exactly one of pem, jwks_uri and custom. Strings borrowed
 * for the rj_auth_new() call. */
typedef struct rj_auth_verifier_conf {
    const char *issuer;         /* the `iss` it trusts; compared exactly (a custom
                                   verifier's is only a name for logs, and may be NULL) */
    const char *pem;            /* public key: SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or
                                   an X.509 certificate; RSA verifies RS256, EC P-256 ES256 */
    const char *jwks_uri;       /* or: http(s) URI of a JWKS; the token's kid picks the key */
    const char *roles_claim;    /* claim holding the roles; NULL or "": custom:role */
    int64_t jwks_min_refresh_s; /* JWKS: least seconds between fetches on an unknown kid
                                   (0: no limit); see rj_auth_jwks_min_refresh_from_env */
    int64_t jwks_max_age_s;     /* JWKS: refetch when older; 0: RJ_AUTH_JWKS_MAX_AGE_S */
    rj_auth_custom_fn custom;   /* or: the application verifies the token itself */
    rj_auth_check_fn check;     /* pem/jwks: an extra check after the standard ones, or NULL */
} rj_auth_verifier_conf_t;

/**
 * Builds a verifier set.
 *
 * @param confs     the verifiers, tried in this order; borrowed
 * @param n         their number (0 is allowed: every token is then refused)
 * @param leeway_s  clock tolerance for `exp` and `nbf`, 0..RJ_AUTH_LEEWAY_MAX seconds
 * @param err       on failure names the verifier (by issuer) and why its key is unusable
 * @return the set, or NULL with RJ_EINVAL (a key that does not parse, or of a type other
 *         than RSA or EC P-256; an empty issuer; not exactly one of pem, jwks_uri and
 *         custom; a check on a custom verifier; a
 *         jwks_uri that is not http(s); a leeway or refresh interval out of range)
 *
 * Each JWKS is fetched once here; a fetch that fails is logged (warn) and is not an
 * error, since the provider may come up later: its tokens are refused until a refresh
 * succeeds. So this blocks up to RJ_AUTH_JWKS_TIMEOUT_MS per JWKS verifier.
 *
 * Ownership: the caller owns the result; release with rj_auth_free(). Any thread.
 */
rj_auth_t *rj_auth_new(const rj_auth_verifier_conf_t *confs, size_t n, int64_t leeway_s,
                       rj_error_t *err);

/** Frees a verifier set. NULL is a no-op. */
void rj_auth_free(rj_auth_t *a);

/** The number of verifiers. */
size_t rj_auth_verifier_count(const rj_auth_t *a);

/** The algorithm verifier @p i accepts ("RS256" or "ES256"; "JWKS" for a JWKS verifier,
 * whose keys decide; "custom" for an application's own), or NULL past the end. Static. */
const char *rj_auth_verifier_alg(const rj_auth_t *a, size_t i);

/**
 * Reads the clock tolerance from RAMJET_JWT_LEEWAY_S (unset or empty: 0).
 *
 * @return RJ_OK, or RJ_EINVAL when it is not an integer in 0..RJ_AUTH_LEEWAY_MAX
 */
rj_status_t rj_auth_leeway_from_env(int64_t *out, rj_error_t *err);

/**
 * Reads the JWKS refresh interval from RAMJET_JWKS_MIN_REFRESH_S (unset or empty:
 * RJ_AUTH_JWKS_MIN_REFRESH_DEFAULT_S).
 *
 * @return RJ_OK, or RJ_EINVAL when it is not an integer in 0..RJ_AUTH_JWKS_MIN_REFRESH_MAX
 */
rj_status_t rj_auth_jwks_min_refresh_from_env(int64_t *out, rj_error_t *err);

/**
 * Verifies a token and builds its user envelope, Booster's UserEnvelope:
 * {id: sub, username: email || phone_number || sub, roles: [...], claims: payload,
 * header: the JWT header}. Members whose source is absent are left out, as
 * JSON.stringify leaves out undefined ones. Roles are the roles claim's value when it is
 * a string, or its string elements when it is an array; anything else is no roles.
 *
 * @param token   the compact JWT, @p len bytes (need not be NUL-terminated); borrowed
 * @param now_s   the current time, seconds since the epoch (tests pass fixed clocks)
 * @param user    on RJ_OK the envelope, a new reference; untouched otherwise
 * @param err     on failure: status RJ_EAUTH, msg the verifiers' reasons joined with "\n"
 *                in verifier order (e.g. "TokenExpiredError: jwt expired"), and code
 *                RJ_AUTH_CODE_NOT_BEFORE when any verifier failed on `nbf`, else
 *                RJ_AUTH_CODE_EXPIRED when any failed on `exp`, else RJ_AUTH_CODE_DENIED.
 *                A JWKS verifier without a key for the token's kid gives
 *                `JsonWebTokenError: no key for kid "<kid>"` (kid sanitised and cut short)
 * @return RJ_OK or RJ_EAUTH
 *
 * Never logs the token. Any thread; with a JWKS verifier it may block on a rate-limited
 * refetch (see the file comment).
 */
rj_status_t rj_auth_verify(const rj_auth_t *a, const char *token, size_t len, int64_t now_s,
                           json_t **user, rj_error_t *err);

/**
 * Verifies the value of an `Authorization` header (or a graphql-ws connection_init
 * payload's Authorization): the first occurrence of "Bearer " is removed, as Booster's
 * plain string replace does, and what remains is verified with rj_auth_verify().
 *
 * @param value   the header value, @p len bytes; borrowed. NULL means no header.
 * @param user    on RJ_OK the user envelope (a new reference), or NULL for an anonymous
 *                request: no value or an empty one. "Bearer " alone is verified as an
 *                empty token and refused ("jwt must be provided"), as in Booster
 * @return RJ_OK or RJ_EAUTH, as rj_auth_verify()
 */
rj_status_t rj_auth_verify_authorization(const rj_auth_t *a, const char *value, size_t len,
                                         int64_t now_s, json_t **user, rj_error_t *err);

#endif
