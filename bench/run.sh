#!/usr/bin/env bash
# quartet benchmark suite: one command, every workload, every peer, one run.
#
#   bench/run.sh                      # full size (tens of minutes)
#   BENCH_SIZE=small bench/run.sh     # tiny workloads: proves the pipeline end to end
#
# What it does (see docs/benchmarks.md):
#   1. installs the peers from Debian when missing: argus (argus-server, argus-client),
#      tcptrace, tshark, GNU time;
#   2. builds the workloads into $BENCH_WORK (default bench/work, cached by size):
#        mix         real traffic, ../shared/tools/mkmix.py, about $BENCH_MIX_MB MB
#        churn       real loopback churn with 4-tuple reuse: target/release/quartet-loadgen
#                    when it exists, else ../shared/tools/churn.py (smaller; said so)
#        flows       $BENCH_FLOWS generated short TCP flows, $BENCH_OPEN open at once
#        concurrent  $BENCH_CONCURRENT generated connections all open at the same time
#   3. brings each workload's pages into the page cache as a read from disk leaves them
#      (evicted, then read back: see settle_cache), then
#      runs quartet (--threads 1 and --threads $(nproc) when quartet has the flag), argus,
#      tcptrace and tshark on each workload, timing wall clock and peak RSS
#      (/usr/bin/time -v), and checks each tool's TCP connection count against the truth;
#      on the mix and on churn it also times `quartet-benchgen walk`, the bare walk over
#      the file with a hash-map insert per packet (the yardstick of the single-thread
#      targets);
#   4. prints the table and writes bench/results/latest.md (+ latest.tsv, the raw rows)
#      with the machine description, and the memory-per-connection figure.
#
# Knobs (environment):
#   BENCH_SIZE        full (default) or small: default values of the sizes below
#   BENCH_MIX_MB      size of the real-traffic mix in MB            (full 1200, small 40)
#   BENCH_CHURN_CONNS connections of the loadgen churn              (full 500000, small 5000)
#   BENCH_CHURN_PY_CONNS  connections when falling back to churn.py (full 50000, small 2000)
#   BENCH_FLOWS       generated short flows                          (full 5000000, small 20000)
#   BENCH_OPEN        flows open at once in the flows capture        (full 100000, small 1000)
#   BENCH_CONCURRENT  connections open at once, memory capture       (full 5000000, small 20000)
#   BENCH_WORKLOADS   subset of "mix churn flows concurrent"
#   BENCH_TOOLS       subset of "quartet argus tcptrace tshark"
#   BENCH_SKIP        space-separated workload:tool pairs not to run, e.g. "concurrent:tshark"
#   BENCH_LOADGEN_TIMEOUT  seconds before quartet-loadgen is given up for churn.py (1800)
#   BENCH_REPEAT      runs of quartet (each thread count) and of the walk per workload,
#                     interleaved round by round; the table gives their median wall
#                     time, with the fastest and slowest (full 5, small 1). The peers
#                     run once: they are slower, so the host's noise moves their
#                     ratios less. Raw rows, one per run, are in latest.tsv.
#   BENCH_TIMEOUT     seconds before a tool run is killed and reported as a timeout (3600)
#   BENCH_MEM_MB      address-space cap of every tool run, MB (85% of RAM); hitting it is a crash
#   BENCH_WORK        work directory (bench/work); BENCH_REGEN=1 rebuilds the workloads
#   BENCH_RESULTS     where latest.md and latest.tsv go (bench/results)
#   BENCH_NO_BUILD=1  use the binaries in target/release as they are
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
SHARED=${BENCH_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
WORK=${BENCH_WORK:-$BENCH/work}
RESULTS=${BENCH_RESULTS:-$BENCH/results}
REL="$ROOT/target/release"
QUARTET="$REL/quartet"
BENCHGEN="$REL/quartet-benchgen"
LOADGEN="$REL/quartet-loadgen"

if [[ ${BENCH_SIZE:-full} == small ]]; then
    d_mix=40 d_churn=5000 d_churn_py=2000 d_flows=20000 d_open=1000 d_conc=20000 d_repeat=1
else
    d_mix=1200 d_churn=500000 d_churn_py=50000 d_flows=5000000 d_open=100000 d_conc=5000000 d_repeat=5
fi
BENCH_REPEAT=${BENCH_REPEAT:-$d_repeat}
BENCH_MIX_MB=${BENCH_MIX_MB:-$d_mix}
BENCH_CHURN_CONNS=${BENCH_CHURN_CONNS:-$d_churn}
BENCH_CHURN_PY_CONNS=${BENCH_CHURN_PY_CONNS:-$d_churn_py}
BENCH_FLOWS=${BENCH_FLOWS:-$d_flows}
BENCH_OPEN=${BENCH_OPEN:-$d_open}
BENCH_CONCURRENT=${BENCH_CONCURRENT:-$d_conc}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-mix churn flows concurrent}
BENCH_TOOLS=${BENCH_TOOLS:-quartet argus tcptrace tshark}
BENCH_SKIP=${BENCH_SKIP:-}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-3600}
BENCH_LOADGEN_TIMEOUT=${BENCH_LOADGEN_TIMEOUT:-1800}
MEM_TOTAL_KB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
BENCH_MEM_MB=${BENCH_MEM_MB:-$((MEM_TOTAL_KB * 85 / 100 / 1024))}
NPROC=$(nproc)

