#!/usr/bin/env bash
# A prepared check on one CUDA GPU, under 5 minutes (issue #21): what the CPU machine cannot run.
#   1. QLoRA (4-bit, bitsandbytes) and 2. bf16 LoRA on the default model, a short budget each;
#   3. FSDP (distributed: fsdp) under torchrun on that one GPU;
#   4. the training and 5. scoring benches' figures, shortened.
# Run from the repository root with the venv built (CUDA torch, bitsandbytes installed):
#   bash bench/gpu_check.sh            # logs and RESULT lines under ${OUT:-/tmp/gpu_check}
# Each step has its own timeout (300 s in all), so one that hangs cannot take the whole budget; it
# goes on and exits non-zero if any step failed.
set -u
OUT=${OUT:-/tmp/gpu_check}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
failed=0

step() {  # step NAME SECONDS COMMAND...: run it, keep its log, say how it ended
  local name=$1 seconds=$2; shift 2
  local started=$SECONDS
  timeout --kill-after=10 "$seconds" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "RESULT step=$name rc=$rc seconds=$((SECONDS - started))"
  [ "$rc" -eq 0 ] || { failed=1; tail -n 20 "$OUT/$name.log"; }
}

"$PY" - <<'PY' || { echo "no CUDA GPU: nothing to check here"; exit 2; }
import torch, sys
print("RESULT gpu=" + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"), flush=True)
sys.exit(0 if torch.cuda.is_available() else 1)
PY

run=(-m domaintune run --domain legal --max-train-rows 400 --eval-rows 100 --time-budget-minutes 0.75)
step qlora 70 "$PY" "${run[@]}" --method qlora --output-dir "$OUT/qlora"
step lora_bf16 70 "$PY" "${run[@]}" --method lora --precision bf16 --output-dir "$OUT/lora_bf16"
printf "distributed: fsdp\n" >"$OUT/fsdp.yaml"
# torchrun's own single-process launch, so FSDP runs under a process group of one.
step fsdp_torchrun 70 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 \
  "${run[@]}" --precision bf16 --config "$OUT/fsdp.yaml" --output-dir "$OUT/fsdp_torchrun"
step train_bench 50 "$PY" bench/train_throughput.py --setups a,c --budget-seconds 10 --train-rows 200 --eval-rows 40
step eval_bench 40 "$PY" bench/eval_throughput.py --rows 100

for run_dir in qlora lora_bf16 fsdp_torchrun; do
  "$PY" - "$OUT/$run_dir/metrics.json" <<'PY' || true
import json, sys
s = json.load(open(sys.argv[1]))
t = s["train"]
print(f"RESULT run={sys.argv[1].split('/')[-2]} steps={t['steps']} tokens_per_s={t['tokens_per_second']:.0f} "
      f"accuracy_base={s.get('base', {}).get('accuracy')} accuracy_tuned={s.get('tuned', {}).get('accuracy')}")
PY
done
grep -h "RESULT\|tokens/s\|examples/s" "$OUT/train_bench.log" "$OUT/eval_bench.log" 2>/dev/null | tail -n 20
exit $failed
