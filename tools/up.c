/* rtp up: the whole system in the foreground (SPEC section 4). The root supervisor:
 * it starts a private redis-server and the stand-in rtp-server unless given URLs,
 * then every actor, restarts any that dies, and on SIGINT/SIGTERM stops them in
 * flow order so that what is in flight reaches Redis first. With --listen ADDR the
 * broker's control and workers endpoints are on tcp://ADDR (listen.h), so that
 * `rtp supervise --join ADDR` on other hosts adds their workers. */
#include "up.h"

#include "drain.h"
#include "listen.h"
#include "log.h"
#include "runinfo.h"
#include "services.h"
#include "settings.h"
#include "state.h"
#include "status.h"
#include "supervise_link.h"
#include "supervisor.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const rtp_setting_def_t s_settings[] = {
    {"rtp-url", RTP_SET_STR, NULL, "the rtp-server to read (unset: start the bundled stand-in)", "RTP_URL"},
    {"redis-url", RTP_SET_STR, NULL, "redis://[:password@]host:port[/db] (unset: start a private redis-server)", "REDIS_URL"},
    {"work-mean-ms", RTP_SET_DOUBLE, "20", "mean of the simulated Poisson work per tweet in the censor pool, 0 = off", "RTP_WORK_MEAN_MS"},
    {"censor-workers", RTP_SET_STR, "2:32",
     "censor (printer) workers: N, or MIN:MAX for the pool manager to choose (at the lab's 20 ms of work a worker serves 50 tweets/s)",
     NULL},
    {"sentiment-workers", RTP_SET_STR, "2:4", "sentiment workers: N or MIN:MAX", NULL},
    {"engagement-workers", RTP_SET_STR, "2:4", "engagement workers: N or MIN:MAX", NULL},
    {"capacity", RTP_SET_INT, "64", "the most worker processes this host runs", "RTP_HOST_CAPACITY"},
    {"batch-size", RTP_SET_INT, "100", "records per Redis batch", NULL},
    {"batch-ms", RTP_SET_INT, "200", "longest wait before a partial batch is written", NULL},
    {"runtime-dir", RTP_SET_STR, NULL, "folder for sockets and logs (default: /tmp/rtp-PID)", NULL},
    {"state-dir", RTP_SET_STR, "rtp-state",
     "folder of what outlives a run (readers' spools, batcher journal, private Redis data): the same command "
     "in the same place resumes from it; one rtp up at a time (locked)",
     "RTP_STATE_DIR"},
    {"drain-ms", RTP_SET_INT, "30000",
     "on SIGINT/SIGTERM, how long to wait for what the readers took to be stored (the spools keep the rest)",
     "RTP_DRAIN_MS"},
    {"replay-rate", RTP_SET_INT, "500", "stand-in server: events per second per stream, 0 = as fast as read", NULL},
    {"replay-burst", RTP_SET_BOOL, "true", "stand-in server: vary the rate in bursts like the real server", NULL},
    {"replay-loops", RTP_SET_INT, "0", "stand-in server: passes over the data, 0 = forever", NULL},
    {"replay-rate-schedule", RTP_SET_STR, NULL, "stand-in server: RATE:SECONDS,... repeated (replaces --replay-rate)", NULL},
    {"replay-panic-rate", RTP_SET_DOUBLE, "0.005", "stand-in server: share of events followed by a panic", NULL},
    {"max-restarts", RTP_SET_INT, "50", "restarts of one actor within --restart-period-ms before giving up on it", NULL},
    {"restart-period-ms", RTP_SET_INT, "10000", "the period of the restart intensity limit", NULL},
    {"print", RTP_SET_BOOL, "true", "let the censor pool print censored tweets", NULL},
    {"print-per-second", RTP_SET_INT, "15",
     "censored tweets printed a second in all, however many censor workers; the rest are counted (0 = all)", NULL},
    {"status-ms", RTP_SET_INT, "5000", "print a one-line status (rates, pools, Redis) this often; 0: never", NULL},
    {"listen", RTP_SET_STR, NULL,
     "serve worker hosts (rtp supervise --join) on this address over TCP; not loopback: needs --curve-dir",
     NULL},
    {"listen-port", RTP_SET_INT, "5559",
     "with --listen: the control endpoint's port; the workers endpoint's is the next", NULL},
    {"insecure-listen", RTP_SET_BOOL, "false",
     "with --listen: allow a non-loopback address without CURVE keys", NULL},
    RTP_SETTINGS_END,
};

