/* rtp_err: the one error convention of the project.
 *
 * Verbs return 0 on success and -1 on failure; constructors return NULL on failure.
 * A function that can fail for a reason the caller should log or count takes an
 * `rtp_err_t *err` (which may be NULL) as its last argument and writes a one-line,
 * human-readable reason into it. Nothing in librtp prints errors itself: the caller
 * decides whether a reason is a warning, an error or a dead letter.
 */
#ifndef RTP_ERR_H
#define RTP_ERR_H

#include <stddef.h>

#define RTP_ERR_MAX 256

typedef struct {
    char msg[RTP_ERR_MAX];
} rtp_err_t;

/* Formats a reason into err (if err is not NULL) and returns -1, so that
 * `return rtp_err_set(err, "...")` both reports and fails. */
int rtp_err_set(rtp_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
