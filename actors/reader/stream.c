#include "stream.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct reader_stream_t {
    reader_stream_config_t config; /* url borrowed */
    reader_stream_handler_t handler;
    reader_stats_t *stats;
    CURLM *multi;
    struct curl_slist *headers;
    uint64_t rng;

    /* The current connection; easy is NULL between connections. */
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    int connected; /* the TCP connection is up (request about to be sent) */
    long status;   /* the final HTTP status, 0 until the headers are in */
    int paused;
    int64_t last_byte_ms; /* when the stall clock last restarted */
    int64_t started_ms;
    uint64_t events_at_start;
    char end_reason[160]; /* why this side ended the transfer, "" otherwise */

    /* Between connections */
    int64_t next_attempt_ms;
    int failures; /* attempts since the last connection that delivered events */
};

/* xorshift64*: enough for jitter; seeded per process so readers do not retry in step. */
static uint64_t s_random(reader_stream_t *self)
{
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return self->rng * 2685821657736338717ULL;
}

/* Full jitter: uniform in [0, min(max, min * 2^failures)]. */
static int64_t s_backoff_ms(reader_stream_t *self)
{
    int64_t cap = self->config.backoff_min_ms;
    for (int i = 0; i < self->failures && cap < self->config.backoff_max_ms; i++)
        cap *= 2;
    if (cap > self->config.backoff_max_ms)
        cap = self->config.backoff_max_ms;
    if (self->failures < 62)
        self->failures++;
    return cap > 0 ? (int64_t) (s_random(self) % (uint64_t) (cap + 1)) : 0;
}

static size_t s_on_header(char *buf, size_t size, size_t count, void *arg)
{
    reader_stream_t *self = arg;
    size_t len = size * count;
    self->last_byte_ms = rtp_mono_ms();
    if (!(len <= 2 && (buf[0] == '\r' || buf[0] == '\n')))
        return len; /* a header line; only the end of the headers matters */

    long code = 0;
    curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &code);
    char *location = NULL;
    curl_easy_getinfo(self->easy, CURLINFO_REDIRECT_URL, &location);
    if (code < 200 || (code >= 300 && code < 400 && location))
        return len; /* an interim response, or a redirect libcurl follows */
    self->status = code;
    if (code == 200) {
        self->stats->connects++;
        self->events_at_start = self->stats->events;
        char *url = NULL;
        curl_easy_getinfo(self->easy, CURLINFO_EFFECTIVE_URL, &url);
        rtp_info("connected to %s: HTTP %ld", url ? url : self->config.url, code);
        return len;
    }
    self->stats->http_errors++;
    snprintf(self->end_reason, sizeof self->end_reason, "HTTP status %ld", code);
    rtp_warn("%s answered HTTP %ld instead of 200: dropping the response", self->config.url, code);
    return 0; /* ends the transfer: the body of an error is not an event stream */
}

static size_t s_on_body(char *buf, size_t size, size_t count, void *arg)
{
    reader_stream_t *self = arg;
    size_t len = size * count;
    if (self->status != 200)
        return 0;
    self->last_byte_ms = rtp_mono_ms();
    if (!self->handler.on_data(buf, len, self->handler.arg)) {
        self->paused = 1;
        self->stats->pauses++;
        return CURL_WRITEFUNC_PAUSE;
    }
    self->stats->bytes += len;
    return len;
}

/* Called once the connection is up, before the request goes out: from here on the
 * stall clock runs (before, --connect-timeout-ms applies). */
static int s_on_connected(void *arg, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
    (void) remote_ip;
    (void) local_ip;
    (void) remote_port;
    (void) local_port;
    reader_stream_t *self = arg;
    self->connected = 1;
    self->last_byte_ms = rtp_mono_ms();
    return CURL_PREREQFUNC_OK;
}

static void s_start(reader_stream_t *self)
{
    CURL *easy = curl_easy_init();
    if (!easy) {
        rtp_error("cannot create a libcurl handle; retrying");
        self->next_attempt_ms = rtp_mono_ms() + s_backoff_ms(self);
        return;
    }
    self->easy = easy;
    self->errbuf[0] = 0;
    self->connected = 0;
    self->status = 0;
    self->paused = 0;
    self->end_reason[0] = 0;
    self->started_ms = rtp_mono_ms();
    self->last_byte_ms = self->started_ms;
    self->events_at_start = self->stats->events;

    curl_easy_setopt(easy, CURLOPT_URL, self->config.url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "rtp-reader");
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) self->config.connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, self);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, self);
    /* a stream at full speed fills any buffer: 256 KiB per read, not libcurl's
     * 16 KiB, is 16 times fewer system calls (a read returns what has arrived, so
     * a slow stream waits no longer) */
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, s_on_connected);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, self);

    self->stats->attempts++;
    if (self->stats->attempts > 1)
        self->stats->reconnects++;
    CURLMcode rc = curl_multi_add_handle(self->multi, easy);
    if (rc != CURLM_OK) {
        rtp_error("cannot start a transfer: %s; retrying", curl_multi_strerror(rc));
        curl_easy_cleanup(easy);
        self->easy = NULL;
        self->next_attempt_ms = rtp_mono_ms() + s_backoff_ms(self);
        return;
    }
    rtp_debug("connecting to %s", self->config.url);
}

/* The connection ended with result: says why, tells the consumer, and schedules
 * the next attempt. */