say() { printf '[bench] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------- 1. peers
install_peers() {
    local need=() pkg cmd
    for pair in argus:argus-server ra:argus-client tcptrace:tcptrace tshark:tshark \
        capinfos:tshark editcap:tshark mergecap:tshark tcpdump:tcpdump prlimit:util-linux; do
        cmd=${pair%%:*} pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && [[ " ${need[*]-} " != *" $pkg "* ]]; then
            need+=("$pkg")
        fi
    done
    [[ -x /usr/bin/time ]] || need+=(time)
    if ((${#need[@]})); then
        say "installing ${need[*]}"
        [[ $(id -u) == 0 ]] || die "need root to apt-get install ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    fi
}

# ---------------------------------------------------------------- build
build() {
    [[ ${BENCH_NO_BUILD:-0} == 1 ]] && return 0
    say "cargo build --release -p quartet-bench"
    (cd "$ROOT" && cargo build --release -q -p quartet-bench) || die "cannot build quartet-bench"
    say "cargo build --release -p quartet"
    if ! (cd "$ROOT" && cargo build --release -q -p quartet); then
        [[ -x $QUARTET ]] || die "cannot build quartet"
        say "WARNING: quartet does not build from the working tree; using the existing $QUARTET"
    fi
}

# ---------------------------------------------------------------- 2. workloads
# Each workload: $WORK/<name>.pcap, $WORK/<name>.truth (TCP connection count or "-"),
# $WORK/<name>.note (one line of provenance).
declare -A WL_FILE WL_TRUTH WL_NOTE WL_PKTS

regen() { [[ ${BENCH_REGEN:-0} == 1 || ! -s $1 ]]; }

truth_of() { # json file -> connection count
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = d.get('totals')
if isinstance(t, dict) and isinstance(t.get('connections'), int):
    # quartet-loadgen: every connection is a row, and so is every stale-ACK
    # episode (the server answered a SYN with the old connection's ACK and
    # the client reset it: a row of its own under Zeek's rules, docs/loadgen.md).
    print(t['connections'] + (t.get('stale_acks') or 0))
    sys.exit(0)
for k in ('connections', 'conns', 'completed', 'total_connections', 'total'):
    v = d.get(k)
    if isinstance(v, int):
        print(v)
        break
else:
    print('-')
EOF
}

make_mix() {
    local one="$WORK/mix-1x.pcap" out="$WORK/mix-${BENCH_MIX_MB}MB.pcap"
    if regen "$one"; then
        say "mix: one replica of the real traces (mkmix.py --replicas 1)"
        python3 "$SHARED/tools/mkmix.py" --replicas 1 "$one" >&2
    fi
    local base_mb reps
    base_mb=$(( $(stat -L -c %s "$one") / 1000000 ))
    reps=$(( (BENCH_MIX_MB + base_mb / 2) / (base_mb > 0 ? base_mb : 1) ))
    ((reps >= 1)) || reps=1
    if ((reps == 1)); then
        out=$one
    elif regen "$out"; then
        say "mix: mkmix.py --replicas $reps (~${BENCH_MIX_MB} MB)"
        python3 "$SHARED/tools/mkmix.py" --replicas "$reps" "$out" >&2
    fi
    WL_FILE[mix]=$out
    WL_TRUTH[mix]=-
    WL_NOTE[mix]="real traffic: ../shared/zeek-traces merged and replicated ${reps}x by mkmix.py (no ground truth: counts are compared between tools)"
}

make_churn() {
    local out truthf lg_ok=0 why="target/release/quartet-loadgen not found"
    if [[ -x $LOADGEN ]]; then
        out="$WORK/churn-loadgen-$BENCH_CHURN_CONNS-256t.pcap" truthf="$WORK/churn-loadgen-$BENCH_CHURN_CONNS-256t.json"
        if regen "$out" || [[ ! -s $truthf ]]; then
            say "churn: quartet-loadgen --conns $BENCH_CHURN_CONNS (timeout ${BENCH_LOADGEN_TIMEOUT}s)"
            rm -f "$out" "$truthf"
            local rc=0
            # 64 source ports x 4 server ports: 256 4-tuples, each reused about
            # 2,000 times at 500,000 connections; 16 clients in flight make
            # about 1,300 connections/s here (one server port and 4 clients:
            # about 320/s, 26 minutes for 500,000).
            timeout -k 5 "$BENCH_LOADGEN_TIMEOUT" "$LOADGEN" --conns "$BENCH_CHURN_CONNS" --ports 64 \
                --servers 4 --concurrency 16 --seed 1 \
                --pcap "$out.tmp" --truth "$truthf.tmp" >&2 || rc=$?
            if ((rc == 0)) && [[ -s $out.tmp && -s $truthf.tmp ]]; then
                mv "$out.tmp" "$out" && mv "$truthf.tmp" "$truthf"
            else
                rm -f "$out.tmp" "$truthf.tmp"
                why="quartet-loadgen failed (exit $rc$( ((rc == 124)) && echo ", timeout ${BENCH_LOADGEN_TIMEOUT}s"))"
            fi
        fi
        if [[ -s $out && -s $truthf ]]; then
            lg_ok=1
            WL_NOTE[churn]="real loopback churn by quartet-loadgen: $BENCH_CHURN_CONNS connections over 64 source ports x 4 server ports (256 4-tuples, reused)"
        fi
    fi
    if ((!lg_ok)); then
        say "churn: $why: FALLING BACK to ../shared/tools/churn.py with $BENCH_CHURN_PY_CONNS connections"
        out="$WORK/churn-py-$BENCH_CHURN_PY_CONNS.pcap" truthf="$out.truth.json"
        if regen "$out" || [[ ! -s $truthf ]]; then
            python3 "$SHARED/tools/churn.py" "$out" --conns "$BENCH_CHURN_PY_CONNS" --ports 64 --seed 1 >&2
        fi
        WL_NOTE[churn]="real loopback churn by churn.py (FALLBACK: $why): $BENCH_CHURN_PY_CONNS attempts over 64 source ports (4-tuples reused)"
    fi
    WL_FILE[churn]=$out
    WL_TRUTH[churn]=$(truth_of "$truthf")
    local dropped
    dropped=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); c = d.get('capture') if isinstance(d.get('capture'), dict) else {}; print((d.get('tcpdump_dropped') or 0) + (c.get('dropped') or 0) + (c.get('if_dropped') or 0))" "$truthf")
    if [[ $dropped != 0 ]]; then
        say "churn: capture dropped $dropped packets: the truth does not hold"
        WL_NOTE[churn]+="; capture dropped $dropped packets, truth unreliable"
        WL_TRUTH[churn]=-
    fi
}

make_flows() {
    local out="$WORK/flows-$BENCH_FLOWS-$BENCH_OPEN.pcap"
    if regen "$out"; then
        say "flows: quartet-benchgen flows --flows $BENCH_FLOWS --open $BENCH_OPEN"
        "$BENCHGEN" flows --flows "$BENCH_FLOWS" --open "$BENCH_OPEN" --out "$out" --truth "$out.truth.json"
    fi
    WL_FILE[flows]=$out
    WL_TRUTH[flows]=$(truth_of "$out.truth.json")
    WL_NOTE[flows]="generated: $BENCH_FLOWS short TCP flows (SYN, SYN-ACK, ACK, 64 B data, FIN, FIN, ACK), $BENCH_OPEN open at any time"
}

make_concurrent() {
    local out="$WORK/concurrent-$BENCH_CONCURRENT.pcap"
    if regen "$out"; then
        say "concurrent: quartet-benchgen concurrent --conns $BENCH_CONCURRENT"
        "$BENCHGEN" concurrent --conns "$BENCH_CONCURRENT" --out "$out" --truth "$out.truth.json"
    fi
    WL_FILE[concurrent]=$out
    WL_TRUTH[concurrent]=$(truth_of "$out.truth.json")
    WL_NOTE[concurrent]="generated: $BENCH_CONCURRENT handshakes, then a RST for each: all $BENCH_CONCURRENT connections open at once"
}

# ---------------------------------------------------------------- 3. runs
ROWS="$RESULTS/latest.tsv"

# run_tool WORKLOAD LABEL CMD... : times one run; sets RUN_STATUS RUN_WALL RUN_RSS
run_tool() {
    local wl=$1 label=$2
    shift 2
    local base="$WORK/out/$wl.$label" t0 t1 rc
    rm -f "$base.time"
    t0=$(date +%s.%N)
    set +e
    timeout -k 10 "$BENCH_TIMEOUT" /usr/bin/time -v -o "$base.time" \
        prlimit --as=$((BENCH_MEM_MB * 1024 * 1024)) -- "$@" >"$base.stdout" 2>"$base.stderr"
    rc=$?
    set -e
    t1=$(date +%s.%N)
    RUN_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    RUN_RSS=$(awk '/Maximum resident set size/ {print $NF}' "$base.time" 2>/dev/null || true)
    RUN_RSS=${RUN_RSS:--}
    local sig
    sig=$(awk '/Command terminated by signal/ {print $NF}' "$base.time" 2>/dev/null || true)
    if [[ ! -s $base.time ]] && ((rc == 124 || rc == 137)); then
        RUN_STATUS="timeout>${BENCH_TIMEOUT}s"
    elif [[ -n $sig ]]; then
        RUN_STATUS="signal $sig"
    elif ((rc != 0)); then
        RUN_STATUS="exit $rc"
    else
        RUN_STATUS=ok
    fi
    if [[ $RUN_STATUS != ok ]]; then
        say "  $label on $wl: $RUN_STATUS ($(tail -n 2 "$base.stderr" | tr '\n' ' '))"
    fi
}

row() { # workload tool status wall rss tcp_count all_count
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
        "${WL_PKTS[$1]}" "${WL_TRUTH[$1]}" >>"$ROWS"
}

quartet_counts() { # conn.log -> "tcp all"
    awk -F'\t' '/^#fields/ {for (i = 2; i <= NF; i++) if ($i == "proto") p = i - 1; next}
        /^#/ {next} {all++; if ($p == "tcp") tcp++}
        END {printf "%d %d\n", tcp, all}' "$1"
}

bench_quartet() {
    local wl=$1 f=$2 out="$WORK/out/$1.conn.log"
    local variants=("1")
    [[ -n $THREADS_FLAG ]] && ((NPROC > 1)) && variants+=("$NPROC")
    for t in "${variants[@]}"; do
        local label=quartet args=()
        if [[ -n $THREADS_FLAG ]]; then
            label="quartet-t$t"
            args=(--threads "$t")
        fi
        say "  $label"
        # Loopback captures carry offloaded (unfilled) checksums: run quartet as
        # `zeek -C` would be run on them. The peers verify no checksums.
        [[ $wl == churn ]] && args+=(-C)
        run_tool "$wl" "$label" "$QUARTET" -r "$f" -o "$out" "${args[@]}"
        local c="- -"
        [[ $RUN_STATUS == ok ]] && c=$(quartet_counts "$out")
        row "$wl" "$label" "$RUN_STATUS" "$RUN_WALL" "$RUN_RSS" ${c}
        rm -f "$out"
    done
}

# The yardstick of issue #5's single-thread target: `quartet-benchgen walk`
# reads the capture with quartet's reader and does one hash-map insert per
# packet, nothing else (the issue: "the bare walk over the file plus a
# hash-map insert per packet"; quartet is to be within 2.5x of it).
bench_walk() {
    local wl=$1 f=$2
    say "  walk (bare walk + a hash-map insert per packet)"
    run_tool "$wl" walk "$BENCHGEN" walk "$f"
    row "$wl" walk "$RUN_STATUS" "$RUN_WALL" "$RUN_RSS" - -
}

bench_argus() {
    local wl=$1 f=$2 out="$WORK/out/$1.argus"
    say "  argus"
    rm -f "$out"
    run_tool "$wl" argus argus -X -r "$f" -w "$out"
    local tcp=- all=-
    if [[ $RUN_STATUS == ok ]]; then
        tcp=$(ra -r "$out" -n -L -1 - tcp | wc -l)
        all=$(ra -r "$out" -n -L -1 - not man | wc -l)
    fi
    row "$wl" argus "$RUN_STATUS" "$RUN_WALL" "$RUN_RSS" "$tcp" "$all"
    rm -f "$out"
}

bench_tcptrace() {
    local wl=$1 f=$2
    say "  tcptrace"
    run_tool "$wl" tcptrace tcptrace -n -b "$f"
    local n=-
    [[ $RUN_STATUS == ok ]] && n=$(grep -cE '^ *[0-9]+: ' "$WORK/out/$wl.tcptrace.stdout" || true)
    row "$wl" tcptrace "$RUN_STATUS" "$RUN_WALL" "$RUN_RSS" "$n" "$n"
    rm -f "$WORK/out/$wl.tcptrace.stdout"
}

bench_tshark() {
    local wl=$1 f=$2
    say "  tshark"
    run_tool "$wl" tshark tshark -n -r "$f" -q -z conv,tcp
    local n=-
    [[ $RUN_STATUS == ok ]] && n=$(grep -c '<->' "$WORK/out/$wl.tshark.stdout" || true)
    row "$wl" tshark "$RUN_STATUS" "$RUN_WALL" "$RUN_RSS" "$n" "$n"
    rm -f "$WORK/out/$wl.tshark.stdout"
}

# ---------------------------------------------------------------- main
install_peers
build
[[ -x $QUARTET && -x $BENCHGEN ]] || die "missing $QUARTET or $BENCHGEN"
THREADS_FLAG=
"$QUARTET" --help | grep -q -- '--threads' && THREADS_FLAG=1
mkdir -p "$WORK/out" "$RESULTS"

for wl in $BENCH_WORKLOADS; do
    case $wl in
    mix) make_mix ;; churn) make_churn ;; flows) make_flows ;; concurrent) make_concurrent ;;
    *) die "unknown workload $wl" ;;
    esac
    WL_PKTS[$wl]=$(capinfos -M -c -T "${WL_FILE[$wl]}" | awk -F'\t' 'NR == 2 {print $2}')
    say "$wl: ${WL_FILE[$wl]} (${WL_PKTS[$wl]} packets, truth ${WL_TRUTH[$wl]} TCP connections)"
