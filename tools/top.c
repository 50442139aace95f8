#define _GNU_SOURCE /* vasprintf, asprintf */
/* rtp top: a live view of a running system from the broker's /metrics. Each
 * interval it scrapes the page, turns counter deltas into rates and histogram
 * deltas into task-time quantiles, and draws one screen (a terminal: full screen,
 * q quits) or prints one status line (anything else). When it knows the batcher's
 * /metrics too (--batcher-metrics, or the run info of rtp up), it also shows the
 * end-to-end latency (reader to Redis) p50/p90/p99 and the batcher: records stored
 * per second, Redis write time, the journal's size and whether Redis is up. When
 * it knows Redis (--redis-url, or the run info), it shows the current top hashtags
 * and the latest errors (the newest dead letters, with their reasons). */
#include "top.h"
#include "term_text.h"
#include "top_redis.h"

#include "http_get.h"
#include "hosts_line.h"
#include "log.h"
#include "metrics_scrape.h"
#include "scrape_page.h"
#include "runinfo.h"
#include "settings.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const rtp_setting_def_t s_settings[] = {
    {"broker-metrics", RTP_SET_STR, NULL,
     "the broker's metrics URL (unset: the one the rtp up of this user on this host wrote)", NULL},
    {"batcher-metrics", RTP_SET_STR, NULL,
     "the batcher's metrics URL (unset: the one rtp up wrote, when the broker's came from there too; "
     "\"none\": no batcher line)",
     NULL},
    {"redis-url", RTP_SET_STR, NULL,
     "the Redis to read the current top hashtags and the latest dead letters from (unset: the one rtp up "
     "wrote, when the broker's metrics came from there too; \"none\": neither)",
     NULL},
    {"interval-ms", RTP_SET_INT, "1000", "how often to scrape and redraw", "RTP_TOP_INTERVAL_MS"},
    {"count", RTP_SET_INT, "0", "stop after this many scrapes (0: until q, SIGINT or SIGTERM)",
     "RTP_TOP_COUNT"},
    {"plain", RTP_SET_BOOL, "false", "one status line per interval even on a terminal", "RTP_TOP_PLAIN"},
    RTP_SETTINGS_END,
};

static const char *s_pools[] = {"censor", "sentiment", "engagement"};
#define N_POOLS 3
#define LOST_HISTORY 1024

typedef struct {
    int interval_ms;
    scrape_page_t broker;
    scrape_page_t batcher; /* url NULL: no batcher line */
    top_redis_t *redis;          /* NULL: no hashtags or dead letters */
    top_redis_report_t top;      /* the last report read */
    char redis_error[RTP_ERR_MAX]; /* the last read's failure, "" after a good one */
    struct {
        int64_t at_ms;
        double lost;
    } lost[LOST_HISTORY]; /* workers lost, sampled each scrape, for "in the last minute" */
    int lost_head, lost_len;
} top_t;

/* ---------- numbers from the scrapes ---------- */

static double s_now(const top_t *t, const char *name, const char *pool)
{
    const char *const labels[] = {"pool", pool, NULL};
    return scrape_page_value(&t->broker, name, pool ? labels : NULL);
}

/* The broker's counter per second between its last two scrapes; NaN before. */
static double s_rate(const top_t *t, const char *name, const char *pool)
{
    const char *const labels[] = {"pool", pool, NULL};
    return scrape_page_rate(&t->broker, name, pool ? labels : NULL);
}

static double s_quantile_ms(const top_t *t, const char *pool, double q)
{
    const char *const labels[] = {"pool", pool, NULL};
    return scrape_page_quantile(&t->broker, "rtp_broker_task_seconds", labels, q) * 1000.0;
}

static void s_note_lost(top_t *t)
{
    double lost = s_now(t, "rtp_broker_workers_lost_total", NULL);
    if (isnan(lost))
        return;
    int i = (t->lost_head + t->lost_len) % LOST_HISTORY;
    if (t->lost_len == LOST_HISTORY)
        t->lost_head = (t->lost_head + 1) % LOST_HISTORY;
    else
        t->lost_len++;
    t->lost[i].at_ms = t->broker.cur_ms;
    t->lost[i].lost = lost;
}

