/* log: the one logger. Every line carries time, level, actor name and pid:
 *
 *   2026-11-27T15:40:01.123Z INFO  rtp-reader[1234] connected to http://...
 *
 * or, with JSON output on, one JSON object a line with the same fields.
 * Lines go to stderr, so stdout stays free for an actor's own output (printed
 * tweets, batch summaries, hashtag reports). Safe to call from one thread; a line
 * is written with a single write(2) so concurrent processes do not interleave.
 */
#ifndef RTP_LOG_H
#define RTP_LOG_H

typedef enum { RTP_LOG_DEBUG = 0, RTP_LOG_INFO, RTP_LOG_WARN, RTP_LOG_ERROR, RTP_LOG_OFF } rtp_log_level_t;

/* Sets the actor name shown on each line (borrowed: must outlive the logger). */
void rtp_log_init(const char *actor);
/* "debug", "info", "warn", "error" or "off"; returns -1 for an unknown name. */
int rtp_log_set_level_name(const char *name);
void rtp_log_set_level(rtp_log_level_t level);
rtp_log_level_t rtp_log_level(void);
void rtp_log_set_json(int on);

void rtp_log(rtp_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rtp_debug(...) rtp_log(RTP_LOG_DEBUG, __VA_ARGS__)
#define rtp_info(...) rtp_log(RTP_LOG_INFO, __VA_ARGS__)
#define rtp_warn(...) rtp_log(RTP_LOG_WARN, __VA_ARGS__)
#define rtp_error(...) rtp_log(RTP_LOG_ERROR, __VA_ARGS__)

#endif
