"""Keys in the way in Redis: one bad key costs exactly the rows it poisons.

rtp-aggregator + rtp-batcher with tests/helpers/parts_feeder standing in for the
broker (every record distinct and sent once, so any loss shows), against a
redis-server of the test's own:
  - before the stream, keys of the wrong type or not written by rtp where some rows
    must go: user:<id> holding a string, user:<id>:tweets holding a list, tweet:<id>
    holding a string, a tweet:<id> hash and a user:<id> hash of another program.
    Every row of those tweets and users becomes a dead letter whose reason names the
    key (and quotes Redis's WRONGTYPE), carrying the record; the batcher logs one line
    per refused row and counts them; every other row is stored, the user totals count
    only stored tweets, and the keys in the way are left as they were. Then Redis
    runs out of memory (maxmemory 1, noeviction) for a few seconds mid-stream: the
    batcher journals, and every row is stored after;
  - mid-stream, each global key in turn (tweets, users:engagement, deadletter) of the
    wrong type: the batcher says which key blocks every write, journals (nothing is
    written meanwhile), and once the key is put right it replays by itself, in order;
    every row is stored, once.
"""

import json
import os
import random
import shutil
import tempfile
import time

import rtptest as t
from rtptest import check
from rtpredis import RedisServer
from test_aggregator_batcher import (Expected, Pipeline, batch_lines, check_redis, fmt, load_records,
                                     shuffled_parts, stats_lines)

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_dirs = []


def _temp_dir():
    d = tempfile.mkdtemp(prefix="rtptest-refusals-")
    _dirs.append(d)
    return d


def _bat(p):
    lines = stats_lines(p.bat)
    return lines[-1] if lines else {}


class WithKeys(Expected):
    """Expected rows plus keys that must be there too (the keys in the way, and the
    dead-letter list, checked on its own)."""

    def __init__(self, records, extra_keys):
        super().__init__(records)
        self.extra_keys = set(extra_keys)

    def keys(self):
        return super().keys() | self.extra_keys


def _written_once_and_stopped(p, records):
    """Checks that the batcher wrote every record once, stops the pipeline (both exit
    0) and returns the batcher's last stats."""
    total = sum(b[0] for b in batch_lines(p.bat))
    check(total == len(records), f"{total} records written, {len(records)} sent: each written exactly once")
    st = _bat(p)
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    return st


def _refusal(rec, poisons):
    """The reason a record's row is refused for (None: stored). poisons: key -> what."""
    key = "tweet:" + rec["id"]
    if key in poisons:
        return key, poisons[key]
    if rec["user_id"]:
        for key in ("user:" + rec["user_id"], "user:%s:tweets" % rec["user_id"]):
            if key in poisons:
                return key, poisons[key]
    return None