static void s_finish(reader_stream_t *self, CURLcode result)
{
    char reason[CURL_ERROR_SIZE + 200];
    if (self->end_reason[0])
        snprintf(reason, sizeof reason, "%s", self->end_reason);
    else if (result == CURLE_OK && self->status == 200) {
        self->stats->eofs++;
        snprintf(reason, sizeof reason, "the server ended the stream (EOF)");
    } else if (result == CURLE_OK) {
        self->stats->http_errors++;
        snprintf(reason, sizeof reason, "HTTP status %ld", self->status);
    } else {
        self->stats->errors++;
        snprintf(reason, sizeof reason, "%s%s%s", curl_easy_strerror(result), self->errbuf[0] ? ": " : "",
                 self->errbuf);
    }
    int delivered = self->status == 200;
    uint64_t events = delivered ? self->stats->events - self->events_at_start : 0;
    double seconds = (double) (rtp_mono_ms() - self->started_ms) / 1000.0;

    curl_multi_remove_handle(self->multi, self->easy);
    curl_easy_cleanup(self->easy);
    self->easy = NULL;
    self->paused = 0;
    self->handler.on_end(self->handler.arg);

    if (events > 0)
        self->failures = 0;
    int64_t delay = s_backoff_ms(self);
    self->next_attempt_ms = rtp_mono_ms() + delay;
    if (delivered)
        rtp_warn(
            "disconnected from %s after %.1f s: %s; %llu events on this connection; reconnecting in %lld ms",
            self->config.url, seconds, reason, (unsigned long long) events, (long long) delay);
    else
        rtp_warn("no stream from %s: %s; retrying in %lld ms", self->config.url, reason, (long long) delay);
}

reader_stream_t *reader_stream_new(const reader_stream_config_t *config, reader_stream_handler_t handler,
                                   reader_stats_t *stats)
{
    reader_stream_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->handler = handler;
    self->stats = stats;
    self->rng = (uint64_t) rtp_wall_us() ^ ((uint64_t) getpid() << 32) ^ (uint64_t) rtp_mono_us();
    if (self->rng == 0)
        self->rng = 1;
    self->multi = curl_multi_init();
    self->headers = curl_slist_append(NULL, "Accept: text/event-stream");
    struct curl_slist *more =
        self->headers ? curl_slist_append(self->headers, "Cache-Control: no-cache") : NULL;
    if (!self->multi || !more) {
        curl_slist_free_all(self->headers);
        if (self->multi)
            curl_multi_cleanup(self->multi);
        free(self);
        return NULL;
    }
    self->headers = more;
    self->next_attempt_ms = rtp_mono_ms();
    return self;
}

void reader_stream_destroy(reader_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reader_stream_t *self = *self_p;
    if (self->easy) {
        if (self->status == 200)
            rtp_info("disconnecting from %s: stopping; %llu events on this connection", self->config.url,
                     (unsigned long long) (self->stats->events - self->events_at_start));
        curl_multi_remove_handle(self->multi, self->easy);
        curl_easy_cleanup(self->easy);
    }
    curl_multi_cleanup(self->multi);
    curl_slist_free_all(self->headers);
    free(self);
    *self_p = NULL;
}

int reader_stream_wait(reader_stream_t *self, struct curl_waitfd *extra, unsigned extra_count, int max_ms)
{
    int64_t now = rtp_mono_ms();
    int64_t wait = max_ms;
    if (!self->easy && self->next_attempt_ms - now < wait)
        wait = self->next_attempt_ms - now;
    if (self->easy && self->connected && !self->paused &&
        self->last_byte_ms + self->config.read_timeout_ms - now < wait)
        wait = self->last_byte_ms + self->config.read_timeout_ms - now;
    if (wait < 0)
        wait = 0;
    /* libcurl shortens the wait to its own next timeout. */
    CURLMcode rc = curl_multi_poll(self->multi, extra, extra_count, (int) wait, NULL);
    if (rc != CURLM_OK) {
        rtp_error("waiting for the stream: %s", curl_multi_strerror(rc));
        return -1;
    }
    return 0;
}

void reader_stream_work(reader_stream_t *self)
{
    if (!self->easy && rtp_mono_ms() >= self->next_attempt_ms)
        s_start(self);
    if (!self->easy)
        return;
    int running = 0;
    curl_multi_perform(self->multi, &running);
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(self->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == self->easy) {
            CURLcode result = msg->data.result;
            s_finish(self, result);
            break; /* the message queue belonged to the handle just removed */
        }
    if (self->easy && self->connected && !self->paused &&
        rtp_mono_ms() - self->last_byte_ms >= self->config.read_timeout_ms) {
        self->stats->stalls++;
        snprintf(self->end_reason, sizeof self->end_reason, "stalled: no byte for %lld ms",
                 (long long) self->config.read_timeout_ms);
        s_finish(self, CURLE_OK);
    }
}

int reader_stream_paused(const reader_stream_t *self)
{
    return self->easy && self->paused;
}

void reader_stream_resume(reader_stream_t *self)
{
    if (!self->easy || !self->paused)
        return;
    self->paused = 0;
    self->last_byte_ms = rtp_mono_ms();
    CURLcode rc = curl_easy_pause(self->easy, CURLPAUSE_CONT);
    if (rc != CURLE_OK)
        rtp_warn("cannot resume the transfer from %s: %s", self->config.url, curl_easy_strerror(rc));
}
