"""rtptest: what the integration tests share (Python standard library only).

- paths: bin_path(), data_path(), free_port()
- time: Deadline, wait_until()
- processes: Proc (start an executable from RTP_BIN_DIR, logs in a temp dir, read a
  line of its stdout, stop it with SIGTERM then SIGKILL; everything is stopped and
  cleaned up at exit), start_replay() for the stand-in rtp-server
- HTTP and SSE: http_get(), SseParser (the WHATWG event-stream rules, no I/O),
  SseClient (a raw-socket GET that reads events with timeouts)
- running: check(), main() runs the test_* functions of a test file and prints
  "N passed, N failed"

Every wait takes a timeout; nothing here waits forever.
"""

import atexit
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import namedtuple

# ---- paths -------------------------------------------------------------------


def bin_path(name):
    """The built executable `name` (from RTP_BIN_DIR)."""
    return os.path.join(os.environ.get("RTP_BIN_DIR", "build/bin"), name)


def data_path(name):
    """A bundled data file (from RTP_DATA_DIR)."""
    return os.path.join(os.environ.get("RTP_DATA_DIR", "data"), name)


def proto_header(msg_type):
    """The 4-byte header of a protocol message of type number msg_type, as hex
    ("RT", the version common/proto.h defines, the type): for tests that hand-craft
    frames, so that they follow the version."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "common", "proto.h"), encoding="utf-8") as f:
        version = int(re.search(r"#define RTP_PROTO_VERSION (\d+)", f.read()).group(1))
    return bytes([ord("R"), ord("T"), version, msg_type]).hex()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago. Prefer letting the
    server pick (port 0) and reading the port back, which cannot race."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- time --------------------------------------------------------------------


class Deadline:
    """A point in time `seconds` from now."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self):
        return max(0.0, self.at - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.at

    def check(self, what):
        """Raises TimeoutError naming `what` once the deadline has passed."""
        if self.expired():
            raise TimeoutError(f"timed out after {self.seconds:g} s: {what}")


def wait_until(predicate, timeout, what, interval=0.02):
    """Polls predicate() until it returns a true value (returned) or the timeout."""
    deadline = Deadline(timeout)
    while True:
        value = predicate()
        if value:
            return value
        deadline.check(what)
        time.sleep(interval)


# ---- processes ---------------------------------------------------------------

_live = set()
_dirs = []


def _runs_rtp_up(argv):
    """Whether argv starts `rtp up`, itself or through a wrapper command."""
    return any(os.path.basename(a) == "rtp" and argv[i + 1:i + 2] == ["up"] for i, a in enumerate(argv))


class Proc:
    """A child process started from RTP_BIN_DIR (or bin_dir), its stdout and stderr
    in files of a temporary folder (removed at exit unless RTP_TEST_KEEP is set)."""

    def __init__(self, name, args=(), env=None, bin_dir=None):
        self.name = name
        exe = os.path.join(bin_dir, name) if bin_dir else bin_path(name)
        self.dir = tempfile.mkdtemp(prefix=f"rtptest-{name}-")
        _dirs.append(self.dir)
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.args = [exe, *[str(a) for a in args]]
        # `rtp up` keeps its state (spools, journal, Redis data) in a folder it locks:
        # each run gets its own unless the test gives one, so tests run in parallel and
        # no run resumes another's. Started directly or through a wrapper (`ip netns
        # exec NS /path/rtp up ...`): the rtp executable followed by "up"
        if _runs_rtp_up(self.args) and "--state-dir" not in self.args and "RTP_STATE_DIR" not in (env or {}):
            full_env["RTP_STATE_DIR"] = os.path.join(self.dir, "state")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env)
        self.pid = self.popen.pid
        _live.add(self)

    def alive(self):
        return self.popen.poll() is None

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_line(self, pattern, timeout=10.0):
        """Waits for a line of stdout matching the regex; returns the match. Raises
        RuntimeError if the process exits first, TimeoutError after timeout."""
        regex = re.compile(pattern)
        deadline = Deadline(timeout)
        while True:
            for line in self.stdout_text().splitlines():
                m = regex.search(line)
                if m:
                    return m
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode} before printing "
                                   f"{pattern!r}; stderr:\n{self.stderr_text()[-2000:]}")
            deadline.check(f"{self.name} printing {pattern!r}")
            time.sleep(0.02)

    def wait_log(self, pattern, timeout=10.0):
        """Waits for a stderr (log) line matching the regex; returns the match."""
        regex = re.compile(pattern)
        return wait_until(lambda: regex.search(self.stderr_text()), timeout, f"{self.name} logging {pattern!r}")

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL if still running after timeout. Returns the exit
        code (negative: killed by that signal)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        _live.discard(self)
        return self.popen.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _cleanup():
    for p in list(_live):
        try:
            p.stop(timeout=2)
        except Exception:
            pass
    if not os.environ.get("RTP_TEST_KEEP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def start_replay(*args, env=None, timeout=10.0):
    """Starts rtp-replay on a free port with the given flags; returns its Proc with
    .host, .port and .url (http://HOST:PORT) set from its `listening on` line."""
    p = Proc("rtp-replay", ["--port", "0", *args], env=env)
    m = p.wait_line(r"^listening on http://(\[[^\]]+\]|[^:/\s]+):(\d+)$", timeout)
    p.host = m.group(1).strip("[]")
    p.port = int(m.group(2))
    p.url = f"http://{m.group(1)}:{p.port}"
    return p


# ---- HTTP and SSE --------------------------------------------------------------


def http_get(host, port, path, timeout=10.0):
    """GET path; returns (status, headers with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


SseEvent = namedtuple("SseEvent", "type data id")

_EOL = re.compile(rb"\r\n|\r|\n")


class SseParser:
    """The event-stream parsing rules of the WHATWG HTML spec, fed bytes split
    anywhere: CRLF, LF and CR line ends, comments, event/data/id/retry fields,
    several data lines joined with "\\n", and no dispatch for an event without
    data. feed() returns the events completed by the new bytes."""

    def __init__(self):
        self._buf = b""
        self._skip_lf = False
        self._started = False
        self._type = ""
        self._data = []
        self.last_id = ""
        self.retry = None
        self.comments = []

    def feed(self, chunk):
        buf = self._buf + chunk
        pos = 0
        if not self._started and len(buf) >= 3:
            self._started = True
            if buf.startswith(b"\xef\xbb\xbf"):
                pos = 3
        if self._skip_lf and buf[pos:pos + 1] == b"\n":
            pos += 1
        if buf[pos:]:
            self._skip_lf = False
        events = []
        while True:
            m = _EOL.search(buf, pos)
            if not m:
                break
            if m.group() == b"\r" and m.end() == len(buf):
                self._skip_lf = True   # a CRLF may be split across reads
            self._line(buf[pos:m.start()], events)
            pos = m.end()
        self._buf = buf[pos:]
        return events

    def partial(self):
        """True when bytes of an unfinished event are buffered (e.g. after a cut)."""
        return bool(self._buf) or bool(self._data)

    def _line(self, line, events):
        if not line:
            if self._data:
                data = "\n".join(self._data)
                events.append(SseEvent(self._type or "message", data, self.last_id))
            self._type = ""
            self._data = []
            return
        if line.startswith(b":"):
            self.comments.append(line[1:].decode("utf-8", "replace"))
            return
        field, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        value = value.decode("utf-8", "replace")
        if field == b"event":
            self._type = value
        elif field == b"data":
            self._data.append(value)
        elif field == b"id":
            if "\0" not in value:
                self.last_id = value
        elif field == b"retry":
            if value.isdigit():
                self.retry = int(value)


class SseClient:
    """GET path over a raw socket and read the SSE body. status and headers are
    set once connected; events, comments and (with keep_raw) the raw body bytes
    accumulate as they are read; eof turns True when the server closes."""

    def __init__(self, host, port, path, timeout=10.0, keep_raw=False, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.parser = SseParser()
        self.events = []
        self.keep_raw = keep_raw
        self.raw = bytearray()
        self.bytes = 0
        self.eof = False
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
                          .encode())
        head = b""
        deadline = Deadline(timeout)
        while b"\r\n\r\n" not in head:
            deadline.check(f"response head of {path}")
            chunk = self._recv(deadline.remaining())
            if not chunk:
                raise ConnectionError(f"connection closed before the response head of {path}")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if rest:
            self._take(rest)

    @property
    def comments(self):
        return self.parser.comments

    def _recv(self, timeout):
        self.sock.settimeout(max(0.001, timeout))
        try:
            return self.sock.recv(262144)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return b""

    def _take(self, chunk):
        self.bytes += len(chunk)
        if self.keep_raw:
            self.raw += chunk
        self.events.extend(self.parser.feed(chunk))

    def poll(self, timeout):
        """Reads once (waiting up to timeout); returns False at EOF."""
        if self.eof:
            return False
        chunk = self._recv(timeout)
        if chunk == b"":
            self.eof = True
            return False
        if chunk:
            self._take(chunk)
        return True

    def read_events(self, n, timeout):
        """Reads until n events in all have arrived or the server closed; returns
        self.events. Raises TimeoutError if neither happens in time."""
        deadline = Deadline(timeout)
        while len(self.events) < n and not self.eof:
            deadline.check(f"{n} events (have {len(self.events)})")
            self.poll(min(0.2, deadline.remaining()))
        return self.events

    def read_for(self, seconds):
        """Reads for the given time (or until EOF); returns the events read in it."""
        start = len(self.events)
        deadline = Deadline(seconds)
        while not deadline.expired() and not self.eof:
            self.poll(min(0.2, deadline.remaining()))
        return self.events[start:]

    def read_until(self, predicate, timeout, what):
        """Reads until predicate(self) is true; raises TimeoutError (or
        ConnectionError at EOF) otherwise."""
        deadline = Deadline(timeout)
        while not predicate(self):
            if self.eof:
                raise ConnectionError(f"connection closed while waiting for {what}")
            deadline.check(what)
            self.poll(min(0.2, deadline.remaining()))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- running -------------------------------------------------------------------

checks = 0


def check(cond, message):
    """Asserts cond (counted in the summary); message says what was expected."""
    global checks
    checks += 1
    if not cond:
        raise AssertionError(message)


def main(namespace, argv=None):
    """Runs the test_* functions of a test module (pass globals()) in file order,
    or those named on the command line; prints each outcome and "N passed, N
    failed", and exits non-zero when one failed."""
    argv = sys.argv[1:] if argv is None else argv
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    if argv:
        tests = [f for f in tests if f.__name__ in argv]
    passed = failed = 0
    for fn in tests:
        start = time.monotonic()
        print(f"--- {fn.__name__}", flush=True)
        try:
            fn()
        except Exception:
            failed += 1
            traceback.print_exc()
            print(f"FAIL {fn.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
        else:
            passed += 1
            print(f"ok   {fn.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
    _cleanup()
    print(f"{checks} checks")
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not tests else 0)


# ---- readers and the event sink --------------------------------------------------

def test_bin_path(name):
    """A built test helper program (from RTP_TEST_BIN_DIR)."""
    return os.path.join(os.environ.get("RTP_TEST_BIN_DIR", "build/tests"), name)


SinkEvent = namedtuple("SinkEvent", "origin seq kind detail")


def start_sink(endpoint="tcp://127.0.0.1:*", idle_ms=120000, timeout=10.0, acks="none", ack_every_ms=50):
    """Starts tests/helpers/event_sink bound to endpoint (a ROUTER standing in for the
    broker's readers endpoint); returns its Proc with .endpoint set from its
    `bound` line. acks: what it acknowledges ("none", "all", "drop-first:N"), in
    messages gathered over ack_every_ms."""
    p = Proc("event_sink", [endpoint, idle_ms, acks, ack_every_ms],
             bin_dir=os.path.dirname(test_bin_path("event_sink")))
    p.endpoint = p.wait_line(r"^bound (\S+)$", timeout).group(1)
    return p


def sink_events(sink):
    """The EVENTs a sink printed so far: SinkEvent(origin, seq, kind, detail) where
    detail is the tweet id, or the reason of a malformed event."""
    events = []
    for line in sink.stdout_text().splitlines()[1:]:
        parts = line.split(" ", 3)
        if len(parts) == 4:
            events.append(SinkEvent(parts[0], int(parts[1]), parts[2], parts[3]))
    return events


def tweet_record_ids(tweet):
    """The ids of the records a reader makes of one tweet object (SPEC section 1 and
    2): the tweet's own id, then the retweeted original's, if any."""
    def ident(t):
        return t.get("id_str") or str(t["id"])
    ids = [ident(tweet)]
    if isinstance(tweet.get("retweeted_status"), dict):
        ids.append(ident(tweet["retweeted_status"]))
    return ids


def jsonl_record_ids(path):
    """The record ids of a .jsonl file of tweets, in order, retweeted originals
    included as records of their own."""
    import json
    ids = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                ids.extend(tweet_record_ids(json.loads(line)))
    return ids


_STATS = re.compile(r"([^\s=\[\]]+)=(\d+)")


def reader_stats(log_text, label="final stats"):
    """The counters of the last rtp-reader stats line with that label ("stats" or
    "final stats") as a dict of ints (malformed classes included by name), or None."""
    last = None
    for line in log_text.splitlines():
        if f"] {label} " in line:
            last = line
    if last is None:
        return None
    return {k: int(v) for k, v in _STATS.findall(last.split(f"] {label} ", 1)[1])}


def children(ppid, exe):
    """The live children of ppid running exe, as `pgrep -P ppid -x exe` lists them
    (tests signal only processes they started, or children of those)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state, parent = stat[stat.rindex(")") + 2:].split()[:2]
        if int(parent) == ppid and comm == exe[:15] and state not in ("Z", "X"):
            found.append(int(entry))
    return sorted(found)
