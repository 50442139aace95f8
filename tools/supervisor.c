#include "supervisor.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUP_MAX_CHILDREN 512

struct sup_t {
    sup_child_t *children[SUP_MAX_CHILDREN];
    int count;
    int max_restarts, period_ms, backoff_min_ms, backoff_max_ms;
    uint64_t rng;
};

sup_t *sup_new(int max_restarts, int period_ms, int backoff_min_ms, int backoff_max_ms)
{
    sup_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_restarts = max_restarts;
    self->period_ms = period_ms;
    self->backoff_min_ms = backoff_min_ms > 0 ? backoff_min_ms : 1;
    self->backoff_max_ms = backoff_max_ms > self->backoff_min_ms ? backoff_max_ms : self->backoff_min_ms;
    self->rng = (uint64_t) rtp_wall_us() | 1;
    return self;
}

static void s_free_child(sup_child_t *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c);
}

void sup_destroy(sup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sup_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        s_free_child(self->children[i]);
    free(self);
    *self_p = NULL;
}

static int s_spawn(sup_child_t *c)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        rtp_error("cannot start %s: %s", c->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* the child: its own process group, so a terminal's ^C reaches only the
         * launcher, which then stops the children in order */
        setpgid(0, 0);
        /* and it stops (SIGTERM: an orderly stop) when the launcher dies, even by
         * SIGKILL, instead of running on as an orphan nobody supervises */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(0);   /* the launcher died before the line above */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (c->stdout_path) {
            int fd = open(c->stdout_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                close(fd);
            }
        }
        execv(c->argv[0], c->argv);
        fprintf(stderr, "cannot execute %s: %s\n", c->argv[0], strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    c->started_ms = rtp_mono_ms();
    rtp_info("started %s (pid %d)", c->name, (int) pid);
    return 0;
}

sup_child_t *sup_start(sup_t *self, const char *name, char *const argv[], const char *stdout_path)
{
    if (self->count >= SUP_MAX_CHILDREN)
        return NULL;
    sup_child_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->name, sizeof c->name, "%s", name);
    for (int i = 0; argv[i] && i < SUP_MAX_ARGS - 1; i++)
        c->argv[c->argc++] = strdup(argv[i]);
    c->stdout_path = stdout_path;
    c->restartable = 1;
    c->backoff_ms = self->backoff_min_ms;
    if (s_spawn(c) != 0) {
        s_free_child(c);
        return NULL;
    }
    self->children[self->count++] = c;
    return c;
}

static void s_describe(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "status %d", status);
}

static sup_child_t *s_by_pid(sup_t *self, pid_t pid)
{
    for (int i = 0; i < self->count; i++)
        if (self->children[i]->pid == pid)
            return self->children[i];
    return NULL;
}

/* A child died on its own: count the restart against the intensity limit, and
 * schedule it with backoff (immediately after a long healthy run). */
static void s_schedule_restart(sup_t *self, sup_child_t *c, const char *why)
{
    int64_t now = rtp_mono_ms();
    int recent = 0;
    int n = c->restart_count < 64 ? c->restart_count : 64;
    for (int i = 0; i < n; i++)
        recent += now - c->restart_times[i] <= self->period_ms;
    if (recent >= self->max_restarts) {
        c->given_up = 1;
        rtp_error("GIVING UP on %s: %s, and it was restarted %d times in the last %d ms (limit %d)", c->name, why,
                  recent, self->period_ms, self->max_restarts);
        return;
    }
    if (now - c->started_ms > 10000)
        c->backoff_ms = self->backoff_min_ms;   /* it had been healthy: start the backoff over */
    uint64_t r = self->rng = self->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int delay = c->backoff_ms / 2 + (int) ((r >> 33) % (uint64_t) (c->backoff_ms / 2 + 1));
    c->restart_at_ms = now + delay;
    c->backoff_ms = c->backoff_ms * 2 > self->backoff_max_ms ? self->backoff_max_ms : c->backoff_ms * 2;
    c->restart_times[c->restart_count % 64] = now;
    c->restart_count++;
    rtp_warn("%s died (%s); restarting it in %d ms", c->name, why, delay);
}

