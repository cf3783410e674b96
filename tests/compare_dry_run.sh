#!/usr/bin/env bash
# CTest CompareScriptDryRun: scripts/compare.sh in --dry-run mode against the llama-bench stub
# (tests/fixtures/fake-llama-bench.sh) on the tiny model. Checks that the JSON of both engines is
# read, that the stub's numbers reach the tables, that every ratio is tern / peer of its own pair
# and that min / median / max are right; then that a peer failing to load a file is reported with
# its error, that the script refuses to run with no peer, that it writes no report from the
# stub's numbers outside --dry-run, and that --report-from rewrites the same report.
# Usage: compare_dry_run.sh TERN
set -euo pipefail
TERN=${1:?usage: compare_dry_run.sh path/to/tern}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STUB=$ROOT/tests/fixtures/fake-llama-bench.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tern-compare-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v python3 > /dev/null || { echo "SKIP: python3 is missing (scripts/compare.sh reads JSON with it)"; exit 77; }

"$TERN" synth --preset tiny -o "$TMP/tiny.gguf" > /dev/null 2>&1

# 1. Three pairs, two thread counts, lengths other than the defaults (they must reach both engines).
FAKE_LLAMA_BENCH_COUNTER=$TMP/counter "$ROOT/scripts/compare.sh" --dry-run "$STUB" --tern "$TERN" \
  -m "$TMP/tiny.gguf" --reps 3 -t 1,2 -p 24 -n 6 --out "$TMP/out" --keep "$TMP/work" > "$TMP/stdout" 2> "$TMP/stderr" ||
  { cat "$TMP/stderr" >&2; fail "compare.sh --dry-run exited non-zero"; }
[ "$(cat "$TMP/counter")" = 3 ] || fail "the stub ran $(cat "$TMP/counter") times, want 3"

python3 - "$TERN" "$TMP" <<'PY'
import glob, json, os, statistics, subprocess, sys

tern, tmp = sys.argv[1], sys.argv[2]


def fail(msg):
    sys.exit("FAIL: " + msg)


cpu_id = json.loads(subprocess.check_output([tern, "info", "--json"]))["cpu"]["cpu_id"]
mds = glob.glob(os.path.join(tmp, "out", "*.md"))
if len(mds) != 1:
    fail("want one report in out/, got %s" % mds)
md_path = mds[0]
name = os.path.basename(md_path)
if not (name.startswith(cpu_id + "-") and len(name) == len(cpu_id) + len("-YYYY-MM-DD.md")):
    fail("report name %s is not <cpu-id>-<date>.md" % name)
md = open(md_path).read()
if "DRY RUN" not in md:
    fail("the report does not say DRY RUN")


