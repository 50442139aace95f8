"""rtpcheck: the independent check of everything rtp stored in Redis.

expected_from_files() computes, with rtp_reference (a Python implementation of SPEC
section 2 written from the spec, not from the C code), every record the bundled
tweet files yield. check_redis() then reads the whole database and compares it row
by row with SPEC section 3: every tweet present with the right text, censored text,
scores, user link and retweet link; every user with the right tweets, count and
engagement total; the sorted sets; no duplicates; no key that should not be there.

A tweet id can appear more than once in the input (a retweeted original that is also
in a file, or in both files) with different counts, since each copy is a snapshot:
the first one processed is stored, so a row is accepted when it equals any of the
versions of its id, and the user totals are checked against the rows actually stored.
"""

import collections
import json
import math

import rtp_reference as ref
import rtptest


def expected_from_files(paths=None, dead_letters=None):
    """{tweet id: [record dict, ...]} with every distinct version of each id. A line
    that yields no record (no tweet id, or an id that cannot be had exactly) raises
    ValueError, unless a list is given as dead_letters: then (path, line number,
    reason) is appended to it for each such line."""
    if paths is None:
        paths = [rtptest.data_path("tweets-a.jsonl"), rtptest.data_path("tweets-b.jsonl")]
    versions = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    records = ref.records_of(json.loads(line))
                except ValueError as e:
                    if dead_letters is None:
                        raise
                    dead_letters.append((path, n, str(e)))
                    continue
                for rec in records:
                    same = versions.setdefault(rec["id"], [])
                    if rec not in same:
                        same.append(rec)
    return versions


