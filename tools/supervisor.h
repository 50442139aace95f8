/* supervisor: starts child processes and restarts the ones that die, one for one,
 * as OTP supervisors do: with exponential backoff and jitter between quick
 * successive crashes, and an intensity limit (more than max_restarts restarts of one
 * child within period_ms: it gives up on that child, loudly). Every start, exit,
 * crash and restart is logged with its reason (exit status or signal).
 */
#ifndef RTP_SUPERVISOR_H
#define RTP_SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

#define SUP_MAX_ARGS 48

typedef struct {
    char name[64];              /* for logs: e.g. "rtp-censor#2" */
    char *argv[SUP_MAX_ARGS];   /* owned copies; argv[0] is the executable path */
    int argc;
    const char *stdout_path;    /* NULL: inherit */
    pid_t pid;                  /* 0 when not running */
    int restartable;            /* 0 for children that must not come back (stopping) */
    int given_up;
    int64_t started_ms;
    int64_t restart_at_ms;      /* when a pending restart is due; 0 = none */
    int64_t kill_at_ms;         /* after an async stop: SIGKILL if still running then */
    int64_t restart_times[64];  /* ring of recent restart times for the intensity limit */
    int restart_count;
    int backoff_ms;
    uint64_t restarts_total;
} sup_child_t;

typedef struct sup_t sup_t;

/* max_restarts within period_ms; backoff between min and max (ms). */
sup_t *sup_new(int max_restarts, int period_ms, int backoff_min_ms, int backoff_max_ms);
void sup_destroy(sup_t **self_p);

/* Adds a child (argv copied, NULL-terminated) and starts it now. NULL if it could
 * not be started. */
sup_child_t *sup_start(sup_t *self, const char *name, char *const argv[], const char *stdout_path);

/* Reaps children that exited and starts the restarts that are due; children that
 * were stopped on purpose and have exited are freed (their pointers become invalid).
 * Call it often (every 100 ms or so). Returns how many children are running. */
int sup_poll(sup_t *self);

/* Stops one child: SIGTERM, then SIGKILL after timeout_ms; it is not restarted. */
void sup_stop(sup_t *self, sup_child_t *child, int timeout_ms);
/* Sends SIGTERM to one child and returns at once; it is not restarted, and
 * sup_poll reaps it (and SIGKILLs it if it is still there after kill_after_ms). */
void sup_stop_async(sup_t *self, sup_child_t *child);

/* Stops every child whose name starts with prefix (all at once, then waits). */
void sup_stop_matching(sup_t *self, const char *prefix, int timeout_ms);
/* Stops every remaining child. */
void sup_stop_all(sup_t *self, int timeout_ms);

int sup_count(sup_t *self);
sup_child_t *sup_child(sup_t *self, int index);

#endif
