"""The container path for real: Debian's docker.io and docker-compose (installed when
missing), a private Docker daemon (tests/lib/rtpdocker.py: its own folder, socket and
bridge, no NAT), a debian:12 made locally with debootstrap, the image built from
deploy/Dockerfile, and the project's own docker-compose.yml, unchanged, with
tests/containers/compose.test.yml for what cannot be pulled here (redis:7 built from
Debian's redis-server, the lab's rtp-server replaced by rtp-replay). Then the same with
deploy/compose.supervise.yml. How to run it alone: tests/containers/README.md.

test_compose: `--scale censor=3` (three censor workers at the broker, from its
metrics), no way out of the compose network, a censor container's worker killed -9
mid-stream and its container restarted by the restart policy, every Redis row
checked against the reference (rtpcheck) with nothing lost and no dead letter,
every health check healthy, `stop` in flow order with every container exiting 0,
then `down` and `up`: the volumes kept (Redis's data, the readers' spools, the
batcher's journal), every row still there, and still exact once the readers have
run again.

test_compose_supervise: the pool managers size each pool to its minimum through two
`rtp supervise` containers (the plain worker services at scale 0), a worker killed
-9 inside a supervisor is restarted by it with nothing lost, every row checked,
health checks, a clean stop.
"""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse

import rtpcheck
import rtpdocker
import rtpredis
import rtptest
from rtptest import check
from test_metrics import Metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERRIDE = "tests/containers/compose.test.yml"
PROJECT = "rtptest"
EXPECTED = rtpcheck.expected_from_files()
TOTAL = len(EXPECTED)
POOLS = ("censor", "sentiment", "engagement")
METRICS_PORT = 9100   # compose.test.yml's RTP_METRICS_PORT
NO_READERS = ("--scale", "reader-1=0", "--scale", "reader-2=0")

_lab = None


def _phase(what, start):
    print(f"  {what}: {time.monotonic() - start:.1f} s", flush=True)


def _free_subnet():
    """A /27 in 10.213.0.0/16 that no route of this host overlaps."""
    routes = []
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            dest, mask = (socket.ntohl(int(x, 16)) for x in (fields[1], fields[7]))
            routes.append((dest, mask))
    for third in range(7, 256):
        for fourth in range(0, 256, 32):
            net = (10 << 24) | (213 << 16) | (third << 8) | fourth
            if all((net & mask) != dest and (dest & 0xFFFFFFE0) != net for dest, mask in routes if mask):
                return f"10.213.{third}.{fourth}/27"
    raise RuntimeError("no free /27 in 10.213.0.0/16")


