"""rtpredis: a private redis-server and a minimal Redis client for the integration
tests (Python standard library only).

    server = RedisServer(password="pw")      # a free port, a temporary folder
    server.start()
    r = server.client(db=2)                  # AUTH and SELECT done
    r.command("SET", "k", "v")               # -> b"OK"
    r.command("HGETALL", "tweet:1")          # -> [b"id", b"1", ...]
    server.stop(); server.start()            # the same port again, empty
    server.stop()

Replies: simple and bulk strings as bytes, integers as int, arrays as lists, nil as
None; an error reply raises RedisError. Every socket operation has a timeout.
The server keeps no data on disk (--save "" --appendonly no) and is stopped at exit.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class RedisError(Exception):
    """An error reply from Redis (the message is Redis's)."""


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (redis-server does not
    accept --port 0, so the port is found by binding port 0 here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _encode(arg):
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, (int, float)):
        return repr(arg).encode()
    raise TypeError(f"cannot send {type(arg).__name__} to Redis")


class RedisClient:
    """One connection speaking RESP2."""

    def __init__(self, host="127.0.0.1", port=6379, password=None, db=0, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        if password is not None:
            self.command("AUTH", password)
        if db:
            self.command("SELECT", db)

    @classmethod
    def on_socket(cls, sock, timeout=5.0):
        """A client on a socket connected already (e.g. made inside a network
        namespace by rtpnetns)."""
        self = cls.__new__(cls)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        return self

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, *args):
        """Sends one command and returns its reply."""
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = _encode(a)
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError(f"unexpected reply from Redis: {line[:60]!r}")

    # a few conveniences for checks

    def hgetall(self, key):
        """A hash as a dict of str -> str."""
        flat = self.command("HGETALL", key)
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def smembers(self, key):
        return {m.decode() for m in self.command("SMEMBERS", key)}

    def zrange_withscores(self, key):
        """A sorted set as a dict member -> score string (as Redis prints it)."""
        flat = self.command("ZRANGE", key, 0, -1, "WITHSCORES")
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def keys(self, pattern="*"):
        """Every key matching pattern, with SCAN (sorted)."""
        out, cursor = set(), b"0"
        while True:
            cursor, batch = self.command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            out.update(k.decode() for k in batch)
            if cursor == b"0":
                return sorted(out)


_servers = []


class RedisServer:
    """A redis-server of our own on 127.0.0.1, on a free port, in a temporary folder."""

    def __init__(self, password=None, extra_args=()):
        self.password = password
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="rtpredis-")
        _servers.append(self)

    @property
    def url(self):
        """The redis:// URL of db 0 (with the password, for the programs under test)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def start(self, timeout=10.0):
        """Starts the server (on the port of the last start, if any) and waits until it
        answers. Returns self."""
        for attempt in range(5):
            port = self.port or free_port()
            args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning",
                    "--logfile", os.path.join(self.dir, "redis.log")]
            if self.password:
                args += ["--requirepass", self.password]
            args += self.extra_args
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break   # the port was taken: try another (unless it must be this one)
                try:
                    with RedisClient(port=port, password=self.password, timeout=1.0) as c:
                        c.command("PING")
                    self.port = port
                    return self
                except (OSError, ConnectionError, RedisError):
                    time.sleep(0.02)
            self._kill()
            if self.port:   # a restart on a fixed port: wait for the old socket to go
                time.sleep(0.2)
        raise RuntimeError(f"redis-server did not start (port {self.port}); log:\n{self.log_text()[-2000:]}")

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after timeout. The port is kept for a restart."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, db=0, timeout=5.0):
        return RedisClient(port=self.port, password=self.password, db=db, timeout=timeout)

    def close(self):
        """Stops the server and removes its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start() if not self.alive() else self

    def __exit__(self, *exc):
        self.close()


def _cleanup():
    for s in _servers:
        try:
            s.close()
        except Exception:
            pass


atexit.register(_cleanup)
