#include "listen.h"

#include "join.h"

#include <string.h>

static int s_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "localhost") == 0 || strcmp(addr, "lo") == 0;
}

int listen_prepare(listen_t *self, const char *addr, int base_port, int have_keys, int insecure,
                   rtp_err_t *err)
{
    memset(self, 0, sizeof *self);
    if (base_port <= 0 || base_port > 65534)
        return rtp_err_set(err, "--listen-port takes 1 to 65534 (it and the next port are used), not %d",
                           base_port);
    if (!*addr || strlen(addr) > 200 || strpbrk(addr, ":/[] "))
        return rtp_err_set(err, "--listen takes an IPv4 address, an interface name, localhost or *, not '%s'",
                           addr);
    if (!s_loopback(addr) && !have_keys && !insecure)
        return rtp_err_set(err,
                           "--listen %s serves other hosts: it needs CURVE keys (--curve-dir DIR), or "
                           "--insecure-listen to go without",
                           addr);
    int wildcard = strcmp(addr, "*") == 0 || strcmp(addr, "0.0.0.0") == 0;
    /* ZeroMQ binds an address or an interface name, not a host name */
    const char *bind = strcmp(addr, "localhost") == 0 ? "127.0.0.1" : addr;
    const char *here = wildcard || strcmp(addr, "localhost") == 0 ? "127.0.0.1" : addr;
    snprintf(self->bind_control, sizeof self->bind_control, "tcp://%s:%d", bind, base_port);
    snprintf(self->bind_workers, sizeof self->bind_workers, "tcp://%s:%d", bind, base_port + 1);
    snprintf(self->connect_control, sizeof self->connect_control, "tcp://%s:%d", here, base_port);
    snprintf(self->connect_workers, sizeof self->connect_workers, "tcp://%s:%d", here, base_port + 1);
    if (base_port == JOIN_DEFAULT_PORT)
        snprintf(self->join_hint, sizeof self->join_hint, "%s", wildcard ? "THIS-HOST" : addr);
    else
        snprintf(self->join_hint, sizeof self->join_hint, "%s:%d", wildcard ? "THIS-HOST" : addr, base_port);
    return 0;
}

void listen_print_keys_howto(FILE *f, const char *addr)
{
    fprintf(f,
            "Make the keys once, on this host:\n"
            "  rtp keys ~/rtp-keys\n"
            "Copy three files to a folder on each worker host (not server.key_secret, which stays here):\n"
            "  scp ~/rtp-keys/server.key ~/rtp-keys/client.key ~/rtp-keys/client.key_secret "
            "WORKER-HOST:rtp-keys/\n"
            "Then run:\n"
            "  rtp up --listen %s --curve-dir ~/rtp-keys                  (here)\n"
            "  rtp supervise --join %s --curve-dir ~/rtp-keys              (on each worker host)\n"
            "or, on a network you trust entirely, add --insecure-listen.\n",
            addr, addr);
}
