#include "join.h"

#include "log.h"
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORDS 64

struct join_t {
    char host[256]; /* as in a tcp:// endpoint: an IPv6 address keeps its brackets */
    char control[300];
    char workers[300];
    char words_path[PATH_MAX];
    char *args_text; /* the WELCOME's worker settings, cut into words in place */
    char *extra[RTP_POOL_COUNT][MAX_WORDS + 3];
};

static int s_port_ok(const char *s)
{
    if (!*s || strlen(s) > 5)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char) *p))
            return 0;
    return atoi(s) > 0 && atoi(s) < 65536;
}

join_t *join_new(const char *address, const char *dir, rtp_err_t *err)
{
    join_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    /* IPv4 or a host name: the sockets are not set up for IPv6 */
    const char *colon = strchr(address, ':');
    const char *port = colon ? colon + 1 : NULL;
    size_t host_len = colon ? (size_t) (colon - address) : strlen(address);
    if (host_len == 0 || host_len >= sizeof self->host || strpbrk(address, "[]/ ") ||
        (port && !s_port_ok(port))) {
        rtp_err_set(err, "--join takes HOST[:PORT] (an IPv4 address or a host name), not '%s'", address);
        free(self);
        return NULL;
    }
    snprintf(self->host, sizeof self->host, "%.*s", (int) host_len, address);
    snprintf(self->control, sizeof self->control, "tcp://%s:%s", self->host, port ? port : "");
    if (!port)
        snprintf(self->control, sizeof self->control, "tcp://%s:%d", self->host, JOIN_DEFAULT_PORT);
    snprintf(self->words_path, sizeof self->words_path, "%s/emotion_values.txt", dir);
    return self;
}

void join_destroy(join_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    unlink((*self_p)->words_path);
    free((*self_p)->args_text);
    free(*self_p);
    *self_p = NULL;
}

const char *join_control(const join_t *self)
{
    return self->control;
}

int join_welcome(void *arg, const rtp_msg_t *welcome, worker_spec_t *spec)
{
    join_t *self = arg;
    /* the workers endpoint is on the host we joined: the broker may bind a wildcard
     * or an address that is another to us (NAT), but the port is what it bound */
    const char *colon = strrchr(welcome->text, ':');
    if (strncmp(welcome->text, "tcp://", 6) != 0 || !colon || !s_port_ok(colon + 1)) {
        rtp_error("the broker's WELCOME names no tcp:// workers endpoint ('%s'): does it listen "
                  "(rtp up --listen)?",
                  welcome->text);
        return -1;
    }
    snprintf(self->workers, sizeof self->workers, "tcp://%s:%s", self->host, colon + 1);
    free(self->args_text);
    self->args_text = strdup(welcome->origin ? welcome->origin : "");
    if (!self->args_text)
        return -1;
    int n[RTP_POOL_COUNT] = {0};
    for (char *save = NULL, *word = strtok_r(self->args_text, " ", &save); word;
         word = strtok_r(NULL, " ", &save)) {
        char *sep = strchr(word, ':');
        if (sep)
            *sep = 0;
        int pool = sep ? rtp_pool_from_name(word) : -1;
        if (pool < 0 || n[pool] == MAX_WORDS) {
            rtp_warn("the broker's worker setting '%s%s%s' is not POOL:--flag=value: left out", word,
                     sep ? ":" : "", sep ? sep + 1 : "");
            continue;
        }
        self->extra[pool][n[pool]++] = sep + 1;
    }
    if (welcome->raw_len) {
        FILE *f = fopen(self->words_path, "wb");
        int ok = f && fwrite(welcome->raw, 1, welcome->raw_len, f) == welcome->raw_len;
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok) {
            rtp_error("cannot write the broker's word list to %s", self->words_path);
            return -1;
        }
        self->extra[RTP_POOL_SENTIMENT][n[RTP_POOL_SENTIMENT]++] = "--emotion-file";
        self->extra[RTP_POOL_SENTIMENT][n[RTP_POOL_SENTIMENT]++] = self->words_path;
    } else
        rtp_warn("the broker offers no word list: the sentiment workers here use their own (RTP_EMOTION_URL, "
                 "or the bundled copy)");
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        self->extra[p][n[p]] = NULL;
        spec->extra[p] = self->extra[p];
    }
    spec->workers_endpoint = self->workers;
    return 0;
}
