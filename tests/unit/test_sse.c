/* sse: every rule of the WHATWG event stream format one by one, the lab's wire
 * format split at every byte, random splits of a generated stream whose expected
 * events come from the generator (not from the parser), the size cap and its memory
 * bound, NULs, reset, and a throughput figure (for information only). */
#include "check.h"
#include "sse.h"
#include "util.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- collecting what the parser reports ---- */

typedef struct {
    char *type;
    char *data; /* data_len bytes plus a NUL */
    size_t data_len;
    char *last_id;
} ev_t;

typedef struct {
    ev_t *ev;
    size_t n, cap;
    int errors;
    char reason[256];
} sink_t;

static void s_on_event(const rtp_sse_event_t *e, void *arg)
{
    sink_t *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
    }
    ev_t *v = &s->ev[s->n++];
    v->type = strdup(e->type);
    v->data = malloc(e->data_len + 1);
    memcpy(v->data, e->data, e->data_len + 1); /* includes the promised NUL */
    v->data_len = e->data_len;
    v->last_id = strdup(e->last_id);
}

static void s_on_error(const char *reason, void *arg)
{
    sink_t *s = arg;
    s->errors++;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static void s_sink_clear(sink_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->ev[i].type);
        free(s->ev[i].data);
        free(s->ev[i].last_id);
    }
    free(s->ev);
    memset(s, 0, sizeof *s);
}

static int s_sinks_equal(const sink_t *a, const sink_t *b)
{
    if (a->n != b->n || a->errors != b->errors)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const ev_t *x = &a->ev[i], *y = &b->ev[i];
        if (strcmp(x->type, y->type) || strcmp(x->last_id, y->last_id) || x->data_len != y->data_len ||
            memcmp(x->data, y->data, x->data_len))
            return 0;
    }
    return 1;
}

static rtp_sse_parser_t *s_parser(sink_t *s, size_t max_event)
{
    rtp_sse_handler_t h = {s_on_event, s_on_error, s};
    return rtp_sse_parser_new(max_event, h);
}

static void s_feed(rtp_sse_parser_t *p, const char *str)
{
    rtp_sse_parser_feed(p, str, strlen(str));
}

/* Parses the pieces in one fresh parser (1 MiB cap) into a fresh sink. */
static void s_parse_pieces(sink_t *s, const char *const *pieces, size_t count)
{
    memset(s, 0, sizeof *s);
    rtp_sse_parser_t *p = s_parser(s, 1 << 20);
    for (size_t i = 0; i < count; i++)
        s_feed(p, pieces[i]);
    rtp_sse_parser_destroy(&p);
}

static void s_parse1(sink_t *s, const char *str)
{
    s_parse_pieces(s, &str, 1);
}

/* Checks that s holds exactly one event with this type and data. */
#define CHECK_ONE(s, t, d)                                                                                   \
    do {                                                                                                     \
        CHECK_INT((s)->n, 1);                                                                                \
        if ((s)->n == 1) {                                                                                   \
            CHECK_STR((s)->ev[0].type, t);                                                                   \
            CHECK_STR((s)->ev[0].data, d);                                                                   \
            CHECK_INT((s)->ev[0].data_len, strlen(d));                                                       \
        }                                                                                                    \
    } while (0)

/* ---- the rules, one by one ---- */

