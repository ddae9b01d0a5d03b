#!/usr/bin/env bash
# The figures measured on a GPU machine (see benchmarks/README.md): forecast quality of the LSTM settings beside
# the econometric baselines on the S&P 500 and the embedded panel, under two targets, four jobs at once; then
# training throughput (fp32 and half-precision autocast, normal and Student-t heads). Needs the repository as the working
# directory, python3 with torch, and arch (carried as a wheel in .whl/ where it is not installed). Writes logs and
# JSON to $OUT (default: runs/gpu).
set -u
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
if ! python3 -c "import arch" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
start=$(date +%s)
for panel in sp500 embedded; do
    for execution in next-close same-close; do
        python3 benchmarks/sp500_quality.py --panel "$panel" --execution "$execution" --device cuda \
            --settings normal studentt studentt-x5 --seeds 0 1 2 --json "$OUT/quality_${panel}_${execution}.json" \
            > "$OUT/quality_${panel}_${execution}.log" 2>&1 &
    done
done
wait
echo "quality jobs: $(( $(date +%s) - start )) s"
for dist in normal studentt; do
    python3 benchmarks/training_throughput.py --device cuda --amp both --dist "$dist" --rounds 2 --batch 256 4096
done 2>&1 | tee "$OUT/throughput.log"
tail -n 12 "$OUT"/quality_*.log
