/* fuzz_sse: the SSE push parser (common/sse.h) against a reference written here.
 *
 * The input is one byte stream. The reference applies the WHATWG "parse an event
 * stream" algorithm, plus sse.h's size cap, to whole lines of the whole buffer; it
 * is slow and plain on purpose. The real parser is fed the same bytes three ways
 * (all at once, one byte per call, in chunks of random sizes, each chunk in its
 * own allocation so that ASan sees a read past it), each with a cap above the
 * input's size (nothing may be dropped) and with a small cap (events over it must
 * be dropped, each reported once). Each run feeds the stream, resets, and feeds it
 * again, which checks what a reset keeps (the committed event ID, the retry time)
 * and what it discards (a partial line, event or uncommitted ID).
 *
 * Every run must give the reference's events, byte for byte and in order, with
 * their last event IDs, and the same retry time and count of dropped events.
 */
#include "sse.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- byte strings and event lists -------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} s_bytes_t;

static void s_bytes_set(s_bytes_t *b, const void *p, size_t n)
{
    if (n + 1 > b->cap) {
        b->cap = n + 1;
        b->p = realloc(b->p, b->cap);
        FUZZ_CHECK(b->p, "out of memory");
    }
    if (n)
        memcpy(b->p, p, n);
    b->p[n] = '\0';
    b->len = n;
}

static void s_bytes_add(s_bytes_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = 2 * (b->len + n + 1);
        b->p = realloc(b->p, b->cap);
        FUZZ_CHECK(b->p, "out of memory");
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

typedef struct {
    s_bytes_t type; /* as the C string the parser hands out */
    s_bytes_t data;
    s_bytes_t last_id;
} s_event_t;

typedef struct {
    s_event_t *v;
    size_t n, cap;
    uint64_t errors; /* on_error calls */
} s_events_t;

static void s_events_add(s_events_t *list, const char *type, const char *data, size_t data_len,
                         const char *last_id)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 16;
        list->v = realloc(list->v, list->cap * sizeof *list->v);
        FUZZ_CHECK(list->v, "out of memory");
    }
    s_event_t *e = &list->v[list->n++];
    memset(e, 0, sizeof *e);
    s_bytes_set(&e->type, type, strlen(type));
    s_bytes_set(&e->data, data, data_len);
    s_bytes_set(&e->last_id, last_id, strlen(last_id));
}

static void s_events_free(s_events_t *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->v[i].type.p);
        free(list->v[i].data.p);
        free(list->v[i].last_id.p);
    }
    free(list->v);
    memset(list, 0, sizeof *list);
}

/* --- the reference -------------------------------------------------------------- */

typedef struct {
    size_t cap;          /* max_event */
    s_bytes_t committed; /* the last event ID string: survives the end of a stream */
    int64_t retry_ms;
    uint64_t oversized;
    /* per stream */
    s_bytes_t id_buffer;
    s_bytes_t data; /* data lines joined with '\n' */
    s_bytes_t type;
    int has_data, dropping;
    s_events_t *out;
} s_ref_t;

static void s_ref_drop(s_ref_t *r)
{
    if (!r->dropping)
        r->oversized++;
    r->dropping = 1;
    r->has_data = 0;
    r->data.len = r->type.len = 0;
}

/* Appends to the data or type buffer, or drops the event when data + type would
 * go over the cap. Returns 0 if the event was dropped. */
static int s_ref_append(s_ref_t *r, s_bytes_t *b, const uint8_t *p, size_t n)
{
    if (r->data.len + r->type.len + n > r->cap) {
        s_ref_drop(r);
        return 0;
    }
    s_bytes_add(b, p, n);
    return 1;
}

static void s_ref_dispatch(s_ref_t *r)
{
    s_bytes_set(&r->committed, r->id_buffer.p, r->id_buffer.len);
    if (r->has_data) {
        s_bytes_add(&r->type, "", 0); /* NUL-terminates an empty buffer too */
        s_bytes_add(&r->data, "", 0);
        s_events_add(r->out, r->type.len ? r->type.p : "message", r->data.p, r->data.len, r->committed.p);
    }
    r->has_data = r->dropping = 0;
    r->data.len = r->type.len = 0;
}