/* Workers lost in the last minute (from the oldest sample inside it). */
static double s_lost_last_minute(const top_t *t)
{
    if (!t->lost_len)
        return NAN;
    double last = t->lost[(t->lost_head + t->lost_len - 1) % LOST_HISTORY].lost;
    for (int k = 0; k < t->lost_len; k++) {
        int i = (t->lost_head + k) % LOST_HISTORY;
        if (t->broker.cur_ms - t->lost[i].at_ms <= 60000)
            return last >= t->lost[i].lost ? last - t->lost[i].lost : last;
    }
    return 0;
}

/* Workers restarted by the supervisors, all pools. */
static double s_restarts(const top_t *t)
{
    double sum = 0;
    for (int p = 0; p < N_POOLS; p++)
        sum += s_now(t, "rtp_broker_worker_restarts_total", s_pools[p]);
    return sum;
}

/* ---------- formatting ---------- */

typedef struct {
    char **lines;
    int n, cap;
} screen_t;

static void s_line(screen_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_line(screen_t *s, const char *fmt, ...)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->lines = realloc(s->lines, (size_t) s->cap * sizeof *s->lines);
        if (!s->lines)
            abort();
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->lines[s->n], fmt, ap) < 0)
        abort();
    va_end(ap);
    s->n++;
}

/* Appends to the last line (there is one). */
static void s_append(screen_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_append(screen_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *more, *joined;
    if (vasprintf(&more, fmt, ap) < 0 || asprintf(&joined, "%s%s", s->lines[s->n - 1], more) < 0)
        abort();
    va_end(ap);
    free(more);
    free(s->lines[s->n - 1]);
    s->lines[s->n - 1] = joined;
}

static void s_screen_free(screen_t *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->lines[i]);
    free(s->lines);
    memset(s, 0, sizeof *s);
}

/* A number for a column: "-" when unknown, integers without decimals. */
static const char *s_num(char *buf, size_t cap, double x, int decimals)
{
    if (isnan(x))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.*f", decimals, x);
    return buf;
}

static void s_clock(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, cap, "%H:%M:%S", &tm);
}

static void s_uptime(char *buf, size_t cap, double start_s)
{
    if (isnan(start_s)) {
        snprintf(buf, cap, "-");
        return;
    }
    long s = (long) ((double) rtp_wall_ms() / 1000.0 - start_s);
    if (s < 0)
        s = 0;
    if (s >= 3600)
        snprintf(buf, cap, "%ldh %02ldm %02lds", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ldm %02lds", s / 60, s % 60);
}

/* The end-to-end latency quantile, reader to Redis, over the last interval. */
static double s_latency_ms(const top_t *t, double q)
{
    return scrape_page_quantile(&t->batcher, "rtp_batcher_record_latency_seconds", NULL, q) * 1000.0;
}

/* "#tag count" pairs, most counted first, into buf (as many as fit). */
static const char *s_hashtag_list(const top_t *t, char *buf, size_t cap, const char *sep, const char *pair)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < t->top.n && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, pair, i ? sep : "", t->top.top[i].tag, t->top.top[i].count);
        if (w < 0 || (size_t) w >= cap - n) {
            buf[n] = 0; /* a pair that does not fit is left out whole */
            break;
        }
        n += (size_t) w;
    }
    return buf;
}

static void s_hashtags_lines(const top_t *t, screen_t *s)
{
    if (!t->redis)
        return;
    s_line(s, "%s", "");
    if (*t->redis_error && !t->top.n) {
        s_line(s, "top hashtags: %s", t->redis_error);
        return;
    }
    char when[96] = "", list[1024];
    if (t->top.window_end_ms > 0) {
        double ago = (double) (rtp_wall_ms() - t->top.window_end_ms) / 1000.0;
        snprintf(when, sizeof when, " (window ended %.0f s ago, %lld tweets)", ago < 0 ? 0 : ago,
                 t->top.window_tweets);
    }
    s_line(s, "top hashtags%s%s", when, *t->redis_error ? " (last read failed)" : "");
    s_line(s, "  %s", t->top.n ? s_hashtag_list(t, list, sizeof list, "  ", "%s#%s %lld") : "(none yet)");
}

