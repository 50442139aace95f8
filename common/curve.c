#include "curve.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir[1024];
static zactor_t *s_auth = NULL;
static char s_server_public[64];
static zcert_t *s_server_cert = NULL, *s_client_cert = NULL;

void rtp_curve_set_dir(const char *dir)
{
    snprintf(s_dir, sizeof s_dir, "%s", dir ? dir : "");
}

int rtp_curve_enabled(void) { return s_dir[0] != 0; }

static zcert_t *s_load(zcert_t **cache, const char *file, rtp_err_t *err)
{
    if (*cache)
        return *cache;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", s_dir, file);
    *cache = zcert_load(path);
    if (!*cache)
        rtp_err_set(err, "cannot load the CURVE certificate %s (make keys with: rtp keys %s)", path, s_dir);
    return *cache;
}

int rtp_curve_server(zsock_t *sock, rtp_err_t *err)
{
    if (!rtp_curve_enabled())
        return 0;
    zcert_t *cert = s_load(&s_server_cert, "server.key_secret", err);
    if (!cert)
        return -1;
    if (!s_auth) {
        char authorized[1200];
        snprintf(authorized, sizeof authorized, "%s/authorized", s_dir);
        zsys_set_logstream(stderr);   /* zauth's lines go with our own log lines */
        s_auth = zactor_new(zauth, NULL);
        if (!s_auth)
            return rtp_err_set(err, "cannot start the ZAP handler");
        /* before czmq's own exit handler (registered earlier, so run later) ends the context */
        atexit(rtp_curve_shutdown);
        /* VERBOSE makes zauth log every refused client (and every accepted one) */
        zstr_send(s_auth, "VERBOSE");
        zsock_wait(s_auth);
        zstr_sendx(s_auth, "CURVE", authorized, NULL);
        zsock_wait(s_auth);
        rtp_info("CURVE on: clients must hold a certificate listed in %s", authorized);
    }
    zcert_apply(cert, sock);
    zsock_set_curve_server(sock, 1);
    return 0;
}

/* The server's public key from DIR/server.key alone (zcert_load would prefer a
 * server.key_secret lying next to it). */
static const char *s_server_key(rtp_err_t *err)
{
    if (s_server_public[0])
        return s_server_public;
    char path[1200];
    snprintf(path, sizeof path, "%s/server.key", s_dir);
    zconfig_t *config = zconfig_load(path);
    const char *key = config ? zconfig_get(config, "curve/public-key", NULL) : NULL;
    if (key && strlen(key) == 40)
        snprintf(s_server_public, sizeof s_server_public, "%s", key);
    zconfig_destroy(&config);
    if (!s_server_public[0]) {
        rtp_err_set(err, "no server public key in %s (make keys with: rtp keys %s)", path, s_dir);
        return NULL;
    }
    return s_server_public;
}

int rtp_curve_client(zsock_t *sock, rtp_err_t *err)
{
    if (!rtp_curve_enabled())
        return 0;
    zcert_t *mine = s_load(&s_client_cert, "client.key_secret", err);
    const char *server = mine ? s_server_key(err) : NULL;
    if (!mine || !server)
        return -1;
    zcert_apply(mine, sock);
    zsock_set_curve_serverkey(sock, server);
    return 0;
}

static int s_save(zcert_t *cert, const char *dir, const char *name, rtp_err_t *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if (zcert_save(cert, path) != 0)
        return rtp_err_set(err, "cannot write %s", path);
    return 0;
}

int rtp_curve_make_keys(const char *dir, const char *client, rtp_err_t *err)
{
    char authorized[1200], path[2600];
    snprintf(authorized, sizeof authorized, "%s/authorized", dir);
    mkdir(dir, 0700);
    mkdir(authorized, 0755);
    snprintf(path, sizeof path, "%s/server.key_secret", dir);
    if (access(path, R_OK) != 0) {
        zcert_t *server = zcert_new();
        int rc = server ? s_save(server, dir, "server", err) : rtp_err_set(err, "cannot make a certificate");
        zcert_destroy(&server);
        if (rc)
            return -1;
    }
    zcert_t *cert = zcert_new();
    if (!cert)
        return rtp_err_set(err, "cannot make a certificate");
    zcert_set_meta(cert, "name", "%s", client);
    int rc = s_save(cert, dir, client, err);
    snprintf(path, sizeof path, "%s/%s.key", authorized, client);
    if (rc == 0 && zcert_save_public(cert, path) != 0)
        rc = rtp_err_set(err, "cannot write %s", path);
    zcert_destroy(&cert);
    return rc;
}

void rtp_curve_shutdown(void)
{
    zactor_destroy(&s_auth);
    zcert_destroy(&s_server_cert);
    zcert_destroy(&s_client_cert);
}
