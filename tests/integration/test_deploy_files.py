"""The deployment files against the code they run: docker-compose.yml (and the
deploy/compose.supervise.yml override), deploy/swarm-stack.yml, deploy/k8s/,
deploy/systemd/ and deploy/Dockerfile.

- The compose and swarm files are read by `docker-compose config` (Debian's
  docker-compose, installed by scripts/deps.sh), which validates them and resolves
  anchors, variables and overrides; the Kubernetes files are parsed as YAML with the
  python3-yaml that docker-compose itself runs on (the test stays standard library).
- Every rtp actor of every file is turned into what it runs (executable, flags,
  environment), and checked against docs/settings.md (which test_docs keeps equal to
  the executables' --help): known executables, flags and variable names, shared
  settings that mean the same to every reader, endpoints that pair up (each connect
  names the service and port where the matching socket is bound).
- Then each deployment's wiring is run for real, locally: the same executables with
  the same flags and environment (through deploy/entrypoint.sh for the containers),
  hosts mapped to 127.0.0.1 and ports to free ones, against a private redis-server
  and the stand-in rtp-server; every Redis row is then checked exactly (rtpcheck).
- The systemd units are checked with `systemd-analyze verify` when it is installed.
"""

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import rtpcheck
import rtpredis
import rtptest
from rtptest import check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
SYSTEMD = os.path.join(DEPLOY, "systemd")

COMPOSE_SERVICES = {"rtp-server", "redis", "broker", "reader-1", "reader-2", "hashtags", "aggregator", "batcher",
                    "censor", "sentiment", "engagement"}
WORKER_SERVICES = {"censor", "sentiment", "engagement"}
POOLS = ("censor", "sentiment", "engagement")
# Variables the image's entrypoint reads (not settings of an executable).
ENTRYPOINT_VARS = {"REDIS_PASSWORD_FILE"}
# Settings that name one process: never in a file every process reads.
PER_PROCESS = {"RTP_NAME", "RTP_SUPERVISOR_NAME", "RTP_READER_NAME", "RTP_READER_URL"}
# (connecting executable, flag) -> (binding executable, flag): the sockets that pair up.
PAIRS = {
    ("rtp-reader", "broker"): ("rtp-broker", "readers"),
    ("rtp-censor", "broker"): ("rtp-broker", "workers"),
    ("rtp-sentiment", "broker"): ("rtp-broker", "workers"),
    ("rtp-engagement", "broker"): ("rtp-broker", "workers"),
    ("rtp supervise", "workers"): ("rtp-broker", "workers"),
    ("rtp supervise", "control"): ("rtp-broker", "control"),
    ("rtp-aggregator", "results"): ("rtp-broker", "results"),
    ("rtp-hashtags", "broker-pub"): ("rtp-broker", "hashtags"),
    ("rtp-batcher", "aggregator"): ("rtp-aggregator", "bind"),
    ("rtp-batcher", "broker"): ("rtp-broker", "readers"),   # acknowledgements for the readers
}
ENDPOINT = re.compile(r"\b(tcp|http|redis)://((?:[^@/\s]*@)?)(\*|\[[^\]]*\]|[^:/\s*]+):(\d+)")

counts = {}


def _count(what, n=1):
    counts[what] = counts.get(what, 0) + n


atexit.register(lambda: print("counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))


# ---- what the executables accept (docs/settings.md) ----------------------------


def _settings():
    """{'rtp-broker': {flag: (env, default)}, 'rtp supervise': {...}, ...}"""
    with open(os.path.join(ROOT, "docs", "settings.md"), encoding="utf-8") as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"^## (.+?)\n\n```\n(.*?)^```", text, re.M | re.S):
        flags = {}
        for fm in re.finditer(r"^  --(\S+)[^\n]*\n        [^\n]*?\(env ([A-Z0-9_]+); default: (.*)\)$", m.group(2),
                              re.M):
            flags[fm.group(1)] = (fm.group(2), fm.group(3))
        for extra in ("help", "version"):
            flags.setdefault(extra, (None, None))
        out[m.group(1)] = flags
    check(len(out) >= 10 and "rtp-broker" in out and "rtp supervise" in out,
          f"docs/settings.md lists the executables' settings (found {sorted(out)})")
    return out


SETTINGS = _settings()


def _env_names(exe):
    return {env: flag for flag, (env, _) in SETTINGS[exe].items() if env}


def _shared_conflicts(names, readers=None):
    """The names among `names` that would mean different things to different
    executables if one file gave them to all (defaults differ, or an endpoint that is
    bound by one and connected by another, or the name of one process)."""
    bad = {}
    for name in names:
        if name in PER_PROCESS:
            bad[name] = "names one process"
            continue
        defaults = {}
        for exe, flags in SETTINGS.items():
            if exe == "rtp up" or (readers is not None and exe not in readers):
                continue
            for flag, (env, default) in flags.items():
                if env == name:
                    defaults[exe] = default
        if len(set(defaults.values())) > 1:
            bad[name] = f"defaults differ: {defaults}"
        elif len(defaults) > 1 and any(d.startswith(("tcp://", "ipc://")) for d in defaults.values()):
            bad[name] = f"an endpoint of several executables: {sorted(defaults)}"
    return bad


# ---- YAML through the python3-yaml docker-compose runs on ------------------------


def _compose_exe():
    exe = shutil.which("docker-compose")
    check(exe is not None, "docker-compose is not installed: run scripts/deps.sh (Debian package docker-compose)")
    return exe


def _yaml_python():
    with open(_compose_exe(), "rb") as f:
        first = f.readline().decode("utf-8", "replace")
    argv = first[2:].split() if first.startswith("#!") else []
    if argv and os.path.basename(argv[0]) == "env":
        argv = [shutil.which(argv[1]) or argv[1]]
    python = argv[0] if argv and "python" in os.path.basename(argv[0]) else "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import yaml"], capture_output=True, text=True, timeout=60)
    check(probe.returncode == 0, f"{python} cannot import yaml: install python3-yaml (scripts/deps.sh)")
    return python