/* Records stored, Redis write times, the journal, rows refused, Redis up or down. */
static void s_batcher_line(const top_t *t, screen_t *s)
{
    char a[32], b[32], c[32], d[32], e[32], f[32];
    const scrape_page_t *bt = &t->batcher;
    double up = rtp_scrape_value(bt->cur, "rtp_batcher_redis_up", NULL);
    s_line(s,
           "batcher: records %s/s   Redis write p50 %s ms p99 %s ms   journal %s records (%s bytes)   "
           "refused %s rows   Redis %s%s",
           s_num(a, sizeof a, scrape_page_rate(bt, "rtp_batcher_records_total", NULL), 1),
           s_num(b, sizeof b, scrape_page_quantile(bt, "rtp_batcher_redis_write_seconds", NULL, 0.5) * 1000.0, 2),
           s_num(c, sizeof c, scrape_page_quantile(bt, "rtp_batcher_redis_write_seconds", NULL, 0.99) * 1000.0, 2),
           s_num(d, sizeof d, rtp_scrape_value(bt->cur, "rtp_batcher_journal_records", NULL), 0),
           s_num(e, sizeof e, rtp_scrape_value(bt->cur, "rtp_batcher_journal_bytes", NULL), 0),
           s_num(f, sizeof f, rtp_scrape_value(bt->cur, "rtp_batcher_refused_rows_total", NULL), 0),
           isnan(up) ? "-" : up > 0 ? "up" : "DOWN", *bt->error ? " (last scrape failed)" : "");
}

/* The latest errors: the newest dead letters with their reasons. */
static void s_letters_lines(const top_t *t, screen_t *s)
{
    if (!t->redis || t->top.letters_total < 0)
        return;
    s_line(s, "%s", "");
    if (!t->top.n_letters) {
        s_line(s, "latest errors: none (no dead letters)");
        return;
    }
    s_line(s, "latest errors (%lld dead letters in Redis), the newest first:", t->top.letters_total);
    for (int i = 0; i < t->top.n_letters; i++) {
        const top_letter_t *l = &t->top.letters[i];
        char when[16] = "--:--:--";
        if (l->time_ms > 0) {
            time_t sec = (time_t) (l->time_ms / 1000);
            struct tm tm;
            localtime_r(&sec, &tm);
            strftime(when, sizeof when, "%H:%M:%S", &tm);
        }
        s_line(s, "  %s  %s%s%s%s", when, l->reason, *l->origin ? "  (" : "", l->origin, *l->origin ? ")" : "");
    }
}

