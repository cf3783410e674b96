#!/usr/bin/env bash
# Compares tern with llama.cpp (and/or bitnet.cpp) on this machine: the same GGUF files, the same
# tests (llama-bench's pp/tg), the same thread counts, runs interleaved so each pair of numbers is
# measured side by side. Writes results/compare/<cpu-id>-<date>.md (and PNG charts with --plot);
# -max-<isa> is added under TERN_MAX_ISA, -depth<N> with -d N, and -2, -3... rather than replace a report.
#
# Usage: scripts/compare.sh [--llama-bench PATH] [--bitnet-bench PATH] [-m FILE]... [options]
#
#   --llama-bench PATH   llama.cpp's llama-bench (your own build; this script never builds a peer)
#   --bitnet-bench PATH  bitnet.cpp's llama-bench (build/bin/llama-bench of microsoft/BitNet)
#   -m FILE              a GGUF model; repeat for several. Default: models/2b4t-tq2_0.gguf (the
#                        2B4T-shaped synthetic model, TQ2_0 + Q6_K head), made with `tern synth` if
#                        missing; with --bitnet-bench also its I2_S twin models/2b4t-i2_s.gguf.
#                        llama.cpp runs every file except I2_S ones (type 36 means something else
#                        upstream); bitnet.cpp runs the I2_S ones; tern runs all.
#   --reps N             pairs per model (default 3): tern, peer, tern, peer, ... each one process
#                        with -r 1 after its own warm-up
#   -t LIST -p N -n N    thread counts and prompt / generation lengths (default 1,2 / 128 / 32)
#   -d N                 also run every test after N tokens of context (llama-bench's -d 0,N:
#                        "tg32 @ d1024"); default 0, only the empty context
#   --tern PATH          tern binary (default build/cli/tern)
#   --out DIR            where the report goes (default results/compare; with --dry-run a new
#                        temporary folder)
#   --keep DIR           keep every run's JSON output and stderr there (default: deleted)
#   --idle-timeout S     before each run, wait up to S seconds (default 300) until the machine is
#                        idle: other processes use less than --idle-frac (default 0.5) of the
#                        cores and leave free the cores -t needs (less than cores - threads + 0.5).
#                        Pairs with a run that started busy, or ran for 2 s beside that much other
#                        work, are marked busy and left out of the summary when some pair was quiet.
#   --plot               also draw <name>-tps.png and <name>-roofline.png next to the report with
#                        gnuplot (installed by scripts/setup.sh gnuplot-nox when missing)
#   --dry-run STUB       test mode: STUB stands in for llama-bench (tests/fixtures/fake-llama-bench.sh);
#                        no idle waiting, the report says DRY RUN and goes to a temporary folder
#   --report-from DIR    run nothing: write the report again from a --keep DIR (with --out, --plot)
#
# Examples:
#   scripts/compare.sh --llama-bench ~/llama.cpp/build/bin/llama-bench
#   scripts/compare.sh --llama-bench ~/llama.cpp/build/bin/llama-bench \
#       -m models/2b4t-tq2_0.gguf -m models/2b4t-tq1_0.gguf --reps 5 --plot
#   scripts/compare.sh --dry-run tests/fixtures/fake-llama-bench.sh -m tiny.gguf --reps 2
#
# "Idle" is measured as CPU time in /proc/stat over 2 s rather than by the load average: the
# 1-minute load average still counts this script's previous run for a minute after it ends.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "compare: $*" >&2; exit 1; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# ---- the report: results/compare/<name>.md from the runs in $WORK (and the PNGs with --plot) ----
write_report() {
  export CMP_WORK=$WORK CMP_OUT=$OUT CMP_NAME=$NAME CMP_DATE=$DATE CMP_ROOT=$ROOT CMP_CORES=$CORES
  export CMP_DRY=$DRY_STUB CMP_REPS=$REPS CMP_THREADS=$THREADS CMP_PROMPT=$PROMPT CMP_GEN=$GEN CMP_DEPTH=$DEPTH
  export CMP_IDLE_MAX=$IDLE_MAX CMP_IDLE_TIMEOUT=$IDLE_TIMEOUT CMP_ARGV=$ARGV CMP_PLOT=$PLOT
  export CMP_TERN_ENV=${TERN_ENV:-}
  python3 - <<'PY'
import json, os, statistics, sys

E = os.environ
work, out, name, root = E["CMP_WORK"], E["CMP_OUT"], E["CMP_NAME"], E["CMP_ROOT"]
dry = E["CMP_DRY"]
PEERS = ["llama.cpp", "bitnet.cpp"]


def rel(path):
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def load(path):
    with open(path) as f:
        return json.load(f)


info = load(os.path.join(work, "info.json"))
models = {}
for line in open(os.path.join(work, "models.tsv")):
    i, path, weights, size = line.rstrip("\n").split("\t")
    models[int(i)] = {"path": path, "weights": weights, "size": int(size)}
versions = [l.rstrip("\n").split("\t") for l in open(os.path.join(work, "versions.tsv"))]

runs = []
for line in open(os.path.join(work, "runs.tsv")):
    f = line.rstrip("\n").split("\t")
    runs.append(dict(seq=int(f[0]), model=int(f[1]), engine=f[2], rep=int(f[3]), rc=int(f[4]), json=f[5],
                     err=f[6], wall=float(f[7]), waited=int(f[8]), busy_start=f[9], others=f[10],
                     busy=f[11] == "1", loadavg=f[12], cmd=f[13], peak=f[14] if len(f) > 14 else f[10]))

# results[(model, engine, rep)][(test, threads)] = the JSON record (one sample: -r 1)
results = {}
bad = []  # (run, why)
for r in runs:
    if r["rc"] != 0:
        bad.append((r, "exit %d" % r["rc"]))
        continue
    try:
        records = load(r["json"])
        if not isinstance(records, list):
            raise ValueError("not a JSON array")
    except (OSError, ValueError) as e:
        bad.append((r, "unreadable JSON output: %s" % e))
        continue
    got = {}
    for rec in records:
        test = "pp%d" % rec["n_prompt"] if rec["n_prompt"] > 0 else "tg%d" % rec["n_gen"]
        if rec.get("n_depth", 0) > 0:
            test += " @ d%d" % rec["n_depth"]  # llama-bench's label
        ts = rec["samples_ts"][0] if rec.get("samples_ts") else rec["avg_ts"]
        rec["_ts"] = float(ts)
        got[(test, int(rec["n_threads"]))] = rec
    if r["engine"] != "tern" and not dry and any(
            rec.get("build_commit") == "fake-fixture" for rec in records):
        sys.exit("compare: %s is the test fixture (fake-llama-bench): refusing to report its numbers "
                 "as a measurement; use --dry-run" % r["cmd"].split()[0])
    results[(r["model"], r["engine"], r["rep"])] = got

threads = [int(t) for t in E["CMP_THREADS"].split(",")]
depth = int(E.get("CMP_DEPTH") or 0)
tests = ([("pp%s" % E["CMP_PROMPT"])] if int(E["CMP_PROMPT"]) > 0 else []) + \
        ([("tg%s" % E["CMP_GEN"])] if int(E["CMP_GEN"]) > 0 else [])
if depth > 0:
    tests += ["%s @ d%d" % (t, depth) for t in tests]
depth_arg = " -d 0,%d" % depth if depth > 0 else ""
reps = int(E["CMP_REPS"])
engines_of = {m: sorted({r["engine"] for r in runs if r["model"] == m},
                        key=lambda e: (e != "tern", e)) for m in models}
peers_used = [p for p in PEERS if any(p in e for e in engines_of.values())]


def ts_of(m, engine, rep, test, t):
    rec = results.get((m, engine, rep), {}).get((test, t))
    return rec["_ts"] if rec else None


def med(v):
    return statistics.median(v) if v else None


def f2(x):
    return "—" if x is None else "%.2f" % x


def spread(v):
    if not v:
        return "—"
    return "%.2f" % med(v) if len(v) == 1 else "%.2f (%.2f–%.2f)" % (med(v), min(v), max(v))


def mb(x):
    return "—" if x is None else ("%.1f MB" % (x / 1e6) if x >= 1e6 else "%.1f kB" % (x / 1e3))


def pct(x):
    return "—" if x is None else "%.1f %%" % x


def others_of(m, engine, rep):
    """Cores others used during the run: 'mean, peak' (peak: the most in any 2 s)."""
    for r in runs:
        if (r["model"], r["engine"], r["rep"]) == (m, engine, rep):
            return r["others"] if r["others"] in ("-", "") else "%s, %s" % (r["others"], r["peak"])
    return "-"


# ---- numbers ----
idle_max = float(E["CMP_IDLE_MAX"])


def run_of(m, engine, k):
    for r in runs:
        if (r["model"], r["engine"], r["rep"]) == (m, engine, k):
            return r
    return None


def disturbed(r):
    """Started on a busy machine, or others used idle_max cores or more during 2 s of it."""
    return r is not None and (r["busy"] or (r["peak"] not in ("-", "") and float(r["peak"]) >= idle_max))


# A pair is busy when either of its runs is disturbed. The summary uses the quiet pairs when there are
# any (all pairs otherwise, and it says so); the pair table lists every one.
summary = []  # one row per (model, peer, test, threads)
pairs = []
for m in sorted(models):
    for p in [e for e in engines_of[m] if e != "tern"] or [None]:
        quiet = [k for k in range(1, reps + 1)
                 if not disturbed(run_of(m, "tern", k)) and not (p and disturbed(run_of(m, p, k)))]
        used = quiet or list(range(1, reps + 1))
        for test in tests:
            for t in threads:
                recs = [results[(m, "tern", k)][(test, t)] for k in used
                        if (test, t) in results.get((m, "tern", k), {})]
                tern_ts = [r["_ts"] for r in recs]
                bpt = med([float(r["bytes_per_token"]) for r in recs if "bytes_per_token" in r])
                bw = med([float(r["read_bandwidth_gbs"]) for r in recs if r.get("read_bandwidth_gbs")])
                ratios, peer_ts = [], []
                for k in range(1, reps + 1):
                    a = ts_of(m, "tern", k, test, t)
                    b = ts_of(m, p, k, test, t) if p else None
                    ratio = a / b if a is not None and b else None
                    if k in used and b is not None:
                        peer_ts.append(b)
                    if k in used and ratio is not None:
                        ratios.append(ratio)
                    if p:
                        pairs.append(dict(model=m, test=test, threads=t, rep=k, peer=p, tern=a, other=b,
                                          ratio=ratio, others=[others_of(m, "tern", k), others_of(m, p, k)],
                                          busy=k not in quiet))

                def roof(v):
                    return 100.0 * med(v) * bpt / (bw * 1e9) if v and bpt and bw else None

                summary.append(dict(model=m, test=test, threads=t, peer=p, tern=tern_ts, other=peer_ts,
                                    ratios=ratios, bpt=bpt, bw=bw, tern_roof=roof(tern_ts),
                                    peer_roof=roof(peer_ts), used=len(used), quiet=bool(quiet),
                                    tern_gbs=med(tern_ts) * bpt / 1e9 if tern_ts and bpt else None,
                                    peer_gbs=med(peer_ts) * bpt / 1e9 if peer_ts and bpt else None))


def model_label(m):
    return "%s (%s, %.0f MiB)" % (os.path.basename(models[m]["path"]), models[m]["weights"],
                                  models[m]["size"] / 2**20)


# ---- markdown ----
cpu = info["cpu"]
peer_names = " and ".join(peers_used) or "no peer"
L = []
L.append("# tern vs %s: %s (`%s`), %s" % (peer_names, cpu.get("brand", "?"), cpu["cpu_id"], E["CMP_DATE"]))
L.append("")
if dry:
    stubbed = [e for e, _v, b in versions if b == dry] or ["the peers"]
    L.append("> **DRY RUN — not a measurement.** The numbers of %s below come from `%s`, a test stub that "
             "prints made-up numbers in llama-bench's JSON format. tern's numbers are real but meaningless "
             "beside them." % (" and ".join(stubbed), rel(dry)))
    L.append("")
L.append("Written by `scripts/compare.sh %s`. Every engine ran the same GGUF files with `-p %s -n %s -t %s%s`, "
         "one repetition per process (`-r 1`, after the engine's own warm-up), interleaved "
         "(tern, peer, tern, peer, …) %d times per model, so each ratio compares two runs made back to back. "
         % (E["CMP_ARGV"], E["CMP_PROMPT"], E["CMP_GEN"], E["CMP_THREADS"], depth_arg, reps) +
         ("Before each run the script waited until other processes used less than %s of the %s cores "
          "(CPU time in /proc/stat over 2 s), for at most %s s."
          % (E["CMP_IDLE_MAX"], E["CMP_CORES"], E["CMP_IDLE_TIMEOUT"]) if not dry else
          "Dry runs do not wait for an idle machine."))
L.append("")
isa = [k for k, v in sorted(cpu.get("isa", {}).items()) if v]
L.append("Machine: %s, family %s model %s, %s cores, L2 %d KiB, L3 %d MiB; ISA: %s."
         % (cpu.get("brand", "?"), cpu.get("family", "?"), cpu.get("model", "?"), cpu.get("cores", "?"),
            cpu.get("l2_bytes", 0) // 1024, cpu.get("l3_bytes", 0) // 2**20, ", ".join(isa)))
tern_notes = []
for r in runs:
    if r["engine"] == "tern" and r["rc"] == 0:
        tern_notes = [l.strip()[len("tern bench: "):] for l in open(r["err"], errors="replace")
                      if l.startswith("tern bench: ")]
        break
if tern_notes:
    L.append("tern bench said: " + "; ".join("`%s`" % n.replace(root + "/", "") for n in tern_notes) + ".")
L.append("")

busy_runs = [r for r in runs if r["busy"]]
noisy = [r for r in runs if r["peak"] not in ("-", "") and float(r["peak"]) >= idle_max]
if busy_runs or noisy:
    L.append("**Warning: the machine was busy.** %d of %d runs started with other processes using at least "
             "%s cores after waiting %s s; during %d runs other processes used at least %s cores for 2 s or more "
             "(pairs marked **busy** below). Treat those pairs with suspicion."
             % (len(busy_runs), len(runs), E["CMP_IDLE_MAX"], E["CMP_IDLE_TIMEOUT"], len(noisy),
                E["CMP_IDLE_MAX"]))
    L.append("")

L.append("## Summary")
L.append("")
L.append("*pairs*: the pairs the row uses: the quiet ones (neither run started busy or ran for 2 s beside "
         "other work of %s cores or more) when there are any, else all of them. "
         "t/s: median over those pairs' runs (min–max). tern/peer: the ratio within each pair, min / median / max; "
         "above 1 tern is faster. Bytes/token and the read bandwidth come from tern bench (the same file for "
         "both engines): the least memory a token must read, and the DRAM read bandwidth tern measured with "
         "that many threads; roofline = t/s × bytes/token ÷ read bandwidth (decode is bandwidth-bound at "
         "100 %%; prefill reads the weights once per batch, so its share stays small)." % E["CMP_IDLE_MAX"])
L.append("")
L.append("| model | test | threads | pairs | tern t/s | peer | peer t/s | tern/peer min | median | max "
         "| bytes/token | read BW | tern roofline | peer roofline |")
L.append("|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in summary:
    rs = s["ratios"]
    L.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        model_label(s["model"]), s["test"], s["threads"],
        "%d of %d" % (s["used"], reps) + ("" if s["quiet"] else ", all busy"), spread(s["tern"]), s["peer"] or "—",
        spread(s["other"]) if s["peer"] and s["other"] else ("failed" if s["peer"] else "—"),
        f2(min(rs) if rs else None), f2(med(rs)), f2(max(rs) if rs else None), mb(s["bpt"]),
        "—" if s["bw"] is None else "%.1f GB/s" % s["bw"], pct(s["tern_roof"]), pct(s["peer_roof"])))
L.append("")

if E["CMP_PLOT"] == "1":
    L.append("![tokens per second](%s-tps.png)" % name)
    L.append("")
    L.append("![decode GB/s against the read-bandwidth roofline](%s-roofline.png)" % name)
    L.append("")

if pairs:
    L.append("## Every pair")
    L.append("")
    L.append("Pair k is tern's k-th run and the peer's k-th run, made one after the other. *others*: cores "
             "that other processes used during the tern run / the peer run, on average and at most over 2 s "
             "(sampled from /proc twice a second); **busy**: left out of the summary when some pair was quiet.")
    L.append("")
    L.append("| model | test | threads | pair | tern t/s | peer | peer t/s | tern/peer | others |")
    L.append("|---|---|---:|---:|---:|---|---:|---:|---|")
    for p in sorted(pairs, key=lambda p: (p["model"], p["peer"], tests.index(p["test"]), p["threads"], p["rep"])):
        L.append("| %s | %s | %d | %d | %s | %s | %s | %s | %s |" % (
            os.path.basename(models[p["model"]]["path"]), p["test"], p["threads"], p["rep"], f2(p["tern"]),
            p["peer"], f2(p["other"]), f2(p["ratio"]),
            " / ".join(p["others"]) + (" **busy**" if p["busy"] else "")))
    L.append("")

if bad:
    L.append("## Failures")
    L.append("")
    for r, why in bad:
        L.append("`%s` on %s: %s. Its last lines on stderr:" % (r["engine"], os.path.basename(
            models[r["model"]]["path"]), why))
        L.append("")
        L.append("```")
        try:
            tail = open(r["err"], errors="replace").read().splitlines()[-12:]
        except OSError:
            tail = ["(no stderr kept)"]
        L.extend(tail)
        L.append("```")
        L.append("")

L.append("## Engines")
L.append("")
L.append("| engine | version | binary |")
L.append("|---|---|---|")
for engine, version, binary in versions:
    commits = sorted({str(rec.get("build_commit")) + " (build %s)" % rec.get("build_number")
                      for (m, e, k), got in results.items() if e == engine for rec in got.values()})
    v = version.replace("|", "\\|")
    if engine != "tern" and commits:
        v += "; JSON build_commit " + ", ".join(commits)
    L.append("| %s | %s | `%s` |" % (engine, v, rel(binary)))
L.append("")
L.append("## Commands")
L.append("")
L.append("Each ran once per pair, in this order, with its own warm-up; outputs were read as JSON.")
L.append("")
if E.get("CMP_TERN_ENV"):
    L.append("Environment: `%s`." % E["CMP_TERN_ENV"].replace(root + "/", ""))
    L.append("")
L.append("```sh")
seen = []
for r in runs:
    c = r["cmd"].replace(root + "/", "")
    if c not in seen:
        seen.append(c)
        L.append(c)
L.append("```")
L.append("")

md = os.path.join(out, name + ".md")
with open(md, "w") as f:
    f.write("\n".join(L))
print(md)

# ---- plot data (gnuplot reads these when --plot is given) ----
eng_cols = ["tern"] + peers_used
with open(os.path.join(work, "tps.dat"), "w") as f:
    f.write("# cluster " + " ".join("%s %s_min %s_max" % (e, e, e) for e in eng_cols) + "\n")
    for m in sorted(models):
        for test in tests:
            for t in threads:
                row = ['"%s %s %dt"' % (models[m]["weights"], test, t)]
                for e in eng_cols:
                    v = [x for x in (ts_of(m, e, k, test, t) for k in range(1, reps + 1)) if x is not None]
                    row += ["%.3f %.3f %.3f" % (med(v), min(v), max(v)) if v else "- - -"]
                f.write(" ".join(row) + "\n")
with open(os.path.join(work, "roof.dat"), "w") as f:
    f.write("# cluster " + " ".join("%s_GBs" % e for e in eng_cols) + " read_bandwidth_GBs\n")
    for m in sorted(models):
        for s in summary:
            if s["model"] != m or not s["test"].startswith("tg") or s["bw"] is None:
                continue
            if s["peer"] != ([e for e in engines_of[m] if e != "tern"] or [None])[0]:
                continue  # one row per model and thread count
            row = ['"%s %s %dt"' % (models[m]["weights"], s["test"], s["threads"])]
            for e in eng_cols:
                if e == "tern":
                    row.append("%.3f" % s["tern_gbs"] if s["tern_gbs"] else "-")
                else:
                    g = [x for x in summary if x["model"] == m and x["test"] == s["test"]
                         and x["threads"] == s["threads"] and x["peer"] == e]
                    row.append("%.3f" % g[0]["peer_gbs"] if g and g[0]["peer_gbs"] else "-")
            row.append("%.3f" % s["bw"])
            f.write(" ".join(row) + "\n")
with open(os.path.join(work, "engines.txt"), "w") as f:
    f.write(" ".join(eng_cols) + "\n")
PY

  if [ "$PLOT" = 1 ]; then
    command -v gnuplot >/dev/null || "$ROOT/scripts/setup.sh" gnuplot-nox
    command -v gnuplot >/dev/null || die "gnuplot is missing and scripts/setup.sh gnuplot-nox did not install it"
    read -r -a ENG < "$WORK/engines.txt"
    term="png size 1100,600 font ',11'"
    gnuplot -e 'set terminal pngcairo' 2>/dev/null && term="pngcairo size 1100,600 font ',11'"
    title="$CPU_ID, $DATE"
    [ -z "$DRY_STUB" ] || title="DRY RUN (stub numbers): $title"
    {
      echo "set terminal $term"
      echo "set termoption noenhanced"
      echo "set datafile missing '-'"
      echo "set style data histograms; set style fill solid 0.85 border -1; set boxwidth 0.9"
      echo "set grid ytics; set key top left; set yrange [0:*]; set xtics rotate by -25"
      echo "set output '$OUT/$NAME-tps.png'"
      echo "set title \"tokens per second: median of $REPS runs, error bars min to max\\n$title\""
      echo "set ylabel 'tokens/s'"
      echo "set style histogram errorbars gap 1 lw 1"
      plot="plot"
      for ((k = 0; k < ${#ENG[@]}; k++)); do
        c=$((2 + 3 * k))
        [ $k = 0 ] && x=":xtic(1)" || x=""
        plot="$plot '$WORK/tps.dat' using $c:$((c + 1)):$((c + 2))$x title '${ENG[$k]}',"
      done
      echo "${plot%,}"
      echo "set output '$OUT/$NAME-roofline.png'"
      echo "set title \"decode: bytes read per second (t/s x bytes/token) vs the read-bandwidth roofline\\n$title\""
      echo "set ylabel 'GB/s (t/s x bytes/token)'"
      echo "set style histogram clustered gap 1"
      plot="plot"
      for ((k = 0; k < ${#ENG[@]}; k++)); do
        [ $k = 0 ] && x=":xtic(1)" || x=""
        plot="$plot '$WORK/roof.dat' using $((2 + k))$x title '${ENG[$k]}',"
      done
      echo "$plot '$WORK/roof.dat' using $((2 + ${#ENG[@]})) title 'read bandwidth (roofline)' fs pattern 4"
    } > "$WORK/plot.gp"
    gnuplot "$WORK/plot.gp"
    echo "$OUT/$NAME-tps.png"
    echo "$OUT/$NAME-roofline.png"
  fi
}

LLAMA_BENCH="" BITNET_BENCH="" DRY_STUB="" TERN="" OUT="" KEEP="" PLOT=0 REPORT_FROM=""
REPS=3 THREADS=1,2 PROMPT=128 GEN=32 DEPTH=0 IDLE_TIMEOUT="" IDLE_FRAC=0.5
MODELS=()
ARGV="$*"
while [ $# -gt 0 ]; do
  case "$1" in -h|--help|--plot) ;; -*) [ $# -ge 2 ] || die "$1 needs a value (see --help)" ;; esac
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --llama-bench) LLAMA_BENCH=$2; shift 2 ;;
    --bitnet-bench) BITNET_BENCH=$2; shift 2 ;;
    -m|--model) MODELS+=("$2"); shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    -t|--threads) THREADS=$2; shift 2 ;;
    -p|--n-prompt) PROMPT=$2; shift 2 ;;
    -n|--n-gen) GEN=$2; shift 2 ;;
    -d|--depth) DEPTH=$2; shift 2 ;;
    --tern) TERN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --idle-timeout) IDLE_TIMEOUT=$2; shift 2 ;;
    --idle-frac) IDLE_FRAC=$2; shift 2 ;;
    --plot) PLOT=1; shift ;;
    --dry-run) DRY_STUB=$2; shift 2 ;;
    --report-from) REPORT_FROM=$2; shift 2 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps $REPS: expected a number >= 1"