static void test_line_ends(void)
{
    sink_t s;
    const char *ends[] = {"\n", "\r\n", "\r"};
    for (int i = 0; i < 3; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "data: a%sdata: b%s%sdata: c%s%s", ends[i], ends[i], ends[i], ends[i],
                 ends[i]);
        s_parse1(&s, buf);
        CHECK_INT(s.n, 2);
        if (s.n == 2) {
            CHECK_STR(s.ev[0].data, "a\nb");
            CHECK_STR(s.ev[1].data, "c");
        }
        s_sink_clear(&s);
    }
    /* Mixed in one stream. */
    s_parse1(&s, "data: a\rdata: b\r\ndata: c\n\r\n\rdata: d\r\r");
    CHECK_INT(s.n, 2);
    if (s.n == 2) {
        CHECK_STR(s.ev[0].data, "a\nb\nc");
        CHECK_STR(s.ev[1].data, "d");
    }
    s_sink_clear(&s);
    /* CR ending one feed, LF starting the next: one line end, so a and b are one
     * event (two line ends would have dispatched a alone). */
    const char *split[] = {"data: a\r", "\ndata: b\n\n"};
    s_parse_pieces(&s, split, 2);
    CHECK_ONE(&s, "message", "a\nb");
    s_sink_clear(&s);
    /* CR then CR across feeds: two line ends, a blank line. */
    const char *crcr[] = {"data: a\r", "\rdata: b\n\n"};
    s_parse_pieces(&s, crcr, 2);
    CHECK_INT(s.n, 2);
    s_sink_clear(&s);
    /* An empty feed between CR and LF changes nothing. */
    const char *gap[] = {"data: a\r", "", "\ndata: b\n\n"};
    s_parse_pieces(&s, gap, 3);
    CHECK_ONE(&s, "message", "a\nb");
    s_sink_clear(&s);
    /* LF CR is two line ends. */
    s_parse1(&s, "data: a\n\rdata: b\n\n");
    CHECK_INT(s.n, 2);
    s_sink_clear(&s);
}

static void test_data_join(void)
{
    sink_t s;
    s_parse1(&s, "data: a\ndata: b\ndata\ndata:\ndata: c\n\n");
    CHECK_ONE(&s, "message", "a\nb\n\n\nc");
    s_sink_clear(&s);
    /* One empty data field still makes the data buffer non-empty: an event with "". */
    s_parse1(&s, "data\n\n");
    CHECK_ONE(&s, "message", "");
    s_sink_clear(&s);
    s_parse1(&s, "data:\n\n");
    CHECK_ONE(&s, "message", "");
    s_sink_clear(&s);
    /* Two empty data lines: "\n\n" minus the last LF. */
    s_parse1(&s, "data\ndata\n\n");
    CHECK_ONE(&s, "message", "\n");
    s_sink_clear(&s);
    /* Colons after the first belong to the value. */
    s_parse1(&s, "data: a: b:c\n\n");
    CHECK_ONE(&s, "message", "a: b:c");
    s_sink_clear(&s);
}

static void test_event_type(void)
{
    sink_t s;
    s_parse1(&s, "event: add\ndata: 1\n\ndata: 2\n\n");
    CHECK_INT(s.n, 2);
    if (s.n == 2) {
        CHECK_STR(s.ev[0].type, "add");
        CHECK_STR(s.ev[1].type, "message"); /* the type does not outlive its event */
    }
    s_sink_clear(&s);
    /* The last event field wins; an empty one means "message". */
    s_parse1(&s, "event: a\nevent: b\ndata: x\n\nevent: c\nevent\ndata: y\n\n");
    CHECK_INT(s.n, 2);
    if (s.n == 2) {
        CHECK_STR(s.ev[0].type, "b");
        CHECK_STR(s.ev[1].type, "message");
    }
    s_sink_clear(&s);
    /* After data, too. */
    s_parse1(&s, "data: x\nevent: late\n\n");
    CHECK_ONE(&s, "late", "x");
    s_sink_clear(&s);
}

static void test_no_data_block(void)
{
    sink_t s;
    /* No data field: nothing dispatched, and the type is reset. */
    s_parse1(&s, "event: foo\n\ndata: x\n\n");
    CHECK_ONE(&s, "message", "x");
    s_sink_clear(&s);
    s_parse1(&s, "event: foo\nid: 3\nretry: 5\n\n");
    CHECK_INT(s.n, 0);
    s_sink_clear(&s);
    /* Blank lines alone dispatch nothing. */
    s_parse1(&s, "\n\n\r\n\r\r\n");
    CHECK_INT(s.n, 0);
    s_sink_clear(&s);
}

