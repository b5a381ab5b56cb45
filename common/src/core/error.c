/*
 * error.c - rj_error_t and the status table generated from RJ_STATUS_LIST.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "rj/status.h"

rj_status_t
rj_error_setv(rj_error_t *err, rj_status_t status, const char *fmt, va_list ap)
{
    if (err != NULL) {
        err->status = status;
        err->code[0] = '\0';
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return status;
}

rj_status_t
rj_error_set(rj_error_t *err, rj_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rj_error_setv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

rj_status_t
rj_error_set_code(rj_error_t *err, const char *code)
{
    if (err == NULL)
        return RJ_OK;
    snprintf(err->code, sizeof err->code, "%s", code);
    return err->status;
}

void
rj_error_clear(rj_error_t *err)
{
    if (err != NULL) {
        err->status = RJ_OK;
        err->code[0] = '\0';
        err->msg[0] = '\0';
    }
}

const char *
rj_status_name(rj_status_t status)
{
    switch (status) {
#define RJ__STATUS_NAME(name, value, code, desc)                                                   \
    case name:                                                                                     \
        return #name;
        RJ_STATUS_LIST(RJ__STATUS_NAME)
#undef RJ__STATUS_NAME
    }
    return "RJ_UNKNOWN";
}

const char *
rj_error_code(const rj_error_t *err)
{
    if (err->code[0] != '\0')
        return err->code;
    switch (err->status) {
#define RJ__STATUS_CODE(name, value, code, desc)                                                   \
    case name:                                                                                     \
        return code;
        RJ_STATUS_LIST(RJ__STATUS_CODE)
#undef RJ__STATUS_CODE
    }
    return "InternalError";
}

bool
rj_status_is_data(rj_status_t status)
{
    switch (status) {
    case RJ_EINVAL:   /* a value refused: a data exception, a constraint */
    case RJ_ESCHEMA:  /* a message or stored row that does not fit its schema */
    case RJ_ETOOBIG:  /* a row or message over a server's limit */
    case RJ_EHANDLER: /* the application refused it */
        return true;
    default:
        return false;
    }
}