class Lab:
    """The daemon and the images, made once for both tests."""

    def __init__(self):
        folder = tempfile.mkdtemp(prefix="rtptest-containers-")
        if not os.environ.get("RTP_TEST_KEEP"):
            atexit.register(shutil.rmtree, folder, True)
        self.log = os.path.join(folder, "setup.log")   # apt, debootstrap and the builds
        start = time.monotonic()
        installed = rtpdocker.ensure_packages(self.log)
        _phase(f"packages ({'installed ' + ' '.join(installed) if installed else 'present'})", start)
        start = time.monotonic()
        self.d = rtpdocker.Dockerd()
        atexit.register(self.d.close)
        _phase(f"dockerd {self.d.version} in {self.d.dir}", start)
        start = time.monotonic()
        images = os.path.join(rtpdocker.cache_dir(), "test-images.tar")
        if os.path.exists(images):
            # debian:12 and the images of the last run, as the builds' cache (a new
            # import would be a new debian:12, which no cached layer is built on)
            self.d.docker("load", "-q", "-i", images, timeout=900)
            loaded = self._image_ids()
            _phase(f"debian:12 and the last run's images loaded from {images}", start)
        else:
            loaded = None
            cached = os.path.exists(os.path.join(rtpdocker.cache_dir(), "debian-12-bookworm-minbase.tar.gz"))
            tarball = self.d.import_debian(self.log)
            _phase(f"debian:12 from {'the cached ' if cached else 'a new (debootstrap) '}{tarball}", start)
        self.subnet = _free_subnet()
        self.env = dict(self.d.env, RTP_TEST_BRIDGE=self.d.bridge, RTP_TEST_SUBNET=self.subnet)
        self.empty_env_file = os.path.join(self.d.dir, "empty.env")   # not the checkout's .env
        open(self.empty_env_file, "w").close()
        start = time.monotonic()
        Compose(self, ["docker-compose.yml"]).run("build", "redis", timeout=900, log=True)
        _phase("redis:7 stand-in built", start)
        start = time.monotonic()
        # the build stage, tagged so that the next run can use it as its cache (the
        # build through compose below then takes it from this daemon's cache)
        self.d.docker("build", "-q", "--network", "host", "--target", "build",
                      "--cache-from", "rtptest-build:latest", "-t", "rtptest-build:latest",
                      "-f", os.path.join(ROOT, "deploy", "Dockerfile"), ROOT, timeout=1500)
        Compose(self, ["docker-compose.yml"]).run("build", "broker", timeout=900, log=True)
        _phase("rtp image built from deploy/Dockerfile", start)
        self.image_id = self.d.docker("image", "inspect", "-f", "{{.Id}}", "rtp:latest").stdout.strip()
        if self._image_ids() != loaded:
            start = time.monotonic()
            tmp = f"{images}.{os.getpid()}.tmp"
            self.d.docker("save", "-o", tmp, *self.CACHED, timeout=900)
            os.replace(tmp, images)
            _phase(f"images saved for the next run ({os.path.getsize(images) >> 20} MiB)", start)

    CACHED = ("debian:12", "redis:7", "rtptest-build:latest", "rtp:latest")

    def _image_ids(self):
        r = self.d.docker("image", "inspect", "-f", "{{.Id}}", *self.CACHED, check=False)
        return r.stdout.split()


def lab():
    global _lab
    if _lab is None:
        _lab = Lab()
    return _lab


