#!/usr/bin/env bash
# Turns `tern kernels --bench --json` into a report: one markdown table per shape (K x N) and token
# count m, every kernel side by side (family, ISA, backend, hot and cold weights) against the
# in-process int8-MAC peak and read-bandwidth probes, the fastest row of each group in bold; with
# --plot, PNG charts. Writes results/kernels/<cpu-id>-<date>.md, and the raw JSON beside it.
#
# Usage: scripts/kernels-report.sh [--tern PATH] [--from FILE.json] [--out DIR] [--plot] [-- ARGS...]
#
#   --tern PATH      tern binary (default build/cli/tern)
#   --from FILE      run nothing: format FILE, the output of `tern kernels --bench --json`. When a
#                    FILE's sidecar <FILE minus .json>.run.json exists (this script writes one beside
#                    each JSON it measures), the machine, date, command and version come from it;
#                    otherwise from `tern info --json` and `tern --version` of --tern.
#   --out DIR        where the report goes (default results/kernels)
#   --plot           also draw <name>-gops-m<M>.png (GOPS per kernel, one chart per m, bars grouped
#                    by shape and weights) and <name>-gbs-m1-cold.png (weight GB/s of m = 1 with cold
#                    weights against the read-bandwidth probe) next to the report, with gnuplot
#                    (installed by scripts/setup.sh gnuplot-nox when missing)
#   -- ARGS          arguments for `tern kernels`. The run is
#                      tern kernels --bench --json --family all --backend all --weights both --m 1,8,128
#                    and an option given here replaces its default (--shapes, --m, -t, --isa, --all...)
#
# Output: <name>.md, with <name> = <cpu-id>-<date> (cpu-id from `tern info --json`, date UTC);
# when measuring also <name>.json (tern's records, as printed) and <name>.run.json (command, tern
# version, `tern info`, wall time, what other processes used meanwhile).
#
# Examples:
#   scripts/kernels-report.sh --plot                                   # every default shape, ~2 min
#   scripts/kernels-report.sh --plot -- --shapes 2560x2560,2560x6912 --m 1,128
#   scripts/kernels-report.sh --from results/kernels/x86_64-...-2026-11-26.json --out /tmp/r
#
# Records carrying "fixture": true (tests/fixtures/kernels-bench-sample.json) make a report headed
# FIXTURE, and are refused when the report would go under results/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "kernels-report: $*" >&2; exit 1; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

TERN="" FROM="" OUT="" PLOT=0
ARGV="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --plot) PLOT=1; shift ;;
    --) shift; break ;;
    --tern|--from|--out)
      [ $# -ge 2 ] || die "$1 needs a value (see --help)"
      case "$1" in --tern) TERN=$2 ;; --from) FROM=$2 ;; --out) OUT=$2 ;; esac
      shift 2 ;;
    *) die "unknown argument '$1' (see --help; arguments for tern kernels go after --)" ;;
  esac
done

# The tern kernels options: the defaults, each replaced by the same option after --.
declare -A VAL=([--family]=all [--backend]=all [--weights]=both [--m]="1,8,128")
ORDER=(--family --backend --weights --m)
PASS=()
[ -z "$FROM" ] || [ $# -eq 0 ] || die "--from formats an existing JSON: no tern kernels arguments after --"
while [ $# -gt 0 ]; do
  opt="" val=""
  case "$1" in
    --bench|--json) shift; continue ;;  # always given
    -h|--help) die "tern kernels --help prints no JSON: run it directly" ;;
    --*=*) opt=${1%%=*} val=${1#*=}; shift ;;
    --family|--isa|--backend|--shapes|--m|--weights|--threads|-t)
      [ $# -ge 2 ] || die "tern kernels $1 needs a value"
      opt=$1 val=$2; shift 2 ;;
    *) PASS+=("$1"); shift; continue ;;  # --all, or whatever tern kernels learns next: it checks
  esac
  [ "$opt" != -t ] || opt=--threads
  [ -n "${VAL[$opt]+x}" ] || ORDER+=("$opt")
  VAL[$opt]=$val
done
KERNEL_ARGS=(kernels --bench --json)
for o in "${ORDER[@]}"; do KERNEL_ARGS+=("$o" "${VAL[$o]}"); done
KERNEL_ARGS+=("${PASS[@]+"${PASS[@]}"}")

