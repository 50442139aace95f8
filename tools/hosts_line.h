/* hosts_line: the hosts (supervisors) and their workers, from a scrape of the
 * broker's /metrics (rtp_broker_host_* series), in one short text: what `rtp up`'s
 * status line and `rtp top` show, e.g.
 *
 *   local 0/0, b 6/16 (censor 4, sentiment 1, engagement 1), c lost
 *
 * (workers run / capacity offered, then the pools; "lost" for a supervisor gone), or
 * compact, one word for key=value lines: local:0/0,b:6/16,c:lost */
#ifndef RTP_TOOLS_HOSTS_LINE_H
#define RTP_TOOLS_HOSTS_LINE_H

#include "metrics_scrape.h"

#include <stddef.h>

/* Writes the text into buf ("" when the page names no host); returns the number
 * of hosts. */
int hosts_line_format(const rtp_scrape_t *scrape, int compact, char *buf, size_t cap);

#endif