static void test_id(void)
{
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, 1 << 20);
    s_feed(p, "data: a\n\n"); /* no id yet: "" */
    s_feed(p, "id: 42\ndata: b\n\n");
    s_feed(p, "data: c\n\n");                            /* persists across events */
    s_feed(p, "id: 7\n\ndata: d\n\n");                   /* set by a block without data */
    rtp_sse_parser_feed(p, "id: x\0y\ndata: e\n\n", 17); /* NUL: ignored */
    s_feed(p, "id\ndata: f\n\n");                        /* no colon: empty id */
    s_feed(p, "id:  sp\ndata: g\n\n");                   /* one space removed */
    s_feed(p, "data: h\nid: 9\n\n");                     /* id after data counts for this event */
    rtp_sse_parser_reset(p);
    s_feed(p, "data: i\n\n");        /* persists across reset */
    s_feed(p, "id: 10\ndata: lost"); /* an id in an event lost by reset ... */
    rtp_sse_parser_reset(p);
    s_feed(p, "data: j\n\n"); /* ... is lost with it */
    const char *want[] = {"", "42", "42", "7", "7", "", " sp", "9", "9", "9"};
    CHECK_INT(s.n, 10);
    for (size_t i = 0; i < s.n && i < 10; i++)
        CHECK_STR(s.ev[i].last_id, want[i]);
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
}

static void test_retry(void)
{
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, 1 << 20);
    CHECK_INT(rtp_sse_parser_retry_ms(p), -1);
    s_feed(p, "retry: 1500\n");
    CHECK_INT(rtp_sse_parser_retry_ms(p), 1500);
    const char *bad[] = {"retry: 15x0\n", "retry: -5\n",  "retry:\n",    "retry\n",    "retry: 1 2\n",
                         "retry:  300\n", "retry: 3.5\n", "retry: 7 \n", "Retry: 8\n", "retry: \xd9\xa3\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_feed(p, bad[i]);
        CHECK_INT(rtp_sse_parser_retry_ms(p), 1500);
    }
    s_feed(p, "retry:0\n");
    CHECK_INT(rtp_sse_parser_retry_ms(p), 0);
    s_feed(p, "retry: 00250\r");
    CHECK_INT(rtp_sse_parser_retry_ms(p), 250);
    s_feed(p, "retry: 99999999999999999999999\n"); /* saturates, never wraps */
    CHECK_INT(rtp_sse_parser_retry_ms(p), INT64_MAX);
    s_feed(p, "retry: 3000\n");
    rtp_sse_parser_reset(p);
    CHECK_INT(rtp_sse_parser_retry_ms(p), 3000);
    CHECK_INT(s.n, 0); /* retry lines are no events */
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
}

static void test_comments(void)
{
    sink_t s;
    s_parse1(&s, ": hello\ndata: x\n:data: no\n: \n:\n\n");
    CHECK_ONE(&s, "message", "x");
    s_sink_clear(&s);
    s_parse1(&s, ":only a comment\n\n");
    CHECK_INT(s.n, 0);
    s_sink_clear(&s);
}

static void test_bom(void)
{
    sink_t s;
    s_parse1(&s, "\xEF\xBB\xBF"
                 "data: x\n\n");
    CHECK_ONE(&s, "message", "x");
    s_sink_clear(&s);
    /* Split across feeds. */
    const char *split[] = {"\xEF", "\xBB",
                           "\xBF"
                           "data: x\n\n"};
    s_parse_pieces(&s, split, 3);
    CHECK_ONE(&s, "message", "x");
    s_sink_clear(&s);
    /* Only one, only at the start: a second BOM is part of the field name. */
    s_parse1(&s, "\xEF\xBB\xBF\xEF\xBB\xBF"
                 "data: x\n\ndata: y\n\n");
    CHECK_ONE(&s, "message", "y");
    s_sink_clear(&s);
    s_parse1(&s, "data: a\n\n\xEF\xBB\xBF"
                 "data: b\n\n");
    CHECK_ONE(&s, "message", "a");
    s_sink_clear(&s);
    /* A partial BOM is content: "\xEF\xBBid" is an unknown field, so no id is set
     * (dropping the two bytes would have set it). Also split across feeds. */
    const char *partial[] = {"\xEF\xBB", "id: 5\ndata: x\n\n"};
    s_parse_pieces(&s, partial, 2);
    CHECK_INT(s.n, 1);
    if (s.n == 1)
        CHECK_STR(s.ev[0].last_id, "");
    s_sink_clear(&s);
    /* The BOM is expected again after reset. */
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, 1 << 20);
    s_feed(p, "\xEF\xBB\xBF"
              "data: a\n\n");
    rtp_sse_parser_reset(p);
    s_feed(p, "\xEF\xBB\xBF"
              "data: b\n\n");
    CHECK_INT(s.n, 2);
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
}

