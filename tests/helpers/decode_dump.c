/* decode_dump: runs the tweet decoder over a file, one input a line, and prints
 * what it decoded as JSON lines (written with cJSON), so that a test can compare
 * every field with what it computes on its own.
 *
 *   decode_dump [--raw] [--repeat N] FILE
 *
 * By default each line is a raw tweet object, wrapped the way the rtp-server sends
 * it: {"message": {"tweet": <line>, "unix_timestamp_100us": 123}}. With --raw each
 * line is an event's whole data, passed as is (for malformed inputs).
 *
 * Output, per input line n (1-based), in order:
 *   {"line": n, "kind": "tweet", "index": i, "count": c, "id": ..., ...all fields}
 *     once per record (index 0, then 1 for a retweet's original);
 *   {"line": n, "kind": "panic"} or {"line": n, "kind": "malformed", "reason": ...}.
 * Integers are written exactly (not through a double). On stderr: the decode rate,
 * timed over N passes (default 1) with no output in the timed loop.
 */
#include "tweet.h"
#include "util.h"

#include <cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
} event_t;

static void s_add_int(cJSON *object, const char *name, int64_t value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, value);
    cJSON_AddItemToObject(object, name, cJSON_CreateRaw(buf));
}

static void s_print(cJSON *object)
{
    char *text = cJSON_PrintUnformatted(object);
    if (!text) {
        fprintf(stderr, "decode_dump: out of memory\n");
        exit(2);
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    cJSON_free(text);
    cJSON_Delete(object);
}

static void s_dump(size_t line, const rtp_decoded_t *d, int rc, const rtp_err_t *err)
{
    if (rc != 0 || d->kind != RTP_EVENT_TWEET) {
        cJSON *o = cJSON_CreateObject();
        s_add_int(o, "line", (int64_t) line);
        if (rc == 0 && d->kind == RTP_EVENT_PANIC) {
            cJSON_AddStringToObject(o, "kind", "panic");
        } else {
            cJSON_AddStringToObject(o, "kind",
                                    rc != 0 && d->kind == RTP_EVENT_MALFORMED ? "malformed" : "bad");
            cJSON_AddStringToObject(o, "reason", rc != 0 ? err->msg : "");
        }
        s_print(o);
        return;
    }
    for (int i = 0; i < d->count; i++) {
        const rtp_tweet_t *t = &d->tweets[i];
        cJSON *o = cJSON_CreateObject();
        s_add_int(o, "line", (int64_t) line);
        cJSON_AddStringToObject(o, "kind", "tweet");
        s_add_int(o, "index", i);
        s_add_int(o, "count", d->count);
        s_add_int(o, "sent_100us", d->sent_100us);
        cJSON_AddStringToObject(o, "id", t->id);
        cJSON_AddStringToObject(o, "user_id", t->user_id);
        cJSON_AddStringToObject(o, "user_name", t->user_name);
        cJSON_AddStringToObject(o, "screen_name", t->screen_name);
        cJSON_AddStringToObject(o, "text", t->text);
        cJSON_AddStringToObject(o, "hashtags", t->hashtags);
        cJSON_AddStringToObject(o, "created_at", t->created_at);
        cJSON_AddStringToObject(o, "lang", t->lang);
        cJSON_AddStringToObject(o, "retweet_of", t->retweet_of);
        s_add_int(o, "followers", t->followers);
        s_add_int(o, "favorites", t->favorites);
        s_add_int(o, "retweets", t->retweets);
        s_add_int(o, "time_ms", t->time_ms);
        s_print(o);
    }
}

/* Splits buf into lines (without their '\n'); a final empty line is not one. Each
 * event gets its own exact-size allocation, so that a decoder reading past len is
 * caught by the sanitizers. */
static event_t *s_events(const char *buf, size_t len, int raw, size_t *count)
{
    static const char head[] = "{\"message\": {\"tweet\": ";
    static const char tail[] = ", \"unix_timestamp_100us\": 123}}";
    size_t cap = 1024, n = 0;
    event_t *events = malloc(cap * sizeof *events);
    size_t at = 0;
    if (!events)
        return NULL;
    while (at < len) {
        const char *nl = memchr(buf + at, '\n', len - at);
        size_t line_len = nl ? (size_t) (nl - (buf + at)) : len - at;
        if (n == cap) {
            event_t *bigger = realloc(events, 2 * cap * sizeof *events);
            if (!bigger)
                goto fail;
            events = bigger;
            cap *= 2;
        }
        size_t extra = raw ? 0 : sizeof head - 1 + sizeof tail - 1;
        char *data = malloc(line_len + extra ? line_len + extra : 1);
        if (!data)
            goto fail;
        if (raw) {
            memcpy(data, buf + at, line_len);
        } else {
            memcpy(data, head, sizeof head - 1);
            memcpy(data + sizeof head - 1, buf + at, line_len);
            memcpy(data + sizeof head - 1 + line_len, tail, sizeof tail - 1);
        }
        events[n].data = data;
        events[n].len = line_len + extra;
        n++;
        at += line_len + 1;
    }
    *count = n;
    return events;
fail:
    while (n > 0)
        free(events[--n].data);
    free(events);
    return NULL;
}

int main(int argc, char **argv)
{
    int raw = 0;
    long repeat = 1;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--raw") == 0)
            raw = 1;
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = strtol(argv[++i], NULL, 10);
        else
            path = argv[i];
    }
    if (!path || repeat < 1) {
        fprintf(stderr, "usage: decode_dump [--raw] [--repeat N] FILE\n");
        return 2;
    }
    size_t len;
    char *buf = rtp_read_file(path, &len);
    if (!buf) {
        perror(path);
        return 2;
    }
    size_t count;
    event_t *events = s_events(buf, len, raw, &count);
    free(buf);
    if (!events) {
        fprintf(stderr, "decode_dump: out of memory\n");
        return 2;
    }

    size_t bytes = 0;
    for (size_t i = 0; i < count; i++)
        bytes += events[i].len;
    size_t records = 0, rejected = 0;
    int64_t start = rtp_mono_us();
    for (long pass = 0; pass < repeat; pass++) {
        for (size_t i = 0; i < count; i++) {
            rtp_decoded_t d;
            rtp_err_t err;
            if (rtp_tweet_decode(events[i].data, events[i].len, &d, &err) == 0)
                records += (size_t) d.count;
            else
                rejected++;
            rtp_decoded_clear(&d);
        }
    }
    double secs = (double) (rtp_mono_us() - start) / 1e6;
    if (secs <= 0)
        secs = 1e-6;
    double decoded = (double) count * (double) repeat;
    fprintf(stderr,
            "decode_dump: %zu events (%zu records, %zu rejected a pass); decoded %.0f events in %.3f s: "
            "%.0f events/s, %.1f MB/s\n",
            count, records / (size_t) repeat, rejected / (size_t) repeat, decoded, secs, decoded / secs,
            (double) bytes * (double) repeat / secs / 1e6);

    for (size_t i = 0; i < count; i++) {
        rtp_decoded_t d;
        rtp_err_t err = {{0}};
        int rc = rtp_tweet_decode(events[i].data, events[i].len, &d, &err);
        s_dump(i + 1, &d, rc, &err);
        rtp_decoded_clear(&d);
        free(events[i].data);
    }
    free(events);
    return fflush(stdout) == 0 ? 0 : 1;
}