command -v python3 >/dev/null || die "python3 is needed to read the JSON (apt-get install python3)"
if [ "$(python3 -c 'import sys; print(sys.version_info >= (3, 7))')" != True ]; then
  die "python3 3.7 or newer is needed"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-kernels-report.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=$(abspath "${OUT:-$ROOT/results/kernels}")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TERN=$(abspath "${TERN:-$ROOT/build/cli/tern}")

tern_meta() {  # writes $WORK/meta.json: what `tern info`, `tern --version` and git say now
  [ -x "$TERN" ] || die "$TERN: no tern binary; build it first (./scripts/build.sh) or pass --tern PATH"
  "$TERN" info --json > "$WORK/info.json" || die "$TERN info --json failed"
  local version
  version="$("$TERN" --version 2>&1 | head -n 1) (git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
  python3 - "$WORK/info.json" "$version" "$(date -u +%F)" "$(env | grep '^TERN_' | sort | paste -sd ' ' -)" \
    "${TERN#"$ROOT"/}" > "$WORK/meta.json" <<'PY'
import json, sys
print(json.dumps({"info": json.load(open(sys.argv[1])), "tern_version": sys.argv[2], "date": sys.argv[3],
                  "env": sys.argv[4], "tern": sys.argv[5]}))
PY
}
meta_field() { python3 -c 'import json,sys; print(eval("json.load(open(sys.argv[1]))" + sys.argv[2]))' "$1" "$2"; }

if [ -n "$FROM" ]; then
  [ -f "$FROM" ] || die "$FROM: no such file"
  FROM=$(abspath "$FROM")
  SIDECAR=${FROM%.json}.run.json
  if [ -f "$SIDECAR" ]; then
    cp "$SIDECAR" "$WORK/meta.json"
  else
    SIDECAR=""
    tern_meta
  fi
  JSON=$FROM
  CPU_ID=$(meta_field "$WORK/meta.json" '["info"]["cpu"]["cpu_id"]')
  DATE=$(meta_field "$WORK/meta.json" '["date"]')
  NAME=$CPU_ID-$DATE
else
  tern_meta
  CPU_ID=$(meta_field "$WORK/meta.json" '["info"]["cpu"]["cpu_id"]')
  DATE=$(meta_field "$WORK/meta.json" '["date"]')
  NAME=$CPU_ID-$DATE
  JSON=$OUT/$NAME.json
  SIDECAR=$OUT/$NAME.run.json
  echo "kernels-report: running ${TERN#"$ROOT"/} ${KERNEL_ARGS[*]} (a minute or more; nothing prints until it ends)" >&2
  # One process; around it, the CPU time the rest of the machine used (/proc/stat minus tern's own).
  KR_RUN_ARGV=$ARGV python3 - "$WORK" "$TERN" "${KERNEL_ARGS[@]}" <<'PY' || exit 1
import json, os, resource, subprocess, sys, time

work, cmd = sys.argv[1], sys.argv[2:]


def busy_jiffies():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]  # user nice system irq softirq steal


load_before = open("/proc/loadavg").read().split()[0]
b0, t0 = busy_jiffies(), time.monotonic()
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.monotonic() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
others = max(0.0, ((busy_jiffies() - b0) / os.sysconf("SC_CLK_TCK") - own) / wall) if wall > 0 else 0.0
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
    sys.exit("kernels-report: tern kernels failed (exit %d)" % p.returncode)
try:
    json.loads(p.stdout)
except ValueError as e:
    sys.exit("kernels-report: tern kernels printed no JSON (%s); its stderr: %s"
             % (e, p.stderr.decode(errors="replace")[-500:]))
open(os.path.join(work, "records.json"), "wb").write(p.stdout)
meta = json.load(open(os.path.join(work, "meta.json")))
meta.update(command=cmd[1:], report_argv=os.environ["KR_RUN_ARGV"], wall_s=round(wall, 1), tern_cpu_s=round(own, 1), others_cores=round(others, 2),
            cores=os.cpu_count(), loadavg_before=load_before)
json.dump(meta, open(os.path.join(work, "meta.json"), "w"), indent=2)
PY
fi

