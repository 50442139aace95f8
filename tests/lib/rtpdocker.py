"""rtpdocker: a private Docker daemon for a test (Debian's docker.io), and a local
debian:12 image, since nothing can be pulled from Docker Hub here.

    ensure_packages()          apt-get install docker.io docker-compose debootstrap when missing
    d = Dockerd()              its own dockerd (see below), ready to use
    d.docker(*args)            Debian's /usr/bin/docker against it; d.env for docker-compose
    d.import_debian()          debian:12 from debootstrap, via `docker import`
    d.close()                  everything stopped and removed

The daemon keeps everything in one temporary folder (data root, exec root, socket,
log), adds no iptables rules, no NAT and does not turn on IP forwarding (the host's
setting stays: on a host that does not forward, no container reaches past it; so
names Docker's DNS does not know fail after 1 s instead of 20), has
no default bridge (`docker build` runs with the host's network, compose networks
are the test's own), and puts its containers under a cgroup parent of its own.

Teardown is done by a guard process started with the daemon, in its own session:
it waits for the test to close a pipe (or die: the pipe closes with it, even on
SIGKILL), then stops dockerd (which stops the containers), kills what is left in
the daemon's cgroups, unmounts, deletes the bridge and removes the folder. close()
closes the pipe and waits for the guard, so the normal path is the same code.

The debootstrap tarball is cached in $RTP_DOCKER_CACHE (default
${XDG_CACHE_HOME:-~/.cache}/rtp); delete it to make a fresh one.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DOCKER = "/usr/bin/docker"       # Debian's client: another `docker` may come first in PATH
DOCKERD = "/usr/sbin/dockerd"
COMPOSE = "/usr/bin/docker-compose"
PACKAGES = ("docker.io", "docker-compose", "debootstrap")
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def _missing_packages():
    missing = []
    for p in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    return missing


def ensure_packages(log):
    """Installs the Debian packages that are missing (as root); output to `log`."""
    missing = _missing_packages()
    if not missing:
        return []
    if os.geteuid() != 0:
        raise RuntimeError(f"missing Debian packages {missing}: install them (apt-get install "
                           f"{' '.join(missing)}) or run the test as root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(log, "ab") as out:
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                           check=True, timeout=900)
    return missing


def apt_mirror():
    """The Debian mirror apt uses on this host for bookworm (deb822 or one-line sources)."""
    files = ["/etc/apt/sources.list"]
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        files += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        for stanza in text.split("\n\n"):
            uris, suites = [], []
            for line in stanza.splitlines():
                words = line.split("#", 1)[0].split()
                if words[:1] == ["deb"]:
                    rest = [w for w in words[1:] if not w.startswith("[")]
                    if len(rest) >= 2 and rest[1] == SUITE and not rest[0].rstrip("/").endswith("-security"):
                        return rest[0].rstrip("/")
                elif words[:1] == ["URIs:"]:
                    uris = words[1:]
                elif words[:1] == ["Suites:"]:
                    suites = words[1:]
            for uri in uris:
                if SUITE in suites and uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("RTP_DOCKER_CACHE") or os.path.join(base, "rtp")


def debian_tarball(work, log):
    """A minbase Debian 12 root filesystem as a .tar.gz (cached); returns its path."""
    path = os.path.join(cache_dir(), f"debian-12-{SUITE}-minbase.tar.gz")
    if os.path.exists(path):
        return path
    os.makedirs(cache_dir(), exist_ok=True)
    root = os.path.join(work, "rootfs")
    with open(log, "ab") as out:
        subprocess.run(["debootstrap", "--variant=minbase", SUITE, root, apt_mirror()],
                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=True,
                       timeout=900)
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for name in os.listdir(os.path.join(root, sub)):
                full = os.path.join(root, sub, name)
                if os.path.isfile(full):
                    os.unlink(full)
        tmp = f"{path}.{os.getpid()}.tmp"
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-czf", tmp, "."], stdout=out,
                       stderr=subprocess.STDOUT, check=True, timeout=600)
    os.replace(tmp, path)   # a run killed half-way leaves no half tarball behind
    shutil.rmtree(root, ignore_errors=True)
    return path


class Dockerd:
    def __init__(self, timeout=60.0):
        self.dir = tempfile.mkdtemp(prefix="rtpd-")   # short: the socket path has a length limit
        self.suffix = secrets.token_hex(3)
        self.bridge = f"rtpt{self.suffix}"          # for the test's compose network (<= 15 chars)
        self.cgroup_parent = f"rtptest-{self.suffix}"
        self.sock = os.path.join(self.dir, "docker.sock")
        self.log = os.path.join(self.dir, "dockerd.log")
        self.pidfile = os.path.join(self.dir, "dockerd.pid")
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}\n")   # not /etc/docker/daemon.json
        self.env = {"PATH": "/usr/bin:/usr/sbin:/bin:/sbin", "HOME": os.environ.get("HOME", "/root"),
                    "LANG": "C.UTF-8", "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_BUILDKIT": "0",
                    "COMPOSE_DOCKER_CLI_BUILD": "0"}
        read_end, self._guard_pipe = os.pipe()
        self.guard = subprocess.Popen([sys.executable, os.path.abspath(__file__), "guard", self.dir,
                                       self.pidfile, self.bridge, self.cgroup_parent],
                                      stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        os.close(read_end)
        argv = [DOCKERD, "--config-file", os.path.join(self.dir, "daemon.json"),
                "--data-root", os.path.join(self.dir, "data"), "--exec-root", os.path.join(self.dir, "x"),
                "--pidfile", self.pidfile, "--host", f"unix://{self.sock}",
                "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                "--bridge=none",
                # a name Docker's DNS does not know (a stopped container's, as a worker
                # reconnecting to a stopped broker asks) is forwarded to the host's servers,
                # which the containers cannot reach: fail in 1 s, not glibc's 2 x 5 s twice
                "--dns-opt", "timeout:1", "--dns-opt", "attempts:1",
                "--cgroup-parent", self.cgroup_parent, "--containerd-namespace", self.cgroup_parent,
                "--containerd-plugins-namespace", f"{self.cgroup_parent}-plugins", "--log-level", "warn"]
        with open(self.log, "ab") as out:
            # its own session: stopped by the guard (SIGTERM stops the containers), not
            # by a signal to the test's process group
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.popen.returncode}:\n{self.log_text()[-3000:]}")
            r = self.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=10)
            if r.returncode == 0:
                self.version = r.stdout.strip()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd not answering after {timeout:g} s:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def docker(self, *args, check=True, timeout=120, input=None):
        """Runs Debian's docker client against this daemon; returns the CompletedProcess
        (text); with check, raises RuntimeError naming the command and its output."""
        r = subprocess.run([DOCKER, *[str(a) for a in args]], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout[-2000:]}"
                               f"\n{r.stderr[-3000:]}")
        return r

    def import_debian(self, log):
        """Tags debian:12 from a debootstrap root filesystem (cached tarball)."""
        tarball = debian_tarball(self.dir, log)
        self.docker("import", "--change", 'CMD ["bash"]', tarball, "debian:12", timeout=600)
        return tarball

    def close(self, timeout=180.0):
        """Stops everything (see the module doc); returns the guard's exit status."""
        if self._guard_pipe is not None:
            os.close(self._guard_pipe)
            self._guard_pipe = None
        try:
            return self.guard.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the guard: runs as `python3 rtpdocker.py guard DIR PIDFILE BRIDGE CGROUP-PARENT` ----


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid, seconds):
    end = time.monotonic() + seconds
    while _pid_alive(pid) and time.monotonic() < end:
        time.sleep(0.1)
    return not _pid_alive(pid)


