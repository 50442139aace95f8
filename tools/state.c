#include "state.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid written in the lock file by the `rtp up` that holds it, or 0. */
static int s_holder(int fd)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? atoi(buf) : 0;
}

int up_state_open(up_state_t *self, const char *given, int wait_ms, rtp_err_t *err)
{
    self->lock_fd = -1;
    if (rtp_mkdirs(given) != 0)
        return rtp_err_set(
            err, "cannot create the state folder %s: %s (move it with --state-dir or RTP_STATE_DIR)", given,
            strerror(errno));
    if (!realpath(given, self->dir))
        return rtp_err_set(err, "cannot use the state folder %s: %s", given, strerror(errno));
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/lock", self->dir);
    /* no O_CLOEXEC: the children inherit the lock and hold it until they are gone */
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return rtp_err_set(err, "cannot use the state folder %s: %s: %s", self->dir, path, strerror(errno));
    int64_t deadline = rtp_mono_ms() + wait_ms;
    int said = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int pid = s_holder(fd);
        if (pid > 0 && pid != getpid() && kill(pid, 0) == 0) {
            close(fd);
            return rtp_err_set(
                err,
                "the state folder %s is in use by another rtp up (pid %d); stop it, or give this "
                "one its own folder with --state-dir DIR or RTP_STATE_DIR",
                self->dir, pid);
        }
        if (rtp_mono_ms() >= deadline || rtp_stop_requested()) {
            close(fd);
            return rtp_err_set(
                err,
                "the state folder %s is still locked by processes of an earlier run (rtp up pid "
                "%d is gone); see fuser %s",
                self->dir, pid, path);
        }
        if (!said++)
            rtp_info("waiting for the processes of the last run (rtp up pid %d) to release %s", pid,
                     self->dir);
        usleep(100000);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int) getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t) n, 0) != n)
        rtp_warn("could not write this process's id into %s: %s", path, strerror(errno));
    self->lock_fd = fd;
    return 0;
}

void up_state_close(up_state_t *self)
{
    if (self->lock_fd >= 0) {
        if (ftruncate(self->lock_fd, 0) != 0)
            rtp_debug("could not clear the lock file");
        close(self->lock_fd);
        self->lock_fd = -1;
    }
}