static void s_full_screen(const top_t *t, screen_t *s)
{
    char clock[16], a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32], i[32];
    s_clock(clock, sizeof clock);
    s_line(s, "rtp top  %s  every %.1f s  %s  (q quits)", t->broker.url, t->interval_ms / 1000.0, clock);
    if (*t->broker.error)
        s_line(s, "scrape failed: %s%s", t->broker.error, t->broker.cur ? " (showing the last good scrape)" : "");
    if (!t->broker.cur) {
        s_line(s, "waiting for the broker...");
        return;
    }
    s_uptime(a, sizeof a, s_now(t, "process_start_time_seconds", NULL));
    s_line(s, "broker up %s, %s supervisor(s)", a,
           s_num(b, sizeof b, s_now(t, "rtp_broker_supervisors", NULL), 0));
    char hosts[600];
    if (hosts_line_format(t->broker.cur, 0, hosts, sizeof hosts))
        s_line(s, "hosts (workers/capacity): %s", hosts);
    s_line(s, "%s", "");
    s_line(s, "%-14s %12s %10s", "", "total", "per second");
    static const struct {
        const char *label, *name;
    } totals[] = {{"events", "rtp_broker_events_total"},
                  {"tweets", "rtp_broker_tweets_total"},
                  {"panics", "rtp_broker_panics_total"},
                  {"malformed", "rtp_broker_malformed_total"},
                  {"dead letters", "rtp_broker_dead_letters_total"}};
    for (size_t k = 0; k < sizeof totals / sizeof totals[0]; k++)
        s_line(s, "%-14s %12s %10s", totals[k].label, s_num(a, sizeof a, s_now(t, totals[k].name, NULL), 0),
               s_num(b, sizeof b, s_rate(t, totals[k].name, NULL), 1));
    s_line(s, "%s", "");
    s_line(s, "%-11s %8s %7s %10s %8s %10s %8s %8s %8s %8s", "pool", "workers", "target", "in flight",
           "backlog", "results/s", "p50 ms", "p99 ms", "late/s", "sent/s");
    for (int p = 0; p < N_POOLS; p++) {
        const char *pool = s_pools[p];
        double target = s_now(t, "rtp_broker_workers_target", pool);
        s_line(s, "%-11s %8s %7s %10s %8s %10s %8s %8s %8s %8s", pool,
               s_num(a, sizeof a, s_now(t, "rtp_broker_workers", pool), 0),
               target < 0 ? "-" : s_num(b, sizeof b, target, 0),
               s_num(c, sizeof c, s_now(t, "rtp_broker_tasks_in_flight", pool), 0),
               s_num(d, sizeof d, s_now(t, "rtp_broker_backlog", pool), 0),
               s_num(e, sizeof e, s_rate(t, "rtp_broker_results_total", pool), 1),
               s_num(f, sizeof f, s_quantile_ms(t, pool, 0.5), 1),
               s_num(g, sizeof g, s_quantile_ms(t, pool, 0.99), 1),
               s_num(h, sizeof h, s_rate(t, "rtp_broker_late_results_total", pool), 1),
               s_num(i, sizeof i, s_rate(t, "rtp_broker_dispatched_total", pool), 1));
    }
    s_line(s, "%s", "");
    s_line(s, "events in flight %s   aggregator queue %s",
           s_num(a, sizeof a, s_now(t, "rtp_broker_events_in_flight", NULL), 0),
           s_num(b, sizeof b, s_now(t, "rtp_broker_aggregator_queue", NULL), 0));
    s_line(s, "speculative copies %s/s   wins %s/s   cancels %s/s",
           s_num(a, sizeof a, s_rate(t, "rtp_broker_speculative_copies_total", NULL), 1),
           s_num(b, sizeof b, s_rate(t, "rtp_broker_speculative_wins_total", NULL), 1),
           s_num(c, sizeof c, s_rate(t, "rtp_broker_cancels_total", NULL), 1));
    s_line(s, "workers lost %s (%s in the last minute)   restarted %s   poison %s   dropped frames %s   acks %s/s",
           s_num(a, sizeof a, s_now(t, "rtp_broker_workers_lost_total", NULL), 0),
           s_num(b, sizeof b, s_lost_last_minute(t), 0), s_num(f, sizeof f, s_restarts(t), 0),
           s_num(c, sizeof c, s_now(t, "rtp_broker_poison_total", NULL), 0),
           s_num(d, sizeof d, s_now(t, "rtp_broker_dropped_frames_total", NULL), 0),
           s_num(e, sizeof e, s_rate(t, "rtp_broker_acks_forwarded_total", NULL), 1));
    const scrape_page_t *bt = &t->batcher;
    if (bt->url && !bt->cur)
        s_line(s, "batcher: %s", *bt->error ? bt->error : "waiting for its /metrics...");
    if (bt->url && bt->cur) {
        s_line(s, "latency reader to Redis: p50 %s ms   p90 %s ms   p99 %s ms", s_num(a, sizeof a, s_latency_ms(t, 0.5), 1),
               s_num(b, sizeof b, s_latency_ms(t, 0.9), 1), s_num(c, sizeof c, s_latency_ms(t, 0.99), 1));
        s_batcher_line(t, s);
    }
    s_hashtags_lines(t, s);
    s_letters_lines(t, s);
}