done

printf 'workload\ttool\tstatus\twall_s\trss_kb\ttcp_conns\tall_conns\tpackets\ttruth\n' >"$ROWS"

# Baseline RSS of quartet: a capture with a handful of connections.
# Baseline RSS of every tool: a capture with a handful of connections.
say "baseline: every tool on samples/sample.pcap"
WL_PKTS[baseline]=$(capinfos -M -c -T "$ROOT/samples/sample.pcap" | awk -F'\t' 'NR == 2 {print $2}')
WL_TRUTH[baseline]=-
for tool in $BENCH_TOOLS; do
    "bench_$tool" baseline "$ROOT/samples/sample.pcap"
done

# The page cache holds a capture in the pages it got there in: a file just
# written (by mkmix, the generator, tcpdump, cp) sits in small folios, one
# read in from disk in large ones (readahead). A tool that maps its input
# (quartet, the walk) pays the kernel per page it maps: one thread on the mix
# took 0.13 s of system time in the first state, 0.01 s in the second
# (docs/benchmarks.md). So that every run and every tool sees the same
# state, that of a capture read from disk, each workload's pages are
# evicted (written back first) and read in again before its rounds.
settle_cache() {
    python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fdatasync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
PY
    cat "$1" >/dev/null
}

for wl in $BENCH_WORKLOADS; do
    say "== $wl"
    settle_cache "${WL_FILE[$wl]}"
    # Round 1 runs every tool; later rounds only quartet and the walk, so
    # their runs are interleaved and a slow spell of the host falls on all
    # of them alike.
    for ((round = 1; round <= BENCH_REPEAT; round++)); do
        ((BENCH_REPEAT > 1)) && say " round $round of $BENCH_REPEAT"
        # Every timed run reads the capture from the page cache, not the
        # disk: the host reclaims cold page-cache pages (a capture written
        # or read minutes ago may be gone), and the first tool to read it
        # would pay for the disk (a one-thread run on the mix measured 1.48 s
        # cold against 0.73 s warm). Read once per round, before the tools.
        cat "${WL_FILE[$wl]}" >/dev/null
        for tool in $BENCH_TOOLS; do
            ((round > 1)) && [[ $tool != quartet ]] && continue
            if [[ " $BENCH_SKIP " == *" $wl:$tool "* ]]; then
                ((round == 1)) && row "$wl" "$tool" skipped - - - -
                continue
            fi
            "bench_$tool" "$wl" "${WL_FILE[$wl]}"
        done
        # The mix for the single-thread target; churn to set the 8x-argus
        # target beside what the bare walk over the same file takes.
        if [[ $wl == mix || $wl == churn ]]; then bench_walk "$wl" "${WL_FILE[$wl]}"; fi
    done
