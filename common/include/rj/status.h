/*
 * rj/status.h - status codes and the error value every public function reports through.
 *
 * One X-macro list is the single source of the status enum, its names, and
 * docs/errors.md. The categories follow the decision a caller has to make:
 * retry the same thing later (RJ_ERETRY), fix the input (RJ_EINVAL, RJ_ESCHEMA),
 * or give up on this item and report it (everything else).
 */
#ifndef RJ_STATUS_H
#define RJ_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#if defined(RAMJET_BUILDING)
#define RJ_EXPORT __attribute__((visibility("default")))
#else
#define RJ_EXPORT
#endif

/* X(name, value, graphql code, description) */
#define RJ_STATUS_LIST(X)                                                                          \
    X(RJ_OK, 0, "", "success")                                                                     \
    X(RJ_EINVAL, 1, "InvalidParameterError", "the input is malformed or violates a contract")     \
    X(RJ_ESCHEMA, 2, "InvalidParameterError", "the input does not fit the declared schema")       \
    X(RJ_ENOTFOUND, 3, "NotFoundError", "the named thing does not exist")                         \
    X(RJ_EAUTH, 4, "NotAuthorizedError", "the caller is not allowed to do this")                  \
    X(RJ_ECONFLICT, 5, "OptimisticConcurrencyUnexpectedVersionError",                              \
      "a concurrent write took the version first; retry against fresh state")                      \
    X(RJ_ERETRY, 6, "RetriableError", "a transient failure of a dependency; retry later")         \
    X(RJ_ETIMEOUT, 7, "TimeoutError", "the operation did not finish in time")                     \
    X(RJ_EHANDLER, 8, "", "an application handler reported an error")                             \
    X(RJ_EPROTO, 9, "InvalidProtocolError", "the peer broke the protocol")                        \
    X(RJ_ETOOBIG, 10, "InvalidParameterError", "the input exceeds a configured limit")            \
    X(RJ_EIO, 11, "InternalError", "an I/O or dependency failure that retrying will not fix")    \
    X(RJ_EINTERNAL, 12, "InternalError", "a broken invariant inside Ramjet")

typedef enum rj_status {
#define RJ__STATUS_ENUM(name, value, code, desc) name = value,
    RJ_STATUS_LIST(RJ__STATUS_ENUM)
#undef RJ__STATUS_ENUM
} rj_status_t;

#define RJ_ERROR_MSG_MAX 512

/** An error report: the status and a human-readable message in postgres style. */
typedef struct rj_error {
    rj_status_t status;          /* RJ_OK when nothing was reported */
    char code[64];               /* GraphQL extensions.code override, "" = from status */
    char msg[RJ_ERROR_MSG_MAX];  /* "could not <verb> <object>: <reason>" */
} rj_error_t;

/**
 * Fills @p err (which may be NULL) and returns @p status, so callers can write
 * `return rj_error_set(err, RJ_EINVAL, "bad %s", x);`.
 */
RJ_EXPORT rj_status_t rj_error_set(rj_error_t *err, rj_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
RJ_EXPORT rj_status_t rj_error_setv(rj_error_t *err, rj_status_t status, const char *fmt,
                                    va_list ap) __attribute__((format(printf, 3, 0)));
/** Sets a GraphQL extensions.code on @p err (e.g. "NotAuthorizedError"); returns err->status. */
RJ_EXPORT rj_status_t rj_error_set_code(rj_error_t *err, const char *code);
/** Resets @p err to RJ_OK with an empty message. */
RJ_EXPORT void rj_error_clear(rj_error_t *err);
/** The enum constant's name, e.g. "RJ_EINVAL". Never NULL. */
RJ_EXPORT const char *rj_status_name(rj_status_t status);
/** The GraphQL extensions.code for an error: err->code if set, else the status's default. */
RJ_EXPORT const char *rj_error_code(const rj_error_t *err);

#endif
