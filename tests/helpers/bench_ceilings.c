/* bench_ceilings: the single-stage ceilings that tests/bench/bench.py compares rtp
 * with, measured on the bundled tweets (data/tweets-a.jsonl and tweets-b.jsonl, each
 * line wrapped as the rtp-server sends it) in the same run as the scenarios.
 *
 *   bench_ceilings parse [--seconds S] [--tweets FILE]...
 *       one core decoding every event again and again: rtp_tweet_decode (the
 *       project's decoder: one cJSON parse plus the record), and plain cJSON_Parse +
 *       cJSON_Delete for comparison. Rates per second of wall time and per second of
 *       this process's CPU time (the one core's rate even on a busy machine).
 *       --tweets (repeatable) reads these tweet files instead of the bundled two:
 *       for instance copies with numeric ids only (tests/lib/numeric_ids.py).
 *   bench_ceilings zmq [--seconds S] [--dir DIR]
 *       PUSH/PULL over ipc:// between two processes (fork), messages = the JOINED
 *       record of every tweet (record + censored text + scores, the largest message
 *       of the pipeline): once encoded and decoded with the project's codec
 *       (rtp_msg_send / rtp_msg_recv), once as pre-encoded frames (transport only).
 *   bench_ceilings redis URL [--seconds S] [--batch N]
 *       rtp_store_write (the batcher's one Lua call a batch) of the JOINED records in
 *       batches of N (default 100): on an emptied database (every tweet new), and the
 *       same batches again (every tweet already stored: what later replay loops cost).
 *       The database at URL is FLUSHDB'ed: give it a private redis-server.
 *
 * Each prints one JSON object on stdout; rates are per second of the timed loops
 * only (loading and FLUSHDB are not timed). Exit status 0, or 1 with a reason on
 * stderr. */
#include "analysis.h"
#include "proto.h"
#include "redis_link.h"
#include "store.h"
#include "tweet.h"
#include "util.h"

#include <cJSON.h>
#include <zmq.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char **data;
    size_t *len;
    size_t count, cap, bytes;
    size_t first_file; /* events of tweets-a.jsonl (stream 1); the rest are stream 2's */
} events_t;

typedef struct {
    rtp_msg_t **msgs;
    size_t count;
} records_t;

static void s_die(const char *what)
{
    fprintf(stderr, "bench_ceilings: %s\n", what);
    exit(1);
}

/* The tweet files the events come from (--tweets), the bundled two by default. */
enum { MAX_TWEET_FILES = 8 };
static const char *s_tweet_files[MAX_TWEET_FILES] = {"tweets-a.jsonl", "tweets-b.jsonl"};
static int s_tweet_file_count = 2;