done

# ---------------------------------------------------------------- 4. report
{
    echo "# quartet benchmark results"
    echo
    echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/run.sh\` (quartet $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo ', dirty tree'))."
    [[ -n $THREADS_FLAG ]] || echo "quartet has no \`--threads\` flag: one quartet run per workload (its default)."
    echo
    echo "Workloads:"
    echo
    for wl in $BENCH_WORKLOADS; do
        echo "- **$wl**: ${WL_NOTE[$wl]}; $(( $(stat -L -c %s "${WL_FILE[$wl]}") / 1000000 )) MB, ${WL_PKTS[$wl]} packets."
    done
    echo
} >"$RESULTS/latest.md.head"

python3 - "$ROWS" "$BENCH_CONCURRENT" >"$RESULTS/latest.md.body" <<'EOF'
import csv, sys
raw = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
conc = int(sys.argv[2])
def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None
# Repeated runs of one tool on one workload become one row: the median wall
# time, the largest peak RSS, the counts of the first run (every run must
# agree, else the row says so), and the spread of the wall times.
rows, groups = [], {}
for r in raw:
    k = (r['workload'], r['tool'])
    if k not in groups:
        groups[k] = []
        rows.append(k)
    groups[k].append(r)
def merge(runs):
    r = dict(runs[0])
    bad = [x['status'] for x in runs if x['status'] != 'ok']
    if bad:
        r['status'] = bad[0]
    walls = sorted(num(x['wall_s']) for x in runs if num(x['wall_s']) is not None)
    if walls:
        n = len(walls)
        med = walls[n // 2] if n % 2 else (walls[n // 2 - 1] + walls[n // 2]) / 2
        r['wall_s'] = '%.3f' % med
    rss = [num(x['rss_kb']) for x in runs if num(x['rss_kb']) is not None]
    if rss:
        r['rss_kb'] = '%d' % max(rss)
    if len({(x['tcp_conns'], x['all_conns']) for x in runs}) > 1 and r['status'] == 'ok':
        r['status'] = 'counts differ between runs'
    r['runs'] = '%d' % len(runs) if len(walls) < 2 else '%d (%.3f-%.3f)' % (len(runs), walls[0], walls[-1])
    return r
rows = [merge(groups[k]) for k in rows]
out = []
p = out.append
p('Ratios are against `%s` on the same workload in the same run (time ratio > 1: slower than quartet; RSS ratio > 1: more memory).' % (
    next((r['tool'] for r in rows if r['tool'].startswith('quartet')), 'quartet')))
p('Connection counts are TCP connections (rows with proto tcp for quartet, `ra ... - tcp` records for argus, '
  '`tcptrace -b` connections, `tshark -z conv,tcp` conversations); "match" compares them with the truth.')
p('')
p('Wall s is the median of the runs; "runs" gives their number and the fastest and slowest.')
p('')
p('| workload | tool | status | runs | wall s | time / quartet | Mpps | peak RSS MB | RSS / quartet | TCP conns | truth | match |')
p('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|')
ref = {}
for r in rows:
    if r['tool'].startswith('quartet') and r['status'] == 'ok' and r['workload'] not in ref:
        ref[r['workload']] = r
for r in rows:
    if r['workload'] == 'baseline':
        continue
    q = ref.get(r['workload'])
    wall, rss, pk = num(r['wall_s']), num(r['rss_kb']), num(r['packets'])
    ok = r['status'] == 'ok'
    tr = lambda a, b: '%.2f' % (a / b) if ok and a is not None and b else '-'
    twall = tr(wall, num(q['wall_s']) if q else None)
    trss = tr(rss, num(q['rss_kb']) if q else None)
    mpps = '%.2f' % (pk / wall / 1e6) if ok and wall and pk else '-'
    if r['truth'] == '-' or r['tcp_conns'] == '-':
        match = 'n/a' if ok else 'no (%s)' % r['status']
    else:
        d = int(r['tcp_conns']) - int(r['truth'])
        match = 'yes' if d == 0 else 'no (%+d)' % d
    if not ok:
        match = 'no (%s)' % r['status']
    p('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
        r['workload'], r['tool'], r['status'], r['runs'], r['wall_s'] if ok else '-', twall, mpps,
        '%.0f' % (rss / 1024) if rss is not None else '-', trss, r['tcp_conns'], r['truth'], match))
base = {r['tool']: num(r['rss_kb']) for r in rows if r['workload'] == 'baseline' and r['status'] == 'ok'}
conc_rows = [r for r in rows if r['workload'] == 'concurrent' and r['status'] == 'ok' and num(r['rss_kb']) and r['tool'] in base]
if conc_rows:
    p('')
    p('Memory per concurrent connection on the `concurrent` capture (%d connections open at once): '
      '(peak RSS - baseline RSS) / connections, where the baseline is the same tool\'s peak RSS on samples/sample.pcap.' % conc)
    p('')
    p('| tool | baseline RSS MB | peak RSS MB | bytes per connection |')
    p('|---|---:|---:|---:|')
    for r in conc_rows:
        b0 = base[r['tool']]
        b = (num(r['rss_kb']) - b0) * 1024 / conc
        p('| %s | %.1f | %.0f | %.0f |' % (r['tool'], b0 / 1024, num(r['rss_kb']) / 1024, b))
# Issue #5's targets, from the rows above.
def wall_of(wl, tool):
    r = next((r for r in rows if r['workload'] == wl and r['tool'] == tool and r['status'] == 'ok'), None)
    return num(r['wall_s']) if r else None
def pkts_of(wl):
    r = next((r for r in rows if r['workload'] == wl), None)
    return num(r['packets']) if r else None
multi = [t for t in dict.fromkeys(r['tool'] for r in rows) if t.startswith('quartet-t') and t != 'quartet-t1']
tn = multi[-1] if multi else None
targets = []
def target(what, value, goal, fmt, met):
    if value is None:
        targets.append((what, '-', goal, 'not measured'))
    else:
        targets.append((what, fmt % value, goal, 'met' if met(value) else 'not met'))
w1, pk = wall_of('mix', 'quartet-t1'), pkts_of('mix')
target('one thread on the mix', pk / w1 / 1e6 if w1 and pk else None, '>= 4 Mpps', '%.2f Mpps', lambda v: v >= 4)
# The 4 Mpps were set as 2.5x below the bare walk on the issue's machine
# (9.5 Mpps there): the same bound against the walk on this one.
ww = wall_of('mix', 'walk')
target('one thread on the mix, against the bare walk (walk speed / quartet speed)',
       w1 / ww if w1 and ww else None, '<= 2.5x', '%.2fx', lambda v: v <= 2.5)
wa, wq = wall_of('churn', 'argus'), wall_of('churn', 'quartet-t1')
target('one thread on churn, against argus', wa / wq if wa and wq else None, '>= 8x argus', '%.2fx', lambda v: v >= 8)
for wl in ('mix', 'churn'):
    a, b = wall_of(wl, 'quartet-t1'), wall_of(wl, tn) if tn else None
    target('%s on %s, against one thread' % (tn or 'all threads', wl), a / b if a and b else None,
           '>= 1.7x', '%.2fx', lambda v: v >= 1.7)
mem = None
for r in rows:
    if r['workload'] == 'concurrent' and r['tool'] == 'quartet-t1' and r['status'] == 'ok' and 'quartet-t1' in base:
        mem = (num(r['rss_kb']) - base['quartet-t1']) * 1024 / conc
target('memory per open connection (quartet-t1)', mem, '<= 200 B', '%.0f B', lambda v: v <= 200)
p('')
p('Targets of issue #5 (this run; ratios of median wall times, so they include start-up and log writing):')
small = []
churn_truth = next((r['truth'] for r in rows if r['workload'] == 'churn' and r['truth'] != '-'), None)
if churn_truth is not None and int(churn_truth) < 500000:
    small.append('churn has %s connections, not 500,000' % churn_truth)
if conc < 5000000:
    small.append('concurrent has %d connections, not 5,000,000' % conc)
if small:
    p('')
    p('**These workloads are smaller than the issue asks (%s): the verdicts below do not count.**' % '; '.join(small))
p('')
p('| target | measured | goal | verdict |')
p('|---|---:|---|---|')
for t in targets:
    p('| %s | %s | %s | %s |' % t)
# The 8x-argus target beside the bare walk over the same file: the time it
# allows quartet, as a multiple of the walk (which tracks nothing and writes
# no log). Below 1 no tracker could meet it; the mix's own bound is 2.5x.
wc = wall_of('churn', 'walk')
if wa and wc:
    p('')
    p('On churn, 8x argus allows quartet %.3f s: %.2fx the bare walk over the same file (%.3f s), '
      'where the single-thread target on the mix allows 2.5x.' % (wa / 8, wa / 8 / wc, wc))
print('\n'.join(out))
EOF

{
    echo
    echo "## Machine"
    echo
    echo "- CPUs (nproc): $NPROC"
    echo "- CPU model: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "- memory: $((MEM_TOTAL_KB / 1024)) MB"
    echo "- kernel: $(uname -srm)"
    echo "- peers: $(argus -h 2>&1 | awk '/Argus Version/ {print "argus " $3; exit}'), $(tcptrace -v 2>&1 | awk '/version/ {for (i = 1; i < NF; i++) if ($i == "version") {print "tcptrace " $(i + 1); exit}}'), $(tshark -v 2>/dev/null | head -n1)"
    echo "- limits per tool run: timeout ${BENCH_TIMEOUT} s, address space ${BENCH_MEM_MB} MB"
} >"$RESULTS/latest.md.tail"

cat "$RESULTS/latest.md.head" "$RESULTS/latest.md.body" "$RESULTS/latest.md.tail" >"$RESULTS/latest.md"
rm -f "$RESULTS/latest.md.head" "$RESULTS/latest.md.body" "$RESULTS/latest.md.tail"
echo
cat "$RESULTS/latest.md"
echo
say "written $RESULTS/latest.md and $ROWS"