/* One line of key=value words, for logs and pipes. */
static void s_plain_line(const top_t *t, screen_t *s)
{
    char clock[16], a[32], b[32], c[32], d[32], e[32], f[32], g[32];
    s_clock(clock, sizeof clock);
    if (!t->broker.cur) {
        s_line(s, "%s error=\"%s\"", clock, t->broker.error);
        return;
    }
    char pools[600];
    size_t n = 0;
    for (int p = 0; p < N_POOLS; p++) {
        const char *pool = s_pools[p];
        n += (size_t) snprintf(pools + n, sizeof pools - n,
                               " | %s workers=%s in_flight=%s backlog=%s results=%s/s p50=%sms p99=%sms",
                               pool, s_num(a, sizeof a, s_now(t, "rtp_broker_workers", pool), 0),
                               s_num(b, sizeof b, s_now(t, "rtp_broker_tasks_in_flight", pool), 0),
                               s_num(c, sizeof c, s_now(t, "rtp_broker_backlog", pool), 0),
                               s_num(d, sizeof d, s_rate(t, "rtp_broker_results_total", pool), 1),
                               s_num(e, sizeof e, s_quantile_ms(t, pool, 0.5), 1),
                               s_num(f, sizeof f, s_quantile_ms(t, pool, 0.99), 1));
        if (n >= sizeof pools)
            n = sizeof pools - 1;
    }
    s_line(s, "%s tweets=%s tweets_rate=%s/s events_in_flight=%s%s | lost=%s restarted=%s poison=%s dead_letters=%s%s%s",
           clock, s_num(a, sizeof a, s_now(t, "rtp_broker_tweets_total", NULL), 0),
           s_num(b, sizeof b, s_rate(t, "rtp_broker_tweets_total", NULL), 1),
           s_num(c, sizeof c, s_now(t, "rtp_broker_events_in_flight", NULL), 0), pools,
           s_num(d, sizeof d, s_now(t, "rtp_broker_workers_lost_total", NULL), 0),
           s_num(f, sizeof f, s_restarts(t), 0), s_num(e, sizeof e, s_now(t, "rtp_broker_poison_total", NULL), 0),
           s_num(g, sizeof g, s_now(t, "rtp_broker_dead_letters_total", NULL), 0), *t->broker.error ? " error=" : "",
           *t->broker.error ? "stale" : "");
    /* the optional parts, on the same line */
    char list[512];
    if (hosts_line_format(t->broker.cur, 1, list, sizeof list))
        s_append(s, " | hosts=%s", list);
    if (t->batcher.cur)
        s_append(s, " | latency_p50=%sms latency_p99=%sms", s_num(a, sizeof a, s_latency_ms(t, 0.5), 1),
                 s_num(b, sizeof b, s_latency_ms(t, 0.99), 1));
    if (t->redis && t->top.n)
        s_append(s, " | hashtags=%s", s_hashtag_list(t, list, sizeof list, ",", "%s%s:%lld"));
}

/* ---------- the terminal ---------- */

static struct termios s_saved_termios;
static int s_termios_saved;

static void s_terminal_enter(void)
{
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &s_saved_termios) == 0) {
        struct termios raw = s_saved_termios;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            s_termios_saved = 1;
    }
    fputs("\033[?1049h\033[?25l", stdout); /* the alternate screen, no cursor */
    fflush(stdout);
}

static void s_terminal_leave(void)
{
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    if (s_termios_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &s_saved_termios);
    s_termios_saved = 0;
}

static void s_draw(const screen_t *s)
{
    struct winsize ws;
    int cols = 200, rows = 60;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        cols = ws.ws_col;
        rows = ws.ws_row;
    }
    fputs("\033[H", stdout);
    for (int i = 0; i < s->n && i < rows; i++) {
        /* cut at the width so nothing wraps and scrolls (hashtags come in every script) */
        int fit = (int) term_text_fit(s->lines[i], cols, NULL);
        fprintf(stdout, "%.*s\033[K%s", fit, s->lines[i], i + 1 < rows ? "\n" : "");
    }
    fputs("\033[J", stdout);
    fflush(stdout);
}

/* Waits until until_ms; 1 if the user pressed q (full-screen mode reads keys). */
static int s_wait(int64_t until_ms, int read_keys)
{
    while (!rtp_stop_requested()) {
        int64_t left = until_ms - rtp_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int rc = poll(&pfd, read_keys ? 1 : 0, (int) (left > 200 ? 200 : left));
        if (rc > 0 && (pfd.revents & POLLIN)) {
            char key[16];
            ssize_t n = read(STDIN_FILENO, key, sizeof key);
            for (ssize_t i = 0; i < n; i++)
                if (key[i] == 'q' || key[i] == 'Q')
                    return 1;
            if (n == 0)
                read_keys = 0; /* stdin closed: stop reading it */
        }
    }
    return 0;
}