class Compose:
    """docker-compose with the given project files and the test's override, last."""

    def __init__(self, lab, files):
        self.lab = lab
        self.files = [*files, OVERRIDE]

    def run(self, *args, timeout=300, check=True, log=False):
        argv = [rtpdocker.COMPOSE, "--ansi", "never", "--env-file", self.lab.empty_env_file, "-p", PROJECT]
        for f in self.files:
            argv += ["-f", f]
        argv += [str(a) for a in args]
        if log:
            with open(self.lab.log, "ab") as out:
                r = subprocess.run(argv, cwd=ROOT, env=self.lab.env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, timeout=timeout)
            output = ""
            if r.returncode != 0:
                with open(self.lab.log, "rb") as f:
                    output = f.read()[-6000:].decode("utf-8", "replace")
        else:
            r = subprocess.run(argv, cwd=ROOT, env=self.lab.env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout)
            output = r.stdout[-3000:] + r.stderr[-3000:]
        if check and r.returncode != 0:
            what = " ".join(argv[argv.index("-p") + 2:])
            raise RuntimeError(f"docker-compose {what} exited {r.returncode}:\n{output}")
        return r

    def containers(self, service=None):
        """Names of the project's containers (of one service), running or not, sorted."""
        args = ["ps", "-a", "--format", "{{.Names}}",
                "--filter", f"label=com.docker.compose.project={PROJECT}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        return sorted(self.lab.d.docker(*args).stdout.split())

    def inspect(self, name, fmt):
        return self.lab.d.docker("inspect", "-f", fmt, name).stdout.strip()

    def ip(self, service):
        name = self.containers(service)[0]
        return self.inspect(name, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")

    def metrics(self, service):
        return Metrics(f"http://{self.ip(service)}:{METRICS_PORT}/metrics").scrape()

    def redis(self):
        return rtpredis.RedisClient(self.ip("redis"), 6379, timeout=10)

    def logs(self, service, tail=60):
        return self.run("logs", "--no-color", "--tail", tail, service, check=False).stdout


def _scrape(c, service):
    try:
        return c.metrics(service)
    except (urllib.error.URLError, ConnectionError, OSError, RuntimeError, IndexError):
        return None


def _gauge(c, service, name, **labels):
    m = _scrape(c, service)
    return None if m is None else m.get(name, **labels)


def _stored(c):
    try:
        with c.redis() as r:
            return r.command("ZCARD", "tweets")
    except (OSError, rtpredis.RedisError, RuntimeError, IndexError):
        return -1


def _no_way_out(c):
    """From a container: a peer on the compose network answers, Debian's mirror (which
    this host reaches) does not."""
    host = urllib.parse.urlparse(rtpdocker.apt_mirror()).hostname
    ip = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    socket.create_connection((ip, 80), timeout=20).close()
    broker = c.containers("broker")[0]
    r = c.lab.d.docker("exec", broker, "timeout", "10", "bash", "-c", ": </dev/tcp/redis/6379", check=False)
    check(r.returncode == 0, f"a container reaches Redis on the compose network: {r.returncode} {r.stderr}")
    r = c.lab.d.docker("exec", broker, "timeout", "10", "bash", "-c", f": </dev/tcp/{ip}/80", check=False)
    check(r.returncode != 0, f"a container reaches {host} ({ip}:80): the containers are routed out")
    print(f"  no way out: a container reaches redis:6379, not {host} ({ip}:80; "
          f"{(r.stderr.strip() or 'timed out').splitlines()[-1]})")


def _wait_stored(c, n, timeout, what):
    def enough():
        got = _stored(c)
        return got >= n and got
    try:
        return rtptest.wait_until(enough, timeout, what, interval=0.2)
    except TimeoutError:
        print(c.logs("batcher"), c.logs("broker"), sep="\n")
        raise


def _settled(c, readers=("reader-1", "reader-2")):
    """True when the batcher holds nothing and no reader waits for an acknowledgement."""
    if _gauge(c, "batcher", "rtp_batcher_held") != 0:
        return False
    for r in readers:
        m = _scrape(c, r)
        if m is None or sum(v for (n, _), v in m.samples.items() if n == "rtp_reader_window") != 0:
            return False
    return True


def _reader_events(c):
    """Each reader's (connections, events read) from its metrics, or None."""
    out = []
    for r in ("reader-1", "reader-2"):
        m = _scrape(c, r)
        if m is None:
            return None
        total = {}
        for (name, _), v in m.samples.items():
            total[name] = total.get(name, 0) + v
        out.append((total.get("rtp_reader_connects_total", 0), total.get("rtp_reader_events_total", 0)))
    return out


def _check_rows(c, label):
    with c.redis() as r:
        report = rtpcheck.check_exact(r, EXPECTED, label)
        letters = rtpcheck.dead_letters(r)
    check(not letters, f"{label}: no dead letters expected (no panics sent), got {letters[:3]}")
    print(f"  {label}: {report.summary()}")


def _wait_healthy(c, timeout=180):
    def all_healthy():
        states = {}
        for name in c.containers():
            states[name] = c.inspect(name, "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}")
        bad = {n: s for n, s in states.items() if s not in ("healthy", "none")}
        return (not bad, states, bad)
    try:
        rtptest.wait_until(lambda: all_healthy()[0], timeout, "every health check healthy", interval=1)
    except TimeoutError:
        raise AssertionError(f"not healthy: {all_healthy()[2]}")
    _, states, _ = all_healthy()
    healthy = sorted(n for n, s in states.items() if s == "healthy")
    check(len(healthy) == len(states) - 1, f"only the rtp-server stand-in has no health check: {states}")
    print(f"  health: {len(healthy)} containers healthy")


def _stop_in_order(c):
    """`stop`: every container exits 0 (each actor drained, nothing killed at the grace period)."""
    start = time.monotonic()
    c.run("stop", timeout=300)
    codes = {n: c.inspect(n, "{{.State.ExitCode}}") for n in c.containers()}
    bad = {n: code for n, code in codes.items() if code != "0"}
    for n in bad:
        print(f"  --- {n} exited {bad[n]}:\n{c.lab.d.docker('logs', '--tail', '30', n, check=False).stderr}")
    check(not bad, f"every container exits 0 on stop: {bad}")
    print(f"  stop: {len(codes)} containers exited 0 in {time.monotonic() - start:.1f} s")


def _volumes(c):
    """The project's named volumes, sorted."""
    return sorted(c.lab.d.docker("volume", "ls", "-q", "--filter",
                                 f"label=com.docker.compose.project={PROJECT}").stdout.split())


def _kill_worker(c, container, exe):
    """kill -9 of one `exe` process in the container (run as the container's user)."""
    r = c.lab.d.docker("exec", container, "pkill", "-KILL", "-o", "-x", exe, check=False)
    check(r.returncode == 0, f"pkill {exe} in {container}: {r.returncode} {r.stderr}")


def test_compose():
    c = Compose(lab(), ["docker-compose.yml"])
    start = time.monotonic()
    try:
        # the readers last, once the three workers are at the broker: the stream (17 s)
        # is then still flowing when the test kills one, however slow the start-up
        c.run("up", "-d", "--no-build", "--scale", "censor=3", *NO_READERS)
        rtptest.wait_until(lambda: _gauge(c, "broker", "rtp_broker_workers", pool="censor") == 3, 180,
                           "three censor workers at the broker", interval=0.5)
        check(len(c.containers("censor")) == 3, f"three censor containers: {c.containers('censor')}")
        c.run("up", "-d", "--no-build", "--scale", "censor=3")
        images = {c.inspect(n, "{{.Image}}") for n in c.containers() if "_redis_" not in n}
        check(images == {c.lab.image_id}, f"every rtp container runs the image just built: {images}")

        _wait_stored(c, 20, 180, "the first tweets stored")
        victim = c.containers("censor")[1]
        _kill_worker(c, victim, "rtp-censor")
        at_kill = _stored(c)

        def restarted():
            count, running = c.inspect(victim, "{{.RestartCount}} {{.State.Running}}").split()
            return int(count) >= 1 and running == "true"
        rtptest.wait_until(restarted, 120, f"{victim} restarted by its restart policy", interval=0.5)
        _no_way_out(c)
        restarts = int(c.inspect(victim, "{{.RestartCount}}"))
        rtptest.wait_until(lambda: _gauge(c, "broker", "rtp_broker_workers", pool="censor") == 3, 120,
                           "three censor workers at the broker again", interval=0.5)

        _wait_stored(c, TOTAL, 300, f"all {TOTAL} tweets stored")
        rtptest.wait_until(lambda: _settled(c), 120, "batcher and readers settled", interval=0.5)
        broker = c.metrics("broker")
        lost = broker.get("rtp_broker_workers_lost_total")
        check(lost is not None and lost >= 1, f"the broker saw the killed worker go: workers lost {lost}")
        check(at_kill < TOTAL, f"the worker was killed mid-stream ({at_kill} of {TOTAL} stored)")
        _check_rows(c, f"killed {victim} with {at_kill} of {TOTAL} stored, restarted {restarts}x")
        _wait_healthy(c)
        _phase("compose: scaled, killed, every row right, healthy", start)

        volumes = _volumes(c)
        check(f"{PROJECT}_redis-data" in volumes, f"Redis's data on a volume: {volumes}")
        _stop_in_order(c)
        c.run("down", timeout=300)
        check(c.containers() == [], f"down removes the containers: {c.containers()}")
        check(_volumes(c) == volumes, f"down keeps the volumes {volumes}: {_volumes(c)}")
        print(f"  down: the volumes kept: {' '.join(volumes)}")
        start = time.monotonic()
        c.run("up", "-d", "--no-build", "--scale", "censor=3")
        rtptest.wait_until(lambda: c.inspect(c.containers("redis")[0], "{{.State.Health.Status}}")
                           == "healthy", 120, "redis healthy again", interval=0.5)
        _check_rows(c, "after down and up, before the readers ran again")
        # the readers run again (the replay starts over): wait until both are done
        last = [None]

        def readers_done():
            now = _reader_events(c)
            done = (now is not None and all(conn >= 1 for conn, _ in now) and now == last[0] and _settled(c))
            last[0] = now
            return done
        rtptest.wait_until(readers_done, 180, "the readers done again", interval=5)
        _check_rows(c, f"after down, up and the readers again ({_reader_events(c)} connections/events)")
        _phase("compose: down, up, data kept", start)
    finally:
        c.run("down", "-v", "--timeout", "30", timeout=300, check=False)


def test_compose_supervise():
    c = Compose(lab(), ["docker-compose.yml", "deploy/compose.supervise.yml"])
    start = time.monotonic()
    try:
        c.run("up", "-d", "--no-build", "--scale", "supervisor=2", *NO_READERS)
        for pool in POOLS:
            check(c.containers(pool) == [], f"no {pool} containers (scale 0): {c.containers(pool)}")
        supervisors = c.containers("supervisor")
        check(len(supervisors) == 2, f"two supervisor containers: {supervisors}")

        def sized():
            m = _scrape(c, "broker")
            if m is None or m.get("rtp_broker_supervisors") != 2:
                return False
            return all((m.get("rtp_broker_workers", pool=p) or 0) >= 2 for p in POOLS)
        rtptest.wait_until(sized, 180, "two supervisors at the broker, every pool at least its minimum 2",
                           interval=0.5)
        c.run("up", "-d", "--no-build", "--scale", "supervisor=2")
        running = {p: sum(int(c.lab.d.docker("exec", s, "pgrep", "-c", "-x", f"rtp-{p}", check=False).stdout
                              or 0) for s in supervisors) for p in POOLS}
        check(all(n >= 2 for n in running.values()),
              f"the workers run in the supervisor containers: {running}")
        print(f"  pools through rtp supervise: {running}")

        victim = supervisors[0]
        before = _gauge(c, "broker", "rtp_broker_worker_restarts_total", pool="censor") or 0
        if c.lab.d.docker("exec", victim, "pgrep", "-x", "rtp-censor", check=False).returncode != 0:
            victim = supervisors[1]
        _wait_stored(c, 20, 180, "the first tweets stored")
        _kill_worker(c, victim, "rtp-censor")
        at_kill = _stored(c)
        rtptest.wait_until(lambda: (_gauge(c, "broker", "rtp_broker_worker_restarts_total", pool="censor")
                                    or 0) > before, 120,
                           f"the censor worker killed in {victim} restarted by it", interval=0.5)

        _wait_stored(c, TOTAL, 300, f"all {TOTAL} tweets stored")
        rtptest.wait_until(lambda: _settled(c), 120, "batcher and readers settled", interval=0.5)
        check(at_kill < TOTAL, f"the worker was killed mid-stream ({at_kill} of {TOTAL} stored)")
        _check_rows(c, f"supervised pools, a censor worker killed in {victim} "
                       f"with {at_kill} of {TOTAL} stored")
        _wait_healthy(c)
        _stop_in_order(c)
        _phase("compose with supervisors", start)
    finally:
        c.run("down", "-v", "--timeout", "30", timeout=300, check=False)


if __name__ == "__main__":
    rtptest.main(globals())