# ---- the report ----
export KR_JSON=$JSON KR_META=$WORK/meta.json KR_WORK=$WORK KR_OUT=$OUT KR_NAME=$NAME KR_ROOT=$ROOT
MEASURED=1
[ -z "$FROM" ] || MEASURED=0
export KR_ARGV=$ARGV KR_PLOT=$PLOT KR_MEASURED=$MEASURED
python3 - <<'PY'
import json, os, statistics, sys

E = os.environ
root, out, name, work = E["KR_ROOT"], E["KR_OUT"], E["KR_NAME"], E["KR_WORK"]
measured = E["KR_MEASURED"] == "1"
src = os.path.join(work, "records.json") if measured else E["KR_JSON"]


def die(msg):
    sys.exit("kernels-report: " + msg)


def rel(path):
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


try:
    records = json.load(open(src))
except (OSError, ValueError) as e:
    die("%s: not JSON: %s" % (E["KR_JSON"], e))
if not isinstance(records, list) or not records:
    die("%s: want a non-empty JSON array of tern kernels --bench records" % E["KR_JSON"])
FIELDS = {"name": str, "family": str, "isa": str, "backend": str, "m": int, "k": int, "n": int, "threads": int,
          "weights": str, "median_ns": (int, float), "gops": (int, float), "gbs": (int, float),
          "peak_ratio": (int, float), "bw_ratio": (int, float)}
for i, r in enumerate(records):
    if not isinstance(r, dict):
        die("%s: record %d is not an object" % (E["KR_JSON"], i))
    for f, t in FIELDS.items():
        if not isinstance(r.get(f), t) or isinstance(r.get(f), bool):
            die("%s: record %d (%s): field '%s' missing or not a %s"
                % (E["KR_JSON"], i, r.get("name", "?"), f, getattr(t, "__name__", "number")))
    if r["weights"] not in ("hot", "cold"):
        die("%s: record %d: weights '%s', want hot or cold" % (E["KR_JSON"], i, r["weights"]))
    if r["median_ns"] <= 0:
        die("%s: record %d: median_ns %s" % (E["KR_JSON"], i, r["median_ns"]))
fixture = any(r.get("fixture") for r in records)
if fixture and (out + os.sep).startswith(os.path.join(root, "results") + os.sep):
    die("%s holds fixture records (\"fixture\": true): refusing to write them under results/ as a "
        "measurement; give --out elsewhere" % E["KR_JSON"])

meta = json.load(open(E["KR_META"]))
info = meta["info"]
cpu = info["cpu"]

# The probes: tern prints only the ratios; every record of one run shares them.
bw_probe = statistics.median([r["gbs"] / r["bw_ratio"] for r in records if r["bw_ratio"] > 0] or [0])
peak_probe = statistics.median([r["gops"] / (r["peak_ratio"] * r["threads"]) for r in records
                                if r["peak_ratio"] > 0] or [0])


def us(r):
    return "%.1f" % (r["median_ns"] / 1000)


def num(x, d=1):
    return "%.*f" % (d, x)


def pct(x):
    return "%.0f %%" % (100 * x)


def label(r):
    return "%s %s %s" % (r["family"], r["isa"], r["backend"])


def order(values, seen):
    return sorted(set(values), key=seen.index)


families = order([r["family"] for r in records], [r["family"] for r in records])
backends = order([r["backend"] for r in records], [r["backend"] for r in records])
shapes = order([(r["k"], r["n"]) for r in records], [(r["k"], r["n"]) for r in records])
ms = sorted({r["m"] for r in records})
threads = sorted({r["threads"] for r in records})
weights = [w for w in ("hot", "cold") if any(r["weights"] == w for r in records)]
labels = order([label(r) for r in records], [label(r) for r in records])
keys = [(label(r), r["k"], r["n"], r["m"], r["threads"], r["weights"]) for r in records]
all_variants = len(set(keys)) < len(keys) or "--all" in (meta.get("command") or [])


def group(k, n, m, t, w=None):
    return [r for r in records if (r["k"], r["n"], r["m"], r["threads"]) == (k, n, m, t)
            and (w is None or r["weights"] == w)]


def best(rows):
    return min(rows, key=lambda r: r["median_ns"]) if rows else None


