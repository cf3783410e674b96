#!/usr/bin/env bash
# CTest KernelsReportDryRun: scripts/kernels-report.sh --from the fixture
# tests/fixtures/kernels-bench-sample.json (made-up `tern kernels --bench --json` records, two shapes,
# both families and backends). Checks that the report is named <cpu-id>-<date>.md with the cpu-id of
# `tern info --json`, says FIXTURE, has one table per shape and m with every record's numbers formatted
# as documented, the fastest row of each (shape, m, weights) in bold and no other, the probes derived
# from the ratios and the summary's fastest kernels; then that the script refuses fixture records under
# results/, malformed records and unknown options.
# Usage: kernels_report_dry_run.sh TERN
set -euo pipefail
TERN=${1:?usage: kernels_report_dry_run.sh path/to/tern}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIXTURE=$ROOT/tests/fixtures/kernels-bench-sample.json
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tern-kernels-report-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v python3 > /dev/null || { echo "SKIP: python3 is missing (scripts/kernels-report.sh reads JSON with it)"; exit 77; }

# 1. The report from the fixture.
"$ROOT/scripts/kernels-report.sh" --tern "$TERN" --from "$FIXTURE" --out "$TMP/out" > "$TMP/stdout" 2> "$TMP/stderr" ||
  { cat "$TMP/stderr" >&2; fail "kernels-report.sh --from exited non-zero"; }

python3 - "$TERN" "$TMP/out" "$FIXTURE" <<'PY'
import glob, json, os, re, subprocess, sys

tern, out, fixture = sys.argv[1:4]


def fail(msg):
    sys.exit("FAIL: " + msg)


cpu_id = json.loads(subprocess.check_output([tern, "info", "--json"]))["cpu"]["cpu_id"]
mds = glob.glob(os.path.join(out, "*.md"))
if len(mds) != 1:
    fail("want one report in out/, got %s" % mds)
name = os.path.basename(mds[0])
if not re.fullmatch(re.escape(cpu_id) + r"-\d{4}-\d\d-\d\d\.md", name):
    fail("report name %s is not <cpu-id of tern info>-<date>.md (cpu-id %s)" % (name, cpu_id))
if glob.glob(os.path.join(out, "*.png")) or glob.glob(os.path.join(out, "*.json")):
    fail("--from without --plot wrote more than the report: %s" % os.listdir(out))
md = open(mds[0]).read()
if "FIXTURE — not a measurement" not in md:
    fail("the report does not say FIXTURE")
if "`%s`" % cpu_id not in md.splitlines()[0]:
    fail("the title does not name the cpu-id: %s" % md.splitlines()[0])
records = json.load(open(fixture))
if len(records) != 8 or not all(r.get("fixture") for r in records):
    fail("the fixture changed: want 8 records, each with \"fixture\": true")


def tables():
    """'## K x N = k x n' / '### m = M, T thread(s)' -> rows (lists of cells) of the table below it."""
    got, shape, sub = {}, None, None
    for line in md.splitlines():
        h2 = re.fullmatch(r"## K x N = (\d+) x (\d+)", line)
        h3 = re.fullmatch(r"### m = (\d+), (\d+) threads?", line)
        if h2:
            shape, sub = (int(h2[1]), int(h2[2])), None
        elif line.startswith("## "):
            shape, sub = None, None
        elif h3 and shape:
            sub = shape + (int(h3[1]), int(h3[2]))
            got[sub] = []
        elif sub and line.startswith("| ") and not line.startswith("| kernel |"):
            got[sub].append([c.strip() for c in line.strip("|").split("|")])
    return got


t = tables()
want_keys = sorted({(r["k"], r["n"], r["m"], r["threads"]) for r in records})
if sorted(t) != want_keys:
    fail("tables for %s, want %s" % (sorted(t), want_keys))
if md.index("## K x N = 2560 x 2560") > md.index("## K x N = 2560 x 6912"):
    fail("shapes not in the JSON's order")
seen = 0
for key, rows in t.items():
    recs = [r for r in records if (r["k"], r["n"], r["m"], r["threads"]) == key]
    if len(rows) != len(recs):
        fail("%s: %d rows, want %d" % (key, len(rows), len(recs)))
    fastest = {w: min(r["median_ns"] for r in recs if r["weights"] == w) for w in {r["weights"] for r in recs}}
    for row in rows:
        bold = all(c.startswith("**") and c.endswith("**") for c in row)
        if not bold and any("**" in c for c in row):
            fail("%s: a row is partly bold: %s" % (key, row))
        cells = [c.strip("*") for c in row]
        match = [r for r in recs if "`%s`" % r["name"] == cells[0] and r["weights"] == cells[4]]
        if len(match) != 1:
            fail("%s: row %s matches %d records" % (key, cells[:5], len(match)))
        r = match[0]
        want = ["`%s`" % r["name"], r["family"], r["isa"], r["backend"], r["weights"],
                "%.1f" % (r["median_ns"] / 1000), "%.1f" % r["gops"], "%.2f" % r["gbs"],
                "%.0f %%" % (100 * r["peak_ratio"]), "%.0f %%" % (100 * r["bw_ratio"])]
        if cells != want:
            fail("%s: row\n  %s\nwant\n  %s" % (key, cells, want))
        if bold != (r["median_ns"] == fastest[r["weights"]]):
            fail("%s: %s is %sbold" % (key, r["name"], "" if bold else "not "))
        seen += 1
