"""Numeric ids end to end (issue 14, SPEC section 1): both bundled files rewritten with
no id_str at all (tests/lib/numeric_ids.py: ids past 2^53 up to 2^64 - 1, every
other status with its id written after its nested objects, and about one line in
seven with an id that cannot be had exactly), served by rtp-replay to `rtp up` with
a real redis-server. Then EVERY row in Redis is checked against the Python reference
(rtpcheck), which reads JSON integers exactly: no row missing, none extra, none under
a rounded id, every retweet link and user total right; and every line with an inexact
id is exactly one dead letter whose reason says whose id it is."""

import json
import os
import shutil
import tempfile

import numeric_ids
import rtpcheck
import rtpredis
import rtptest
from rtptest import check


EVENT_HEAD = '{"message": {"tweet": '   # how rtp-replay wraps a line


def test_numeric_ids_every_row_exact():
    folder = tempfile.mkdtemp(prefix="rtp-numeric-ids-")
    try:
        files = [os.path.join(folder, "a.jsonl"), os.path.join(folder, "b.jsonl")]
        ids = numeric_ids.IdMap()
        written = 0
        for src, dst in zip(("tweets-a.jsonl", "tweets-b.jsonl"), files):
            written += len(numeric_ids.convert_file(rtptest.data_path(src), dst, bad=True, ids=ids))
        rejected = []
        expected = rtpcheck.expected_from_files(files, dead_letters=rejected)
        check(len(rejected) == written,
              f"the reference rejects the {written} lines given a bad id: {len(rejected)}")
        big = [i for i in expected if int(i) > 2**53]
        check(len(big) > len(expected) // 2 and str(2**64 - 1) in expected,
              f"most ids are past 2^53 ({len(big)} of {len(expected)}), 2^64 - 1 among them")

        replay = rtptest.start_replay("--tweets-1", files[0], "--tweets-2", files[1], "--loops", 1,
                                      "--rate", 500, "--burst", "false", "--panic-rate", 0)
        try:
            with rtpredis.RedisServer() as redis:
                up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--rtp-url", replay.url,
                                          "--work-mean-ms", 0, "--print", "false"])
                with redis.client() as c:
                    rtptest.wait_until(lambda: (c.command("ZCARD", "tweets") >= len(expected)
                                                and c.command("LLEN", "deadletter") >= len(rejected))
                                       or not up.alive(),
                                       180, "every tweet and dead letter stored", interval=0.2)
                code = up.stop(timeout=60)
                with redis.client() as c:
                    report = rtpcheck.check_redis(c, expected)
                    letters = rtpcheck.dead_letters(c)
        finally:
            replay.stop()
        check(code == 0, f"rtp up exits 0, got {code}:\n{up.stderr_text()[-3000:]}")
        for p in report.problems[:20]:
            print("  problem:", p)
        check(not report.problems, f"{len(report.problems)} problems in Redis")

        # each rejected line is one dead letter, saying whose id it is; a dead letter
        # keeps the first 4 KiB of its event (RAW_MAX in actors/reader/forward.c)
        wanted = []   # [line, reason, matched]; a tweet in both files is two lines
        for path, n, reason in rejected:
            with open(path, encoding="utf-8") as f:
                wanted.append([[x for x in f if x.strip()][n - 1].rstrip("\n"), reason, False])
        for letter in letters:
            data = letter.get("data", "")
            try:
                tweet = json.loads(data)["message"]["tweet"]
                lines = [w for w in wanted if not w[2] and json.loads(w[0]) == tweet]
            except ValueError:
                # cut short: its first bytes, less a character the cut may have split
                body = data[len(EVENT_HEAD):-4] if data.startswith(EVENT_HEAD) else None
                lines = [w for w in wanted if not w[2] and body and w[0].startswith(body)]
            check(lines, f"dead letter {letter['reason']!r} is one of the lines with a bad id: "
                         f"{data[:200]!r}")
            whose = lines[0][1].split(" has no exact id")[0]
            check(letter["reason"].startswith(f"{whose} has no exact id: id "),
                  f"dead letter reason {letter['reason']!r}, expected one about the {whose}'s id")
            lines[0][2] = True
        matched = sum(w[2] for w in wanted)
        check(matched == len(wanted) == len(letters),
              f"{len(wanted)} events with an inexact id, {len(letters)} dead letters, {matched} matched")
        reasons = sorted({r.split(":")[0] for _, _, r in rejected})
        print(f"{len(expected)} records ({len(big)} ids past 2^53) exact in Redis; {report.summary()}; "
              f"{matched} dead letters ({', '.join(reasons)})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