typedef struct {
    rtp_settings_t *s;
    sup_t *sup;
    char bin_dir[PATH_MAX];
    char dir[PATH_MAX];
    up_state_t state;
    char endpoint[6][PATH_MAX + 16];   /* readers, workers, results, hashtags, batcher, control */
    char redis_url[512];
    char rtp_url[512];
    supervise_link_t *link;
    char metrics_port[16];   /* the broker's --metrics-port */
    char metrics_url[64];
    /* the batcher's and the readers' (free ports fixed at start, so the URLs in the
     * run info stay right across restarts); "" for the URL when none was free */
    char batcher_port[16], batcher_url[64];
    char aggregator_port[16], aggregator_url[64];
    char reader_port[2][16], reader_url[2][64];
    listen_t listen;   /* --listen: the TCP endpoints; unset: every endpoint ipc:// */
} up_t;

enum { EP_READERS, EP_WORKERS, EP_RESULTS, EP_HASHTAGS, EP_BATCHER, EP_CONTROL };

/* The broker is stopped after the drain (drain.h): what it has not finished by then is
 * in the readers' spools, so it only finishes what is nearly done. */
#define BROKER_DRAIN_MS "2000"

/* Starts one actor: bin_dir/exe with the given arguments (NULL-terminated). */
static int s_actor(up_t *u, const char *name, const char *exe, char *const args[])
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", u->bin_dir, exe);
    char *argv[SUP_MAX_ARGS] = {path};
    int argc = 1;
    for (int i = 0; args[i] && argc < SUP_MAX_ARGS - 1; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    return sup_start(u->sup, name, argv, NULL) ? 0 : -1;
}