static void test_no_colon_and_space(void)
{
    sink_t s;
    /* No colon: the field with an empty value. */
    s_parse1(&s, "event: t\nevent\ndata\n\n");
    CHECK_ONE(&s, "message", "");
    s_sink_clear(&s);
    /* Exactly one space removed. */
    s_parse1(&s, "data:  two\n\ndata:none\n\ndata: \n\ndata:\t tab\n\nevent:  e\ndata: x\n\n");
    CHECK_INT(s.n, 5);
    if (s.n == 5) {
        CHECK_STR(s.ev[0].data, " two");
        CHECK_STR(s.ev[1].data, "none");
        CHECK_STR(s.ev[2].data, "");
        CHECK_STR(s.ev[3].data, "\t tab");
        CHECK_STR(s.ev[4].type, " e");
    }
    s_sink_clear(&s);
    /* The space after the colon may come in the next feed. */
    const char *split[] = {"data:", " x\n\n"};
    s_parse_pieces(&s, split, 2);
    CHECK_ONE(&s, "message", "x");
    s_sink_clear(&s);
}

static void test_unknown_fields(void)
{
    sink_t s;
    s_parse1(&s, "foo: bar\nData: no\nDATA: no\ndata : no\n data: no\ndatas: no\n"
                 "eventual: no\nidentity: no\nretrying: 1\ndata: yes\n\n");
    CHECK_ONE(&s, "message", "yes");
    if (s.n == 1)
        CHECK_STR(s.ev[0].last_id, "");
    s_sink_clear(&s);
    /* Unknown fields alone dispatch nothing. */
    s_parse1(&s, "foo: bar\n\n");
    CHECK_INT(s.n, 0);
    s_sink_clear(&s);
}

static void test_nul_in_data(void)
{
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, 1 << 20);
    static const char in[] = "data: a\0b\0\ndata: \0\n\n";
    rtp_sse_parser_feed(p, in, sizeof in - 1);
    CHECK_INT(s.n, 1);
    if (s.n == 1) {
        CHECK_INT(s.ev[0].data_len, 6);
        CHECK(memcmp(s.ev[0].data, "a\0b\0\n\0", 7) == 0); /* and the final NUL */
    }
    /* A NUL in a field name makes the field unknown. */
    rtp_sse_parser_feed(p, "da\0ta: x\n\n", 10);
    CHECK_INT(s.n, 1);
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
}

static void test_reset(void)
{
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, 1 << 20);
    s_feed(p, "event: t\ndata: partial\n");
    rtp_sse_parser_reset(p);
    s_feed(p, "\n"); /* would have dispatched "partial" */
    CHECK_INT(s.n, 0);
    s_feed(p, "data: ab");
    rtp_sse_parser_reset(p);
    s_feed(p, "cd\n\n"); /* "cd" is a line of its own now: unknown field */
    CHECK_INT(s.n, 0);
    s_feed(p, "data: ok\n\n");
    CHECK_ONE(&s, "message", "ok"); /* and "event: t" was discarded too */
    rtp_sse_parser_reset(p);
    s_feed(p, "data: x\r");
    rtp_sse_parser_reset(p);
    s_feed(p, "\ndata: y\n\n");
    CHECK_INT(s.n, 2);
    if (s.n == 2)
        CHECK_STR(s.ev[1].data, "y");
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
}

