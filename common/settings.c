#include "settings.h"

#include "curve.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RTP_VERSION
#define RTP_VERSION "0.0.0"
#endif

#define MAX_SETTINGS 96
#define MAX_ARGS 32

typedef struct {
    rtp_setting_def_t def;
    char env[96];
    const char *value;   /* borrowed from argv, environ or the table */
    const char *source;
} entry_t;

struct rtp_settings_t {
    const char *prog;
    const char *summary;
    entry_t entries[MAX_SETTINGS];
    int count;
    const char *args[MAX_ARGS];
    int argc;
};

static const rtp_setting_def_t s_common[] = {
    {"log-level", RTP_SET_STR, "info", "debug, info, warn, error or off", NULL},
    {"log-json", RTP_SET_BOOL, "false", "write log lines as JSON objects", NULL},
    {"curve-dir", RTP_SET_STR, NULL, "CurveZMQ key folder (see rtp keys): encrypt and authenticate every endpoint", NULL},
    {"metrics-port", RTP_SET_INT, NULL, "serve Prometheus metrics on http://HOST:PORT/metrics (0: a free port, logged); unset: off", NULL},
    RTP_SETTINGS_END,
};

static void s_add(rtp_settings_t *self, const rtp_setting_def_t *def)
{
    if (self->count >= MAX_SETTINGS)
        abort();
    entry_t *e = &self->entries[self->count++];
    e->def = *def;
    if (def->env)
        snprintf(e->env, sizeof e->env, "%s", def->env);
    else {
        size_t n = (size_t) snprintf(e->env, sizeof e->env, "RTP_");
        for (const char *p = def->name; *p && n + 1 < sizeof e->env; p++)
            e->env[n++] = *p == '-' ? '_' : (char) toupper((unsigned char) *p);
        e->env[n] = 0;
    }
    e->value = def->def;
    e->source = "default";
}

static entry_t *s_find(rtp_settings_t *self, const char *name)
{
    for (int i = 0; i < self->count; i++)
        if (strcmp(self->entries[i].def.name, name) == 0)
            return &self->entries[i];
    return NULL;
}

static int s_parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Checks that a value has its setting's type; 0 if it does. */
static int s_check(const entry_t *e, const char *v)
{
    char *end;
    errno = 0;
    switch (e->def.type) {
    case RTP_SET_INT:
        strtoll(v, &end, 10);
        return (*v && !*end && errno == 0) ? 0 : -1;
    case RTP_SET_DOUBLE:
        strtod(v, &end);
        return (*v && !*end && errno == 0) ? 0 : -1;
    case RTP_SET_BOOL: {
        int b;
        return s_parse_bool(v, &b);
    }
    default:
        return 0;
    }
}

static const char *s_type_word(rtp_setting_type_t t)
{
    return t == RTP_SET_INT ? "N" : t == RTP_SET_DOUBLE ? "X" : t == RTP_SET_BOOL ? "[BOOL]" : "VALUE";
}

void rtp_settings_print_help(rtp_settings_t *self, void *file)
{
    FILE *f = file;
    fprintf(f, "Usage: %s [OPTIONS]\n%s\n\nOptions (flag, then environment variable, then default):\n",
            self->prog, self->summary ? self->summary : "");
    for (int i = 0; i < self->count; i++) {
        const entry_t *e = &self->entries[i];
        fprintf(f, "  --%s %s\n        %s (env %s; default: %s)\n", e->def.name, s_type_word(e->def.type),
                e->def.help ? e->def.help : "", e->env, e->def.def ? e->def.def : "unset");
    }
    fprintf(f, "  --help\n        print this help and exit\n  --version\n        print the version and exit\n");
}

static rtp_settings_t *s_fail(rtp_settings_t *self, int *exit_code, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s: %s (see --help)\n", self->prog, what, arg);
    *exit_code = 2;
    free(self);
    return NULL;
}