def censor_line(rec):
    """The line rtp-censor prints for a record: "@screen_name: censored text", with the
    control characters written as \\n, \\t, \\r or \\xHH (and a backslash as \\\\)."""
    out = []
    for ch in rec["censored"]:
        if ch in "\\\n\t\r":
            out.append({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return f"@{rec['screen_name']}: {''.join(out)}"


def censor_lines(paths=None):
    """Counter of the lines rtp-censor prints for every record of the files (by
    default the two bundled ones), each as often as its record comes."""
    if paths is None:
        paths = [rtptest.data_path("tweets-a.jsonl"), rtptest.data_path("tweets-b.jsonl")]
    lines = collections.Counter()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    lines.update(censor_line(rec) for rec in ref.records_of(json.loads(line)))
    return lines


def _s(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _hash(client, key):
    flat = client.command("HGETALL", key)
    return {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}


def _tweet_row_matches(row, rec):
    """The differences between a stored tweet hash and an expected record."""
    want = {
        "id": rec["id"],
        "user_id": rec["user_id"],
        "text": rec["text"],
        "censored": rec["censored"],
        "created_at": rec["created_at"],
        "lang": rec["lang"],
        "hashtags": rec["hashtags"],
        "retweet_of": rec["retweet_of"],
    }
    diffs = [f"{k}: stored {row.get(k)!r}, expected {v!r}" for k, v in want.items() if row.get(k) != v]
    for k in ("sentiment", "engagement"):
        try:
            stored = float(row.get(k))
        except (TypeError, ValueError):
            diffs.append(f"{k}: stored {row.get(k)!r} is not a number")
            continue
        if stored != rec[k]:   # exact: both sides compute the same IEEE operations
            diffs.append(f"{k}: stored {row.get(k)!r}, expected {ref.fmt_number(rec[k])}")
    if set(row) != set(want) | {"sentiment", "engagement"}:
        diffs.append(f"fields {sorted(row)}")
    return diffs


class Report:
    def __init__(self):
        self.problems = []
        self.counts = {}

    def bad(self, message):
        if len(self.problems) < 10000:
            self.problems.append(message)

    def count(self, name, n=1):
        self.counts[name] = self.counts.get(name, 0) + n

    def summary(self):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return f"{parts}; problems {len(self.problems)}"


def check_redis(client, expected, allow_missing=False):
    """Compares the whole database with `expected` (from expected_from_files).
    Returns a Report; report.problems is empty when everything is right."""
    r = Report()
    keys = set(_s(k) for k in client.command("KEYS", "*"))
    tweet_keys = {k for k in keys if k.startswith("tweet:")}
    user_keys = {k for k in keys if k.startswith("user:") and not k.endswith(":tweets")}
    user_set_keys = {k for k in keys if k.startswith("user:") and k.endswith(":tweets")}
    known = {"tweets", "users:engagement", "deadletter", "hashtags:top", "hashtags:window"}
    for k in sorted(keys - tweet_keys - user_keys - user_set_keys - known):
        r.bad(f"unexpected key {k}")

    stored_ids = {k[len("tweet:"):] for k in tweet_keys}
    for tid in sorted(set(expected) - stored_ids):
        if not allow_missing:
            r.bad(f"missing tweet {tid}")
        r.count("missing")
    for tid in sorted(stored_ids - set(expected)):
        r.bad(f"tweet {tid} stored but not in the input")

    # every tweet row against its expected versions
    stored = {}
    for tid in sorted(stored_ids & set(expected)):
        row = _hash(client, "tweet:" + tid)
        stored[tid] = row
        attempts = [_tweet_row_matches(row, rec) for rec in expected[tid]]
        best = min(attempts, key=len)
        if best:
            r.bad(f"tweet {tid}: " + "; ".join(best))
        r.count("tweets checked")

    # the tweets sorted set: exactly the stored ids, each scored by its time
    flat = client.command("ZRANGE", "tweets", "0", "-1", "WITHSCORES")
    zset = {_s(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}
    if set(zset) != stored_ids:
        r.bad(f"'tweets' holds {len(zset)} ids, {len(stored_ids)} tweet rows "
              f"(extra {sorted(set(zset) - stored_ids)[:5]}, missing {sorted(stored_ids - set(zset))[:5]})")
    for tid, score in zset.items():
        if tid in expected and not any(score == rec["time_ms"] for rec in expected[tid]):
            r.bad(f"'tweets' scores {tid} {score}, expected {expected[tid][0]['time_ms']}")

    # users: built from the stored tweet rows (which version was stored decides the totals)
    by_user = {}
    for tid, row in stored.items():
        if row.get("user_id"):
            by_user.setdefault(row["user_id"], []).append(tid)
    for uid in sorted(set(by_user) - {k[len("user:"):] for k in user_keys}):
        r.bad(f"user {uid} has stored tweets but no user:{uid} row")
    for k in sorted(user_keys):
        uid = k[len("user:"):]
        if uid not in by_user:
            r.bad(f"user row {k} without stored tweets")
    flat = client.command("ZRANGE", "users:engagement", "0", "-1", "WITHSCORES")
    user_z = {_s(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}
    if set(user_z) != set(by_user):
        r.bad(f"users:engagement holds {len(user_z)} users, expected {len(by_user)}")
    for uid, tids in sorted(by_user.items()):
        row = _hash(client, "user:" + uid)
        members = set(_s(m) for m in client.command("SMEMBERS", f"user:{uid}:tweets"))
        if members != set(tids):
            r.bad(f"user:{uid}:tweets = {sorted(members)}, expected {sorted(tids)}")
        versions = [rec for tid in tids for rec in expected[tid]]
        identities = {(v["user_name"], v["screen_name"], str(v["followers"])) for v in versions}
        if (row.get("name"), row.get("screen_name"), row.get("followers")) not in identities:
            r.bad(f"user {uid}: name/screen_name/followers {row.get('name')!r}/{row.get('screen_name')!r}/"
                  f"{row.get('followers')!r} not among {sorted(identities)[:3]}")
        if row.get("id") != uid:
            r.bad(f"user {uid}: id field {row.get('id')!r}")
        if row.get("tweets") != str(len(tids)):
            r.bad(f"user {uid}: tweets {row.get('tweets')!r}, expected {len(tids)}")
        total = math.fsum(float(stored[t]["engagement"]) for t in tids)
        try:
            got = float(row.get("engagement"))
        except (TypeError, ValueError):
            got = float("nan")
        # the order of the additions is the order of arrival: allow rounding only
        if not math.isclose(got, total, rel_tol=1e-12, abs_tol=1e-15):
            r.bad(f"user {uid}: engagement {row.get('engagement')!r}, expected {total!r}")
        if uid in user_z and not math.isclose(user_z[uid], total, rel_tol=1e-12, abs_tol=1e-15):
            r.bad(f"users:engagement {uid} = {user_z[uid]!r}, expected {total!r}")
        r.count("users checked")
    return r


def dead_letters(client):
    """The dead-letter list, decoded."""
    return [json.loads(_s(x)) for x in client.command("LRANGE", "deadletter", "0", "-1")]
