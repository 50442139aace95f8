#include "scrape_page.h"

#include "http_get.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* a page larger than this is not a metrics page */
#define PAGE_MAX (64u << 20)

int scrape_page_fetch(scrape_page_t *p, int timeout_ms)
{
    if (!p->url) {
        snprintf(p->error, sizeof p->error, "no URL");
        return -1;
    }
    size_t len = 0;
    rtp_err_t err;
    char *body = rtp_http_get(p->url, PAGE_MAX, timeout_ms, &len, &err);
    rtp_scrape_t *page = body ? rtp_scrape_parse(body, len, &err) : NULL;
    free(body);
    if (!page) {
        snprintf(p->error, sizeof p->error, "%s", err.msg);
        return -1;
    }
    p->error[0] = 0;
    rtp_scrape_destroy(&p->prev);
    p->prev = p->cur;
    p->prev_ms = p->cur_ms;
    p->cur = page;
    p->cur_ms = rtp_mono_ms();
    return 0;
}

void scrape_page_clear(scrape_page_t *p)
{
    rtp_scrape_destroy(&p->cur);
    rtp_scrape_destroy(&p->prev);
}

double scrape_page_value(const scrape_page_t *p, const char *name, const char *const *labels)
{
    return p->cur ? rtp_scrape_value(p->cur, name, labels) : NAN;
}

double scrape_page_rate(const scrape_page_t *p, const char *name, const char *const *labels)
{
    if (!p->cur || !p->prev)
        return NAN;
    double now = rtp_scrape_value(p->cur, name, labels), before = rtp_scrape_value(p->prev, name, labels);
    double dt = (double) (p->cur_ms - p->prev_ms) / 1000.0;
    if (isnan(now) || isnan(before) || dt <= 0)
        return NAN;
    return (now >= before ? now - before : now) / dt;
}

double scrape_page_quantile(const scrape_page_t *p, const char *name, const char *const *labels, double q)
{
    return p->cur ? rtp_scrape_quantile(p->cur, p->prev, name, labels, q) : NAN;
}