static void test_api(void)
{
    rtp_sse_handler_t none = {NULL, NULL, NULL};
    CHECK(rtp_sse_parser_new(100, none) == NULL);
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_handler_t no_err = {s_on_event, NULL, &s}; /* on_error may be NULL */
    rtp_sse_parser_t *p = rtp_sse_parser_new(4, no_err);
    CHECK(p != NULL);
    s_feed(p, "data: 12345\n\ndata: 1234\n\n");
    CHECK_INT(rtp_sse_parser_oversized(p), 1);
    CHECK_ONE(&s, "message", "1234");
    rtp_sse_parser_destroy(&p);
    CHECK(p == NULL);
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
}

/* ---- the lab's wire format ---- */

static void s_parse_split(sink_t *s, const char *buf, size_t len, const size_t *cuts, size_t ncuts)
{
    memset(s, 0, sizeof *s);
    rtp_sse_parser_t *p = s_parser(s, 1 << 20);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        rtp_sse_parser_feed(p, buf + at, to - at);
        at = to;
    }
    rtp_sse_parser_destroy(&p);
}

static void test_wire_format(void)
{
    char path[1024];
    size_t len = 0;
    char *buf = rtp_read_file(rtp_data_path(path, sizeof path, "wire-format.sse"), &len);
    CHECK(buf != NULL);
    if (!buf)
        return;
    sink_t whole;
    s_parse_split(&whole, buf, len, NULL, 0);
    CHECK_INT(whole.n, 2);
    CHECK_INT(whole.errors, 0);
    if (whole.n == 2) {
        /* `event: "message"` has no data, so it is dropped with its quoted type. */
        CHECK_STR(whole.ev[0].type, "message");
        CHECK_STR(whole.ev[1].type, "message");
        CHECK(strncmp(whole.ev[0].data, "{\"message\": {\"tweet\":", 21) == 0);
        CHECK(whole.ev[0].data_len > 1000 && memchr(whole.ev[0].data, '\n', whole.ev[0].data_len) == NULL);
        CHECK_STR(whole.ev[1].data, "{\"message\": panic}");
        CHECK_STR(whole.ev[0].last_id, "");
    }
    int same = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        sink_t s;
        s_parse_split(&s, buf, len, &cut, 1);
        same += s_sinks_equal(&s, &whole);
        s_sink_clear(&s);
    }
    CHECK_INT(same, len + 1);
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    sink_t bytes;
    s_parse_split(&bytes, buf, len, cuts, len - 1);
    CHECK(s_sinks_equal(&bytes, &whole));
    printf("wire-format.sse: %zu bytes, %d of %zu two-piece splits and the byte-by-byte "
           "feed gave the same %zu events\n",
           len, same, len + 1, whole.n);
    s_sink_clear(&bytes);
    s_sink_clear(&whole);
    free(cuts);
    free(buf);
}

/* ---- a generated stream with its expected events ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t s_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static size_t s_rand_below(size_t n)
{
    return (size_t) (s_rand() % n);
}

typedef struct {
    char *p;
    size_t len, cap;
} gbuf_t;

static void s_put(gbuf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Random value bytes: anything but CR and LF, with NULs, colons, spaces, UTF-8. */
static void s_put_value(gbuf_t *b, size_t n)
{
    static const char alpha[] = "abcXYZ019 :{}\",\0\t\x80\xC3\xA9\xEF\xBB\xBF";
    for (size_t i = 0; i < n; i++)
        s_put(b, &alpha[s_rand_below(sizeof alpha - 1)], 1);
}

typedef struct {
    gbuf_t out;
    int prev_cr; /* the previous line ended with a lone CR */
} gen_t;

/* Ends a line: never a lone LF right after a lone CR on a blank line, as that pair
 * would read as one CRLF. */
static void s_gen_line(gen_t *g, const char *line, size_t n)
{
    s_put(&g->out, line, n);
    size_t k = s_rand_below(3);
    if (k == 0 && g->prev_cr && n == 0)
        k = 1;
    static const char *ends[] = {"\n", "\r\n", "\r"};
    s_put(&g->out, ends[k], strlen(ends[k]));
    g->prev_cr = k == 2;
}