static int s_start_all(up_t *u)
{
    char batch_size[32], batch_ms[32], work[32], emotion_url[600], print_rate[32];
    snprintf(batch_size, sizeof batch_size, "%lld", (long long) rtp_settings_int(u->s, "batch-size"));
    snprintf(batch_ms, sizeof batch_ms, "%lld", (long long) rtp_settings_int(u->s, "batch-ms"));
    snprintf(work, sizeof work, "%g", rtp_settings_double(u->s, "work-mean-ms"));
    snprintf(emotion_url, sizeof emotion_url, "%s/emotion_values", u->rtp_url);
    snprintf(print_rate, sizeof print_rate, "%lld", (long long) rtp_settings_int(u->s, "print-per-second"));
    const char *print = rtp_settings_bool(u->s, "print") ? "true" : "false";

    /* with --listen the broker binds what other hosts reach, tells them (WELCOME)
     * the workers' settings of this command line, and hands them the word list */
    char welcome_args[128];
    snprintf(welcome_args, sizeof welcome_args, "censor:--work-mean-ms=%s censor:--print=%s", work, print);
    int listening = u->listen.bind_control[0] != 0;
    char *broker[] = {"--readers", u->endpoint[EP_READERS], "--workers",
                      listening ? u->listen.bind_workers : u->endpoint[EP_WORKERS], "--results",
                      u->endpoint[EP_RESULTS], "--hashtags", u->endpoint[EP_HASHTAGS], "--control",
                      listening ? u->listen.bind_control : u->endpoint[EP_CONTROL], "--scale-censor",
                      (char *) rtp_settings_str(u->s, "censor-workers"), "--scale-sentiment",
                      (char *) rtp_settings_str(u->s, "sentiment-workers"), "--scale-engagement",
                      (char *) rtp_settings_str(u->s, "engagement-workers"), "--metrics-port",
                      u->metrics_port, "--print-per-second", print_rate, "--drain-ms", BROKER_DRAIN_MS,
                      /* the welcome arguments go last: without --listen the list ends here */
                      listening ? "--welcome-worker-args" : NULL, welcome_args,
                      "--welcome-emotion-url", emotion_url, NULL};
    char *aggregator[] = {"--results", u->endpoint[EP_RESULTS], "--bind", u->endpoint[EP_BATCHER], "--metrics-port",
                          u->aggregator_port, NULL};
    char journal[PATH_MAX + 16], spool[PATH_MAX + 16], drain_ms[32];
    snprintf(journal, sizeof journal, "%s/journal", u->state.dir);
    snprintf(spool, sizeof spool, "%s/spool", u->state.dir);
    snprintf(drain_ms, sizeof drain_ms, "%lld", (long long) rtp_settings_int(u->s, "drain-ms"));
    char *batcher[] = {"--aggregator", u->endpoint[EP_BATCHER], "--redis-url", u->redis_url, "--batch-size",
                       batch_size, "--batch-ms", batch_ms, "--broker", u->endpoint[EP_READERS],
                       "--journal-dir", journal, "--metrics-port", u->batcher_port, NULL};
    char *hashtags[] = {"--broker-pub", u->endpoint[EP_HASHTAGS], "--redis-url", u->redis_url, NULL};
    static char *censor[] = {"--work-mean-ms", NULL, "--print", NULL, NULL};
    static char *sentiment[] = {"--emotion-url", NULL, NULL};
    static char work_arg[32], emotion_arg[600];
    snprintf(work_arg, sizeof work_arg, "%s", work);
    snprintf(emotion_arg, sizeof emotion_arg, "%s", emotion_url);
    censor[1] = work_arg;
    censor[3] = (char *) print;
    sentiment[1] = emotion_arg;
    if (s_actor(u, "rtp-broker", "rtp-broker", broker) || s_actor(u, "rtp-aggregator", "rtp-aggregator", aggregator) ||
        s_actor(u, "rtp-batcher", "rtp-batcher", batcher) || s_actor(u, "rtp-hashtags", "rtp-hashtags", hashtags))
        return -1;
    /* The workers: this host's supervisor link starts as many as the broker's pool
     * managers ask for (fixed sizes are MIN = MAX). */
    static char exe[RTP_POOL_COUNT][PATH_MAX + 32];
    static const char *names[RTP_POOL_COUNT] = {"rtp-censor", "rtp-sentiment", "rtp-engagement"};
    worker_spec_t spec = {.workers_endpoint = u->endpoint[EP_WORKERS], .extra = {censor, sentiment, NULL}};
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        snprintf(exe[p], sizeof exe[p], "%s/%s", u->bin_dir, names[p]);
        spec.exe[p] = exe[p];
    }
    u->link = supervise_link_new(u->sup, u->endpoint[EP_CONTROL], "local", (int) rtp_settings_int(u->s, "capacity"),
                                 &spec, 500, 4);
    if (!u->link)
        return -1;
    for (int stream = 1; stream <= 2; stream++) {
        char url[600], name[32];
        snprintf(url, sizeof url, "%s/tweets/%d", u->rtp_url, stream);
        snprintf(name, sizeof name, "rtp-reader#%d", stream);
        char *reader[] = {"--url", url, "--broker", u->endpoint[EP_READERS], "--metrics-port",
                          u->reader_port[stream - 1], "--spool-dir", spool, "--drain-ms", drain_ms, NULL};
        if (s_actor(u, name, "rtp-reader", reader))
            return -1;
    }
    return 0;
}

/* Stops in the order data flows, so each stage drains into the next: readers first
 * (no new tweets; after up_drain they are gone), then the broker, the workers, the
 * aggregator (hands everything to the batcher), the batcher (last Redis write), and
 * the services last. */
