#include "rtp_err.h"

#include <stdarg.h>
#include <stdio.h>

int rtp_err_set(rtp_err_t *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