/* Writes nevents blocks; fills expect with what a correct parser reports. */
static void s_generate(gen_t *g, sink_t *expect, size_t nevents)
{
    memset(g, 0, sizeof *g);
    memset(expect, 0, sizeof *expect);
    char last_id[32] = "";
    if (s_rand_below(2))
        s_put(&g->out, "\xEF\xBB\xBF", 3);
    for (size_t e = 0; e < nevents; e++) {
        gbuf_t data = {0}, line = {0};
        char type[32] = "";
        size_t ndata = s_rand_below(5); /* 0: a block that dispatches nothing */
        size_t nfields = ndata + s_rand_below(4);
        for (size_t f = 0; f < nfields; f++) {
            line.len = 0;
            size_t kind = f < ndata ? 0 : 1 + s_rand_below(5);
            if (kind == 0) { /* data, with or without the space, or no colon */
                gbuf_t v = {0};
                s_put_value(&v, s_rand_below(4) ? s_rand_below(200) : 0);
                if (v.len == 0 && s_rand_below(2))
                    s_put(&line, "data", 4);
                else if (s_rand_below(2) || (v.len && v.p[0] == ' '))
                    s_put(&line, "data: ", 6);
                else
                    s_put(&line, "data:", 5);
                if (v.len)
                    s_put(&line, v.p, v.len);
                if (data.len || f > 0)
                    s_put(&data, "\n", 1);
                if (v.len)
                    s_put(&data, v.p, v.len);
                free(v.p);
            } else if (kind == 1) {
                snprintf(type, sizeof type, "t%zu", s_rand_below(1000));
                s_put(&line, "event: ", 7);
                s_put(&line, type, strlen(type));
            } else if (kind == 2) {
                snprintf(last_id, sizeof last_id, "id-%zu", e);
                s_put(&line, "id:", 3);
                s_put(&line, last_id, strlen(last_id));
            } else if (kind == 3) {
                s_put(&line, ":", 1);
                s_put_value(&line, s_rand_below(50));
            } else if (kind == 4) {
                s_put(&line, "retry: ", 7);
                s_put(&line, "1234", 4);
            } else {
                s_put(&line, "x-unknown: ", 11);
                s_put_value(&line, s_rand_below(50));
            }
            /* Fields after the data ones, moved before a random data line, would
             * change nothing but the id, so keep the order simple: data first. */
            s_gen_line(g, line.p ? line.p : "", line.len);
        }
        s_gen_line(g, "", 0);
        if (ndata > 0) {
            rtp_sse_event_t ev = {type[0] ? type : "message", data.p ? data.p : "", data.len, last_id};
            s_on_event(&ev, expect);
        }
        free(data.p);
        free(line.p);
    }
}

