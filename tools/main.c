/* rtp: the launcher. `rtp up` runs the whole system; more commands come as the
 * system grows (see `rtp help`). */
#include "curve.h"
#include "supervise.h"
#include "top.h"
#include "up.h"

#include <stdio.h>
#include <string.h>

#ifndef RTP_VERSION
#define RTP_VERSION "0.1.0"
#endif

static void s_usage(FILE *f)
{
    fprintf(f, "Usage: rtp COMMAND [OPTIONS]\n\n"
               "Commands:\n"
               "  up        run the whole system in the foreground (rtp up --help)\n"
               "  supervise run workers on this host for a broker elsewhere (rtp supervise --help)\n"
               "  top       a live view of the running system from the broker's metrics (rtp top --help)\n"
               "  keys      create CurveZMQ certificates (rtp keys DIR [CLIENT-NAME])\n"
               "  help      this text\n"
               "  version   print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "up"))
        return up_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "supervise"))
        return supervise_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "top"))
        return top_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "keys")) {
        if (argc < 3 || argv[2][0] == '-') {
            fprintf(stderr, "Usage: rtp keys DIR [CLIENT-NAME]\n"
                            "Creates DIR/server.key (unless present) and a client certificate CLIENT-NAME\n"
                            "(default: client), authorized in DIR/authorized/. Give DIR to every actor with\n"
                            "--curve-dir DIR (env RTP_CURVE_DIR); a host needs server.key, the client's key\n"
                            "files named client.key and client.key_secret, and (to serve) server.key_secret.\n");
            return argc < 3 ? 2 : 0;
        }
        rtp_err_t err;
        const char *name = argc > 3 ? argv[3] : "client";
        if (rtp_curve_make_keys(argv[2], name, &err) != 0) {
            fprintf(stderr, "rtp keys: %s\n", err.msg);
            return 1;
        }
        printf("keys in %s: server.key, %s.key (authorized in %s/authorized/)\n", argv[2], name, argv[2]);
        printf("a worker host needs server.key, %s.key and %s.key_secret (named client.key and "
               "client.key_secret there); server.key_secret stays on the broker's host\n", name, name);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        s_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("rtp %s\n", RTP_VERSION);
        return 0;
    }
    fprintf(stderr, "rtp: unknown command '%s'\n", cmd);
    s_usage(stderr);
    return 2;
}
