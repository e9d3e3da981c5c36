#!/usr/bin/env bash
# Every benchmark behind a figure in docs/results.md, one command per suite, in the order and with the sizes used
# for the recorded results in benchmarks/results/ (CPU, `cpu` preset, 2 cores). Each suite prints its runtime.
#
#   bash benchmarks/run_all.sh              # all suites
#   DATASETS="piped/pa_bdp01_tl" APPEND=--append bash benchmarks/run_all.sh leaderboard   # re-run one dataset
#   bash benchmarks/run_all.sh objects      # only the named suites
#
# Sizes chosen for 2 cores: one seed everywhere; noisy-mnist covers all ten digits with seed 0 (SEEDS adds
# more). Measured here: the leaderboard's four feature methods on all five datasets 47 min (the other seven
# methods on four datasets took 64 min in an earlier pass); peers (two PIPED papers and tire) 28 min;
# noisy-mnist (ten digits, one seed) 27 min; objects 7 min; dashboard a few minutes.
# `ensemble` reads the runs a `--store bench` suite recorded (seconds; run the leaderboard with
# `--store bench` first, as run here); `tuned` (the leaderboard's tuned variants, 9.8 min) records its runs
# there too and `ensemble-tuned` combines them; training-scores 1.2 min. textures (PIPED and magnetic_tile) about 30 min.
# On a GPU, pass PRESET=paper and SEEDS="0 1 2" for the seeds' settings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
PRESET="${PRESET:-cpu}"
SEEDS="${SEEDS:-0}"
PIPED=(piped/pa_bdp01_tl piped/pa_brg01_rl piped/pa_flr01_tl)
read -r -a SMALL <<<"${DATASETS:-${PIPED[*]} magnetic_tile/magnetic_tile mvtec_3d_ad/tire}"
DIGITS="${DIGITS:-0,1,2,3,4,5,6,7,8,9}"
METHODS="${METHODS:-}"  # leaderboard, peers: only these comma-separated methods, e.g. METHODS=vaegan APPEND=--append
APPEND="${APPEND:-}"  # APPEND=--append: leaderboard, noisy-mnist and peers keep the earlier rows they do not re-run
mkdir -p benchmarks/results

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(leaderboard ensemble tuned ensemble-tuned training-scores objects textures noisy-mnist peers dashboard)

for suite in "${suites[@]}"; do
  echo "== $suite"
  case "$suite" in
    leaderboard) python3 -m benchmarks leaderboard --record --preset "$PRESET" --seeds $SEEDS --datasets "${SMALL[@]}" $APPEND ${METHODS:+--methods "$METHODS"} --store bench ;;
    ensemble) python3 benchmarks/ensemble.py ;;
    tuned) python3 -m benchmarks leaderboard --record --tuned --append --preset "$PRESET" --seeds $SEEDS --datasets "${SMALL[@]}" --store bench ;;
    ensemble-tuned) python3 benchmarks/ensemble.py --tuned --name ensemble-tuned ;;
    training-scores) python3 benchmarks/training_scores.py ;;
    objects) python3 -m benchmarks objects --record --preset "$PRESET" --seeds $SEEDS ;;
    textures) python3 -m benchmarks textures --record --preset "$PRESET" --seeds $SEEDS --datasets "${PIPED[@]}" magnetic_tile/magnetic_tile ;;
    noisy-mnist) python3 -m benchmarks noisy-mnist --record --preset "$PRESET" --seeds $SEEDS --digits "$DIGITS" $APPEND ;;
    peers)
      bash benchmarks/setup_peers.sh
      python3 -m benchmarks peers --record --preset "$PRESET" --seeds $SEEDS $APPEND ${METHODS:+--methods "$METHODS"} \
        --datasets ${DATASETS:-piped/pa_bdp01_tl piped/pa_flr01_tl magnetic_tile/magnetic_tile mvtec_3d_ad/tire}
      ;;
    dashboard)  # the log gets everything, the results file the summary table
      python3 benchmarks/dashboard_perf.py | tee /dev/stderr |
        sed -n '/^[0-9]* runs, [0-9]* test images/,$p' >benchmarks/results/dashboard.md
      ;;
    *) echo "unknown suite $suite; choose from leaderboard ensemble tuned ensemble-tuned training-scores objects textures noisy-mnist peers dashboard" >&2; exit 2 ;;
  esac 2>&1 | tee "benchmarks/results/$suite.log"
done
