#include "services.h"

#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int s_redis_pings(int port)
{
    struct timeval tv = {0, 300000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

int services_start_redis(sup_t *sup, const char *dir, char *url, size_t url_cap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = rtp_free_tcp_port(0);
        char port_s[16];
        snprintf(port_s, sizeof port_s, "%d", port);
        /* An append-only file written every second (appendfsync everysec: Redis
         * writes it before it answers, so a killed redis-server loses nothing acknowledged,
         * an OS crash up to a second), so the next `rtp up` with the same state folder finds
         * what was stored, and it can be read again (redis-server --dir DIR --appendonly yes).
         * hash-max-listpack-value 1024 keeps a tweet's hash (texts up to 1,024 bytes) in
         * Redis's compact encoding: 37 % less memory per row, the same CPU (docs/redis.md).
         * Its own log (a banner and the host's tuning advice) goes to a file in DIR, not the
         * terminal. */
        char logfile[4096];
        snprintf(logfile, sizeof logfile, "%s/redis-server.log", dir);
        char *argv[] = {"/usr/bin/redis-server", "--port", port_s, "--bind", "127.0.0.1", "--dir", (char *) dir,
                        "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                        "--hash-max-listpack-value", "1024", "--protected-mode", "yes", "--loglevel", "warning", "--logfile", logfile, NULL};
        const char *exe = access(argv[0], X_OK) == 0 ? argv[0] : "redis-server";
        argv[0] = (char *) exe;
        if (exe[0] != '/') {
            rtp_error("redis-server is not installed (apt-get install redis-server), or give --redis-url");
            return -1;
        }
        sup_child_t *child = sup_start(sup, "redis-server", argv, NULL);
        if (!child)
            return -1;
        for (int i = 0; i < 100; i++) {
            if (s_redis_pings(port)) {
                snprintf(url, url_cap, "redis://127.0.0.1:%d", port);
                return 0;
            }
            usleep(100000);
            sup_poll(sup);
            if (!child->pid)
                break;   /* it died: the port was taken meanwhile, probably */
        }
        sup_stop(sup, child, 2000);
        rtp_warn("the private redis-server did not come up on port %d (its log: %s); trying another port", port,
                 logfile);
    }
    return -1;
}

int services_start_replay(sup_t *sup, const char *bin_dir, const char *dir, char *const extra_args[], char *url,
                          size_t url_cap)
{
    char exe[4096], out[4096];
    snprintf(exe, sizeof exe, "%s/rtp-replay", bin_dir);
    snprintf(out, sizeof out, "%s/replay.out", dir);
    unlink(out);
    char *argv[SUP_MAX_ARGS] = {exe, "--port", "0"};
    int argc = 3;
    for (int i = 0; extra_args && extra_args[i] && argc < SUP_MAX_ARGS - 1; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    /* The replay prints its address on stdout; it goes to a file we watch, so the
     * child never blocks on a pipe nobody reads. */
    static char out_path[4096];
    snprintf(out_path, sizeof out_path, "%s", out);
    sup_child_t *child = sup_start(sup, "rtp-replay", argv, out_path);
    if (!child)
        return -1;
    for (int i = 0; i < 100; i++) {
        char *text = rtp_read_file(out, NULL);
        const char *at = text ? strstr(text, "listening on ") : NULL;
        if (at) {
            at += strlen("listening on ");
            size_t n = strcspn(at, " \r\n");
            snprintf(url, url_cap, "%.*s", (int) n, at);
            free(text);
            /* a restarted replay must come back on the same port */
            const char *colon = strrchr(url, ':');
            if (colon) {
                free(child->argv[2]);
                child->argv[2] = strndup(colon + 1, strcspn(colon + 1, "/"));
            }
            return 0;
        }
        free(text);
        usleep(100000);
        sup_poll(sup);
    }
    rtp_error("rtp-replay did not say where it listens (see %s)", out);
    return -1;
}
