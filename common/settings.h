/* settings: the one settings reader. Each executable declares a table of its
 * settings; a value comes from the command-line flag (`--name VALUE` or
 * `--name=VALUE`), else from the environment variable (RTP_NAME_IN_CAPS unless the
 * table names another, such as REDIS_URL), else from the default.
 *
 * Every executable also gets --help, --version, --log-level (RTP_LOG_LEVEL),
 * --log-json (RTP_LOG_JSON), --curve-dir (RTP_CURVE_DIR) and --metrics-port
 * (RTP_METRICS_PORT); rtp_settings_new applies the first three to the logger and
 * to the CURVE module, and an actor that exposes metrics reads the last with
 * rtp_settings_metrics_port (see metrics.h: rtp_metrics_serve).
 * Values are checked against their type when parsed, so a getter never fails.
 */
#ifndef RTP_SETTINGS_H
#define RTP_SETTINGS_H

#include <stdint.h>

typedef enum { RTP_SET_STR = 0, RTP_SET_INT, RTP_SET_DOUBLE, RTP_SET_BOOL } rtp_setting_type_t;

typedef struct {
    const char *name;          /* long flag without dashes, e.g. "redis-url" */
    rtp_setting_type_t type;
    const char *def;           /* default as text; NULL means unset */
    const char *help;          /* one line */
    const char *env;           /* NULL: "RTP_" + name upper-cased, '-' -> '_' */
} rtp_setting_def_t;

#define RTP_SETTINGS_END {NULL, RTP_SET_STR, NULL, NULL, NULL}

typedef struct rtp_settings_t rtp_settings_t;

/* Parses argv against defs (terminated by RTP_SETTINGS_END). Returns NULL when the
 * program should exit now with *exit_code: 0 after --help or --version, 2 after a
 * usage error (already printed to stderr). Positional arguments are kept in order
 * (see rtp_settings_arg). prog names the executable in help and logs. */
rtp_settings_t *rtp_settings_new(const char *prog, const char *summary, const rtp_setting_def_t *defs,
                                 int argc, char **argv, int *exit_code);
void rtp_settings_destroy(rtp_settings_t **self_p);

/* The value as text, or NULL when unset. Unknown names abort (a programming error). */
const char *rtp_settings_str(rtp_settings_t *self, const char *name);
int64_t rtp_settings_int(rtp_settings_t *self, const char *name);
double rtp_settings_double(rtp_settings_t *self, const char *name);
int rtp_settings_bool(rtp_settings_t *self, const char *name);
/* Where the value came from: "flag", "env" or "default". */
const char *rtp_settings_source(rtp_settings_t *self, const char *name);
/* The --metrics-port to serve Prometheus metrics on: -1 when unset (metrics off),
 * 0 for a free port, else the port (checked to be 0..65535 when parsed). */
int rtp_settings_metrics_port(rtp_settings_t *self);

int rtp_settings_argc(rtp_settings_t *self);
const char *rtp_settings_arg(rtp_settings_t *self, int index);

/* Writes the help text (usage, summary, one entry per setting) to a stream. */
void rtp_settings_print_help(rtp_settings_t *self, void *file);

#endif
