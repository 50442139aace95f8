#include "hosts_line.h"

#include "proto.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int hosts_line_format(const rtp_scrape_t *scrape, int compact, char *buf, size_t cap)
{
    size_t n = 0;
    int hosts = 0;
    buf[0] = 0;
#define ADD(...) (n += (size_t) snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__))
    for (size_t i = 0; scrape && i < rtp_scrape_count(scrape); i++) {
        const rtp_sample_t *up = rtp_scrape_sample(scrape, i);
        const char *host = rtp_sample_label(up, "host");
        if (strcmp(up->name, "rtp_broker_host_up") != 0 || !host)
            continue;
        ADD("%s%s", hosts++ ? (compact ? "," : ", ") : "", host);
        if (up->value <= 0) {
            ADD("%slost", compact ? ":" : " ");
            continue;
        }
        double pools[RTP_POOL_COUNT], total = 0;
        for (int p = 0; p < RTP_POOL_COUNT; p++) {
            const char *const labels[] = {"host", host, "pool", rtp_pool_name(p), NULL};
            pools[p] = rtp_scrape_value(scrape, "rtp_broker_host_workers", labels);
            total += isnan(pools[p]) ? 0 : pools[p];
        }
        const char *const labels[] = {"host", host, NULL};
        ADD("%s%.0f/%.0f", compact ? ":" : " ", total,
            rtp_scrape_value(scrape, "rtp_broker_host_capacity", labels));
        if (total > 0 && !compact)
            ADD(" (censor %.0f, sentiment %.0f, engagement %.0f)", pools[0], pools[1], pools[2]);
    }
#undef ADD
    if (n >= cap && cap > 4)
        snprintf(buf + cap - 4, 4, "...");
    return hosts;
}