static int s_name_is(const uint8_t *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* One line without its line end. complete is 0 for the last, cut-off line of a
 * stream: its data or event field has begun if it has a colon, so it can still
 * drop its event, but an id or retry line counts only once it ends, and the
 * stream's end discards the rest. */
static void s_ref_line(s_ref_t *r, const uint8_t *line, size_t n, int complete)
{
    if (n == 0) {
        if (complete)
            s_ref_dispatch(r);
        return;
    }
    if (line[0] == ':')
        return;
    const uint8_t *colon = memchr(line, ':', n);
    if (!colon && !complete)
        return;
    size_t name_len = colon ? (size_t) (colon - line) : n;
    const uint8_t *value = colon ? colon + 1 : line + n;
    size_t value_len = colon ? n - name_len - 1 : 0;
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (s_name_is(line, name_len, "data") && !r->dropping) {
        if (r->has_data && !s_ref_append(r, &r->data, (const uint8_t *) "\n", 1))
            return;
        r->has_data = 1;
        s_ref_append(r, &r->data, value, value_len);
    } else if (s_name_is(line, name_len, "event") && !r->dropping) {
        r->type.len = 0;
        s_ref_append(r, &r->type, value, value_len);
    } else if (s_name_is(line, name_len, "id")) {
        if (memchr(value, '\0', value_len))
            return; /* ignored, as the spec says */
        if (!complete)
            return; /* an id line is judged when it ends */
        if (value_len > r->cap)
            s_ref_drop(r);
        else
            s_bytes_set(&r->id_buffer, value, value_len);
    } else if (s_name_is(line, name_len, "retry") && complete && value_len > 0) {
        int64_t v = 0;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return;
            int d = value[i] - '0';
            v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
        }
        r->retry_ms = v;
    }
}

/* One stream, from its first byte to its end (a connection's lifetime). */
static void s_ref_stream(s_ref_t *r, const uint8_t *p, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    s_bytes_set(&r->id_buffer, r->committed.p, r->committed.len);
    r->data.len = r->type.len = 0;
    r->has_data = r->dropping = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && p[j] != '\n' && p[j] != '\r')
            j++;
        if (j == len) {
            s_ref_line(r, p + i, j - i, 0);
            break;
        }
        s_ref_line(r, p + i, j - i, 1);
        if (p[j] == '\r' && j + 1 < len && p[j + 1] == '\n')
            j++;
        i = j + 1;
    }
}

/* --- the parser under test ------------------------------------------------------ */

static void s_on_event(const rtp_sse_event_t *event, void *arg)
{
    FUZZ_CHECK(event->type && event->data && event->last_id, "NULL field in an event");
    FUZZ_CHECK(event->data[event->data_len] == '\0', "data not NUL-terminated");
    s_events_add(arg, event->type, event->data, event->data_len, event->last_id);
}

static void s_on_error(const char *reason, void *arg)
{
    FUZZ_CHECK(reason && *reason, "empty reason");
    ((s_events_t *) arg)->errors++;
}

enum { FEED_WHOLE, FEED_BYTES, FEED_CHUNKS, FEED_WAYS };
#define S_CHUNK_MAX 17
static const char *const s_feed_names[FEED_WAYS] = {"whole", "byte by byte", "random chunks"};

static void s_feed(rtp_sse_parser_t *parser, const uint8_t *p, size_t len, int how, uint64_t *seed)
{
    if (how == FEED_WHOLE) {
        rtp_sse_parser_feed(parser, (const char *) p, len);
        return;
    }
    /* One allocation of each chunk size, exactly that big, made once. */
    static char *chunks[S_CHUNK_MAX + 1];
    for (size_t i = 0; i < len;) {
        size_t n = how == FEED_BYTES ? 1 : 1 + fuzz_next(seed) % S_CHUNK_MAX;
        if (n > len - i)
            n = len - i;
        if (!chunks[n])
            FUZZ_CHECK(chunks[n] = malloc(n), "out of memory");
        memcpy(chunks[n], p + i, n);
        rtp_sse_parser_feed(parser, chunks[n], n);
        i += n;
    }
}