static void test_random_splits(void)
{
    gen_t g;
    sink_t expect;
    s_generate(&g, &expect, 3000);
    const char *buf = g.out.p;
    size_t len = g.out.len;

    sink_t whole;
    s_parse_split(&whole, buf, len, NULL, 0);
    CHECK_INT(whole.n, expect.n);
    CHECK(s_sinks_equal(&whole, &expect));

    size_t *cuts = malloc(len * sizeof *cuts);
    int same = 0, trials = 300;
    for (int t = 0; t < trials; t++) {
        /* Piece sizes from 1 byte to 8 KiB, with a mix per trial. */
        size_t maxpiece = (size_t) 1 << s_rand_below(14), n = 0, at = 0;
        while (1) {
            at += 1 + s_rand_below(maxpiece);
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        sink_t s;
        s_parse_split(&s, buf, len, cuts, n);
        same += s_sinks_equal(&s, &expect);
        s_sink_clear(&s);
    }
    CHECK_INT(same, trials);
    printf("generated stream: %zu bytes, %zu events, %d random splittings all equal: %s\n", len, expect.n,
           trials, same == trials ? "yes" : "no");
    free(cuts);
    s_sink_clear(&whole);
    s_sink_clear(&expect);
    free(g.out.p);
}

/* ---- the size cap ---- */

static char *s_repeat(char c, size_t n)
{
    char *p = malloc(n + 1);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

static void test_oversized(void)
{
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, 100);
    char *d100 = s_repeat('x', 100), *d101 = s_repeat('y', 101), *d99 = s_repeat('z', 99);
    char *d50 = s_repeat('w', 50), *d49 = s_repeat('v', 49);
    char buf[512];

    snprintf(buf, sizeof buf, "data: %s\n\n", d100); /* exactly the cap: delivered */
    s_feed(p, buf);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.errors, 0);
    snprintf(buf, sizeof buf, "data: %s\n\ndata: after\n\n", d101);
    s_feed(p, buf);
    CHECK_INT(s.errors, 1);
    CHECK(strstr(s.reason, "100") != NULL && strstr(s.reason, "dropped") != NULL);
    CHECK_INT(s.n, 2);
    if (s.n == 2)
        CHECK_STR(s.ev[1].data, "after");
    /* Data plus type counts. */
    snprintf(buf, sizeof buf, "event: t\ndata: %s\n\nevent: t\ndata: %s\n\n", d99, d100);
    s_feed(p, buf);
    CHECK_INT(s.n, 3);
    CHECK_INT(s.errors, 2);
    /* Joining LFs count: 50 + 1 + 49 fits, 50 + 1 + 50 does not. */
    snprintf(buf, sizeof buf, "data: %s\ndata: %s\n\ndata: %s\ndata: %s\n\n", d50, d49, d50, d50);
    s_feed(p, buf);
    CHECK_INT(s.n, 4);
    CHECK_INT(s.errors, 3);
    /* Once per event however much follows; the rest of the event is skipped, its
     * type does not leak into the next event, and its id still counts. */
    snprintf(buf, sizeof buf, "event: big\ndata: %s\ndata: %s\nid: 5\nevent: x\n\n", d101, d50);
    s_feed(p, buf);
    s_feed(p, "data: next\n\n");
    CHECK_INT(s.errors, 4);
    CHECK_INT(rtp_sse_parser_oversized(p), 4);
    CHECK_INT(s.n, 5);
    if (s.n == 5) {
        CHECK_STR(s.ev[4].type, "message");
        CHECK_STR(s.ev[4].data, "next");
        CHECK_STR(s.ev[4].last_id, "5");
    }
    /* Byte by byte, the cap hits once too. */
    snprintf(buf, sizeof buf, "data: %s\ndata: %s\n\ndata: small\n\n", d101, d101);
    for (size_t i = 0; buf[i]; i++)
        rtp_sse_parser_feed(p, buf + i, 1);
    CHECK_INT(s.errors, 5);
    CHECK_INT(s.n, 6);
    /* Reset ends the dropping with the stream. */
    s_feed(p, "data: ");
    s_feed(p, d101);
    rtp_sse_parser_reset(p);
    s_feed(p, "data: fresh\n\n");
    CHECK_INT(s.errors, 6);
    CHECK_INT(s.n, 7);
    /* Long comments and unknown fields are no events: skipped without a report. */
    snprintf(buf, sizeof buf, ":%s%s\nfoo: %s%s\ndata: ok\n\n", d101, d101, d101, d101);
    s_feed(p, buf);
    CHECK_INT(s.errors, 6);
    CHECK_INT(s.n, 8);
    /* An id longer than the cap drops its event. */
    snprintf(buf, sizeof buf, "id: %s\ndata: x\n\ndata: y\n\n", d101);
    s_feed(p, buf);
    CHECK_INT(s.errors, 7);
    CHECK_INT(s.n, 9);
    if (s.n == 9)
        CHECK_STR(s.ev[8].last_id, "5");
    /* The joining LF alone can go over: 100 + 1. */
    snprintf(buf, sizeof buf, "data: %s\ndata\n\n", d100);
    s_feed(p, buf);
    CHECK_INT(s.errors, 8);
    CHECK_INT(s.n, 9);
    /* Still one report when both the data and the id are too long. */
    snprintf(buf, sizeof buf, "data: %s\nid: %s\n\n", d101, d101);
    s_feed(p, buf);
    CHECK_INT(s.errors, 9);
    CHECK_INT(rtp_sse_parser_oversized(p), 9);
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
    free(d100), free(d101), free(d99), free(d50), free(d49);
}

