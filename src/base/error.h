/*
 * error.h — status codes and error messages for internal code.
 *
 * Library code never prints and never exits: a function that can fail returns a
 * hearth_status and, through err_set(), writes one line saying what went wrong into a
 * caller-provided hearth_error (which may be NULL when the caller does not care).
 */
#ifndef HEARTH_BASE_ERROR_H
#define HEARTH_BASE_ERROR_H

#include "hearth.h"

/* Fill err (if not NULL) with status and a printf-style message; returns status so a caller
 * can write `return err_set(err, HEARTH_ERR_FORMAT, "%s: bad magic", path);`. */
hearth_status err_set(hearth_error *err, hearth_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear err to HEARTH_OK with an empty message. */
void err_clear(hearth_error *err);

#endif