static void s_stop_all(up_t *u)
{
    rtp_info("stopping: readers, broker, workers, aggregator, batcher, then services");
    sup_stop_matching(u->sup, "rtp-reader", 5000);
    sup_stop_matching(u->sup, "rtp-broker", 15000);
    sup_stop_matching(u->sup, "rtp-censor", 5000);
    sup_stop_matching(u->sup, "rtp-sentiment", 5000);
    sup_stop_matching(u->sup, "rtp-engagement", 5000);
    sup_stop_matching(u->sup, "rtp-aggregator", 15000);
    sup_stop_matching(u->sup, "rtp-batcher", 15000);
    sup_stop_matching(u->sup, "rtp-hashtags", 5000);
    sup_stop_matching(u->sup, "rtp-replay", 5000);
    sup_stop_all(u->sup, 10000);
}

/* A free TCP port not handed out before (a port probed free and closed may come
 * back from the next probe), or -1. fixed > 0 is taken as given and remembered. */
static int s_distinct_port(int fixed)
{
    static int given[8], n_given;
    int p = fixed > 0 ? fixed : -1;
    for (int attempt = 0; attempt < 20 && p < 0; attempt++) {
        p = rtp_free_tcp_port(1);
        for (int i = 0; i < n_given && p > 0; i++)
            if (given[i] == p)
                p = -1;
    }
    if (p > 0 && n_given < 8)
        given[n_given++] = p;
    return p;
}

/* An actor's --metrics-port and its URL: 0 (the actor picks one, logged) and no
 * URL when no port is free now. */
static void s_metrics_port(char port[16], char url[64])
{
    int p = s_distinct_port(0);
    snprintf(port, 16, "%d", p > 0 ? p : 0);
    if (p > 0)
        snprintf(url, 64, "http://127.0.0.1:%d/metrics", p);
    else
        url[0] = 0;
}

