/* rtp: the launcher. `rtp up` runs the whole system; more commands come as the
 * system grows (see `rtp help`). */
#include "supervise.h"
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