def _guard(folder, pidfile, bridge, cgroup_parent):
    sys.stdin.buffer.read()   # returns when the test closes the pipe or dies
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        pid = None
    if pid and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)   # stops the containers (each gets its stop timeout), then containerd
        if not _wait_gone(pid, 90):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
    # what is left: processes of this daemon (containerd, shims; their command lines name
    # the folder) and of its containers (in its cgroups)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if folder.encode() in f.read():
                        os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
    for controller in sorted(os.listdir("/sys/fs/cgroup")):
        top = os.path.join("/sys/fs/cgroup", controller, cgroup_parent)
        if not os.path.isdir(top):
            continue
        for sub, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                with open(os.path.join(sub, "cgroup.procs")) as f:
                    for p in f.read().split():
                        os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
            for _ in range(50):
                try:
                    os.rmdir(sub)
                    break
                except OSError:
                    time.sleep(0.1)
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1].replace("\\040", " ") for line in f]
    for m in reversed(mounts):
        if m == folder or m.startswith(folder + "/"):
            subprocess.run(["umount", "-l", m], capture_output=True)
    subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if not os.path.exists(folder) else 1


if __name__ == "__main__" and sys.argv[1:2] == ["guard"]:
    sys.exit(_guard(*sys.argv[2:6]))