int sup_poll(sup_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        sup_child_t *c = s_by_pid(self, pid);
        if (!c)
            continue;
        c->pid = 0;
        char why[96];
        s_describe(status, why, sizeof why);
        if (c->restartable)
            s_schedule_restart(self, c, why);
        else
            rtp_info("%s stopped (%s)", c->name, why);
    }
    int64_t now = rtp_mono_ms();
    int running = 0;
    for (int i = 0; i < self->count; i++) {
        sup_child_t *c = self->children[i];
        if (!c->pid && c->restartable && !c->given_up && c->restart_at_ms && now >= c->restart_at_ms) {
            c->restart_at_ms = 0;
            if (s_spawn(c) == 0) {
                c->restarts_total++;
                rtp_info("restarted %s (restart %llu)", c->name, (unsigned long long) c->restarts_total);
            } else
                s_schedule_restart(self, c, "could not start");
        }
        if (c->pid && c->kill_at_ms && now > c->kill_at_ms) {
            rtp_warn("%s did not stop on SIGTERM: killing it", c->name);
            kill(c->pid, SIGKILL);
            c->kill_at_ms = 0;
        }
        running += c->pid != 0;
    }
    /* children stopped on purpose are done with: forget them (autoscaling starts
     * and stops workers all day long) */
    for (int i = 0; i < self->count;) {
        sup_child_t *c = self->children[i];
        if (!c->pid && !c->restartable) {
            s_free_child(c);
            self->children[i] = self->children[--self->count];
        } else
            i++;
    }
    return running;
}

/* Waits for the given children to exit, SIGKILLing them after timeout_ms. */
static void s_wait_stopped(sup_t *self, sup_child_t **list, int n, int timeout_ms)
{
    int64_t deadline = rtp_mono_ms() + timeout_ms;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++) {
            if (!list[i]->pid)
                continue;
            int status;
            pid_t r = waitpid(list[i]->pid, &status, WNOHANG);
            if (r == list[i]->pid || (r < 0 && errno == ECHILD)) {
                char why[96];
                s_describe(status, why, sizeof why);
                rtp_info("%s stopped (%s)", list[i]->name, r < 0 ? "already reaped" : why);
                list[i]->pid = 0;
            } else
                alive++;
        }
        if (!alive)
            return;
        if (rtp_mono_ms() > deadline) {
            for (int i = 0; i < n; i++)
                if (list[i]->pid) {
                    rtp_warn("%s did not stop within %d ms: killing it", list[i]->name, timeout_ms);
                    kill(list[i]->pid, SIGKILL);
                }
            deadline = rtp_mono_ms() + 5000;
        }
        usleep(20000);
    }
    (void) self;
}

void sup_stop_matching(sup_t *self, const char *prefix, int timeout_ms)
{
    sup_child_t *list[SUP_MAX_CHILDREN];
    int n = 0;
    for (int i = 0; i < self->count; i++) {
        sup_child_t *c = self->children[i];
        if (prefix && strncmp(c->name, prefix, strlen(prefix)) != 0)
            continue;
        c->restartable = 0;
        if (c->pid) {
            kill(c->pid, SIGTERM);
            list[n++] = c;
        }
    }
    s_wait_stopped(self, list, n, timeout_ms);
}

void sup_stop(sup_t *self, sup_child_t *child, int timeout_ms)
{
    child->restartable = 0;
    if (child->pid) {
        kill(child->pid, SIGTERM);
        s_wait_stopped(self, &child, 1, timeout_ms);
    }
}

void sup_stop_async(sup_t *self, sup_child_t *child)
{
    (void) self;
    child->restartable = 0;
    child->restart_at_ms = 0;
    if (child->pid) {
        kill(child->pid, SIGTERM);
        child->kill_at_ms = rtp_mono_ms() + 10000;
    }
}

void sup_stop_all(sup_t *self, int timeout_ms) { sup_stop_matching(self, NULL, timeout_ms); }
int sup_count(sup_t *self) { return self->count; }
sup_child_t *sup_child(sup_t *self, int index) { return index >= 0 && index < self->count ? self->children[index] : NULL; }