def _yaml_docs(text):
    """Every document of a YAML text, as JSON-like Python values."""
    code = ("import json, sys, yaml\n"
            "json.dump([d for d in yaml.safe_load_all(sys.stdin) if d is not None], sys.stdout)\n")
    r = subprocess.run([_yaml_python(), "-c", code], input=text, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"YAML parse failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def _compose_config(files, variables):
    """`docker-compose -f F... config` with only `variables` set (no .env, no RTP_*
    from the caller's shell), parsed. Returns (returncode, config or stderr)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RTP_", "REDIS_", "COMPOSE_", "DOCKER_"))}
    env.update(variables)
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        argv = [_compose_exe(), "--env-file", empty.name]
        for f in files:
            argv += ["-f", f]
        r = subprocess.run(argv + ["config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return r.returncode, r.stderr
    return 0, _yaml_docs(r.stdout)[0]


# ---- actors: what each deployment runs ------------------------------------------


class Actor:
    """One rtp process as a deployment file runs it: exe is a docs/settings.md
    section title ("rtp-broker", "rtp supervise"), argv the flags after it."""

    def __init__(self, where, name, exe, argv, env, replicas=1, container=True):
        self.where, self.name, self.exe, self.argv, self.env = where, name, exe, list(argv), dict(env)
        self.replicas, self.container = replicas, container

    def label(self):
        return f"{self.where}: {self.name}"

    def flags(self):
        """{flag: value} given on the command line."""
        out, args = {}, list(self.argv)
        while args:
            a = args.pop(0)
            check(a.startswith("--"), f"{self.label()}: argument {a!r} is not a flag")
            if "=" in a:
                k, v = a[2:].split("=", 1)
            elif args and not args[0].startswith("--"):
                k, v = a[2:], args.pop(0)
            else:
                k, v = a[2:], "true"
            out[k] = v
        return out

    def effective(self):
        """{flag: value} the process ends up with: flag, else env, else default."""
        out = {}
        for flag, (env, default) in SETTINGS[self.exe].items():
            if env and env in self.env:
                out[flag] = self.env[env]
            elif default not in (None, "unset"):
                out[flag] = default
        out.update(self.flags())
        return out

    def command(self):
        """The argv to start (executable file name first)."""
        if self.exe.startswith("rtp "):
            return ["rtp", self.exe.split()[1], *self.argv]
        return [self.exe, *self.argv]


def _split_exe(argv, where):
    check(argv, f"{where}: no command")
    if argv[0] == "rtp":
        check(len(argv) > 1, f"{where}: rtp without a command")
        return f"rtp {argv[1]}", argv[2:]
    return argv[0], argv[1:]


def _unescape(value):
    return str(value).replace("$$", "$")


def _compose_actors(where, cfg, image=None):
    """The rtp actors of a `docker-compose config` result: the services built from
    deploy/Dockerfile, or (a swarm stack) running `image`."""
    actors = []
    for name, svc in sorted(cfg["services"].items()):
        build = svc.get("build") or {}
        ours = (isinstance(build, dict) and str(build.get("dockerfile", "")).endswith("deploy/Dockerfile")) or \
            (image is not None and svc.get("image") == image)
        if not ours:
            continue
        command = svc.get("command")
        check(isinstance(command, list), f"{where}: {name}: the command is a list")
        exe, argv = _split_exe([_unescape(c) for c in command], f"{where}: {name}")
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        env = {k: _unescape(v if v is not None else "") for k, v in env.items()}
        replicas = svc.get("scale", (svc.get("deploy") or {}).get("replicas", 1))
        actors.append(Actor(where, name, exe, argv, env, replicas=replicas))
    return actors


def _check_actor(actor, allowed_extra=()):
    """The executable, its flags and its environment names exist."""
    check(actor.exe in SETTINGS, f"{actor.label()}: {actor.exe} is not an executable of docs/settings.md")
    known = _env_names(actor.exe)
    if actor.exe == "rtp supervise":   # it passes its environment on to the workers it starts
        for pool in POOLS:
            known.update(_env_names(f"rtp-{pool}"))
    for name in getattr(actor, "own_env", actor.env):
        check(name in known or name in allowed_extra,
              f"{actor.label()}: {name} is not a setting of {actor.exe} (docs/settings.md)")
        _count("environment names checked")
    for flag in actor.flags():
        check(flag in SETTINGS[actor.exe], f"{actor.label()}: {actor.exe} has no --{flag}")
        _count("flags checked")
    if actor.exe == "rtp supervise":
        # its workers inherit its environment: nothing there may mean another thing to them
        readers = {"rtp supervise", "rtp-censor", "rtp-sentiment", "rtp-engagement"}
        bad = _shared_conflicts(set(actor.env), readers)
        check(not bad, f"{actor.label()}: the workers would inherit these with another meaning: {bad}")
    _count("actors checked")


def _host_port(value, what):
    m = ENDPOINT.search(value or "")
    check(m is not None, f"{what}: {value!r} is not a tcp://, http:// or redis:// endpoint")
    return m.group(3), int(m.group(4))


def _check_pairs(actors, where, host_of, bind_hosts, other_services):
    """Each connecting socket names the host and port where its peer is bound.
    host_of(actor): the host name the others use for it (None: match any host);
    bind_hosts: the hosts a bind may use; other_services: {host: port} of the rest."""
    by_exe = {}
    for a in actors:
        by_exe.setdefault(a.exe, []).append(a)
    for a in actors:
        eff = a.effective()
        for (cexe, cflag), (bexe, bflag) in PAIRS.items():
            if a.exe != cexe:
                continue
            host, port = _host_port(eff.get(cflag), f"{a.label()} --{cflag}")
            peers = [b for b in by_exe.get(bexe, []) if host_of(b) in (None, host)]
            check(peers, f"{a.label()}: --{cflag} {eff.get(cflag)} names no {bexe} (hosts: "
                         f"{[host_of(b) for b in by_exe.get(bexe, [])]})")
            for b in peers:
                bhost, bport = _host_port(b.effective().get(bflag), f"{b.label()} --{bflag}")
                check(bhost in bind_hosts, f"{b.label()}: --{bflag} binds {bhost}, not one of {bind_hosts}")
                check(bport == port, f"{a.label()} connects --{cflag} to port {port}, {b.label()} binds "
                                     f"--{bflag} on {bport}")
            _count("endpoint pairs checked")
        for flag in ("url", "emotion-url", "redis-url"):
            value = eff.get(flag)
            if flag in SETTINGS[a.exe] and value and (flag != "redis-url" or a.exe in ("rtp-batcher", "rtp-hashtags")):
                host, port = _host_port(value, f"{a.label()} --{flag}")
                check(other_services.get(host) == port or None in other_services,
                      f"{a.label()}: --{flag} {value} names no service of {other_services}")
                _count("endpoint pairs checked")


def _compose_pairs(actors, cfg, where):
    others = {"rtp-server": 4000, "redis": 6379}
    for name in others:
        check(name in cfg["services"], f"{where}: a service {name}")
    _check_pairs(actors, where, lambda b: b.name, {"*", "0.0.0.0"}, others)


# ---- Dockerfile -----------------------------------------------------------------


def _dockerfile():
    with open(os.path.join(DEPLOY, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    joined = re.sub(r"\\\n", " ", text)
    stages = re.split(r"^FROM ", joined, flags=re.M)[1:]
    return text, ["FROM " + s for s in stages]


def test_dockerfile():
    text, stages = _dockerfile()
    check(len(stages) == 2, f"two stages, found {len(stages)}")
    build, runtime = stages
    check(build.startswith("FROM debian:12 AS build") and runtime.startswith("FROM debian:12 AS runtime"),
          "both stages are debian:12")
    for word in ("cmake --install", "CMAKE_BUILD_TYPE=RelWithDebInfo", "libzmq3-dev", "libczmq-dev",
                 "libcurl4-openssl-dev", "libcjson-dev", "libhiredis-dev"):
        check(word in build, f"the build stage has {word}")
    # what the build reads is copied: every add_subdirectory and the data
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        subdirs = re.findall(r"^add_subdirectory\((\w+)\)", f.read(), re.M)
    copied = set(re.findall(r"^COPY (\S+) ", build, re.M))
    for d in subdirs + ["data", "CMakeLists.txt"]:
        check(d in copied, f"the build stage copies {d}")
        check(os.path.exists(os.path.join(ROOT, d)), f"{d} exists")
    check("COPY --from=build" in runtime, "the runtime stage copies the installed files")
    check(not re.search(r"-dev\b|build-essential|cmake", runtime.split("COPY")[0]), "no -dev package at run time")
    apt = re.search(r"apt-get install[^&]*", runtime).group(0).split()
    for pkg in ("libzmq5", "libczmq4", "libcurl4", "libcjson1", "libhiredis0.14", "ca-certificates", "procps", "tini"):
        check(pkg in apt, f"the runtime stage installs {pkg}")
    user = re.search(r"^USER (\S+)", runtime, re.M)
    check(user and user.group(1).split(":")[0].isdigit() and user.group(1).split(":")[0] != "0",
          "a numeric non-root USER")
    check(not re.search(r"^(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN)", text, re.M | re.I), "no secret baked in")
    check("deploy/entrypoint.sh" in runtime and "rtp-entrypoint" in runtime, "the entrypoint is installed")
    # every library the built executables link is in the runtime stage's packages
    bin_dir = os.environ.get("RTP_BIN_DIR")
    if bin_dir and shutil.which("readelf") and shutil.which("dpkg"):
        libs = set()
        for exe in ("rtp", "rtp-broker", "rtp-reader", "rtp-censor", "rtp-batcher", "rtp-hashtags"):
            out = subprocess.run(["readelf", "-d", os.path.join(bin_dir, exe)], capture_output=True, text=True,
                                 timeout=60).stdout
            libs |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
        for lib in sorted(libs - {"libc.so.6", "libm.so.6"}):
            if lib.startswith(("libasan", "libubsan")):
                continue
            owner = subprocess.run(["dpkg", "-S", f"*/{lib}"], capture_output=True, text=True, timeout=60).stdout
            pkgs = {line.split(":")[0] for line in owner.splitlines() if line}
            check(pkgs & set(apt), f"{lib} (from {sorted(pkgs)}) is installed in the runtime stage")
            _count("linked libraries checked")
    else:
        print("  (readelf/dpkg or RTP_BIN_DIR missing: linked libraries not checked)")
    # the health checks' commands are in the image
    for path in ("docker-compose.yml", "deploy/swarm-stack.yml", "deploy/compose.supervise.yml"):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            if "pgrep" in f.read():
                check("procps" in apt, f"{path} uses pgrep: procps is in the image")
    _count("Dockerfile stages", len(stages))


def test_entrypoint():
    """The entrypoint puts a password file into REDIS_URL, refuses what it cannot
    encode, and names directly started workers after their host."""
    ep = os.path.join(DEPLOY, "entrypoint.sh")
    check(os.access(ep, os.X_OK), "deploy/entrypoint.sh is executable")
    with open(ep, encoding="utf-8") as f:
        text = f.read()
    for var in ENTRYPOINT_VARS:
        check(var in text, f"the entrypoint reads {var}")
    with tempfile.TemporaryDirectory() as d:
        pw = os.path.join(d, "pw")

        def run(password, url, *cmd, env=None):
            with open(pw, "w") as f:
                f.write(password)
            e = {"PATH": os.environ["PATH"], "REDIS_PASSWORD_FILE": pw, "HOSTNAME": "box7"}
            if url is not None:
                e["REDIS_URL"] = url
            e.update(env or {})
            return subprocess.run(["sh", ep, *cmd], capture_output=True, text=True, env=e, timeout=30)

        r = run("s3cr3t-pw\n", "redis://redis:6379/2", "sh", "-c", 'printf %s "$REDIS_URL"')
        check(r.returncode == 0 and r.stdout == "redis://:s3cr3t-pw@redis:6379/2", f"password inserted: {r}")
        r = run("pw", None, "sh", "-c", 'printf %s "$REDIS_URL"')
        check(r.stdout == "redis://:pw@127.0.0.1:6379", f"the default URL gets it too: {r.stdout!r}")
        for bad_pw, url in (("a@b", "redis://r:6379"), ("", "redis://r:6379"), ("pw", "redis://:x@r:6379"),
                            ("pw", "http://r:6379")):
            r = run(bad_pw, url, "true")
            check(r.returncode == 64 and "rtp-entrypoint" in r.stderr, f"refused: {bad_pw!r} {url!r} -> {r}")
            _count("entrypoint refusals")
        os.symlink("/bin/sh", os.path.join(d, "rtp-censor"))
        r = subprocess.run(["sh", ep, "rtp-censor", "-c", 'printf %s "$RTP_NAME"'], capture_output=True, text=True,
                           env={"PATH": d + ":" + os.environ["PATH"], "HOSTNAME": "box7"}, timeout=30)
        check(r.stdout == "censor-box7", f"a worker is named after its pool and host: {r.stdout!r}")
        r = subprocess.run(["sh", ep, "rtp-censor", "-c", 'printf %s "$RTP_NAME"'], capture_output=True, text=True,
                           env={"PATH": d + ":" + os.environ["PATH"], "RTP_NAME": "mine"}, timeout=30)
        check(r.stdout == "mine", "an RTP_NAME given is kept")


# ---- docker compose ---------------------------------------------------------------


def _compose(password="pw-for-the-test"):
    code, cfg = _compose_config(["docker-compose.yml"], {"REDIS_PASSWORD": password})
    check(code == 0, f"docker-compose config failed:\n{cfg}")
    return cfg


STATE_DIR = "/var/lib/rtp"   # the image's folder for what outlives a container (docs/durability.md)


def _check_state_volumes(label, cfg):
    """The readers' spools and the batcher's journal on named volumes at STATE_DIR."""
    services = cfg["services"]
    for name, var, sub in (("reader-1", "RTP_READER_SPOOL_DIR", "spool"), ("reader-2", "RTP_READER_SPOOL_DIR", "spool"),
                           ("batcher", "RTP_BATCHER_JOURNAL_DIR", "journal")):
        svc = services[name]
        check(svc["environment"].get(var) == f"{STATE_DIR}/{sub}", f"{label} {name}: {var} in {STATE_DIR}")
        vols = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in svc.get("volumes", [])]
        check(any(v.split(":")[0] in cfg.get("volumes", {}) and v.split(":")[1] == STATE_DIR for v in vols),
              f"{label} {name}: {STATE_DIR} on a named volume: {vols}")


def test_compose_file():
    cfg = _compose()
    services = cfg["services"]
    check(set(services) == COMPOSE_SERVICES, f"services: {sorted(services)}, expected {sorted(COMPOSE_SERVICES)}")
    check(services["rtp-server"]["image"] == "alexburlacu/rtp-server:faf18x", "the lab's rtp-server image")
    redis = services["redis"]
    check(str(redis["image"]).startswith("redis:7"), "redis:7")
    command = " ".join(redis["command"])
    check("--appendonly yes" in command, "Redis persists (appendonly yes)")
    check("--requirepass pw-for-the-test" in command, "Redis takes REDIS_PASSWORD")
    volumes = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in redis["volumes"]]
    check(any(v.split(":")[0] in cfg.get("volumes", {}) and v.split(":")[1] == "/data" for v in volumes),
          f"Redis data on a named volume: {volumes}")
    check("redis-cli ping" in " ".join(redis["healthcheck"]["test"]), "the Redis health check pings")
    actors = _compose_actors("compose", cfg)
    check({a.name for a in actors} == COMPOSE_SERVICES - {"rtp-server", "redis"}, "the rtp services")
    for a in actors:
        _check_actor(a)
        svc = services[a.name]
        check(svc.get("restart") in ("unless-stopped", "always", "on-failure"), f"{a.name}: a restart policy")
        test = svc.get("healthcheck", {}).get("test", [])
        check(test[1:] == ["pgrep", "-x", a.command()[0]], f"{a.name}: health check pgrep -x {a.command()[0]}: {test}")
        for dep, how in (svc.get("depends_on") or {}).items():
            check(dep in services, f"{a.name} depends on a service {dep}")
            check(how.get("condition") in ("service_started", "service_healthy"), f"{a.name}: a condition")
        check(svc["build"]["dockerfile"] == "deploy/Dockerfile", f"{a.name}: built from deploy/Dockerfile")
        if a.name in WORKER_SERVICES:
            check("container_name" not in svc, f"{a.name}: no fixed container_name, so --scale works")
            check(a.exe == f"rtp-{a.name}", f"{a.name} runs rtp-{a.name}")
        _count("compose services checked")
    eff = {a.name: a.effective() for a in actors}
    check(eff["sentiment"].get("emotion-url") == "http://rtp-server:4000/emotion_values", "sentiment reads the "
          "server's word list")
    check({eff["reader-1"]["url"], eff["reader-2"]["url"]} ==
          {"http://rtp-server:4000/tweets/1", "http://rtp-server:4000/tweets/2"}, "one reader per stream")
    check(float(eff["censor"]["work-mean-ms"]) == 20, "the censor pool has the lab's simulated work")
    for a in ("hashtags", "batcher"):
        check(eff[a]["redis-url"] == "redis://:pw-for-the-test@redis:6379/0", f"{a}: REDIS_URL with the password")
    for a in ("broker", "reader-1", "censor"):
        check(not any(k.startswith("RTP_SCALE_") for k in services[a]["environment"]), "pool managers off")
    # shutdown in flow order: a service stops before those it depends on
    deps = {n: set(s.get("depends_on") or {}) for n, s in services.items()}
    for later, first in (("broker", "reader-1"), ("broker", "reader-2"), ("censor", "broker"),
                         ("sentiment", "broker"), ("engagement", "broker"), ("aggregator", "broker"),
                         ("batcher", "aggregator"), ("redis", "batcher")):
        check(later in deps[first], f"{first} depends on {later}, so it stops first")
    _compose_pairs(actors, cfg, "compose")
    _check_state_volumes("compose", cfg)
    # no password baked in: without REDIS_PASSWORD there is none
    bare = _compose(password="")
    check(bare["services"]["batcher"]["environment"]["REDIS_URL"] == "redis://:@redis:6379/0", "no default password")
    print(f"  compose: {len(services)} services, {len(actors)} rtp services")


def test_compose_supervise_override():
    code, cfg = _compose_config(["docker-compose.yml", "deploy/compose.supervise.yml"], {})
    check(code == 0, f"docker-compose config with the override failed:\n{cfg}")
    services = cfg["services"]
    check(set(services) == COMPOSE_SERVICES | {"supervisor"}, f"services: {sorted(services)}")
    for pool in WORKER_SERVICES:
        check(services[pool].get("scale") == 0, f"{pool}: the plain worker service is off")
    actors = _compose_actors("compose+supervise", cfg)
    for a in actors:
        _check_actor(a)
    sup = [a for a in actors if a.name == "supervisor"]
    check(len(sup) == 1 and sup[0].exe == "rtp supervise", "a supervisor service runs rtp supervise")
    check("capacity" in sup[0].flags(), "its capacity is a flag")
    broker = [a for a in actors if a.name == "broker"][0].effective()
    for pool in POOLS:
        check(broker.get(f"scale-{pool}"), f"the broker manages the {pool} pool")
    check("supervisor" in services["broker"]["depends_on"], "the broker stops before the supervisors")
    _compose_pairs(actors, cfg, "compose+supervise")
    _count("override services checked", len(actors))


# ---- swarm ---------------------------------------------------------------------------


SWARM_IMAGE = "reg.example/rtp:1"


def _swarm():
    code, cfg = _compose_config(["deploy/swarm-stack.yml"], {"RTP_IMAGE": SWARM_IMAGE})
    check(code == 0, f"docker-compose config deploy/swarm-stack.yml failed:\n{cfg}")
    return cfg


def test_swarm_stack():
    code, err = _compose_config(["deploy/swarm-stack.yml"], {})
    check(code != 0 and "RTP_IMAGE" in err, "the stack needs RTP_IMAGE (no image to guess on other nodes)")
    cfg = _swarm()
    services = cfg["services"]
    check(set(services) == COMPOSE_SERVICES, f"the compose services: {sorted(services)}")
    secrets = cfg.get("secrets", {})
    check(secrets.get("redis_password", {}).get("external") is True, "the Redis password is an external secret")
    check("redis_password" in str(services["redis"].get("secrets")), "Redis reads the secret")
    check("--appendonly yes" in " ".join(services["redis"]["command"]), "Redis persists")
    actors = _compose_actors("swarm", cfg, SWARM_IMAGE)
    check(len(actors) == len(COMPOSE_SERVICES) - 2, f"the rtp services: {[a.name for a in actors]}")
    for a in actors:
        _check_actor(a, ENTRYPOINT_VARS)
        svc = services[a.name]
        check(svc["image"] == SWARM_IMAGE, f"{a.name}: the RTP_IMAGE")
        check("container_name" not in svc, f"{a.name}: no container_name")
        deploy = svc.get("deploy", {})
        check(deploy.get("replicas", 0) >= 1, f"{a.name}: replicas")
        check(deploy.get("restart_policy", {}).get("condition") in ("any", "on-failure"), f"{a.name}: restarts")
        if "REDIS_URL" in a.env:
            check(a.env.get("REDIS_PASSWORD_FILE") == "/run/secrets/redis_password", f"{a.name}: the password file")
            check("redis_password" in str(svc.get("secrets")), f"{a.name}: gets the secret")
            check("@" not in a.env["REDIS_URL"], f"{a.name}: no password in the stack file")
        _count("swarm services checked")
    for name in ("broker", "aggregator"):
        check(services[name]["deploy"].get("endpoint_mode") == "dnsrr", f"{name}: reached by DNS round robin")
    _compose_pairs(actors, cfg, "swarm")
    _check_state_volumes("swarm", cfg)
    for name in ("reader-1", "reader-2", "batcher"):
        check("node.labels.rtp.state == true" in services[name]["deploy"]["placement"]["constraints"],
              f"swarm {name}: on the node that keeps its volume")


# ---- Kubernetes -------------------------------------------------------------------------


def _k8s():
    docs = {}
    for fname in sorted(os.listdir(K8S)):
        if fname.endswith(".yaml"):
            with open(os.path.join(K8S, fname), encoding="utf-8") as f:
                docs[fname] = _yaml_docs(f.read())
    return docs


def _k8s_actors(docs):
    objects = [d for fname, ds in docs.items() if fname != "kustomization.yaml" and "example" not in fname for d in ds]
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in objects if d["kind"] == "ConfigMap"}
    actors = []
    for d in objects:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            if c["image"].split(":")[0] != "rtp":
                continue
            check("command" not in c, f"{d['metadata']['name']}: args only, so the image's entrypoint runs")
            env = {}
            for ref in c.get("envFrom", []):
                name = ref["configMapRef"]["name"]
                check(name in configmaps, f"{d['metadata']['name']}: ConfigMap {name} exists")
                env.update(configmaps[name])
            own = []
            for e in c.get("env", []):
                check("value" in e, f"{d['metadata']['name']}: {e['name']} has a plain value")
                env[e["name"]] = str(e["value"])
                own.append(e["name"])
            exe, argv = _split_exe(c["args"], f"k8s: {d['metadata']['name']}")
            a = Actor("k8s", d["metadata"]["name"], exe, argv, env, replicas=d["spec"].get("replicas", 1))
            a.pod, a.workload, a.container_spec = pod, d, c
            a.own_env = own   # the ConfigMap's names are checked once, for every pod
            actors.append(a)
    return objects, configmaps, actors


def test_kubernetes():
    docs = _k8s()
    with open(os.path.join(K8S, "kustomization.yaml"), encoding="utf-8") as f:
        kust = _yaml_docs(f.read())[0]
    listed = set(kust["resources"])
    files = {f for f in docs if f != "kustomization.yaml" and "example" not in f}
    check(listed == files, f"kustomization.yaml lists every manifest: {sorted(listed ^ files)}")
    objects, configmaps, actors = _k8s_actors(docs)
    kinds = {}
    for d in objects:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        check(d["metadata"].get("namespace", "rtp") == "rtp", f"{d['metadata']['name']}: namespace rtp")
    names = {a.name for a in actors}
    check(names == COMPOSE_SERVICES - {"rtp-server", "redis"}, f"the rtp Deployments: {sorted(names)}")
    # the Secret: its shape in the example, referenced by name and key
    example = [d for d in docs["redis-secret.example.yaml"] if d["kind"] == "Secret"][0]
    secret, key = example["metadata"]["name"], list(example["stringData"])[0]
    uid_text = re.search(r"^USER (\d+)", _dockerfile()[0], re.M).group(1)
    for name, data in configmaps.items():
        bad = _shared_conflicts([k for k in data if k in {e for x in SETTINGS for e in _env_names(x)}])
        check(not bad, f"ConfigMap {name} gives every pod names that differ between executables: {bad}")
        for k in data:
            check(any(k in _env_names(x) for x in SETTINGS), f"ConfigMap {name}: {k} is a setting")
            _count("ConfigMap settings checked")
    for a in actors:
        _check_actor(a, ENTRYPOINT_VARS)
        sc = a.pod.get("securityContext", {})
        check(sc.get("runAsNonRoot") is True and str(sc.get("runAsUser")) == uid_text,
              f"{a.name}: runs as the image's user {uid_text}")
        check(a.pod.get("enableServiceLinks") is False, f"{a.name}: no service-link variables")
        probe = a.container_spec.get("livenessProbe", {}).get("exec", {}).get("command", [])
        check(probe == ["pgrep", "-x", a.command()[0]], f"{a.name}: liveness pgrep -x {a.command()[0]}")
        if "REDIS_URL" in a.env:
            path = a.env.get("REDIS_PASSWORD_FILE", "")
            mounts = {m["name"]: m["mountPath"] for m in a.container_spec.get("volumeMounts", [])}
            vols = {v["name"]: v.get("secret", {}).get("secretName") for v in a.pod.get("volumes", [])}
            check(any(os.path.join(mounts[n], key) == path and vols.get(n) == secret for n in mounts if n in vols),
                  f"{a.name}: REDIS_PASSWORD_FILE {path} is key {key} of Secret {secret}")
        if a.name in ("broker", "aggregator", "batcher", "hashtags") or a.name.startswith("reader-"):
            check(a.replicas == 1, f"{a.name}: one replica")
        else:
            check(a.replicas >= 1, f"{a.name}: replicas")
        _count("k8s workloads checked")
    # Services select a workload and reach ports its containers declare
    workloads = [d for d in objects if d["kind"] in ("Deployment", "StatefulSet")]
    services = {}
    for s in (d for d in objects if d["kind"] == "Service"):
        sel = s["spec"]["selector"]
        hits = [w for w in workloads if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                                            for k, v in sel.items())]
        check(len(hits) == 1, f"Service {s['metadata']['name']} selects one workload: {len(hits)}")
        declared = {p["containerPort"] for c in hits[0]["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            check(p["targetPort"] == p["port"] and p["port"] in declared,
                  f"Service {s['metadata']['name']}: port {p['port']} is declared by its pods")
        services[s["metadata"]["name"]] = {p["port"] for p in s["spec"]["ports"]}
        _count("k8s Services checked")
    for w in workloads:
        check(w["spec"]["selector"]["matchLabels"].items() <= w["spec"]["template"]["metadata"]["labels"].items(),
              f"{w['metadata']['name']}: the selector matches its pods")
    for a in actors:
        for value in list(a.env.values()) + a.argv:
            for m in ENDPOINT.finditer(value):
                if m.group(3) != "*":
                    check(int(m.group(4)) in services.get(m.group(3), ()),
                          f"{a.name}: {m.group(0)} is a port of Service {m.group(3)}")
    # Redis: persistent, password from the Secret
    redis = [w for w in workloads if w["metadata"]["name"] == "redis"][0]
    check(redis["kind"] == "StatefulSet" and redis["spec"].get("volumeClaimTemplates"), "Redis keeps a PVC")
    claims = {d["metadata"]["name"] for d in objects if d["kind"] == "PersistentVolumeClaim"}
    for a in actors:
        var = {"rtp-reader": "RTP_READER_SPOOL_DIR", "rtp-batcher": "RTP_BATCHER_JOURNAL_DIR"}.get(a.exe)
        if var:
            mounts = {m["name"]: m["mountPath"] for m in a.container_spec.get("volumeMounts", [])}
            vols = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in a.pod.get("volumes", [])}
            check(a.env.get(var, "").startswith(STATE_DIR + "/"), f"k8s {a.name}: {var} in {STATE_DIR}")
            check(any(mounts[n] == STATE_DIR and vols.get(n) in claims for n in mounts),
                  f"k8s {a.name}: {STATE_DIR} on a PersistentVolumeClaim")
            check(a.workload["spec"].get("strategy", {}).get("type") == "Recreate",
                  f"k8s {a.name}: Recreate (one pod at a time on its volume)")
    c = redis["spec"]["template"]["spec"]["containers"][0]
    check("--appendonly yes" in " ".join(c["args"]) and "$(REDIS_PASSWORD)" in c["args"], "Redis: AOF and password")
    env = {e["name"]: e for e in c["env"]}
    check(env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}, "from the Secret")
    _check_pairs(actors, "k8s", lambda b: b.name, {"*", "0.0.0.0"}, {"rtp-server": 4000, "redis": 6379})
    print(f"  k8s: {kinds}")


# ---- systemd ------------------------------------------------------------------------------


def _env_file(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k] = v
    return out


def _unit_files():
    return sorted(f for f in os.listdir(SYSTEMD) if f.endswith(".service"))


def _instances(unit):
    if unit == "rtp-reader@.service":
        return ["1", "2"]
    if unit == "rtp-worker@.service":
        return list(POOLS)
    return [None]


def _unit(unit, instance, etc=SYSTEMD):
    """(sections, env, argv) of one unit (instance), with /etc/rtp/X read from etc."""
    with open(os.path.join(SYSTEMD, unit), encoding="utf-8") as f:
        text = f.read()
    full = unit.replace("@.", f"@{instance}.") if instance else unit
    spec = {"%i": instance or "", "%H": "testhost", "%N": full[:-len(".service")], "%%": "%"}

    def specifiers(s):
        return re.sub(r"%[iHN%]", lambda m: spec[m.group(0)], s)

    sections, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            cur = sections.setdefault(line.strip("[]"), [])
            continue
        k, v = line.split("=", 1)
        cur.append((k, specifiers(v)))
    svc = sections["Service"]
    env = {}
    for k, v in svc:
        if k == "Environment":
            for item in shlex.split(v):
                ek, ev = item.split("=", 1)
                env[ek] = ev
    for k, v in svc:   # files override Environment=, in their order
        if k == "EnvironmentFile":
            optional = v.startswith("-")
            path = v.lstrip("-")
            check(path.startswith("/etc/rtp/"), f"{full}: env files in /etc/rtp: {path}")
            local = os.path.join(etc, path[len("/etc/rtp/"):])
            if os.path.exists(local):
                env.update(_env_file(local))
            else:
                check(optional, f"{full}: {path} is shipped as deploy/systemd/{os.path.basename(path)}")
    exec_start = [v for k, v in svc if k == "ExecStart"]
    check(len(exec_start) == 1, f"{full}: one ExecStart")
    used = set(re.findall(r"\$\{(\w+)\}", exec_start[0]))
    for var in used:
        check(var in env, f"{full}: ${{{var}}} is set (Environment= or /etc/rtp/rtp.env)")
    argv = shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), exec_start[0]))
    return sections, env, argv, used


def _systemd_actors(etc=SYSTEMD):
    actors, helpers = [], set()
    for unit in _unit_files():
        for inst in _instances(unit):
            sections, env, argv, used = _unit(unit, inst, etc)
            helpers |= used
            check(argv[0].startswith("/usr/local/bin/"), f"{unit}: runs an installed executable: {argv[0]}")
            exe, rest = _split_exe([os.path.basename(argv[0])] + argv[1:], unit)
            name = unit.replace("@.", f"@{inst}.") if inst else unit
            a = Actor("systemd", name, exe, rest, env, container=False)
            a.sections = sections
            actors.append(a)
    return actors, helpers


def test_systemd_units():
    actors, helpers = _systemd_actors()
    units = _unit_files()
    expected = {"rtp-broker.service", "rtp-worker@.service", "rtp-supervise.service", "rtp-reader@.service",
                "rtp-aggregator.service", "rtp-batcher.service", "rtp-hashtags.service"}
    check(set(units) == expected, f"units: {units}")
    with open(os.path.join(SYSTEMD, "rtp.sysusers"), encoding="utf-8") as f:
        sysuser = re.search(r"^u (\S+)", f.read(), re.M).group(1)
    shared = _env_file(os.path.join(SYSTEMD, "rtp.env"))
    all_env_names = {e for x in SETTINGS for e in _env_names(x)}
    for k in shared:
        check(k in all_env_names or (k in helpers and not k.startswith(("RTP_", "REDIS_"))),
              f"rtp.env: {k} is a setting, or a name the units' command lines use")
    bad = _shared_conflicts([k for k in shared if k in all_env_names])
    check(not bad, f"rtp.env gives every unit names that differ between executables: {bad}")
    for a in actors:
        svc = dict(a.sections["Service"])
        check(svc.get("User") == sysuser, f"{a.name}: runs as the dedicated user {sysuser}")
        check(svc.get("Restart") == "on-failure", f"{a.name}: Restart=on-failure")
        check("/etc/rtp/rtp.env" in [v for k, v in a.sections["Service"] if k == "EnvironmentFile"],
              f"{a.name}: EnvironmentFile=/etc/rtp/rtp.env")
        # the names this unit sets for itself (Environment=, /etc/rtp/UNIT.env) are its settings
        own = {k: v for k, v in a.env.items() if k not in shared and k not in helpers}
        _check_actor(Actor(a.where, a.name, a.exe, a.argv, own))
        _count("systemd units checked")
    # per-unit env files belong to a unit
    for f in os.listdir(SYSTEMD):
        if f.endswith(".env") and f != "rtp.env":
            check(any(a.name == f[:-4] + ".service" for a in actors), f"{f} is read by the unit {f[:-4]}.service")
    check({a.exe for a in actors} >= {"rtp-broker", "rtp supervise", "rtp-reader", "rtp-censor", "rtp-sentiment",
                                      "rtp-engagement", "rtp-aggregator", "rtp-batcher", "rtp-hashtags"},
          "every actor has a unit")
    _check_pairs(actors, "systemd", lambda b: None, {shared["BIND_ADDRESS"]}, {None: None})
    hosts = {"BROKER_HOST", "AGGREGATOR_HOST", "TWEET_SERVER", "BIND_ADDRESS"}
    check(hosts <= set(shared), f"rtp.env sets {sorted(hosts)}")
    _systemd_verify()


def _systemd_verify():
    tool = shutil.which("systemd-analyze")
    bin_dir = os.environ.get("RTP_BIN_DIR")
    if not tool or not bin_dir:
        print("  (systemd-analyze or RTP_BIN_DIR missing: systemd-analyze verify skipped)")
        return
    with tempfile.TemporaryDirectory() as d:
        names = []
        for unit in _unit_files():
            with open(os.path.join(SYSTEMD, unit), encoding="utf-8") as f:
                text = f.read().replace("/usr/local/bin/", os.path.abspath(bin_dir) + "/")
            text = text.replace("/etc/rtp/", d + "/")
            for inst in _instances(unit):
                name = unit.replace("@.", f"@{inst}.") if inst else unit
                with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                    f.write(text)
                names.append(name)
        shutil.copy(os.path.join(SYSTEMD, "rtp.env"), d)
        r = subprocess.run([tool, "verify", *names], cwd=d, capture_output=True, text=True, timeout=120)
        ours = [line for line in (r.stdout + r.stderr).splitlines()
                if any(n in line for n in names) or d in line]
        check(r.returncode == 0 and not ours, f"systemd-analyze verify: rc {r.returncode}\n" + "\n".join(ours))
        _count("units verified by systemd-analyze", len(names))


# ---- the wiring, run -----------------------------------------------------------------------

EXPECTED = None


def _text(p, stdout=False):
    """A process's stdout or stderr ("" if its folder is gone)."""
    try:
        return p.stdout_text() if stdout else p.stderr_text()
    except OSError:
        return ""


def _tail(p, n):
    return _text(p)[-n:] or "(no log)"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(label, actors, password, password_file_paths=(), max_replicas=3, timeout=180):
    """Runs the actors locally (each replica a process, hosts -> 127.0.0.1, ports ->
    free ones) until every bundled tweet is stored, stops them in flow order, and
    checks every Redis row."""
    global EXPECTED
    if EXPECTED is None:
        EXPECTED = rtpcheck.expected_from_files()
    bin_dir = os.path.abspath(os.environ.get("RTP_BIN_DIR", os.path.join(ROOT, "build", "bin")))
    check(os.path.exists(os.path.join(bin_dir, "rtp-broker")), f"built executables in {bin_dir}")
    for k in [k for k in os.environ if (k.startswith("RTP_") and k not in ("RTP_BIN_DIR", "RTP_TEST_BIN_DIR",
                                                                            "RTP_DATA_DIR", "RTP_TEST_KEEP"))
              or k.startswith("REDIS_")]:
        del os.environ[k]
    tmp = tempfile.mkdtemp(prefix="rtp-deploy-")
    pw_file = os.path.join(tmp, "password")
    with open(pw_file, "w") as f:
        f.write(password or "")
    procs = []
    with rtpredis.RedisServer(password=password or None) as redis:
        replay = rtptest.start_replay("--loops", "1", "--rate", "2000", "--burst", "false", "--panic-rate", "0")
        ports = {4000: replay.port, 6379: redis.port}

        def local(value):
            def sub(m):
                port = int(m.group(4))
                if port not in ports:
                    ports[port] = _free_port()
                return f"{m.group(1)}://{m.group(2)}127.0.0.1:{ports[port]}"
            value = ENDPOINT.sub(sub, value)
            # the containers' state volume: a folder of this run
            value = value.replace(STATE_DIR, os.path.join(tmp, "state"))
            return pw_file if value in password_file_paths else value

        order = {"rtp-batcher": 0, "rtp-aggregator": 1, "rtp-hashtags": 2, "rtp-censor": 3, "rtp-sentiment": 3,
                 "rtp-engagement": 3, "rtp supervise": 3, "rtp-broker": 4, "rtp-reader": 5}
        try:
            for a in sorted(actors, key=lambda x: order[x.exe]):
                argv = [local(x) for x in a.command()]
                env = {k: local(v) for k, v in a.env.items()}
                for i in range(max(0, min(a.replicas, max_replicas))):
                    if a.container:   # as the image runs it: through the entrypoint, by PATH
                        env["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
                        env["HOSTNAME"] = f"{a.name}-{i}"
                        p = rtptest.Proc("entrypoint.sh", argv, env=env, bin_dir=DEPLOY)
                    else:
                        p = rtptest.Proc(argv[0], argv[1:], env=env, bin_dir=bin_dir)
                    p.name, p.exe = f"{label}:{a.name}#{i}", a.exe
                    procs.append(p)
            with redis.client() as c:
                deadline = rtptest.Deadline(timeout)
                stored = 0
                while stored < len(EXPECTED) or not c.command("EXISTS", "hashtags:window"):
                    dead = [p for p in procs if not p.alive()]
                    check(not dead, f"{label}: exited early: " + "; ".join(
                        f"{p.name} ({p.popen.returncode}): {_tail(p, 1500)}" for p in dead))
                    if deadline.expired():
                        raise AssertionError(f"{label}: {stored} of {len(EXPECTED)} tweets stored after {timeout} s; "
                                             + " | ".join(f"{p.name}: {_tail(p, 600)}" for p in procs))
                    time.sleep(0.2)
                    stored = c.command("ZCARD", "tweets")
            took = deadline.seconds - deadline.remaining()
            # stop in flow order, each stage at once (SIGTERM to all, then wait)
            for stage in (["rtp-reader"], ["rtp-broker"], ["rtp-censor", "rtp-sentiment", "rtp-engagement",
                                                            "rtp supervise"],
                          ["rtp-aggregator"], ["rtp-batcher"], ["rtp-hashtags"]):
                group = [p for p in procs if p.exe in stage]
                for p in group:
                    p.signal(signal.SIGTERM)
                for p in group:
                    code = p.stop(timeout=30)
                    check(code == 0, f"{p.name} exits 0 on SIGTERM, got {code}: {_tail(p, 1500)}")
            with redis.client() as c:
                report = rtpcheck.check_redis(c, EXPECTED)
            for problem in report.problems[:20]:
                print("  problem:", problem)
            check(not report.problems, f"{label}: {len(report.problems)} problems in Redis")
            printed = sum(_text(p, stdout=True).count("\n") for p in procs if p.exe == "rtp-censor")
            print(f"  {label}: {len(procs)} processes, {len(EXPECTED)} tweets stored and checked in {took:.1f} s "
                  f"({report.summary()}); censor workers printed {printed} lines")
            _count("wirings run")
            return procs
        finally:
            for p in procs:
                p.stop(timeout=5)
            replay.stop()
            shutil.rmtree(tmp, ignore_errors=True)


def test_compose_wiring_runs():
    """docker-compose.yml's rtp services, as configured, store every tweet exactly
    (two censor replicas, as after --scale censor=2)."""
    actors = _compose_actors("compose", _compose("pw-run"))
    for a in actors:
        if a.name == "censor":
            a.replicas = 2
    procs = _run("compose", actors, "pw-run")
    check(any(p.exe == "rtp-censor" and _text(p, stdout=True) for p in procs), "the censor workers printed tweets")


def test_swarm_wiring_runs():
    """The stack's services, with the password as a secret file, through the entrypoint."""
    _run("swarm", _compose_actors("swarm", _swarm(), SWARM_IMAGE), "pw-swarm", ("/run/secrets/redis_password",))


def test_kubernetes_wiring_runs():
    _, _, actors = _k8s_actors(_k8s())
    files = {a.env["REDIS_PASSWORD_FILE"] for a in actors if "REDIS_PASSWORD_FILE" in a.env}
    _run("k8s", actors, "pw-k8s", files)


def test_systemd_wiring_runs():
    """The units as installed with the shipped /etc/rtp files: the broker managing the
    pools through rtp-supervise, plus one rtp-worker@ unit per pool."""
    actors, _ = _systemd_actors()
    procs = _run("systemd", actors, None)
    sup = [p for p in procs if p.exe == "rtp supervise"]
    check(sup and re.search(r"started rtp-(censor|sentiment|engagement)", _text(sup[0])),
          "rtp supervise started workers for the broker")


if __name__ == "__main__":
    rtptest.main(globals())
