#!/usr/bin/env python3
"""What a new row costs Redis, standalone: redis-server's CPU time per row (from /proc)
for the batch script of common/store.c and for the floor it is compared with, on a
private redis-server with the append-only file as docker-compose.yml runs it.

    python3 tests/bench/redis_rows.py [--variants storec,store,plain2] [--rev REV ...]
                                      [--rows 40000] [--runs 3] [--aof yes|no]
                                      [--new-users] [--perf FILE] [--bin DIR] [--batch 500]

The rows are re-numbered copies of the bundled tweets (data/), in batches of 500 with
4 batches in flight. Variants: `storec`, common/store.c itself (its fast path of
plain commands, the script when a batch needs it), driven by the helper program
tests/helpers/store_rows.c (built in --bin, default build/tests) with the batcher's
pipeline (RTP_STORE_PIPELINE batches in flight); `store`, the batch script of
common/store.c in this checkout (or `store@REV` for each --rev, read with git show);
`storescript`, common/store.c through store_rows with its fast path off (the script
for every batch, as the batcher wrote before the fast path);
`plain`, the same writes as plain commands in MULTI/EXEC with no reads and no script,
one ZADD and SADD per row; `plain2`, the same with one variadic ZADD tweets, one
variadic SADD per user and one ZADD users:engagement per batch (the floor of the fast
path: its writes without its reads); `luawrites`, the same writes from a Lua script
with no reads. The runs of the
variants are interleaved (this machine's speed drifts over minutes); printed per
variant: redis-server CPU us per row (min and median), used_memory and append-only
file bytes per row. --perf records redis-server with `perf record -e cpu-clock` during
the first run of the first variant. Figures of docs/performance.md came from this.
"""

import argparse
import hashlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import rtpredis  # noqa: E402

TCK = os.sysconf("SC_CLK_TCK")
BATCH, DEPTH = 500, 4

LUA_WRITES = """local nt = tonumber(ARGV[1])
local call, users, order = redis.call, {}, {}
for b = 4, 3 + nt * 14, 14 do
  local id, uid = ARGV[b], ARGV[b + 1]
  call('HSET', 'tweet:' .. id, 'id', id, 'user_id', uid, 'text', ARGV[b + 2], 'censored', ARGV[b + 3],
    'sentiment', ARGV[b + 4], 'engagement', ARGV[b + 5], 'created_at', ARGV[b + 6], 'lang', ARGV[b + 7],
    'hashtags', ARGV[b + 8], 'retweet_of', ARGV[b + 9])
  call('ZADD', 'tweets', 'NX', ARGV[b + 10], id)
  if uid ~= '' then
    call('SADD', 'user:' .. uid .. ':tweets', id)
    if not users[uid] then order[#order + 1] = uid end
    users[uid] = b
  end
end
for _, uid in ipairs(order) do
  local b = users[uid]
  call('HSET', 'user:' .. uid, 'id', uid, 'name', ARGV[b + 11], 'screen_name', ARGV[b + 12],
    'followers', ARGV[b + 13], 'engagement', ARGV[b + 5], 'tweets', '1')
  call('ZADD', 'users:engagement', ARGV[b + 5], uid)
end
return 0
"""


def store_script(rev=None):
    """The batch script, as the C string literal of common/store.c spells it."""
    if rev:
        src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:common/store.c"], capture_output=True,
                             text=True, check=True).stdout
    else:
        with open(os.path.join(ROOT, "common", "store.c"), encoding="utf-8") as f:
            src = f.read()
    body = re.search(r"static const char s_script\[\] =\n(.*?);\n", src, re.S).group(1)
    return "".join(json.loads(lit) for lit in re.findall(r'("(?:[^"\\]|\\.)*")', body))