rtp_settings_t *rtp_settings_new(const char *prog, const char *summary, const rtp_setting_def_t *defs,
                                 int argc, char **argv, int *exit_code)
{
    rtp_settings_t *self = calloc(1, sizeof *self);
    if (!self)
        abort();
    self->prog = prog;
    self->summary = summary;
    *exit_code = 0;
    for (const rtp_setting_def_t *d = defs; d && d->name; d++)
        s_add(self, d);
    for (const rtp_setting_def_t *d = s_common; d->name; d++)
        s_add(self, d);

    for (int i = 0; i < self->count; i++) {
        entry_t *e = &self->entries[i];
        const char *v = getenv(e->env);
        if (v) {
            if (s_check(e, v) != 0)
                return s_fail(self, exit_code, "bad value in environment", e->env);
            e->value = v;
            e->source = "env";
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            rtp_settings_print_help(self, stdout);
            free(self);
            return NULL;
        }
        if (!strcmp(a, "--version")) {
            printf("%s %s\n", prog, RTP_VERSION);
            free(self);
            return NULL;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (self->argc >= MAX_ARGS)
                return s_fail(self, exit_code, "too many arguments", a);
            self->args[self->argc++] = a;
            continue;
        }
        char name[96];
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t) (eq - a - 2) : strlen(a + 2);
        if (nlen >= sizeof name)
            return s_fail(self, exit_code, "unknown option", a);
        memcpy(name, a + 2, nlen);
        name[nlen] = 0;
        entry_t *e = s_find(self, name);
        if (!e)
            return s_fail(self, exit_code, "unknown option", a);
        const char *v;
        if (eq)
            v = eq + 1;
        else if (e->def.type == RTP_SET_BOOL && (i + 1 >= argc || s_check(e, argv[i + 1]) != 0))
            v = "true";   /* a bare boolean flag turns it on */
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return s_fail(self, exit_code, "option needs a value", a);
        if (s_check(e, v) != 0)
            return s_fail(self, exit_code, "bad value for option", a);
        e->value = v;
        e->source = "flag";
    }
    const char *port = rtp_settings_str(self, "metrics-port");
    if (port && (rtp_settings_int(self, "metrics-port") < 0 || rtp_settings_int(self, "metrics-port") > 65535))
        return s_fail(self, exit_code, "--metrics-port takes 0 to 65535, not", port);
    rtp_log_init(prog);
    if (rtp_log_set_level_name(rtp_settings_str(self, "log-level")) != 0)
        return s_fail(self, exit_code, "unknown log level", rtp_settings_str(self, "log-level"));
    rtp_log_set_json(rtp_settings_bool(self, "log-json"));
    rtp_curve_set_dir(rtp_settings_str(self, "curve-dir"));
    return self;
}

void rtp_settings_destroy(rtp_settings_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

static entry_t *s_get(rtp_settings_t *self, const char *name)
{
    entry_t *e = s_find(self, name);
    if (!e) {
        fprintf(stderr, "%s: internal error: no setting named %s\n", self->prog, name);
        abort();
    }
    return e;
}

const char *rtp_settings_str(rtp_settings_t *self, const char *name) { return s_get(self, name)->value; }

int64_t rtp_settings_int(rtp_settings_t *self, const char *name)
{
    const char *v = s_get(self, name)->value;
    return v ? strtoll(v, NULL, 10) : 0;
}

double rtp_settings_double(rtp_settings_t *self, const char *name)
{
    const char *v = s_get(self, name)->value;
    return v ? strtod(v, NULL) : 0.0;
}

int rtp_settings_bool(rtp_settings_t *self, const char *name)
{
    const char *v = s_get(self, name)->value;
    int b = 0;
    if (v)
        s_parse_bool(v, &b);
    return b;
}

const char *rtp_settings_source(rtp_settings_t *self, const char *name) { return s_get(self, name)->source; }

int rtp_settings_metrics_port(rtp_settings_t *self)
{
    return rtp_settings_str(self, "metrics-port") ? (int) rtp_settings_int(self, "metrics-port") : -1;
}

int rtp_settings_argc(rtp_settings_t *self) { return self->argc; }
const char *rtp_settings_arg(rtp_settings_t *self, int index)
{
    return index >= 0 && index < self->argc ? self->args[index] : NULL;
}