/* A file of the data folder, or the path itself when it has a slash. */
static char *s_data_file(const char *name, size_t *len)
{
    char path[4096];
    if (strchr(name, '/'))
        snprintf(path, sizeof path, "%s", name);
    else
        rtp_data_path(path, sizeof path, name);
    char *text = rtp_read_file(path, len);
    if (!text) {
        fprintf(stderr, "bench_ceilings: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return text;
}

/* Every line of the tweet files as the data of one SSE event, as rtp-replay sends
 * it. The first file is stream 1, the others stream 2. */
static void s_load_events(events_t *ev)
{
    char tail[64];
    snprintf(tail, sizeof tail, ", \"unix_timestamp_100us\": %" PRId64 "}}", rtp_wall_us() / 100);
    static const char head[] = "{\"message\": {\"tweet\": ";
    memset(ev, 0, sizeof *ev);
    for (int f = 0; f < s_tweet_file_count; f++) {
        size_t len;
        char *text = s_data_file(s_tweet_files[f], &len);
        for (char *line = text; line < text + len;) {
            char *nl = memchr(line, '\n', (size_t) (text + len - line));
            size_t n = nl ? (size_t) (nl - line) : (size_t) (text + len - line);
            if (n > 0) {
                if (ev->count == ev->cap) {
                    ev->cap = ev->cap ? ev->cap * 2 : 1024;
                    ev->data = realloc(ev->data, ev->cap * sizeof *ev->data);
                    ev->len = realloc(ev->len, ev->cap * sizeof *ev->len);
                    if (!ev->data || !ev->len)
                        s_die("out of memory");
                }
                size_t total = sizeof head - 1 + n + strlen(tail);
                char *d = malloc(total + 1);
                if (!d)
                    s_die("out of memory");
                snprintf(d, total + 1, "%s%.*s%s", head, (int) n, line, tail);
                ev->data[ev->count] = d;
                ev->len[ev->count++] = total;
                ev->bytes += total;
            }
            line += n + 1;
        }
        free(text);
        if (f == 0)
            ev->first_file = ev->count;
    }
}

static void s_free_events(events_t *ev)
{
    for (size_t i = 0; i < ev->count; i++)
        free(ev->data[i]);
    free(ev->data);
    free(ev->len);
}

static void s_free_records(records_t *rec)
{
    for (size_t i = 0; i < rec->count; i++)
        rtp_msg_destroy(&rec->msgs[i]);
    free(rec->msgs);
}

/* The JOINED message of every record of every event, scored as the workers score
 * them (the same analysis functions), numbered like the broker numbers events. */
static void s_load_records(const events_t *ev, records_t *out)
{
    size_t len;
    char *words = s_data_file("emotion_values.txt", &len);
    rtp_err_t err;
    rtp_lexicon_t *lexicon = rtp_lexicon_new(words, len, 1000000, &err);
    free(words);
    char *swear = s_data_file("swearwords.json", &len);
    rtp_censor_t *censor = rtp_censor_new(swear, len, &err);
    free(swear);
    if (!lexicon || !censor)
        s_die("cannot load the word lists");
    out->msgs = calloc(ev->count * 2, sizeof *out->msgs);
    out->count = 0;
    if (!out->msgs)
        s_die("out of memory");
    for (size_t i = 0; i < ev->count; i++) {
        rtp_decoded_t d;
        if (rtp_tweet_decode(ev->data[i], ev->len[i], &d, &err) == 0 && d.kind == RTP_EVENT_TWEET) {
            for (int r = 0; r < d.count; r++) {
                rtp_msg_t *m = rtp_msg_new(RTP_MSG_JOINED);
                if (!m || rtp_tweet_copy(&m->tweet, &d.tweets[r]) != 0)
                    s_die("out of memory");
                m->key = out->count + 1;
                m->seq = i;
                m->received_us = rtp_wall_us();
                rtp_msg_set_str(&m->origin, i < ev->first_file ? "tweets-1" : "tweets-2");
                m->text = rtp_censor_text(censor, m->tweet.text, NULL);
                m->number = rtp_sentiment(lexicon, m->tweet.text);
                m->number2 = rtp_engagement(m->tweet.favorites, m->tweet.retweets, m->tweet.followers);
                if (!m->text)
                    s_die("out of memory");
                out->msgs[out->count++] = m;
            }
        }
        rtp_decoded_clear(&d);
    }
    rtp_lexicon_destroy(&lexicon);
    rtp_censor_destroy(&censor);
}

/* --- parse ---------------------------------------------------------------------- */

static int64_t s_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int s_parse(double seconds)
{
    events_t ev;
    s_load_events(&ev);
    /* cJSON alone first: the decoder's first call installs cJSON allocation hooks
     * (json_arena.h), and the ceiling is cJSON as it comes, on malloc */
    long cjson_passes = 0;
    size_t failed = 0;
    int64_t t0 = rtp_mono_us(), t1, c0 = s_cpu_us();
    do {
        for (size_t i = 0; i < ev.count; i++) {
            cJSON *j = cJSON_ParseWithLength(ev.data[i], ev.len[i]);
            if (!j)
                failed++;
            cJSON_Delete(j);
        }
        cjson_passes++;
        t1 = rtp_mono_us();
    } while ((double) (t1 - t0) < seconds * 1e6);
    double cjson_s = (double) (t1 - t0) / 1e6;
    double cjson_cpu = (double) (s_cpu_us() - c0) / 1e6;

    size_t records = 0, rejected = 0;
    long passes = 0;
    t0 = rtp_mono_us();
    c0 = s_cpu_us();
    do {
        for (size_t i = 0; i < ev.count; i++) {
            rtp_decoded_t d;
            rtp_err_t err;
            if (rtp_tweet_decode(ev.data[i], ev.len[i], &d, &err) == 0)
                records += (size_t) d.count;
            else
                rejected++;
            rtp_decoded_clear(&d);
        }
        passes++;
        t1 = rtp_mono_us();
    } while ((double) (t1 - t0) < seconds * 1e6);
    double decode_s = (double) (t1 - t0) / 1e6;
    double decode_cpu = (double) (s_cpu_us() - c0) / 1e6;

    double events = (double) ev.count;
    printf(
        "{\"ceiling\": \"parse\", \"events_per_pass\": %zu, \"records_per_pass\": %zu, \"bytes_per_pass\": "
        "%zu, "
        "\"rejected\": %zu, \"decode_passes\": %ld, \"decode_seconds\": %.6f, \"decode_events_per_s\": %.1f, "
        "\"decode_records_per_s\": %.1f, \"decode_mb_per_s\": %.2f, \"decode_cpu_seconds\": %.6f, "
        "\"decode_events_per_cpu_s\": %.1f, \"cjson_passes\": %ld, \"cjson_seconds\": %.6f, "
        "\"cjson_events_per_s\": %.1f, \"cjson_cpu_seconds\": %.6f, \"cjson_events_per_cpu_s\": %.1f, "
        "\"cjson_failed\": %zu}\n",
        ev.count, records / (size_t) passes, ev.bytes, rejected, passes, decode_s,
        events * (double) passes / decode_s, (double) records / decode_s,
        (double) ev.bytes * (double) passes / decode_s / 1e6, decode_cpu,
        events * (double) passes / decode_cpu, cjson_passes, cjson_s,
        events * (double) cjson_passes / cjson_s, cjson_cpu, events * (double) cjson_passes / cjson_cpu,
        failed);
    s_free_events(&ev);
    return rejected || failed ? 1 : 0;
}

/* --- zmq ------------------------------------------------------------------------ */

/* The receiving process: two rounds of `count` messages (codec, then raw frames);
 * writes the seconds from the first to the last message of each round to fd. */
static void s_zmq_receiver(const char *endpoint, long count, int ready_fd, int result_fd)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    if (zmq_bind(pull, endpoint) != 0)
        _exit(1);
    if (write(ready_fd, "r", 1) != 1)
        _exit(1);
    double took[2];
    long bad = 0;
    for (int round = 0; round < 2; round++) {
        int64_t first = 0;
        for (long i = 0; i < count; i++) {
            if (round == 0) {
                rtp_err_t err;
                rtp_msg_t *m = rtp_msg_recv(pull, NULL, 0, &err);
                if (!m || m->type != RTP_MSG_JOINED)
                    bad++;
                rtp_msg_destroy(&m);
            } else {
                for (int frame = 0; frame < 2; frame++) {
                    zmq_msg_t msg;
                    zmq_msg_init(&msg);
                    if (zmq_msg_recv(&msg, pull, 0) < 0)
                        bad++;
                    zmq_msg_close(&msg);
                }
            }
            if (i == 0)
                first = rtp_mono_us();
        }
        took[round] = (double) (rtp_mono_us() - first) / 1e6;
    }
    if (bad)
        took[0] = -1;
    ssize_t n = write(result_fd, took, sizeof took);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    _exit(n == (ssize_t) sizeof took ? 0 : 1);
}

static int s_zmq(double seconds, const char *dir)
{
    events_t ev;
    records_t rec;
    s_load_events(&ev);
    s_load_records(&ev, &rec);
    /* pre-encoded frames for the raw round, and the mean message size */
    uint8_t(*hdr)[4] = calloc(rec.count, sizeof *hdr);
    uint8_t **body = calloc(rec.count, sizeof *body);
    size_t *body_len = calloc(rec.count, sizeof *body_len);
    size_t total = 0;
    if (!hdr || !body || !body_len)
        s_die("out of memory");
    for (size_t i = 0; i < rec.count; i++) {
        size_t cap = 0;
        if (rtp_msg_encode(rec.msgs[i], hdr[i], &body[i], &cap, &body_len[i]) != 0)
            s_die("cannot encode a record");
        total += body_len[i] + 4;
    }
    /* a message count that takes about `seconds` at a first guess of 50k/s */
    long count = (long) (seconds * 50000);
    if (count < (long) rec.count)
        count = (long) rec.count;
    char endpoint[4200];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/bench-zmq-%d.ipc", dir, (int) getpid());
    int ready[2], result[2];
    if (pipe(ready) != 0 || pipe(result) != 0)
        s_die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        s_die("fork");
    if (pid == 0)
        s_zmq_receiver(endpoint, count, ready[1], result[1]);
    char c;
    if (read(ready[0], &c, 1) != 1)
        s_die("the receiver did not start");
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    if (zmq_connect(push, endpoint) != 0)
        s_die("cannot connect");
    for (long i = 0; i < count; i++)
        if (rtp_msg_send(rec.msgs[(size_t) i % rec.count], push, NULL, 0) != 0)
            s_die("send failed");
    for (long i = 0; i < count; i++) {
        size_t k = (size_t) i % rec.count;
        if (zmq_send(push, hdr[k], 4, ZMQ_SNDMORE) != 4 || zmq_send(push, body[k], body_len[k], 0) < 0)
            s_die("send failed");
    }
    double took[2] = {0, 0};
    ssize_t n = read(result[0], took, sizeof took);
    int status = 0;
    waitpid(pid, &status, 0);
    zmq_close(push);
    zmq_ctx_term(ctx);
    char path[4200];
    snprintf(path, sizeof path, "%s/bench-zmq-%d.ipc", dir, (int) getpid());
    unlink(path);
    if (n != (ssize_t) sizeof took || took[0] <= 0 || took[1] <= 0 || status != 0)
        s_die("the receiver failed (a message was lost or malformed)");
    printf("{\"ceiling\": \"zmq\", \"transport\": \"ipc PUSH/PULL, two processes\", \"messages\": %ld, "
           "\"mean_message_bytes\": %.1f, \"codec_seconds\": %.6f, \"codec_msgs_per_s\": %.1f, "
           "\"raw_seconds\": %.6f, \"raw_msgs_per_s\": %.1f}\n",
           count, (double) total / (double) rec.count, took[0], (double) (count - 1) / took[0], took[1],
           (double) (count - 1) / took[1]);
    for (size_t i = 0; i < rec.count; i++)
        free(body[i]);
    free(body);
    free(body_len);
    free(hdr);
    s_free_records(&rec);
    s_free_events(&ev);
    return 0;
}

/* --- redis ---------------------------------------------------------------------- */

static double s_write_all(rtp_store_t *store, const records_t *rec, size_t batch, rtp_store_counts_t *sum)
{
    int64_t t0 = rtp_mono_us();
    for (size_t at = 0; at < rec->count; at += batch) {
        size_t n = rec->count - at < batch ? rec->count - at : batch;
        rtp_store_counts_t counts;
        rtp_err_t err;
        if (rtp_store_write(store, rec->msgs + at, n, &counts, &err) != 0) {
            fprintf(stderr, "bench_ceilings: rtp_store_write: %s\n", err.msg);
            exit(1);
        }
        sum->stored += counts.stored;
        sum->duplicates += counts.duplicates;
        sum->deadletters += counts.deadletters;
    }
    return (double) (rtp_mono_us() - t0) / 1e6;
}

static int s_redis(const char *url, double seconds, size_t batch)
{
    events_t ev;
    records_t rec;
    s_load_events(&ev);
    s_load_records(&ev, &rec);
    rtp_err_t err;
    rtp_redis_link_t *link = rtp_redis_link_new(url, 0, 0, &err);
    if (!link)
        s_die(err.msg);
    rtp_store_t *store = rtp_store_new(link);
    double new_s = 0, dup_s = 0;
    rtp_store_counts_t first = {0}, again = {0};
    long passes = 0;
    do {
        redisContext *c = rtp_redis_link_context(link, &err);
        redisReply *r = c ? redisCommand(c, "FLUSHDB") : NULL;
        if (!r || r->type == REDIS_REPLY_ERROR)
            s_die("FLUSHDB failed");
        freeReplyObject(r);
        new_s += s_write_all(store, &rec, batch, &first);
        dup_s += s_write_all(store, &rec, batch, &again);
        passes++;
    } while (new_s < seconds);
    double written = (double) rec.count * (double) passes;
    printf("{\"ceiling\": \"redis\", \"batch\": %zu, \"records_per_pass\": %zu, \"passes\": %ld, "
           "\"new_per_pass\": %zu, \"first_write_seconds\": %.6f, \"first_write_records_per_s\": %.1f, "
           "\"duplicate_per_pass\": %zu, \"again_seconds\": %.6f, \"again_records_per_s\": %.1f}\n",
           batch, rec.count, passes, first.stored / (size_t) passes, new_s, written / new_s,
           again.duplicates / (size_t) passes, dup_s, written / dup_s);
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);
    s_free_records(&rec);
    s_free_events(&ev);
    return again.stored == 0 && first.deadletters == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        s_die("usage: bench_ceilings parse|zmq|redis [URL] [--seconds S] [--batch N] [--dir DIR] "
              "[--tweets FILE]...");
    const char *mode = argv[1], *url = NULL, *dir = "/tmp";
    double seconds = 2.0;
    size_t batch = 100;
    int tweet_files = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = (size_t) strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--tweets") == 0 && i + 1 < argc) {
            if (tweet_files == MAX_TWEET_FILES)
                s_die("too many --tweets files");
            s_tweet_files[tweet_files++] = argv[++i];
            s_tweet_file_count = tweet_files;
        } else
            url = argv[i];
    }
    if (seconds <= 0 || batch == 0)
        s_die("--seconds and --batch must be positive");
    if (strcmp(mode, "parse") == 0)
        return s_parse(seconds);
    if (strcmp(mode, "zmq") == 0)
        return s_zmq(seconds, dir);
    if (strcmp(mode, "redis") == 0 && url)
        return s_redis(url, seconds, batch);
    s_die("unknown mode (parse, zmq, or redis URL)");
    return 1;
}