def rows(n, new_users):
    """n rows of 14 strings (store.c's ARGV order) from the bundled tweets, ids new."""
    base = []
    for name in ("tweets-a.jsonl", "tweets-b.jsonl"):
        with open(os.path.join(ROOT, "data", name), encoding="utf-8") as f:
            for line in f:
                t = json.loads(line)
                rt_of = t.get("retweeted_status")
                for r in [t] + ([rt_of] if isinstance(rt_of, dict) else []):
                    u = r.get("user") or {}
                    tags = " ".join(h["text"] for h in (r.get("entities") or {}).get("hashtags", []))
                    rt = (r.get("retweeted_status") or {}).get("id_str", "") if r is t else ""
                    base.append((u.get("id_str") or "", r.get("text", ""), r.get("created_at", ""),
                                 r.get("lang") or "", tags, rt, u.get("name", ""), u.get("screen_name", ""),
                                 str(u.get("followers_count", 0))))
    out = []
    for i in range(n):
        uid, text, created, lang, tags, rt, name, screen, followers = base[i % len(base)]
        if new_users and uid:
            uid += "%03d" % (i // len(base))
        sentiment, engagement = repr(((i * 7919) % 1000) / 333.0), repr(((i * 104729) % 997) / 7919.0)
        out.append([str(2 * 10**18 + i), uid, text, text.replace("a", "*"), sentiment, engagement, created,
                    lang, tags, rt, str(1475454202000 + i), name, screen, followers])
    return out


def resp(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def payloads(variant, script, data):
    """(command bytes, replies) per batch."""
    out = []
    for at in range(0, len(data), BATCH):
        batch = data[at:at + BATCH]
        if variant == "plain2":
            cmds, users = [resp(["MULTI"])], {}
            fields = ("id", "user_id", "text", "censored", "sentiment", "engagement", "created_at",
                      "lang", "hashtags", "retweet_of")
            zadd = ["ZADD", "tweets"]
            for r in batch:
                cmds.append(resp(["HSET", "tweet:" + r[0]] + [x for pair in zip(fields, r) for x in pair]))
                zadd += [r[10], r[0]]
                if r[1]:
                    users.setdefault(r[1], []).append(r)
            cmds.append(resp(zadd))
            zadd = ["ZADD", "users:engagement"]
            for uid, rs in users.items():
                r = rs[-1]
                cmds.append(resp(["SADD", "user:" + uid + ":tweets"] + [x[0] for x in rs]))
                cmds.append(resp(["HSET", "user:" + uid, "id", uid, "name", r[11], "screen_name", r[12],
                                  "followers", r[13], "engagement", r[5], "tweets", "1"]))
                zadd += [r[5], uid]
            cmds.append(resp(zadd))
            cmds.append(resp(["EXEC"]))
            out.append((b"".join(cmds), len(cmds)))
        elif variant == "plain":
            cmds, users = [resp(["MULTI"])], {}
            for r in batch:
                fields = ("id", "user_id", "text", "censored", "sentiment", "engagement", "created_at",
                          "lang", "hashtags", "retweet_of")
                cmds.append(resp(["HSET", "tweet:" + r[0]] + [x for pair in zip(fields, r) for x in pair]))
                cmds.append(resp(["ZADD", "tweets", "NX", r[10], r[0]]))
                if r[1]:
                    cmds.append(resp(["SADD", "user:" + r[1] + ":tweets", r[0]]))
                    users[r[1]] = r
            for uid, r in users.items():
                cmds.append(resp(["HSET", "user:" + uid, "id", uid, "name", r[11], "screen_name", r[12],
                                  "followers", r[13], "engagement", r[5], "tweets", "1"]))
                cmds.append(resp(["ZADD", "users:engagement", r[5], uid]))
            cmds.append(resp(["EXEC"]))
            out.append((b"".join(cmds), len(cmds)))
        else:
            args = ["EVALSHA", hashlib.sha1(script.encode()).hexdigest(), "0", str(len(batch)), "0", "10000"]
            for r in batch:
                args += r
            out.append((resp(args), 1))
    return out


def cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TCK


def info(client, section, key):
    text = client.command("INFO", section).decode()
    return int(dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line).get(key, 0))


def run_store_rows(redis, rows_file, bin_dir, n, script=False):
    """The storec variant: store_rows writes the rows through common/store.c. Adds
    its own CPU per row (the batcher's share of the sink) as "client_us"."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([os.path.join(bin_dir, "store_rows"), redis.url, rows_file, str(BATCH)]
                         + (["script"] if script else []), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"store_rows failed: {out.stderr.strip()}")
    got = dict(zip(out.stdout.split()[::2], out.stdout.split()[1::2]))
    if int(got["stored"]) != n:
        raise SystemExit(f"storec: {got['stored']} of {n} rows new: {out.stdout.strip()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    got["client_us"] = f"{cpu * 1e6 / n:.2f}"
    return got


def run_once(variant, script, data, aof, perf=None, rows_file=None, bin_dir=None):
    extra = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else []
    with rtpredis.RedisServer(extra_args=extra) as redis:
        with redis.client() as c:
            if script:
                c.command("SCRIPT", "LOAD", script)
            mem0 = info(c, "memory", "used_memory")
        work = payloads(variant, script, data) if variant not in ("storec", "storescript") else []
        rec = None
        if perf:
            rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "4000", "-g", "-p",
                                    str(redis.proc.pid), "-o", perf], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            time.sleep(1)
        with redis.client(timeout=120) as c:
            c0, waiting = cpu_s(redis.proc.pid), []
            if variant in ("storec", "storescript"):
                got = run_store_rows(redis, rows_file, bin_dir, len(data), variant == "storescript")
                print(f"{'':>16}  store_rows: {got['batches']} batches, {got['fast']} by plain commands, "
                      f"{got['retries']} read again, {got['seconds']} s, its own CPU "
                      f"{got['client_us']} us per row", flush=True)
            for body, n in work:
                c.sock.sendall(body)
                waiting.append(n)
                while len(waiting) >= DEPTH:
                    for _ in range(waiting.pop(0)):
                        c._reply()
            for n in waiting:
                for _ in range(n):
                    c._reply()
            c1 = cpu_s(redis.proc.pid)
            if rec:
                rec.send_signal(2)
                rec.wait()
            stored = c.command("ZCARD", "tweets")
            mem = info(c, "memory", "used_memory") - mem0
            aof_bytes = info(c, "persistence", "aof_current_size")
    if stored != len(data):
        raise SystemExit(f"{variant}: {stored} of {len(data)} rows stored")
    return (c1 - c0) * 1e6 / len(data), mem / len(data), aof_bytes / len(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="storec,store,plain2")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tests"),
                    help="where the store_rows helper is built (storec)")
    ap.add_argument("--rev", action="append", default=[], help="also the store script of this git revision")
    ap.add_argument("--rows", type=int, default=40000)
    ap.add_argument("--batch", type=int, default=BATCH, help="rows per batch (the batcher's default is 100)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--aof", choices=("yes", "no"), default="yes")
    ap.add_argument("--new-users", action="store_true", help="every copy of the data with new user ids too")
    ap.add_argument("--perf", help="perf.data of the first run of the first variant")
    args = ap.parse_args()
    globals()["BATCH"] = args.batch
    variants = [(v, store_script() if v == "store" else LUA_WRITES if v == "luawrites" else None)
                for v in args.variants.split(",")] + [(f"store@{r}", store_script(r)) for r in args.rev]
    data = rows(args.rows, args.new_users)
    rows_file = None
    if any(name in ("storec", "storescript") for name, _ in variants):
        fd, rows_file = tempfile.mkstemp(prefix="rtp-rows-")
        with os.fdopen(fd, "wb") as f:
            for r in data:
                f.write(b"".join(x.encode() + b"\0" for x in r))
    got = {name: [] for name, _ in variants}
    for k in range(args.runs):
        for i, (name, script) in enumerate(variants):
            us, mem, aof = run_once(name, script, data, args.aof == "yes",
                                    args.perf if k == 0 and i == 0 else None, rows_file, args.bin)
            got[name].append(us)
            print(f"{name:>16}: {us:6.1f} us redis-server CPU per row, {mem:5.0f} B memory, {aof:4.0f} B AOF",
                  flush=True)
    if rows_file:
        os.unlink(rows_file)
    with open("/proc/loadavg", encoding="ascii") as f:
        load = f.read().split()[0]
    users = "new" if args.new_users else "kept"
    print(f"\n{args.rows} rows, AOF {args.aof}, users {users}, load average {load}")
    for name, values in got.items():
        print(f"{name:>16}: min {min(values):.1f}, median {statistics.median(values):.1f} us per row")


if __name__ == "__main__":
    main()
