#ifndef RTP_TOP_H
#define RTP_TOP_H
/* `rtp top [OPTIONS]`: argv[0] is "top". Returns the exit status: 0, or 1 when the
 * last scrape failed (or no system was found). */
int top_main(int argc, char **argv);
#endif