if seen != len(records):
    fail("%d rows for %d records" % (seen, len(records)))

# Hard-coded, so that a formatter and a test sharing one mistake cannot both pass.
for line in ("| **`tern_gemv_t2_i8f32_mad_n8k1024u4__avx512vnni_llvm_N2560K2560M1`** | **mad** | **avx512vnni** | "
             "**llvm** | **hot** | **60.0** | **218.5** | **27.31** | **109 %** | **109 %** |",
             "| `tern_gemv_t2_i8f32_mad_n8k512u2__avx2_xbyak_N2560K2560M1` | mad | avx2 | xbyak | hot | 80.0 | "
             "163.8 | 20.48 | 82 % | 82 % |",
             "| `tern_gemm_t2_i8f32_lut_n64k1024u1g4t2__avx2_xbyak_N6912K2560M8` | lut | avx2 | xbyak | hot | "
             "1500.0 | 188.7 | 2.95 | 94 % | 12 % |"):
    if line not in md:
        fail("missing row: %s" % line)
# The fixture's ratios are those of a 25 GB/s bandwidth probe and a 200 GOPS peak probe.
if "read bandwidth **25.0 GB/s**" not in md or "int8 multiply-add peak **200 GOPS**" not in md:
    fail("the probes are not 25.0 GB/s and 200 GOPS")
# Summary: one row per (shape, m, weights), the fastest kernel and the fastest of each family / backend.
summary = md.split("## Summary\n", 1)[1].split("\n## ", 1)[0]
srows = [[c.strip() for c in l.strip("|").split("|")] for l in summary.splitlines()
         if l.startswith("| ") and not l.startswith("| K x N")]
want = [["2560x2560", "1", "1", "hot", "`tern_gemv_t2_i8f32_mad_n8k1024u4__avx512vnni_llvm_N2560K2560M1`", "60.0",
         "218.5", "27.31", "109 %", "109 %", "60.0", "—", "80.0", "60.0"],
        ["2560x2560", "1", "1", "cold", "`tern_gemv_t2_i8f32_mad_n8k1024u4__avx512vnni_xbyak_N2560K2560M1`", "70.0",
         "187.2", "23.41", "94 %", "94 %", "70.0", "90.0", "70.0", "—"],
        ["2560x6912", "1", "1", "cold", "`tern_gemv_t2_i8f32_lut_n64k1024u1g4__avx2_llvm_N6912K2560M1`", "190.0",
         "186.3", "23.28", "93 %", "93 %", "200.0", "190.0", "200.0", "190.0"],
        ["2560x6912", "8", "1", "hot", "`tern_gemm_t2_i8f32_mad_n8k1024u4t2__avx512vnni_llvm_N6912K2560M8`", "1000.0",
         "283.1", "4.42", "142 %", "18 %", "1000.0", "1500.0", "1500.0", "1000.0"]]
if srows != want:
    fail("summary rows\n  %s\nwant\n  %s" % ("\n  ".join(map(str, srows)), "\n  ".join(map(str, want))))
if "| fastest mad µs | fastest lut µs | fastest xbyak µs | fastest llvm µs |" not in summary:
    fail("summary columns")
version = subprocess.check_output([tern, "--version"]).decode().splitlines()[0]
if "tern: %s (git " % version not in md:
    fail("the report does not give tern's version (%s)" % version)
if "scripts/kernels-report.sh --tern" not in md or "--from " not in md:
    fail("the report does not give its command")
print("ok: %s" % mds[0])
PY

# 2. Fixture records under results/: refused, nothing written.
mkdir -p "$TMP/fake-root/scripts" "$TMP/fake-root/results"
cp "$ROOT/scripts/kernels-report.sh" "$TMP/fake-root/scripts/"
if "$TMP/fake-root/scripts/kernels-report.sh" --tern "$TERN" --from "$FIXTURE" > /dev/null 2> "$TMP/stderr-results"; then
  fail "kernels-report.sh wrote fixture records under results/"
fi
grep -q "refusing" "$TMP/stderr-results" || fail "no refusal: $(cat "$TMP/stderr-results")"
[ -z "$(find "$TMP/fake-root/results" -name '*.md')" ] || fail "a report was written under results/"

# 3. A record without its numbers: a one-line error naming the file, the record and the field.
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); del r[2]["gops"]; json.dump(r, open(sys.argv[2], "w"))' \
  "$FIXTURE" "$TMP/bad.json"
if "$ROOT/scripts/kernels-report.sh" --tern "$TERN" --from "$TMP/bad.json" --out "$TMP/out-bad" 2> "$TMP/stderr-bad"; then
  fail "kernels-report.sh accepted a record without gops"
fi
grep -q "bad.json: record 2 .*'gops'" "$TMP/stderr-bad" || fail "bad record message: $(cat "$TMP/stderr-bad")"

# 4. Usage errors.
if "$ROOT/scripts/kernels-report.sh" --frob 2> "$TMP/stderr-usage"; then fail "--frob accepted"; fi
grep -q "unknown argument '--frob'" "$TMP/stderr-usage" || fail "usage message: $(cat "$TMP/stderr-usage")"
"$ROOT/scripts/kernels-report.sh" --help | grep -q "Usage: scripts/kernels-report.sh" || fail "--help"
echo "KernelsReportDryRun: ok"
