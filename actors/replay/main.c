/* rtp-replay: the project's stand-in for the lab's rtp-server
 * (alexburlacu/rtp-server:faf18x): /tweets/1 and /tweets/2 as Server-Sent Events
 * replayed from the bundled tweets, /emotion_values, and / (see SPEC section 1).
 * Prints "listening on http://HOST:PORT" on stdout once it accepts connections. */
#include "log.h"
#include "server.h"
#include "settings.h"
#include "stream.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rtp_setting_def_t s_defs[] = {
    /* Env names carry REPLAY_ so that RTP_PORT, RTP_RATE... set for other
     * executables do not change the stand-in server. */
    {"port", RTP_SET_INT, "4000", "TCP port to listen on; 0 picks a free one", "RTP_REPLAY_PORT"},
    {"bind", RTP_SET_STR, "127.0.0.1", "address to listen on (\"::\" or \"0.0.0.0\" for all)",
     "RTP_REPLAY_BIND"},
    {"tweets-1", RTP_SET_STR, NULL,
     "tweets for /tweets/1, one JSON object a line (unset: data/tweets-a.jsonl)", "RTP_REPLAY_TWEETS_1"},
    {"tweets-2", RTP_SET_STR, NULL, "tweets for /tweets/2 (unset: data/tweets-b.jsonl)",
     "RTP_REPLAY_TWEETS_2"},
    {"emotion-values", RTP_SET_STR, NULL, "file served on /emotion_values (unset: data/emotion_values.txt)",
     "RTP_REPLAY_EMOTION_VALUES"},
    {"rate", RTP_SET_DOUBLE, "500", "events per second per stream; 0 = as fast as the client reads",
     "RTP_REPLAY_RATE"},
    {"burst", RTP_SET_BOOL, "true",
     "vary the rate like the real server: phases of 0.5-1.5 s at rate/4..rate*4 (log-uniform, median rate)",
     "RTP_REPLAY_BURST"},
    {"rate-schedule", RTP_SET_STR, NULL,
     "RATE:SECONDS,... (0 = unlimited) repeated from the start, replaces --rate (bursts still apply)",
     "RTP_REPLAY_RATE_SCHEDULE"},
    {"panic-rate", RTP_SET_DOUBLE, "0", "probability (0..1) of a panic event after each tweet",
     "RTP_REPLAY_PANIC_RATE"},
    {"loops", RTP_SET_INT, "0",
     "passes over each file; 0 = forever. After the last, \": keep-alive\" comments keep readers connected",
     "RTP_REPLAY_LOOPS"},
    {"keep-alive", RTP_SET_DOUBLE, "5", "seconds between keep-alive comments once a stream is over",
     "RTP_REPLAY_KEEP_ALIVE"},
    {"drop-every", RTP_SET_INT, "0",
     "test hook: cut the connection in the middle of every Nth event (resent whole on reconnect); 0 = never",
     "RTP_REPLAY_DROP_EVERY"},
    {"seed", RTP_SET_INT, "1", "seed of the random choices (panics, bursts), so a run can be repeated",
     "RTP_REPLAY_SEED"},
    {"max-clients", RTP_SET_INT, "1024", "connections served at once; more wait to be accepted",
     "RTP_REPLAY_MAX_CLIENTS"},
    RTP_SETTINGS_END,
};

/* The path setting, or the bundled data file when it is unset. */
static const char *s_path(rtp_settings_t *set, const char *name, const char *file, char *buf, size_t cap)
{
    const char *v = rtp_settings_str(set, name);
    return v && *v ? v : rtp_data_path(buf, cap, file);
}

static replay_server_t *s_start(rtp_settings_t *set, rtp_err_t *err)
{
    replay_stream_cfg_t scfg = {
        .rate = rtp_settings_double(set, "rate"),
        .schedule = rtp_settings_str(set, "rate-schedule"),
        .burst = rtp_settings_bool(set, "burst"),
        .panic_rate = rtp_settings_double(set, "panic-rate"),
        .loops = rtp_settings_int(set, "loops"),
        .drop_every = rtp_settings_int(set, "drop-every"),
        .seed = (uint64_t) rtp_settings_int(set, "seed"),
    };
    char p1[4096], p2[4096], pe[4096];
    int64_t now = rtp_mono_us();
    replay_stream_t *s1 = replay_stream_new(
        "/tweets/1", s_path(set, "tweets-1", "tweets-a.jsonl", p1, sizeof p1), &scfg, now, err);
    replay_stream_t *s2 =
        s1 ? replay_stream_new("/tweets/2", s_path(set, "tweets-2", "tweets-b.jsonl", p2, sizeof p2), &scfg,
                               now, err)
           : NULL;
    const char *epath = s_path(set, "emotion-values", "emotion_values.txt", pe, sizeof pe);
    size_t elen = 0;
    char *emotions = s2 ? rtp_read_file(epath, &elen) : NULL;
    if (s2 && !emotions)
        rtp_err_set(err, "cannot read %s: %s", epath, strerror(errno));
    replay_server_cfg_t cfg = {
        .bind = rtp_settings_str(set, "bind"),
        .port = (int) rtp_settings_int(set, "port"),
        .max_clients = (int) rtp_settings_int(set, "max-clients"),
        .keepalive_s = rtp_settings_double(set, "keep-alive"),
    };
    replay_server_t *server = emotions ? replay_server_new(&cfg, err) : NULL;
    if (!server) {
        replay_stream_destroy(&s1);
        replay_stream_destroy(&s2);
        free(emotions);
        return NULL;
    }
    rtp_info("/tweets/1: %zu tweets, /tweets/2: %zu tweets, rate %g/s%s%s", replay_stream_tweets(s1),
             replay_stream_tweets(s2), scfg.rate, scfg.burst ? " with bursts" : "",
             scfg.schedule ? " (scheduled)" : "");
    replay_server_add_stream(server, "/tweets/1", &s1, "tweets, one Server-Sent Event each, live (stream 1)");
    replay_server_add_stream(server, "/tweets/2", &s2, "tweets, one Server-Sent Event each, live (stream 2)");
    replay_server_add_body(server, "/emotion_values", "text/plain; charset=utf-8", emotions, elen,
                           "AFINN-111 word list: word<TAB>score lines, CRLF");
    return server;
}

int main(int argc, char **argv)
{
    int code = 0;
    rtp_settings_t *set = rtp_settings_new(
        "rtp-replay", "Stand-in for the lab's rtp-server: replays tweets as SSE.", s_defs, argc, argv, &code);
    if (!set)
        return code;
    rtp_signals_install();
    rtp_err_t err = {{0}};
    replay_server_t *server = s_start(set, &err);
    if (!server) {
        rtp_error("%s", err.msg);
        rtp_settings_destroy(&set);
        return 1;
    }
    printf("listening on http://%s:%d\n", replay_server_host(server), replay_server_port(server));
    fflush(stdout);
    int rc = replay_server_run(server);
    replay_server_destroy(&server);
    rtp_settings_destroy(&set);
    return rc == 0 ? 0 : 1;
}
