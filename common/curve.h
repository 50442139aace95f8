/* curve: CurveZMQ security for every TCP endpoint, when keys are configured.
 *
 * With --curve-dir DIR (env RTP_CURVE_DIR; every executable has it), every socket
 * that binds is a CURVE server with DIR/server.key_secret and accepts only clients
 * whose public certificate is in DIR/authorized/ (a ZAP handler, czmq's zauth, runs
 * once per process and logs each refusal); every socket that connects is a CURVE
 * client with DIR/client.key_secret and checks the server against DIR/server.key.
 * Traffic is then encrypted and authenticated. Without a curve dir nothing changes.
 * `rtp keys DIR` creates the certificates. Secrets are never logged.
 */
#ifndef RTP_CURVE_H
#define RTP_CURVE_H

#include "rtp_err.h"

#include <czmq.h>

/* Sets (or, with NULL or "", clears) the key folder for this process. */
void rtp_curve_set_dir(const char *dir);
/* 1 when a key folder is configured. */
int rtp_curve_enabled(void);

/* Call before zsock_bind: makes sock a CURVE server (and starts the ZAP handler
 * once). 0 (also when CURVE is off), or -1 with the reason. */
int rtp_curve_server(zsock_t *sock, rtp_err_t *err);
/* Call before zsock_connect: makes sock a CURVE client. 0, or -1 with the reason. */
int rtp_curve_client(zsock_t *sock, rtp_err_t *err);

/* Creates DIR/server.key{,_secret} (unless present), DIR/<client>.key{,_secret},
 * and copies the client's public certificate to DIR/authorized/. 0 or -1. */
int rtp_curve_make_keys(const char *dir, const char *client, rtp_err_t *err);

/* Releases the ZAP handler (at exit). */
void rtp_curve_shutdown(void);

#endif