def thr(t):
    return "%d thread%s" % (t, "" if t == 1 else "s")


L = []
L.append("# tern kernels: %s (`%s`), %s" % (cpu.get("brand", "?"), cpu["cpu_id"], meta["date"]))
L.append("")
if fixture:
    L.append("> **FIXTURE — not a measurement.** These records come from `%s`, made-up numbers in the "
             "format of `tern kernels --bench --json` for the script's test." % rel(E["KR_JSON"]))
    L.append("")
json_path = E["KR_JSON"]
json_link = (os.path.basename(json_path) if os.path.dirname(json_path) == out else rel(json_path))

def script(argv):
    return "`scripts/kernels-report.sh%s`" % ((" " + argv) if argv else "")


how = "Written by " + script(E["KR_ARGV"])
if meta.get("command") and not measured:
    how = "Measured by %s, formatted again by %s" % (script(meta.get("report_argv", "")), script(E["KR_ARGV"]))
if meta.get("command"):
    how += " from one run of `%s` (%d records, raw JSON: [%s](%s))" % (
        " ".join([meta["tern"]] + meta["command"]), len(records), os.path.basename(json_path), json_link)
else:
    how += " from %d records of `tern kernels --bench --json` in `%s`; the command that made them was not kept" % (
        len(records), rel(json_path))
L.append(how + ". tern: %s." % meta["tern_version"])
if meta.get("wall_s") is not None:
    L.append("The run took %.0f s; meanwhile other processes used %.2f of the %d cores on average "
             "(/proc/stat less tern's own CPU time; load average %s before it started). The machine may be "
             "shared: compare rows within one table, not across reports."
             % (meta["wall_s"], meta["others_cores"], meta["cores"], meta["loadavg_before"]))