int up_main(int argc, char **argv)
{
    int code;
    up_t u;
    memset(&u, 0, sizeof u);
    u.s = rtp_settings_new("rtp up", "Runs the whole rtp system in the foreground until SIGINT/SIGTERM.", s_settings,
                           argc, argv, &code);
    if (!u.s)
        return code;
    rtp_log_init("rtp");
    rtp_signals_install();
    /* Every actor takes the key folder from the environment: a --curve-dir flag must
     * reach them too, or this process's CURVE control link meets a plain broker. */
    const char *curve_dir = rtp_settings_str(u.s, "curve-dir");
    if (curve_dir && *curve_dir)
        setenv("RTP_CURVE_DIR", curve_dir, 1);
    static const char *sizes[] = {"censor-workers", "sentiment-workers", "engagement-workers"};
    for (int i = 0; i < 3; i++) {
        const char *v = rtp_settings_str(u.s, sizes[i]);
        int lo, hi, used = 0;
        int ok = v && ((sscanf(v, "%d:%d%n", &lo, &hi, &used) == 2 && !v[used] && 0 <= lo && lo <= hi) ||
                       (sscanf(v, "%d%n", &lo, &used) == 1 && !v[used] && lo >= 0));
        if (!ok) {
            fprintf(stderr, "rtp up: --%s takes N or MIN:MAX, not '%s'\n", sizes[i], v ? v : "");
            rtp_settings_destroy(&u.s);
            return 2;
        }
    }
    int64_t drain = rtp_settings_int(u.s, "drain-ms");
    if (drain < 0 || drain > 3600000) {
        fprintf(stderr, "rtp up: --drain-ms must be 0..3600000\n");
        rtp_settings_destroy(&u.s);
        return 2;
    }
    const char *listen_at = rtp_settings_str(u.s, "listen");
    if (listen_at && *listen_at) {
        rtp_err_t err;
        if (listen_prepare(&u.listen, listen_at, (int) rtp_settings_int(u.s, "listen-port"),
                           curve_dir && *curve_dir, rtp_settings_bool(u.s, "insecure-listen"), &err) != 0) {
            fprintf(stderr, "rtp up: %s\n", err.msg);
            if (strstr(err.msg, "--insecure-listen"))
                listen_print_keys_howto(stderr, listen_at);
            rtp_settings_destroy(&u.s);
            return 2;
        }
    }
    rtp_exe_dir(u.bin_dir, sizeof u.bin_dir);
    const char *dir = rtp_settings_str(u.s, "runtime-dir");
    if (dir)
        snprintf(u.dir, sizeof u.dir, "%s", dir);
    else
        snprintf(u.dir, sizeof u.dir, "/tmp/rtp-%d", (int) getpid());
    mkdir(u.dir, 0755);
    if (access(u.dir, W_OK) != 0) {
        rtp_error("cannot use the runtime folder %s", u.dir);
        return 1;
    }
    rtp_err_t state_err;
    if (up_state_open(&u.state, rtp_settings_str(u.s, "state-dir"),
                      (int) rtp_settings_int(u.s, "drain-ms") + 15000, &state_err) != 0) {
        rtp_error("%s", state_err.msg);
        rtp_settings_destroy(&u.s);
        return 1;
    }
    rtp_info("state folder: %s (readers' spools, batcher journal, private Redis data; running again here "
             "resumes from it; move it with --state-dir or RTP_STATE_DIR)",
             u.state.dir);
    const char *names[6] = {"readers", "workers", "results", "hashtags", "batcher", "control"};
    for (int i = 0; i < 6; i++)
        snprintf(u.endpoint[i], sizeof u.endpoint[i], "ipc://%s/%s.ipc", u.dir, names[i]);
    if (*u.listen.bind_control) {
        /* this host's own link and workers connect where the broker binds */
        snprintf(u.endpoint[EP_WORKERS], sizeof u.endpoint[EP_WORKERS], "%s", u.listen.connect_workers);
        snprintf(u.endpoint[EP_CONTROL], sizeof u.endpoint[EP_CONTROL], "%s", u.listen.connect_control);
        rtp_info("listening for worker hosts: control %s, workers %s (join with: rtp supervise --join %s)",
                 u.listen.bind_control, u.listen.bind_workers, u.listen.join_hint);
    }
    /* The broker's metrics port: --metrics-port if given, else a free one, fixed
     * here so the URL is known up front and survives broker restarts; the batcher,
     * the aggregator and each reader get a free one of their own. The variable is not passed on:
     * every actor taking the same port would collide. */
    int metrics_port = s_distinct_port(rtp_settings_metrics_port(u.s));
    unsetenv("RTP_METRICS_PORT");
    snprintf(u.metrics_port, sizeof u.metrics_port, "%d", metrics_port > 0 ? metrics_port : 0);
    if (metrics_port > 0)
        snprintf(u.metrics_url, sizeof u.metrics_url, "http://127.0.0.1:%d/metrics", metrics_port);
    s_metrics_port(u.batcher_port, u.batcher_url);
    s_metrics_port(u.aggregator_port, u.aggregator_url);
    for (int i = 0; i < 2; i++)
        s_metrics_port(u.reader_port[i], u.reader_url[i]);
    u.sup = sup_new((int) rtp_settings_int(u.s, "max-restarts"), (int) rtp_settings_int(u.s, "restart-period-ms"),
                    100, 5000);
    int status = 0;

    const char *redis = rtp_settings_str(u.s, "redis-url");
    if (redis && *redis)
        snprintf(u.redis_url, sizeof u.redis_url, "%s", redis);
    else {
        char redis_dir[PATH_MAX + 16];
        snprintf(redis_dir, sizeof redis_dir, "%s/redis", u.state.dir);
        if (rtp_mkdirs(redis_dir) == 0 &&
            services_start_redis(u.sup, redis_dir, u.redis_url, sizeof u.redis_url) == 0)
            rtp_info("private redis-server: %s (files in %s); query it with redis-cli -u %s", u.redis_url,
                     redis_dir, u.redis_url);
        else
            status = 1;
    }

    const char *rtp_url = rtp_settings_str(u.s, "rtp-url");
    if (status == 0 && rtp_url && *rtp_url)
        snprintf(u.rtp_url, sizeof u.rtp_url, "%s", rtp_url);
    else if (status == 0) {
        char rate[32], loops[32], panic[32];
        snprintf(rate, sizeof rate, "%lld", (long long) rtp_settings_int(u.s, "replay-rate"));
        snprintf(loops, sizeof loops, "%lld", (long long) rtp_settings_int(u.s, "replay-loops"));
        snprintf(panic, sizeof panic, "%g", rtp_settings_double(u.s, "replay-panic-rate"));
        const char *schedule = rtp_settings_str(u.s, "replay-rate-schedule");
        char *args[] = {"--rate", rate, "--loops", loops, "--panic-rate", panic, "--burst",
                        rtp_settings_bool(u.s, "replay-burst") ? "true" : "false",
                        schedule ? "--rate-schedule" : NULL, (char *) schedule, NULL};
        if (services_start_replay(u.sup, u.bin_dir, u.dir, args, u.rtp_url, sizeof u.rtp_url) == 0)
            rtp_info("stand-in rtp-server: %s", u.rtp_url);
        else
            status = 1;
    }
    size_t n = strlen(u.rtp_url);
    while (n && u.rtp_url[n - 1] == '/')
        u.rtp_url[--n] = 0;

    if (status == 0 && s_start_all(&u) != 0)
        status = 1;
    if (status == 0) {
        rtp_info("up: reading %s, storing to %s; SIGINT/SIGTERM stops", u.rtp_url, u.redis_url);
        runinfo_t info = {.runtime_dir = u.dir,
                          .redis_url = u.redis_url,
                          .rtp_url = u.rtp_url,
                          .broker_metrics = *u.metrics_url ? u.metrics_url : NULL,
                          .batcher_metrics = *u.batcher_url ? u.batcher_url : NULL,
                          .aggregator_metrics = *u.aggregator_url ? u.aggregator_url : NULL,
                          .reader_name = {"tweets-1", "tweets-2"},
                          .reader_metrics = {*u.reader_url[0] ? u.reader_url[0] : NULL,
                                             *u.reader_url[1] ? u.reader_url[1] : NULL},
                          .n_readers = 2,
                          .n_endpoints = 6};
        for (int i = 0; i < 6; i++) {
            info.endpoint_name[i] = names[i];
            info.endpoint[i] = u.endpoint[i];
        }
        rtp_err_t err;
        if (runinfo_write(&info, &err) != 0)
            rtp_warn("run info not written (rtp top will need --broker-metrics): %s", err.msg);
        rtp_info("broker metrics: %s (watch with: rtp top)", *u.metrics_url ? u.metrics_url : "none");
        rtp_info("batcher metrics: %s; aggregator metrics: %s; reader metrics: tweets-1 %s, tweets-2 %s",
                 *u.batcher_url ? u.batcher_url : "none", *u.aggregator_url ? u.aggregator_url : "none",
                 *u.reader_url[0] ? u.reader_url[0] : "none",
                 *u.reader_url[1] ? u.reader_url[1] : "none");
    }
    up_status_t *line = status == 0 ? up_status_new(u.metrics_url, u.batcher_url,
                                                    (int) rtp_settings_int(u.s, "status-ms"))
                                    : NULL;
    up_status_set_readers(line, (const char *const[]){u.reader_url[0], u.reader_url[1]}, 2);
    while (status == 0 && !rtp_stop_requested()) {
        sup_poll(u.sup);
        supervise_link_poll(u.link, 100);
        up_status_tick(line);
    }
    if (status == 0 && up_drain(u.sup, u.link, line, rtp_settings_int(u.s, "drain-ms")) == 2)
        sup_stop_all(u.sup, 10000); /* the second Ctrl-C: everything at once */
    up_status_destroy(&line);
    s_stop_all(&u);
    runinfo_remove(u.dir);
    supervise_link_destroy(&u.link);
    rtp_info("stopped");
    sup_destroy(&u.sup);
    up_state_close(&u.state);
    rtp_settings_destroy(&u.s);
    return status;
}