/* Heap in use, or 0 where the allocator is not glibc's (the sanitizers bring their
 * own, and mallinfo2 then reports nothing useful). */
static size_t s_heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int s_heap_measurable(void)
{
    size_t before = s_heap_used();
    char *volatile p = malloc(1 << 20);
    size_t during = s_heap_used();
    free(p);
    return during >= before + (1 << 20);
}

static void test_memory_bound(void)
{
    const size_t max_event = 64 * 1024, chunk = 64 * 1024, total = 64 * 1024 * 1024;
    sink_t s;
    memset(&s, 0, sizeof s);
    rtp_sse_parser_t *p = s_parser(&s, max_event);
    char *big = s_repeat('x', chunk);
    int measurable = s_heap_measurable();
    size_t base = s_heap_used(), peak = base;
    const char *starts[] = {"data: ", ": ", "foo: ", "event: "};
    for (int k = 0; k < 4; k++) {
        s_feed(p, starts[k]);
        for (size_t sent = 0; sent < total; sent += chunk) {
            rtp_sse_parser_feed(p, big, chunk);
            size_t used = s_heap_used();
            if (used > peak)
                peak = used;
        }
        s_feed(p, "\n\ndata: after\n\n");
    }
    CHECK_INT(s.n, 4);
    CHECK_INT(s.errors, 2); /* the data and the event type; comment, unknown: skipped */
    if (measurable) {
        CHECK(peak - base <= max_event + 4096);
        printf("memory: 4 lines of %zu MiB each through a %zu KiB cap raised the heap by "
               "%zu bytes at most\n",
               total >> 20, max_event >> 10, peak - base);
    } else
        printf("memory: heap not measurable with this allocator (sanitizer build); "
               "bound not checked\n");
    rtp_sse_parser_destroy(&p);
    s_sink_clear(&s);
    free(big);
}

/* ---- throughput, for information ---- */

static void s_count_event(const rtp_sse_event_t *e, void *arg)
{
    size_t *count = arg;
    *count += e->data_len > 0;
}

static void test_throughput(void)
{
    char path[1024];
    size_t len = 0;
    char *one = rtp_read_file(rtp_data_path(path, sizeof path, "wire-format.sse"), &len);
    if (!one)
        return;
    const size_t reps = 20000, chunk = 16384;
    size_t total = len * reps, count = 0;
    char *buf = malloc(total);
    for (size_t i = 0; i < reps; i++)
        memcpy(buf + i * len, one, len);
    rtp_sse_handler_t h = {s_count_event, NULL, &count};
    rtp_sse_parser_t *p = rtp_sse_parser_new(1 << 20, h);
    int64_t t0 = rtp_mono_us();
    for (size_t at = 0; at < total; at += chunk)
        rtp_sse_parser_feed(p, buf + at, total - at < chunk ? total - at : chunk);
    int64_t us = rtp_mono_us() - t0;
    CHECK_INT(count, 2 * reps);
    printf("throughput: %.1f MB in %.3f s = %.0f MB/s, %.0f events/s (16 KiB feeds)\n", total / 1e6, us / 1e6,
           us > 0 ? total / (double) us : 0.0, us > 0 ? count * 1e6 / us : 0.0);
    rtp_sse_parser_destroy(&p);
    free(buf);
    free(one);
}

int main(void)
{
    test_line_ends();
    test_data_join();
    test_event_type();
    test_no_data_block();
    test_id();
    test_retry();
    test_comments();
    test_bom();
    test_no_colon_and_space();
    test_unknown_fields();
    test_nul_in_data();
    test_reset();
    test_api();
    test_wire_format();
    test_random_splits();
    test_oversized();
    test_memory_bound();
    test_throughput();
    return CHECK_DONE();
}
