/* redis_fixture.h: a real redis-server for unit tests, on a free port, in a
 * temporary folder, stopped at the end (and killed with the test if the test dies).
 *
 *   redis_fixture_t redis;
 *   if (redis_fixture_start(&redis, NULL) != 0) return 1;   // or {"--requirepass", "pw", NULL}
 *   ... connect to 127.0.0.1:redis.port ...
 *   redis_fixture_stop(&redis);      // may be restarted on the same port with _start_on
 *
 * The port is found by binding a socket to port 0 and reading the port the kernel
 * chose (redis-server does not accept --port 0); if another process takes it before
 * redis-server does, the start is retried with a new port. Persistence is off
 * (--save "" --appendonly no), so a restart comes back empty.
 */
#ifndef RTP_REDIS_FIXTURE_H
#define RTP_REDIS_FIXTURE_H

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[64];
    const char *extra[16]; /* extra redis-server arguments of the last start */
} redis_fixture_t;

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
static inline int redis_fixture_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static inline void redis_fixture_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 once the server answers anything (PONG, or NOAUTH when it wants a password). */
static inline int redis_fixture_answers(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int up = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        up = r != NULL;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return up;
}

/* Starts redis-server on `port`; 0 once it answers (within 5 s), else -1. */
static inline int redis_fixture_start_on(redis_fixture_t *f, int port)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[40] = {"redis-server", "--port", port_s,  "--bind", "127.0.0.1",  "--save", "",
                            "--appendonly", "no",     "--dir", f->dir,   "--loglevel", "warning"};
    int argc = 13;
    for (int i = 0; f->extra[i] && argc < 38; i++)
        argv[argc++] = f->extra[i];
    argv[argc] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            close(null);
        }
        execvp("redis-server", (char *const *) argv);
        _exit(127);
    }
    f->pid = pid;
    f->port = port;
    for (int i = 0; i < 250; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            f->pid = 0; /* exited: most likely the port was taken */
            return -1;
        }
        if (redis_fixture_answers(port))
            return 0;
        redis_fixture_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    f->pid = 0;
    return -1;
}

/* Stops the server (SIGTERM, then SIGKILL after 5 s); the folder is kept for a
 * restart on the same port. */
static inline void redis_fixture_halt(redis_fixture_t *f)
{
    if (f->pid <= 0)
        return;
    kill(f->pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
            f->pid = 0;
            return;
        }
        redis_fixture_sleep_ms(20);
    }
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    f->pid = 0;
}

/* Starts a server on a free port with the extra arguments (NULL-terminated list, or
 * NULL). 0, or -1 with a message on stderr. */
static inline int redis_fixture_start(redis_fixture_t *f, const char *const *extra)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; extra && extra[i] && i < 15; i++)
        f->extra[i] = extra[i];
    snprintf(f->dir, sizeof f->dir, "/tmp/rtp-redis-XXXXXX");
    if (!mkdtemp(f->dir)) {
        fprintf(stderr, "redis_fixture: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = redis_fixture_free_port();
        if (port > 0 && redis_fixture_start_on(f, port) == 0)
            return 0;
    }
    fprintf(stderr, "redis_fixture: could not start redis-server (is it installed?)\n");
    rmdir(f->dir);
    return -1;
}

/* Stops the server and removes its folder. Safe twice. */
static inline void redis_fixture_stop(redis_fixture_t *f)
{
    redis_fixture_halt(f);
    if (f->dir[0]) {
        char path[128];
        snprintf(path, sizeof path, "%s/dump.rdb", f->dir);
        unlink(path);
        rmdir(f->dir);
        f->dir[0] = 0;
    }
}

#endif
