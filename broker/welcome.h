/* welcome: the WELCOME message (proto.h) the broker sends each supervisor that
 * joins, so that `rtp supervise --join HOST` needs no other setting: the workers
 * endpoint, the workers' settings, and the sentiment word list itself (fetched
 * once here, so that a worker host needs no route to the rtp-server). */
#ifndef RTP_BROKER_WELCOME_H
#define RTP_BROKER_WELCOME_H

#include "proto.h"

/* workers_endpoint: the one the broker binds (a joining supervisor takes its port
 * and the host it joined). worker_args: "POOL:--flag=value" words, or NULL.
 * emotion_url: where to fetch the word list (NULL: none offered; a failed fetch is
 * logged and offers none, and the remote sentiment workers use their own list).
 * NULL only when out of memory. */
rtp_msg_t *welcome_new(const char *workers_endpoint, const char *worker_args, const char *emotion_url);

#endif