static void s_compare(const s_events_t *got, const s_events_t *want, const char *how, size_t cap)
{
    FUZZ_CHECK(got->n == want->n, "%s, cap %zu: %zu events, the reference has %zu", how, cap, got->n,
               want->n);
    for (size_t i = 0; i < got->n; i++) {
        const s_event_t *g = &got->v[i], *w = &want->v[i];
        FUZZ_CHECK(strcmp(g->type.p, w->type.p) == 0, "%s, cap %zu, event %zu: type '%s', reference '%s'",
                   how, cap, i, g->type.p, w->type.p);
        FUZZ_CHECK(g->data.len == w->data.len && memcmp(g->data.p, w->data.p, g->data.len) == 0,
                   "%s, cap %zu, event %zu: data of %zu bytes '%.60s', reference %zu bytes '%.60s'", how, cap,
                   i, g->data.len, g->data.p, w->data.len, w->data.p);
        FUZZ_CHECK(strcmp(g->last_id.p, w->last_id.p) == 0,
                   "%s, cap %zu, event %zu: last id '%.60s', reference '%.60s'", how, cap, i, g->last_id.p,
                   w->last_id.p);
        FUZZ_CHECK(g->data.len <= cap, "%s: an event over the cap %zu was dispatched", how, cap);
    }
}

static void s_check(const uint8_t *p, size_t len, size_t cap, uint64_t seed)
{
    s_events_t want = {0};
    s_ref_t ref = {.cap = cap, .retry_ms = -1, .out = &want};
    s_bytes_set(&ref.committed, "", 0);
    for (int stream = 0; stream < 2; stream++)
        s_ref_stream(&ref, p, len);

    for (int how = 0; how < FEED_WAYS; how++) {
        s_events_t got = {0};
        rtp_sse_handler_t handler = {s_on_event, s_on_error, &got};
        rtp_sse_parser_t *parser = rtp_sse_parser_new(cap, handler);
        FUZZ_CHECK(parser, "rtp_sse_parser_new(%zu) failed", cap);
        for (int stream = 0; stream < 2; stream++) {
            s_feed(parser, p, len, how, &seed);
            rtp_sse_parser_reset(parser);
        }
        s_compare(&got, &want, s_feed_names[how], cap);
        int64_t retry = rtp_sse_parser_retry_ms(parser);
        FUZZ_CHECK(retry == ref.retry_ms, "%s, cap %zu: retry %lld ms, reference %lld ms", s_feed_names[how],
                   cap, (long long) retry, (long long) ref.retry_ms);
        uint64_t dropped = rtp_sse_parser_oversized(parser);
        FUZZ_CHECK(dropped == ref.oversized && got.errors == dropped,
                   "%s, cap %zu: %llu dropped, %llu reported, reference %llu", s_feed_names[how], cap,
                   (unsigned long long) dropped, (unsigned long long) got.errors,
                   (unsigned long long) ref.oversized);
        rtp_sse_parser_destroy(&parser);
        rtp_sse_parser_destroy(&parser); /* safe twice */
        FUZZ_CHECK(parser == NULL, "destroy did not clear the pointer");
        s_events_free(&got);
    }
    free(ref.committed.p);
    free(ref.id_buffer.p);
    free(ref.data.p);
    free(ref.type.p);
    s_events_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed = fuzz_hash(data, size);
    /* Above the input's size nothing can be over the cap: every byte of data or type
     * comes from a distinct input byte, and each '\n' joining two data lines from a
     * "data" field name. */
    s_check(data, size, size + 1, seed);
    s_check(data, size, 1 + seed % 40, seed);
    return 0;
}
