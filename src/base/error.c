/* error.c — see error.h. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>

hearth_status err_set(hearth_error *err, hearth_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return status;
}

void err_clear(hearth_error *err)
{
    if (!err)
        return;
    err->status = HEARTH_OK;
    err->msg[0] = '\0';
}

const char *hearth_version(void)
{
    return HEARTH_VERSION;
}

const char *hearth_status_str(hearth_status status)
{
    switch (status) {
    case HEARTH_OK: return "ok";
    case HEARTH_ERR_INVALID: return "invalid argument";
    case HEARTH_ERR_IO: return "i/o error";
    case HEARTH_ERR_NOMEM: return "out of memory";
    case HEARTH_ERR_FORMAT: return "format error";
    case HEARTH_ERR_UNSUPPORTED: return "unsupported";
    case HEARTH_ERR_RANGE: return "out of range";
    }
    return "unknown status";
}
