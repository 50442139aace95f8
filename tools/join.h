/* join: `rtp supervise --join HOST[:PORT]`. The address names the broker's control
 * endpoint (tcp://HOST:PORT, PORT by default JOIN_DEFAULT_PORT, the base port of
 * `rtp up --listen`); everything else the workers need comes with the broker's
 * WELCOME (proto.h): the workers endpoint's port (on the same HOST), the workers'
 * settings, and the sentiment word list, kept in a file of this supervisor's own
 * folder and given to the sentiment workers as --emotion-file. */
#ifndef RTP_TOOLS_JOIN_H
#define RTP_TOOLS_JOIN_H

#include "rtp_err.h"
#include "supervise_link.h"

#define JOIN_DEFAULT_PORT 5559

typedef struct join_t join_t;

/* Parses HOST[:PORT] (an IPv4 address or a host name); dir: a folder of this supervisor's for
 * the word list. NULL with the reason. */
join_t *join_new(const char *address, const char *dir, rtp_err_t *err);
void join_destroy(join_t **self_p);

/* tcp://HOST:PORT */
const char *join_control(const join_t *self);

/* A supervise_link_welcome_fn (arg: the join_t): sets spec's workers endpoint and
 * extra arguments from the WELCOME. */
int join_welcome(void *arg, const rtp_msg_t *welcome, worker_spec_t *spec);

#endif
