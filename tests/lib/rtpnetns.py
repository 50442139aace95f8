"""rtpnetns: several hosts on one machine, made of Linux network namespaces (root
only; Python standard library and iproute2).

    net = Network(["a", "b", "c"])          # namespaces, a bridge, 10.77.0.1..3/24
    net.addr("a")                           # -> "10.77.0.1"
    p = net.proc("b", "/path/rtp", ["supervise", ...], name="rtp supervise@b", env={...})
    sock = net.connect("b", "10.77.0.1", 6379)   # a socket made inside host b
    net.cut("c")                            # c's cable is pulled (its link on the bridge down)
    net.close()                             # kills what still runs inside, deletes everything

Each host is a namespace with loopback and one interface, eth0, whose other end is a
port of a bridge living in a namespace of its own (the switch), so nothing is added
to the machine's own network: the addresses exist only inside these namespaces, and
the only traffic is between them. Names carry the test's pid, so parallel runs do
not collide. close() runs at exit too, whatever happened (SIGTERM included); and
namespaces left by an earlier run that was killed outright (SIGKILL: no exit
handler) are removed, with what still runs in them, by the next Network().
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import rtptest

CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """Namespaces could not be made (with the command and what it said)."""


def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r


_open = []


class Network:
    """Hosts on one bridged /24. Raises NetnsError (with the reason) when the
    namespaces cannot be made, e.g. without root."""

    def __init__(self, hosts, subnet="10.77.0"):
        if shutil.which("ip") is None:
            raise NetnsError("the `ip` command (iproute2) is not installed")
        _sweep_stale()
        self.prefix = f"rtpmh{os.getpid()}"
        self.subnet = subnet
        self.hosts = list(hosts)
        self._made = []
        self._procs = []
        _open.append(self)
        try:
            self.switch = self._add_ns("sw")
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for i, host in enumerate(self.hosts, start=1):
                ns = self._add_ns(host)
                _ip("-n", self.switch, "link", "add", f"v-{host}", "type", "veth", "peer", "name", "eth0",
                    "netns", ns)
                _ip("-n", self.switch, "link", "set", f"v-{host}", "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{subnet}.{i}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
        except Exception:
            self.close()
            raise

    def _add_ns(self, host):
        name = f"{self.prefix}-{host}"
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def ns(self, host):
        """The namespace name of a host."""
        return f"{self.prefix}-{host}"

    def addr(self, host):
        """The IPv4 address of a host."""
        return f"{self.subnet}.{self.hosts.index(host) + 1}"

    def proc(self, host, exe, args=(), name=None, env=None):
        """Starts exe (a path, or a command found on PATH) inside host, as an
        rtptest.Proc (logs, stop(), cleanup at exit) named `name`. `ip netns exec`
        execs the program itself, so the Proc's pid is the program's."""
        path = exe if os.sep in exe else shutil.which(exe)
        if not path:
            raise NetnsError(f"{exe} is not installed")
        ip = shutil.which("ip")
        p = rtptest.Proc(os.path.basename(ip), ["netns", "exec", self.ns(host), path, *args], env=env,
                         bin_dir=os.path.dirname(ip))
        p.name = name or f"{os.path.basename(path)}@{host}"
        p.host = host
        self._procs.append(p)
        return p

    def connect(self, host, addr, port, timeout=5.0):
        """A TCP socket connected to addr:port from inside host (made by a thread
        that enters the host's namespace; the socket stays in it)."""
        out = {}

        def run():
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/var/run/netns/{self.ns(host)}", os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        e = ctypes.get_errno()
                        raise OSError(e, f"setns into {self.ns(host)}: {os.strerror(e)}")
                finally:
                    os.close(fd)
                out["sock"] = socket.create_connection((addr, port), timeout=timeout)
            except BaseException as e:   # handed to the caller's thread
                out["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout + 5)
        if "error" in out:
            raise out["error"]
        if "sock" not in out:
            raise TimeoutError(f"connecting to {addr}:{port} from {host}")
        return out["sock"]

    def cut(self, host):
        """Pulls host's cable: its port on the bridge goes down. Its processes keep
        running, unreachable (no reset, no FIN: the others only notice silence)."""
        _ip("-n", self.switch, "link", "set", f"v-{host}", "down")

    def mend(self, host):
        _ip("-n", self.switch, "link", "set", f"v-{host}", "up")

    def pids(self, host):
        """The pids of every process running inside host."""
        r = _ip("netns", "pids", self.ns(host), check=False)
        return [int(x) for x in r.stdout.split() if x.isdigit()]

    def close(self):
        """Stops the processes started with proc() (SIGTERM, then SIGKILL), kills
        whatever else still runs inside the namespaces, and deletes them."""
        for p in self._procs:
            try:
                p.stop(timeout=3)
            except Exception:
                pass
        self._procs = []
        for ns in self._made:
            host = ns[len(self.prefix) + 1:]
            for _ in range(50):
                left = self.pids(host)
                if not left:
                    break
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
        self._made = []
        if self in _open:
            _open.remove(self)


def _sweep_stale():
    """Deletes the namespaces of earlier runs whose process is gone (names
    rtpmh<pid>-<host>), killing what still runs inside them: only what such a run
    started can be there."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        head, _, _ = name.partition("-")
        if not head.startswith("rtpmh") or not head[5:].isdigit():
            continue
        pid = int(head[5:])
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        left = _ip("netns", "pids", name, check=False).stdout.split()
        for p in left:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip("netns", "del", name, check=False)


def _cleanup():
    for net in list(_open):
        try:
            net.close()
        except Exception:
            pass


# registered after rtptest's own handler, so it runs before it (atexit is LIFO)
atexit.register(_cleanup)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)   # unwinds: finally blocks and exit handlers run


if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _on_sigterm)