def rows(section):
    """The table rows of a '## section' as lists of cells."""
    part = md.split("## " + section + "\n", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in part.splitlines():
        if line.startswith("| ") and not line.startswith("| model") and not line.startswith("|---"):
            out.append([c.strip() for c in line.strip("|").split("|")])
    return out


# The raw outputs, as the script kept them: runs.tsv names each run's engine, pair and JSON file.
runs = [l.rstrip("\n").split("\t") for l in open(os.path.join(tmp, "work", "runs.tsv"))]
if [r[2] for r in runs] != ["tern", "llama.cpp"] * 3:
    fail("runs not interleaved tern, llama.cpp, ...: %s" % [r[2] for r in runs])
ts = {}  # (engine, pair, test, threads) -> t/s
for r in runs:
    for rec in json.load(open(r[5])):
        test = "pp%d" % rec["n_prompt"] if rec["n_prompt"] else "tg%d" % rec["n_gen"]
        ts[(r[2], int(r[3]), test, rec["n_threads"])] = rec["samples_ts"][0]
# The stub's formula: pp 1000 t + 10 k + 0.25, tg 100 t + k + 0.5, k = its call number = the pair.
for k in (1, 2, 3):
    for t in (1, 2):
        if ts[("llama.cpp", k, "pp24", t)] != 1000 * t + 10 * k + 0.25:
            fail("stub pp24 t=%d pair %d read as %s" % (t, k, ts[("llama.cpp", k, "pp24", t)]))
        if ts[("llama.cpp", k, "tg6", t)] != 100 * t + k + 0.5:
            fail("stub tg6 t=%d pair %d read as %s" % (t, k, ts[("llama.cpp", k, "tg6", t)]))

pairs = rows("Every pair")
if len(pairs) != 2 * 2 * 3:
    fail("want 12 pair rows, got %d" % len(pairs))
for model, test, threads, pair, tern_ts, peer, peer_ts, ratio, _others in pairs:
    key = (int(pair), test, int(threads))
    a, b = ts[("tern",) + key], ts[("llama.cpp",) + key]
    if model != "tiny.gguf" or peer != "llama.cpp":
        fail("pair row names %s / %s" % (model, peer))
    if tern_ts != "%.2f" % a or peer_ts != "%.2f" % b:
        fail("pair %s: t/s %s / %s, want %.2f / %.2f" % (key, tern_ts, peer_ts, a, b))
    if ratio != "%.2f" % (a / b):
        fail("pair %s: ratio %s, want %.2f" % (key, ratio, a / b))

summary = rows("Summary")
if len(summary) != 4:
    fail("want 4 summary rows, got %d" % len(summary))
for row in summary:
    model, test, threads, used, tern_ts, peer, peer_ts, rmin, rmed, rmax, bpt, bw, troof, proof = row
    if used != "3 of 3":
        fail("%s: pairs %s, want 3 of 3" % (test, used))
    t = int(threads)
    a = [ts[("tern", k, test, t)] for k in (1, 2, 3)]
    b = [ts[("llama.cpp", k, test, t)] for k in (1, 2, 3)]
    r = [x / y for x, y in zip(a, b)]
    want_peer = "%.2f (%.2f–%.2f)" % (statistics.median(b), min(b), max(b))
    if peer_ts != want_peer:
        fail("%s t=%d: peer t/s %s, want %s" % (test, t, peer_ts, want_peer))
    if tern_ts != "%.2f (%.2f–%.2f)" % (statistics.median(a), min(a), max(a)):
        fail("%s t=%d: tern t/s %s" % (test, t, tern_ts))
    if (rmin, rmed, rmax) != ("%.2f" % min(r), "%.2f" % statistics.median(r), "%.2f" % max(r)):
        fail("%s t=%d: ratios %s %s %s, want %.2f %.2f %.2f"
             % (test, t, rmin, rmed, rmax, min(r), statistics.median(r), max(r)))
    if not model.startswith("tiny.gguf (TQ2_0") or peer != "llama.cpp":
        fail("summary row names %s / %s" % (model, peer))
    for cell in (bpt, bw, troof, proof):
        if cell == "—":
            fail("%s t=%d: bytes/token, bandwidth or roofline missing" % (test, t))
if "tests/fixtures/fake-llama-bench.sh -m" not in md or "bench -m" not in md:
    fail("the commands are not in the report")
print("ok: %s" % md_path)
PY

# 1b. --report-from writes the same report again from the kept runs, running nothing.
"$ROOT/scripts/compare.sh" --report-from "$TMP/work" --out "$TMP/out-again" > /dev/null ||
  fail "compare.sh --report-from failed"
[ "$(cat "$TMP/counter")" = 3 ] || fail "--report-from ran the stub"
diff "$TMP"/out/*.md "$TMP"/out-again/*.md > /dev/null || fail "--report-from wrote a different report"

# 1c. -d: every test again after a filled context, both engines, labelled as llama-bench does.
"$ROOT/scripts/compare.sh" --dry-run "$STUB" --tern "$TERN" -m "$TMP/tiny.gguf" --reps 1 -t 1 -p 8 -n 2 -d 16 \
  --out "$TMP/out-depth" > /dev/null 2> "$TMP/stderr-depth" ||
  { cat "$TMP/stderr-depth" >&2; fail "compare.sh -d exited non-zero"; }
python3 - "$TMP"/out-depth/*.md <<'PY'
import sys
md = open(sys.argv[1]).read()
summary = md.split("## Summary\n", 1)[1].split("\n## ", 1)[0]
rows = {}
for line in summary.splitlines():
    c = [x.strip() for x in line.strip("|").split("|")]
    if line.startswith("| ") and not line.startswith("| model"):
        rows[c[1]] = c
for test, stub in (("pp8", "1010.25"), ("tg2", "101.50"), ("pp8 @ d16", "1010.12"), ("tg2 @ d16", "101.38")):
    if test not in rows:
        sys.exit("FAIL: -d 16: no summary row for %s (rows: %s)" % (test, sorted(rows)))
    if not rows[test][6].startswith(stub):
        sys.exit("FAIL: -d 16: %s peer t/s %s, the stub said %s" % (test, rows[test][6], stub))
if "-d 0,16" not in md:
    sys.exit("FAIL: -d 16: the commands in the report lack -d 0,16")
PY

# 1d. The report's name says what changes its meaning, and a second run never replaces the first.
ls "$TMP"/out-depth/*-depth16.md > /dev/null 2>&1 || fail "-d 16: the report is not <name>-depth16.md: $(ls "$TMP/out-depth")"
first=$(ls "$TMP"/out/*.md)
cp "$first" "$TMP/first.md"
TERN_MAX_ISA=scalar "$ROOT/scripts/compare.sh" --dry-run "$STUB" --tern "$TERN" -m "$TMP/tiny.gguf" --reps 1 -t 1 \
  -p 8 -n 2 --out "$TMP/out" > /dev/null 2> "$TMP/stderr-again" ||
  { cat "$TMP/stderr-again" >&2; fail "compare.sh under TERN_MAX_ISA exited non-zero"; }
TERN_MAX_ISA=scalar "$ROOT/scripts/compare.sh" --dry-run "$STUB" --tern "$TERN" -m "$TMP/tiny.gguf" --reps 1 -t 1 \
  -p 8 -n 2 --out "$TMP/out" > /dev/null 2> "$TMP/stderr-again" ||
  { cat "$TMP/stderr-again" >&2; fail "compare.sh's second run into one folder exited non-zero"; }
cmp -s "$first" "$TMP/first.md" || fail "a later run changed the first report"
stem=${first%.md}
[ -f "$stem-max-scalar.md" ] || fail "under TERN_MAX_ISA=scalar the report is not <name>-max-scalar.md: $(ls "$TMP/out")"
[ -f "$stem-max-scalar-2.md" ] || fail "the second run did not write <name>-max-scalar-2.md: $(ls "$TMP/out")"
grep -q 'TERN_MAX_ISA=scalar' "$stem-max-scalar-2.md" || fail "the report does not name the ISA cap"

# 2. A peer that cannot load the file: the run goes on, the report quotes its error.
FAKE_LLAMA_BENCH_FAIL=1 "$ROOT/scripts/compare.sh" --dry-run "$STUB" --tern "$TERN" -m "$TMP/tiny.gguf" \
  --reps 2 -t 1 -p 8 -n 2 --out "$TMP/out-fail" > /dev/null 2> "$TMP/stderr-fail" ||
  { cat "$TMP/stderr-fail" >&2; fail "compare.sh exited non-zero when the peer failed"; }
report=$(ls "$TMP"/out-fail/*.md)
grep -q "## Failures" "$report" || fail "no Failures section when the peer failed"
grep -q "failed to load model" "$report" || fail "the peer's error is not quoted"
grep -q "| failed |" "$report" || fail "the summary does not say failed"
[ "$(grep -c '^`llama.cpp` on tiny.gguf: exit 1' "$report")" = 1 ] || fail "the failing peer was not run exactly once"

# 3. No peer: a usage error, not a tern-only report.
if "$ROOT/scripts/compare.sh" --tern "$TERN" -m "$TMP/tiny.gguf" --out "$TMP/none" 2> "$TMP/stderr-none"; then
  fail "compare.sh without a peer succeeded"
fi
grep -q "nothing to compare with" "$TMP/stderr-none" || fail "no-peer message: $(cat "$TMP/stderr-none")"
# 4. The stub passed as a real llama-bench: no report comes out of it.
if "$ROOT/scripts/compare.sh" --llama-bench "$STUB" --tern "$TERN" -m "$TMP/tiny.gguf" --reps 1 -t 1 -p 8 -n 2 \
    --idle-timeout 0 --out "$TMP/stub-as-real" > /dev/null 2> "$TMP/stderr-real"; then
  fail "compare.sh reported the stub's numbers as a measurement"
fi
grep -q "refusing" "$TMP/stderr-real" || fail "no refusal: $(cat "$TMP/stderr-real")"
[ -z "$(ls "$TMP/stub-as-real")" ] || fail "a report was written from the stub's numbers"
echo "CompareScriptDryRun: ok"