L.append("")
isa = [k for k, v in sorted(cpu.get("isa", {}).items()) if v]
L.append("Machine: %s, family %s model %s, %s cores, L2 %d KiB, L3 %d MiB; ISA: %s." % (
    cpu.get("brand", "?"), cpu.get("family", "?"), cpu.get("model", "?"), cpu.get("cores", "?"),
    cpu.get("l2_bytes", 0) // 1024, cpu.get("l3_bytes", 0) // 2**20, ", ".join(isa)))
L.append("")
L.append("Probes, measured by the same process on one thread: read bandwidth **%.1f GB/s** (one thread "
         "streaming a buffer far larger than L3), int8 multiply-add peak **%.0f GOPS** (independent "
         "vpmaddubsw + vpmaddwd + vpaddd chains on 32-byte registers: an AVX2 figure, which AVX-512 VNNI "
         "kernels can pass)." % (bw_probe, peak_probe))
L.append("")
L.append(("Every variant of each family, ISA and backend was timed (`--all`); the charts show the fastest "
          "of each. " if all_variants else
          "Each kernel is the default config of its family for the ISA, backend, shape and m (the variant "
          "the model uses without tuning). ") +
         "Every kernel was verified bit-exact against runtime/ref before it was timed. *median µs*: one call, after a warm-up, over at least 10 calls and 0.2 s. *GOPS*: "
         "2·m·K·N / time (a ternary multiply-add counts as two int8 ops). *weight GB/s*: packed weight "
         "bytes / time; for m > 1 the same weights serve m tokens, so it falls as m grows. *% peak*: GOPS "
         "/ (peak probe × threads). *% BW*: weight GB/s / bandwidth probe. *hot*: the same weights every "
         "call, in the caches when they fit; *cold*: copies spanning 4 × L3 used in turn, so each call "
         "streams its weights from DRAM (above 100 % of the probe, hot weights came from a cache). "
         "**Bold**: the fastest row of its shape, m and weights.")
L.append("")
missing = ["%s on %s" % (f, b) for f in families for b in backends
           if not any(r["family"] == f and r["backend"] == b for r in records)]
if missing:
    L.append("No records for %s: `tern kernels` offers no such kernel here, so the tables have no rows "
             "for it (not a failed run)." % ", ".join(missing))
    L.append("")

# ---- summary: the fastest kernel per group, and the fastest of each family and backend ----
L.append("## Summary")
L.append("")
L.append("The fastest kernel of each shape, m and weights; then the fastest time of each family and of "
         "each backend (µs), so the families and backends compare at a glance.")
L.append("")
cols = ["fastest %s µs" % f for f in families] + ["fastest %s µs" % b for b in backends]
L.append("| K x N | m | threads | weights | fastest kernel | µs | GOPS | weight GB/s | % peak | % BW | "
         + " | ".join(cols) + " |")
L.append("|---|---:|---:|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(cols))
for k, n in shapes:
    for m in ms:
        for t in threads:
            for w in weights:
                rows = group(k, n, m, t, w)
                if not rows:
                    continue
                b = best(rows)
                extra = []
                for key, vals in (("family", families), ("backend", backends)):
                    for v in vals:
                        bb = best([r for r in rows if r[key] == v])
                        extra.append(us(bb) if bb else "—")
                L.append("| %dx%d | %d | %d | %s | `%s` | %s | %s | %s | %s | %s | %s |" % (
                    k, n, m, t, w, b["name"], us(b), num(b["gops"]), num(b["gbs"], 2), pct(b["peak_ratio"]),
                    pct(b["bw_ratio"]), " | ".join(extra)))
L.append("")

if E["KR_PLOT"] == "1":
    for m in ms:
        L.append("![GOPS per kernel, m = %d](%s-gops-m%d.png)" % (m, name, m))
        L.append("")
    if any(r["m"] == 1 and r["weights"] == "cold" for r in records):
        L.append("![weight GB/s of m = 1, cold weights, against the read-bandwidth probe](%s-gbs-m1-cold.png)"
                 % name)
        L.append("")

# ---- one table per shape and m ----
for k, n in shapes:
    L.append("## K x N = %d x %d" % (k, n))
    L.append("")
    for m in ms:
        for t in threads:
            rows = group(k, n, m, t)
            if not rows:
                continue
            L.append("### m = %d, %s" % (m, thr(t)))
            L.append("")
            L.append("| kernel | family | ISA | backend | weights | median µs | GOPS | weight GB/s | % peak | % BW |")
            L.append("|---|---|---|---|---|---:|---:|---:|---:|---:|")
            fastest = {w: best([r for r in rows if r["weights"] == w])["median_ns"]
                       for w in weights if any(r["weights"] == w for r in rows)}
            for r in sorted(rows, key=lambda r: weights.index(r["weights"])):  # stable: tern's order
                cells = ["`%s`" % r["name"], r["family"], r["isa"], r["backend"], r["weights"], us(r),
                         num(r["gops"]), num(r["gbs"], 2), pct(r["peak_ratio"]), pct(r["bw_ratio"])]
                if r["median_ns"] == fastest[r["weights"]]:
                    cells = ["**%s**" % c for c in cells]
                L.append("| " + " | ".join(cells) + " |")
            L.append("")

L.append("## Command")
L.append("")
if meta.get("command"):
    if meta.get("env"):
        L.append("Environment: `%s`." % meta["env"].replace(root + "/", ""))
        L.append("")
    L.append("```sh")
    argv = E["KR_ARGV"] if measured else meta.get("report_argv", "")
    L.append("scripts/kernels-report.sh%s   # which ran:" % ((" " + argv) if argv else ""))
    L.append(" ".join([meta["tern"]] + meta["command"]))
    L.append("```")
else:
    L.append("```sh")
    L.append("scripts/kernels-report.sh %s" % E["KR_ARGV"])
    L.append("```")
    L.append("")
    L.append("Machine and version above: `tern info --json` and `tern --version` of the binary given, at "
             "formatting time (no `.run.json` sidecar beside the JSON).")
L.append("")

with open(os.path.join(out, name + ".md"), "w") as f:
    f.write("\n".join(L))
print(os.path.join(out, name + ".md"))

# ---- plot data: one row per cluster, one column per kernel label present in that chart ----
t0 = threads[0]


def chart(fname, clusters, value, extra=None):
    """clusters: [(xtic, rows)]; writes <fname>.dat and <fname>.series (global label index, label)."""
    present = [lab for lab in labels if any(label(r) == lab for _x, rows in clusters for r in rows)]
    if not present:
        return
    with open(os.path.join(work, fname + ".dat"), "w") as f:
        for xtic, rows in clusters:
            cells = ['"%s"' % xtic]
            for lab in present:
                b = best([r for r in rows if label(r) == lab])
                cells.append("%.3f" % value(b) if b else "-")
            if extra is not None:
                cells.append("%.3f" % extra)
            f.write(" ".join(cells) + "\n")
    with open(os.path.join(work, fname + ".series"), "w") as f:
        f.write("".join("%d\t%s\n" % (labels.index(lab) + 1, lab) for lab in present))


for m in ms:
    chart("gops-m%d" % m, [("%dx%d %s" % (k, n, w), group(k, n, m, t0, w))
                           for k, n in shapes for w in weights if group(k, n, m, t0, w)], lambda r: r["gops"])
chart("gbs-m1-cold", [("%dx%d" % (k, n), group(k, n, 1, t0, "cold"))
                      for k, n in shapes if group(k, n, 1, t0, "cold")], lambda r: r["gbs"], bw_probe)
variants = "every variant (--all)" if all_variants else "default config of each family / ISA / backend"
with open(os.path.join(work, "plot.env"), "w") as f:
    f.write("MS='%s'\nSUBTITLE='%s, %s'\nFIXTURE=%d\n" % (" ".join(map(str, ms)), thr(t0), variants, fixture))
PY

if [ -z "$FROM" ]; then
  cp "$WORK/records.json" "$JSON"
  cp "$WORK/meta.json" "$SIDECAR"
  echo "$JSON"
fi

if [ "$PLOT" = 1 ]; then
  command -v gnuplot >/dev/null || "$ROOT/scripts/setup.sh" gnuplot-nox
  command -v gnuplot >/dev/null || die "gnuplot is missing and scripts/setup.sh gnuplot-nox did not install it"
  # shellcheck disable=SC1091
  source "$WORK/plot.env"
  term="png size 1200,650 font ',11'"
  gnuplot -e 'set terminal pngcairo' 2>/dev/null && term="pngcairo size 1200,650 font ',11'"
  title="$NAME\\n$SUBTITLE"
  [ "$FIXTURE" = 0 ] || title="FIXTURE (made-up numbers): $title"
  series() {  # chart [title of the extra last column]: one bar series per kernel label, one colour
    local plot="plot" c=2 lt lab x=":xtic(1)"  # per label in every chart
    while IFS=$'\t' read -r lt lab; do
      plot="$plot '$WORK/$1.dat' using $c$x title '$lab' lt $lt,"
      c=$((c + 1)) x=""
    done < "$WORK/$1.series"
    [ -z "${2:-}" ] || plot="$plot '$WORK/$1.dat' using $c title '$2' lc rgb 'black' fs pattern 4,"
    echo "${plot%,}"
  }
  {
    echo "set terminal $term"
    echo "set termoption noenhanced"
    echo "set datafile missing '-'"
    echo "set style data histograms; set style histogram clustered gap 1"
    echo "set style fill solid 0.85 border -1; set boxwidth 0.9"
    echo "set grid ytics; set key outside right top; set yrange [0:*]; set offsets 0, 0, graph 0.08, 0"
    for m in $MS; do
      [ -s "$WORK/gops-m$m.dat" ] || continue
      echo "set output '$OUT/$NAME-gops-m$m.png'"
      echo "set title \"GOPS per kernel, m = $m (2 m K N / median time)\\n$title\""
      echo "set ylabel 'GOPS'"
      series "gops-m$m"
    done
    if [ -s "$WORK/gbs-m1-cold.dat" ]; then
      echo "set output '$OUT/$NAME-gbs-m1-cold.png'"
      echo "set title \"m = 1, cold weights: packed weight bytes per second vs the read-bandwidth probe\\n$title\""
      echo "set ylabel 'GB/s'"
      series gbs-m1-cold "read bandwidth probe"
    fi
  } > "$WORK/plot.gp"
  gnuplot "$WORK/plot.gp"
  for m in $MS; do [ ! -f "$OUT/$NAME-gops-m$m.png" ] || echo "$OUT/$NAME-gops-m$m.png"; done
  [ ! -f "$OUT/$NAME-gbs-m1-cold.png" ] || echo "$OUT/$NAME-gbs-m1-cold.png"
fi