def _check_dead_letters(r, refused):
    """The deadletter list holds one entry per refused record, naming its key."""
    entries = [json.loads(e) for e in r.command("LRANGE", "deadletter", 0, -1)]
    want = []
    for rec, (key, what) in refused:
        data = {"key": rec["key"], "id": rec["id"], "user_id": rec["user_id"], "text": rec["text"],
                "censored": rec["censored"], "sentiment": fmt(rec["sentiment"]),
                "engagement": fmt(rec["engagement"])}
        want.append({"reason": f"tweet {rec['id']} not stored: key {key} {what}", "data": data,
                     "origin": rec["origin"], "seq": rec["seq"], "time_ms": rec["received_us"] // 1000})
    got = []
    for e in entries:
        e = dict(e)
        e["data"] = json.loads(e["data"])
        got.append(e)
    key = lambda e: json.dumps(e, sort_keys=True)
    check(sorted(map(key, got)) == sorted(map(key, want)),
          f"deadletter list differs:\n got {sorted(map(key, got))[:2]}\n expected {sorted(map(key, want))[:2]}")
    return len(entries)


def test_rows_in_the_way_are_refused_alone():
    records = load_records(names=("tweets-a.jsonl",), limit=600)
    first, second = records[:300], records[300:]
    # victims: distinct tweets of distinct users, each user with a row in both halves when there is one
    users = {}
    for rec in records:
        if rec["user_id"]:
            users.setdefault(rec["user_id"], []).append(rec)
    by_rows = sorted(users, key=lambda u: (-len({x["id"] for x in users[u]}), u))
    ua, ub, ue = by_rows[0], by_rows[1], by_rows[2]
    taken = {ua, ub, ue}
    loners = [rec for rec in records if rec["user_id"] not in taken and rec["user_id"]]
    tc = loners[10]["id"]
    td = next(rec["id"] for rec in loners[200:] if rec["id"] != tc)
    poisons = {
        f"user:{ua}": f"holds a string, not a hash (Redis: {WRONGTYPE})",
        f"user:{ub}:tweets": f"holds a list, not a set (Redis: {WRONGTYPE})",
        f"tweet:{tc}": f"holds a string, not a hash (Redis: {WRONGTYPE})",
        f"tweet:{td}": "is in the way: a hash rtp did not write (its id field is missing)",
        f"user:{ue}": 'is in the way: a hash rtp did not write (id "someone else", engagement "n/a", tweets '
                      'missing)',
    }
    redis = RedisServer().start()
    with redis.client() as r:
        r.command("SET", f"user:{ua}", "not a user")
        r.command("RPUSH", f"user:{ub}:tweets", "1")
        r.command("SET", f"tweet:{tc}", "not a tweet")
        r.command("HSET", f"tweet:{td}", "note", "another program's")
        r.command("HSET", f"user:{ue}", "id", "someone else", "engagement", "n/a")
        before = {k: r.command("DUMP", k) for k in poisons}

    d = _temp_dir()
    go = os.path.join(d, "go")
    rng = random.Random(21)
    msgs = shuffled_parts(first, rng) + [{"type": "wait_file", "path": go, "timeout_ms": 60000}] + \
        shuffled_parts(second, rng)
    p = Pipeline(msgs, dir=d, redis=redis, bat_args=["--batch-size", 25, "--retry-min-ms", 100,
                                                      "--retry-max-ms", 400])
    refused = [(rec, why) for rec in records if (why := _refusal(rec, poisons))]
    good = [rec for rec in records if not _refusal(rec, poisons)]
    check(all(any(_refusal(rec, poisons) == (k, w) for rec in records) for k, w in poisons.items()),
          "every key in the way poisons a row")
    refused_first = sum(1 for rec, _ in refused if rec in first)

    def settled(part, n_refused):
        exp = Expected(part)
        with p.client() as r:
            return r.command("ZCARD", "tweets") == len(exp.tweets) and r.command("LLEN", "deadletter") == n_refused

    t.wait_until(lambda: settled([x for x in first if not _refusal(x, poisons)], refused_first), 30,
                 "the first half stored, its poisoned rows dead letters")
    # Redis out of memory for a few seconds, mid-stream
    with p.client() as r:
        r.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        r.command("CONFIG", "SET", "maxmemory", "1")
    open(go, "w").close()
    p.bat.wait_log(r"Redis is away \(.*OOM.*\): journaling records to ", 20)
    time.sleep(3.0)
    with p.client() as r:
        check(r.command("LLEN", "deadletter") == refused_first, "a dead letter was written while Redis was OOM")
        r.command("CONFIG", "SET", "maxmemory", "0")
    t.wait_until(lambda: settled(good, len(refused)), 60, "every row stored or refused after the OOM")
    p.bat.wait_log(r"journal drained", 20)
    t.wait_until(lambda: _bat(p).get("refused") == len(refused), 5, "the stats counting every refused row")

    with p.client() as r:
        compared = check_redis(r, WithKeys(good, set(poisons) | {"deadletter"}))
        letters = _check_dead_letters(r, refused)
        after = {k: r.command("DUMP", k) for k in poisons}
    check(after == before, "a key in the way was changed")
    log = p.bat.stderr_text()
    lines = [ln for ln in log.splitlines() if "refused row: tweet " in ln]
    check(len(lines) == len(refused), f"{len(lines)} 'refused row' log lines, {len(refused)} rows refused")
    for rec, (key, what) in refused:
        line = f"refused row: tweet {rec['id']} not stored: key {key} {what}; written to the deadletter list " \
               f"instead (from {rec['origin']}, seq {rec['seq']})"
        check(line in log, f"no log line {line!r}")
    st = _written_once_and_stopped(p, records)
    print(f"{len(poisons)} keys in the way: {len(refused)} of {len(records)} rows refused ({letters} dead letters "
          f"naming their key, {len(lines)} log lines, refused={st['refused']} in the stats), every other row "
          f"stored ({compared} values compared); Redis OOM for 3 s mid-stream: {st['failed_writes']} failed "
          f"writes, all stored after")


GLOBALS = [("tweets", "string", "sorted set", ("SET", "tweets", "oops")),
           ("users:engagement", "hash", "sorted set", ("HSET", "users:engagement", "a", "b")),
           ("deadletter", "string", "list", ("SET", "deadletter", "oops"))]


def test_global_key_blocks_then_resumes():
    records = load_records(names=("tweets-b.jsonl",), limit=480)
    parts = [records[i * 120:(i + 1) * 120] for i in range(4)]
    d = _temp_dir()
    rng = random.Random(22)
    gates = [os.path.join(d, f"go{i}") for i in range(3)]
    msgs = shuffled_parts(parts[0], rng)
    for gate, part in zip(gates, parts[1:]):
        msgs += [{"type": "wait_file", "path": gate, "timeout_ms": 120000}] + shuffled_parts(part, rng)
    p = Pipeline(msgs, dir=d, bat_args=["--batch-size", 20, "--retry-min-ms", 100, "--retry-max-ms", 400])
    p.wait_stored(Expected(parts[0]), 30)
    sent = list(parts[0])
    report = []
    for (key, holds, wants, poison), gate, part in zip(GLOBALS, gates, parts[1:]):
        # every record so far written (a resent id can be held after its row is in Redis)
        t.wait_until(lambda: _bat(p).get("records") == len(sent), 20, "the batcher to write what it took")
        with p.client() as r:
            saved = r.command("EXISTS", key)
            if saved:
                r.command("RENAME", key, key + ".saved")
            r.command(*poison)
            frozen = r.command("DBSIZE")
        open(gate, "w").close()
        m = p.bat.wait_log(r"Redis takes no write: key '%s' holds a %s where rtp keeps a %s: it blocks every "
                           r"write until it is renamed or deleted" % (key, holds, wants), 20)
        t.wait_until(lambda: _bat(p).get("received") == len(sent) + len(part), 20, "the batcher to take the part")
        t.wait_until(lambda: _bat(p).get("journal_records") == len(part), 20, "the part journaled")
        with p.client() as r:
            check(r.command("DBSIZE") == frozen, f"a write went through while {key} blocked every write")
            r.command("DEL", key)
            if saved:
                r.command("RENAME", key + ".saved", key)
        sent += part
        p.wait_stored(Expected(sent), 30)
        t.wait_until(lambda: _bat(p).get("journal_records") == 0, 10, "the journal drained")
        report.append(f"{key}: {len(part)} journaled")
        print(f"  {m.group(0)}")
    with p.client() as r:
        compared = check_redis(r, Expected(records))
    st = _written_once_and_stopped(p, records)
    check(st["refused"] == 0, f"rows refused: {st}")
    print(f"a global key of the wrong type blocks every write, named; after each was put right the journal "
          f"drained by itself ({', '.join(report)}); all {len(records)} stored once ({compared} values compared)")


def _cleanup():
    if not os.environ.get("RTP_TEST_KEEP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    try:
        t.main(globals())
    finally:
        _cleanup()