[[ "$THREADS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "-t $THREADS: expected a list like 1,2"
[[ "$PROMPT" =~ ^[0-9]+$ && "$GEN" =~ ^[0-9]+$ ]] || die "-p/-n: expected numbers"
[[ "$DEPTH" =~ ^[0-9]+$ ]] || die "-d $DEPTH: expected a number"
[[ "$IDLE_FRAC" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--idle-frac $IDLE_FRAC: expected a number like 0.5"
command -v python3 >/dev/null || die "python3 is needed to read the JSON outputs (apt-get install python3)"
if [ "$(python3 -c 'import sys; print(sys.version_info >= (3, 7))')" != True ]; then
  die "python3 3.7 or newer is needed"
fi
set_out() {
  if [ -z "$OUT" ]; then
    if [ -n "$DRY_STUB" ]; then OUT=$WORK/report; else OUT=$ROOT/results/compare; fi
  fi
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
}
if [ -n "$REPORT_FROM" ]; then
  [ -f "$REPORT_FROM/settings.env" ] || die "$REPORT_FROM: no settings.env here (not a --keep folder of compare.sh)"
  WORK=$(cd "$REPORT_FROM" && pwd)
  plot=$PLOT out=$OUT
  # shellcheck disable=SC1091
  source "$WORK/settings.env"
  PLOT=$plot OUT=$out
  set_out
  write_report
  exit 0
fi
if [ -n "$DRY_STUB" ]; then
  [ -z "$LLAMA_BENCH" ] || die "--dry-run replaces --llama-bench: give one of them"
  DRY_STUB=$(abspath "$DRY_STUB")
  LLAMA_BENCH=$DRY_STUB
  IDLE_TIMEOUT=${IDLE_TIMEOUT:-0}
fi
IDLE_TIMEOUT=${IDLE_TIMEOUT:-300}
[[ "$IDLE_TIMEOUT" =~ ^[0-9]+$ ]] || die "--idle-timeout $IDLE_TIMEOUT: expected seconds"
[ -n "$LLAMA_BENCH$BITNET_BENCH" ] ||
  die "nothing to compare with: give --llama-bench PATH and/or --bitnet-bench PATH (see README, Performance)"
for b in "$LLAMA_BENCH" "$BITNET_BENCH"; do
  [ -z "$b" ] || [ -x "$b" ] || die "$b: not an executable file (this script never builds a peer)"
done
[ -z "$LLAMA_BENCH" ] || LLAMA_BENCH=$(abspath "$LLAMA_BENCH")
[ -z "$BITNET_BENCH" ] || BITNET_BENCH=$(abspath "$BITNET_BENCH")
TERN=$(abspath "${TERN:-$ROOT/build/cli/tern}")
[ -x "$TERN" ] || die "$TERN: no tern binary; build it first (./scripts/build.sh) or pass --tern PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-compare.XXXXXX")
cleanup() { [ -n "$KEEP" ] || rm -rf "$WORK"; }
trap cleanup EXIT
if [ -n "$KEEP" ]; then
  mkdir -p "$KEEP"
  KEEP=$(cd "$KEEP" && pwd)
  rm -rf "$WORK"
  WORK=$KEEP
  rm -f "$WORK/runs.tsv" "$WORK/models.tsv"
fi
mkdir -p "$WORK/runs"

set_out

# ---- this machine ----
"$TERN" info --json > "$WORK/info.json"
CPU_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cpu"]["cpu_id"])' "$WORK/info.json")
CORES=$(nproc)
DATE=$(date -u +%F)
# The report's name says what changes its meaning (a kernel ISA cap, a filled context) and never
# replaces an earlier report: a second run on the same day is <name>-2, then -3, ...
NAME=$CPU_ID-$DATE${TERN_MAX_ISA:+-max-$TERN_MAX_ISA}
[ "$DEPTH" = 0 ] || NAME=$NAME-depth$DEPTH
base=$NAME n=1
while [ -e "$OUT/$NAME.md" ]; do n=$((n + 1)); NAME=$base-$n; done
MAX_THREADS=$(tr , '\n' <<< "$THREADS" | sort -n | tail -n 1)
# Idle: others use less than --idle-frac of the cores, and leave the cores the largest thread count
# needs (on 2 cores with -t 2, a compile on one core halves the 2-thread numbers): at most
# cores - threads + 0.5, never below 0.25.
IDLE_MAX=$(awk -v c="$CORES" -v f="$IDLE_FRAC" -v t="$MAX_THREADS" \
  'BEGIN { m = c * f; if (c - t + 0.5 < m) m = c - t + 0.5; if (m < 0.25) m = 0.25; printf "%.2f", m }')

# ---- models ----
if [ ${#MODELS[@]} -eq 0 ]; then
  if [ -n "$DRY_STUB" ]; then
    MODELS=("$WORK/tiny-tq2_0.gguf")
    "$TERN" synth --preset tiny -o "${MODELS[0]}" > /dev/null 2> "$WORK/synth.err" ||
      { cat "$WORK/synth.err" >&2; die "tern synth failed"; }
  else
    mkdir -p "$ROOT/models"
    MODELS=("$ROOT/models/2b4t-tq2_0.gguf")
    [ -z "$BITNET_BENCH" ] || MODELS+=("$ROOT/models/2b4t-i2_s.gguf")
    for m in "${MODELS[@]}"; do
      [ ! -f "$m" ] || continue
      case "$m" in
        *i2_s*) synth=(--type i2_s --arch bitnet) ;;
        *) synth=(--type tq2_0) ;;
      esac
      echo "compare: making $m: tern synth --preset 2b4t ${synth[*]} --embd-type q6_k" >&2
      "$TERN" synth --preset 2b4t "${synth[@]}" --embd-type q6_k -o "$m.tmp.gguf" > /dev/null 2> "$WORK/synth.err" ||
        { cat "$WORK/synth.err" >&2; die "tern synth failed"; }
      mv "$m.tmp.gguf" "$m"
    done
  fi
fi
i=0
for m in "${MODELS[@]}"; do
  [ -f "$m" ] || die "$m: no such model file"
  m=$(abspath "$m")
  MODELS[$i]=$m
  "$TERN" inspect --json "$m" > "$WORK/inspect.json"
  weights=$(python3 - "$WORK/inspect.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
types = [t["type"] for t in d["tensors"] if t["name"].endswith(".attn_q.weight")]
print(types[0] if types else "?")
PY
  )
  printf '%s\t%s\t%s\t%s\n' "$i" "$m" "$weights" "$(stat -c %s "$m")" >> "$WORK/models.tsv"
  i=$((i + 1))
done

TERN_ENV=$(env | grep '^TERN_' | sort | paste -sd ' ' -) || true  # e.g. TERN_CACHE_DIR: which tuning tern reads
declare -p REPS THREADS PROMPT GEN DEPTH IDLE_MAX IDLE_TIMEOUT ARGV DATE NAME CPU_ID CORES DRY_STUB \
  LLAMA_BENCH BITNET_BENCH TERN TERN_ENV > "$WORK/settings.env"

# ---- idleness ----
CLK_TCK=$(getconf CLK_TCK)
cpu_sample() {  # sets CPU_BUSY and CPU_TOTAL (jiffies since boot, all CPUs); steal counts as busy
  local _cpu u n s idle io irq sirq st _rest
  read -r _cpu u n s idle io irq sirq st _rest < /proc/stat
  CPU_BUSY=$((u + n + s + irq + sirq + st))
  CPU_TOTAL=$((CPU_BUSY + idle + io))
}
busy_cores() {  # cores in use over the next 2 s
  local b0 t0
  cpu_sample; b0=$CPU_BUSY t0=$CPU_TOTAL
  sleep 2
  cpu_sample
  awk -v db=$((CPU_BUSY - b0)) -v dt=$((CPU_TOTAL - t0)) -v c="$CORES" \
    'BEGIN { printf "%.2f", (dt > 0 ? c * db / dt : 0) }'
}
BUSY_START="-" WAITED=0 BUSY_FLAG=0
wait_idle() {
  BUSY_START="-" WAITED=0 BUSY_FLAG=0
  [ -z "$DRY_STUB" ] || return 0
  local start=$SECONDS said=0
  while :; do
    BUSY_START=$(busy_cores)
    awk -v b="$BUSY_START" -v m="$IDLE_MAX" 'BEGIN { exit !(b != "" && b + 0 < m + 0) }' && break
    WAITED=$((SECONDS - start))
    if [ "$WAITED" -ge "$IDLE_TIMEOUT" ]; then
      BUSY_FLAG=1
      echo "compare: warning: machine busy ($BUSY_START of $CORES cores in use after ${WAITED}s); running anyway, the report says so" >&2
      return 0
    fi
    [ $said = 1 ] || echo "compare: waiting for an idle machine ($BUSY_START of $CORES cores in use; want < $IDLE_MAX)" >&2
    said=1
    sleep 3
  done
  WAITED=$((SECONDS - start))
}
proc_ticks() {  # pid -> PROC_TICKS (user + system clock ticks of all its threads so far)
  local line
  read -r line 2> /dev/null < "/proc/$1/stat" || return 1
  local f
  read -r -a f <<< "${line##*) }"  # the fields after "(comm)": utime is field 14, stime 15
  PROC_TICKS=$((f[11] + f[12]))
}
children_ms() {  # CHILD_MS: CPU ms of this shell's reaped children. No $(...) here: a subshell is a
  local _a _b cu cs   # child too, and its own `times` knows nothing of its parent's children.
  times > "$WORK/times"
  { read -r _a _b; read -r cu cs; } < "$WORK/times"
  CHILD_MS=0
  local x m sec
  for x in "$cu" "$cs"; do  # "1m2.345s"
    m=${x%%m*} sec=${x#*m}
    sec=${sec%s}
    CHILD_MS=$((CHILD_MS + (10#$m * 60 + 10#${sec%%.*}) * 1000 + 10#${sec#*.}))
  done
}

# ---- the runs ----
ENGINES=()  # parallel to MODELS: "tern llama.cpp" etc.
for ((i = 0; i < ${#MODELS[@]}; i++)); do
  w=$(awk -F'\t' -v i="$i" '$1 == i { print $3 }' "$WORK/models.tsv")
  e="tern"
  if [ "$w" = I2_S ]; then
    [ -z "$BITNET_BENCH" ] || e="$e bitnet.cpp"
  else
    [ -z "$LLAMA_BENCH" ] || e="$e llama.cpp"
  fi
  [ "$e" != tern ] || echo "compare: warning: no peer runs ${MODELS[$i]##*/} ($w weights); tern runs it alone" >&2
  ENGINES+=("$e")
done

SEQ=0
run_one() {  # model_index engine rep
  local mi=$1 engine=$2 rep=$3 model=${MODELS[$1]} bin
  case $engine in
    tern) bin=$TERN ;;
    llama.cpp) bin=$LLAMA_BENCH ;;
    bitnet.cpp) bin=$BITNET_BENCH ;;
  esac
  local cmd=("$bin")
  [ "$engine" != tern ] || cmd+=(bench)
  cmd+=(-m "$model" -p "$PROMPT" -n "$GEN" -t "$THREADS" -r 1 -o json)
  [ "$DEPTH" = 0 ] || cmd+=(-d "0,$DEPTH")
  SEQ=$((SEQ + 1))
  local base
  base=$WORK/runs/$(printf '%03d' $SEQ)-$engine-m$mi-r$rep
  wait_idle
  echo "compare: [$SEQ/$TOTAL_RUNS] $engine ${model##*/} pair $rep/$REPS$([ "$BUSY_START" = - ] || echo " (others use $BUSY_START cores)")" >&2
  local rc=0 w0=$EPOCHREALTIME others="-" peak="-"
  if [ -n "$DRY_STUB" ]; then
    "${cmd[@]}" > "$base.json" 2> "$base.err" || rc=$?
  else
    # Twice a second: the time, the machine's busy jiffies and the run's own (all its threads), so
    # the report can tell what the rest of the machine did while this ran.
    # bash reaps the run as soon as it ends, so its final CPU time comes from `times` instead.
    local ms0
    children_ms; ms0=$CHILD_MS
    "${cmd[@]}" > "$base.json" 2> "$base.err" &
    local pid=$!
    : > "$base.cpu"
    while proc_ticks "$pid"; do
      cpu_sample
      echo "$EPOCHREALTIME $CPU_BUSY $PROC_TICKS" >> "$base.cpu"
      sleep 0.5
    done
    wait "$pid" || rc=$?
    cpu_sample
    children_ms
    echo "$EPOCHREALTIME $CPU_BUSY $(((CHILD_MS - ms0) * CLK_TCK / 1000))" >> "$base.cpu"
    # Others' cores: on average, and the most in any 2 s (a compile that starts mid-run hits the
    # 2-thread tests at the end of the run, which the average hides).
    read -r others peak < <(awk -v hz="$CLK_TCK" '
      { t[NR] = $1; b[NR] = $2; o[NR] = $3 }
      function oth(i, j) { return ((b[j] - b[i]) - (o[j] - o[i])) / hz / (t[j] - t[i]) }
      END {
        if (NR < 2 || t[NR] <= t[1]) { print "- -"; exit }
        peak = 0
        for (i = 1; i < NR; i++) {
          for (j = i + 1; j < NR && t[j] - t[i] < 2; j++) {}
          if (t[j] - t[i] >= 2 || i == 1) { x = oth(i, j); if (x > peak) peak = x }
        }
        m = oth(1, NR)
        printf "%.2f %.2f\n", (m < 0 ? 0 : m), peak
      }' "$base.cpu")
  fi
  local w1=$EPOCHREALTIME wall
  wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')
  local loadavg
  read -r loadavg _ < /proc/loadavg
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SEQ" "$mi" "$engine" "$rep" "$rc" \
    "$base.json" "$base.err" "$wall" "$WAITED" "$BUSY_START" "$others" "$BUSY_FLAG" "$loadavg" \
    "${cmd[*]}" "$peak" >> "$WORK/runs.tsv"
  if [ $rc -ne 0 ]; then
    echo "compare: $engine failed on ${model##*/} (exit $rc):" >&2
    tail -n 5 "$base.err" | sed 's/^/  /' >&2
    FAILED+=("$mi/$engine")
  fi
}

TOTAL_RUNS=0
for ((i = 0; i < ${#MODELS[@]}; i++)); do
  set -- ${ENGINES[$i]}
  TOTAL_RUNS=$((TOTAL_RUNS + $# * REPS))
done
FAILED=()
failed() { local f; for f in "${FAILED[@]+"${FAILED[@]}"}"; do [ "$f" != "$1" ] || return 0; done; return 1; }
for ((i = 0; i < ${#MODELS[@]}; i++)); do
  for ((r = 1; r <= REPS; r++)); do
    for e in ${ENGINES[$i]}; do
      if failed "$i/$e"; then TOTAL_RUNS=$((TOTAL_RUNS - 1)); continue; fi  # it said why once
      run_one "$i" "$e" "$r"
    done
  done
done

# ---- versions ----
: > "$WORK/versions.tsv"
version_of() {  # engine binary
  local v
  if [ "$1" = tern ]; then
    v="$("$2" --version 2>&1 | head -n 1) (git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
  else
    v=$("$2" --version 2>&1 | head -n 2 | paste -sd ';' - | sed 's/;/; /g') || v="(no --version)"
  fi
  printf '%s\t%s\t%s\n' "$1" "$v" "$2" >> "$WORK/versions.tsv"
}
version_of tern "$TERN"
[ -z "$LLAMA_BENCH" ] || version_of llama.cpp "$LLAMA_BENCH"
[ -z "$BITNET_BENCH" ] || version_of bitnet.cpp "$BITNET_BENCH"

write_report