static void s_scrape(top_t *t)
{
    int timeout = t->interval_ms < 500 ? 500 : t->interval_ms > 5000 ? 5000 : t->interval_ms;
    if (t->batcher.url)
        scrape_page_fetch(&t->batcher, timeout);
    if (t->redis) {
        rtp_err_t err = {{0}};
        top_redis_report_t report;
        if (top_redis_read(t->redis, &report, &err) == 0) {
            t->top = report;
            t->redis_error[0] = 0;
        } else
            snprintf(t->redis_error, sizeof t->redis_error, "%s", err.msg);
    }
    if (scrape_page_fetch(&t->broker, timeout) == 0)
        s_note_lost(t);
}

int top_main(int argc, char **argv)
{
    int code;
    rtp_settings_t *s = rtp_settings_new(
        "rtp top",
        "A live view of a running rtp system from the broker's /metrics: rates, pools, task times, faults.",
        s_settings, argc, argv, &code);
    if (!s)
        return code;
    rtp_signals_install();
    static top_t t;
    static char found[512], found_batcher[512];
    t.broker.url = rtp_settings_str(s, "broker-metrics");
    int from_runinfo = !t.broker.url || !*t.broker.url;
    if (from_runinfo) {
        rtp_err_t err;
        if (runinfo_find_metrics(found, sizeof found, &err) != 0) {
            fprintf(stderr, "rtp top: no --broker-metrics URL, and no running rtp up found: %s\n", err.msg);
            rtp_settings_destroy(&s);
            return 1;
        }
        t.broker.url = found;
    }
    t.batcher.url = rtp_settings_str(s, "batcher-metrics");
    if (t.batcher.url && (!*t.batcher.url || !strcmp(t.batcher.url, "none")))
        t.batcher.url = NULL;
    else if (!t.batcher.url && from_runinfo) {
        rtp_err_t err; /* an rtp up of before the batcher had metrics: no batcher line */
        if (runinfo_find_url("batcher_metrics", found_batcher, sizeof found_batcher, &err) == 0)
            t.batcher.url = found_batcher;
    }
    t.interval_ms = (int) rtp_settings_int(s, "interval-ms");
    if (t.interval_ms < 100)
        t.interval_ms = 100;
    const char *redis_url = rtp_settings_str(s, "redis-url");
    static char found_redis[512];
    if (!redis_url && from_runinfo) {
        rtp_err_t err;
        if (runinfo_find_url("redis_url", found_redis, sizeof found_redis, &err) == 0)
            redis_url = found_redis;
    }
    if (redis_url && *redis_url && strcmp(redis_url, "none") != 0) {
        rtp_err_t err = {{0}};
        int timeout = t.interval_ms / 2 < 200 ? 200 : t.interval_ms / 2 > 2000 ? 2000 : t.interval_ms / 2;
        if (!(t.redis = top_redis_new(redis_url, timeout, &err))) {
            fprintf(stderr, "rtp top: bad --redis-url: %s\n", err.msg);
            scrape_page_clear(&t.batcher);
            rtp_settings_destroy(&s);
            return 1;
        }
    }
    int64_t count = rtp_settings_int(s, "count");
    int full = isatty(STDOUT_FILENO) && !rtp_settings_bool(s, "plain");
    if (full)
        s_terminal_enter();
    int64_t next = rtp_mono_ms();
    for (int64_t frame = 0; !rtp_stop_requested() && (count <= 0 || frame < count); frame++) {
        s_scrape(&t);
        screen_t screen = {NULL, 0, 0};
        if (full) {
            s_full_screen(&t, &screen);
            s_draw(&screen);
        } else {
            s_plain_line(&t, &screen);
            puts(screen.lines[0]);
            fflush(stdout);
        }
        s_screen_free(&screen);
        if (count > 0 && frame + 1 >= count)
            break;
        next += t.interval_ms;
        if (next < rtp_mono_ms())
            next = rtp_mono_ms(); /* a slow scrape: do not try to catch up */
        if (s_wait(next, full && s_termios_saved))
            break;
    }
    if (full)
        s_terminal_leave();
    int failed = *t.broker.error != 0; /* the last scrape failed */
    scrape_page_clear(&t.broker);
    scrape_page_clear(&t.batcher);
    top_redis_destroy(&t.redis);
    rtp_settings_destroy(&s);
    return failed;
}
