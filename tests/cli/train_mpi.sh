#!/usr/bin/env bash
# Data-parallel training over MPI ranks (docs/distributed.md), 2 ranks of 1 thread each:
#   2 ranks x batch 2 = 1 rank x batch 4 = 1 rank x batch 2 x accumulation 2: per-step loss, grad
#   norm, token count and the final weights within 1e-6 relative over 10 AdamW steps with
#   clipping (LoRA: 2 ranks x 2 and 1 x 2 x 2 bitwise equal), for lora, full, freeze, prompt and qlora, and with packing + eval;
#   zero_stage 1 = plain data parallel within 1e-6 (log, weights, gathered moments), each rank
#   holding half of the moments; a DeepSpeed stage-2 JSON read as zero_stage 1;
#   a 2-rank checkpoint (plain and ZeRO-1) resumed with 2 ranks and with 1 rank continues the
#   uninterrupted run's losses; `ctune train --nproc 2` launches mpirun; Ctrl-C to it (signal, terminal) saves;
#   a setup failure or a SIGTERM on rank 1 alone stops every rank (its message / a checkpoint);
#   kill -9 of one rank: the job ends within seconds naming the rank, the last checkpoint resumes;
#   eval_tasks on 2 ranks: rank 0 alone runs them (one eval/step-N tree, metrics logged once).
# Learning rates: full/freeze 1e-4, prompt 3e-4, LoRA 1e-3, where the f32 rounding of different batch
# shapes (1 x 4 and 1 x 2 x 2 differ by as much in one process) stays below 1e-6 over 10 steps;
# AdamW amplifies it at higher rates (its update divides by sqrt(v) of tiny gradients).
# Skipped without ../shared's stories260k, mpirun, the MPI build or python3 (reads safetensors).
set -u
bin=${CTUNE_BIN:-build/ctune}
model=${CTUNE_SHARED:-../shared}/models/stories260k
fail() { echo "FAIL: $*"; exit 1; }
[ -d "$model" ] || { echo "stories260k not found at $model (../shared absent)"; exit 77; }
command -v mpirun >/dev/null || { echo "mpirun not found (scripts/deps.sh installs openmpi-bin)"; exit 77; }
command -v python3 >/dev/null || { echo "python3 needed to compare safetensors"; exit 77; }
if "$bin" train --nproc 0 2>&1 | grep -q "needs the MPI build"; then echo "ctune was built without MPI"; exit 77; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
# leaks inside Open MPI are not ctune's (ASan build)
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0
tmp=$(mktemp -d)
job=""
trap '[ -n "$job" ] && kill "$job" 2>/dev/null && sleep 1; rm -rf "$tmp"' EXIT
cat > "$tmp/run.yaml" <<EOC
model_name_or_path: $model
stage: sft
template: empty
dataset: memo.jsonl
dataset_dir: tests/fixtures/trainer
cutoff_len: 64
finetuning_type: lora
lora_rank: 8
lora_dropout: 0
learning_rate: 0.001
max_steps: 10
per_device_train_batch_size: 4
max_grad_norm: 0.5
lr_scheduler_type: cosine
logging_steps: 1
save_steps: 5
threads: 1
overwrite_output_dir: true
output_dir: $tmp/unused
EOC
one() { "$bin" train "$tmp/run.yaml" "$@"; }
two() { timeout 120 mpirun -np 2 --bind-to none "$bin" train "$tmp/run.yaml" "$@"; }
# same DIR_A DIR_B WHAT [FILE]: logs (loss, grad_norm, lr, total_tokens, eval_loss) and the tensors of
# FILE (default: the final weights) agree within 1e-6 relative (L2 norm of the difference of all
# tensors over the L2 norm of all tensors; the worst single tensor is printed)
same() {
  python3 - "$1" "$2" "$3" "${4:-}" <<'PY' || fail "$3"
import json, os, struct, sys, array, math
a, b, what, f = sys.argv[1:5]
def log(d):
    return [json.loads(l) for l in open(os.path.join(d, "trainer_log.jsonl"))]
A, B = log(a), log(b)
if len(A) != len(B): sys.exit(f"{what}: {len(A)} vs {len(B)} log lines")
worst = 0.0
for x, y in zip(A, B):
    for k in ("loss", "grad_norm", "lr", "eval_loss", "total_tokens"):
        if (k in x) != (k in y): sys.exit(f"{what}: step {x['current_steps']}: {k} in one log only")
        if k in x:
            r = abs(x[k] - y[k]) / max(abs(x[k]), 1e-30)
            worst = max(worst, r)
            if r > 1e-6: sys.exit(f"{what}: step {x['current_steps']} {k} {x[k]!r} vs {y[k]!r} (rel {r:.2e})")
def tensors(p):
    with open(p, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        h = json.loads(fh.read(n)); data = fh.read()
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        if v["dtype"] != "F32": sys.exit(f"{p}: {k} is {v['dtype']}")
        out[k] = array.array("f", data[s:e])
    return out
if not f:
    f = "adapter_model.safetensors" if os.path.exists(os.path.join(a, "adapter_model.safetensors")) else "model.safetensors"
TA, TB = tensors(os.path.join(a, f)), tensors(os.path.join(b, f))
if TA.keys() != TB.keys(): sys.exit(f"{what}: {f}: different tensor names")
dd = nn = 0.0
tw, tk = 0.0, ""
for k in TA:
    d = sum((p - q) ** 2 for p, q in zip(TA[k], TB[k])); n = sum(p * p for p in TA[k])
    dd += d; nn += n
    if n > 0 and math.sqrt(d / n) > tw: tw, tk = math.sqrt(d / n), k
r = math.sqrt(dd / nn) if nn > 0 else math.sqrt(dd)
if r > 1e-6: sys.exit(f"{what}: {f}: the tensors differ by {r:.2e} relative (L2 over all)")
print(f"  {what}: log max rel {worst:.2e}; {f} rel {r:.2e} (worst tensor {tk}: {tw:.2e})")
PY
}

# ---- 2 ranks x batch 2 = 1 x batch 4 = 1 x batch 2 x accumulation 2, each method
for m in lora full freeze prompt qlora; do
  args=(--finetuning_type "$m")
  [ "$m" = qlora ] && args=(--finetuning_type lora --quantization_bit 4)
  [ "$m" = full ] && args+=(--learning_rate 0.0001)
  [ "$m" = freeze ] && args+=(--freeze_trainable_layers 2 --learning_rate 0.0001)
  [ "$m" = prompt ] && args+=(--num_virtual_tokens 4 --learning_rate 0.0003)
  one "${args[@]}" --output_dir "$tmp/$m.1x4" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$m: 1 x batch 4"; }
  case $m in lora|full) one "${args[@]}" --per_device_train_batch_size 2 --gradient_accumulation_steps 2 --output_dir "$tmp/$m.1x2x2" \
    > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$m: 1 x batch 2 x 2"; };; esac
  two "${args[@]}" --per_device_train_batch_size 2 --output_dir "$tmp/$m.2x2" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$m: 2 ranks x batch 2"; }
  grep -q "data parallel: 2 ranks x batch 2 x accumulation 1 = global batch 4" "$tmp/log" || { cat "$tmp/log"; fail "$m: no global batch line"; }
  [ "$(grep -c '^done:' "$tmp/log")" = 1 ] || fail "$m: rank 1 printed too (or nobody did)"
  same "$tmp/$m.1x4" "$tmp/$m.2x2" "$m: 2 ranks x 2 vs 1 x 4"
  [ -d "$tmp/$m.1x2x2" ] && same "$tmp/$m.1x2x2" "$tmp/$m.2x2" "$m: 2 ranks x 2 vs 1 x 2 x accumulation 2"
  # LoRA: each micro-batch's gradient is whole before it is added, on one rank or two: bitwise
  # (full fine-tuning adds token by token into the embedding gradient: the rounding differs)
  [ "$m" = lora ] && { cmp -s "$tmp/$m.1x2x2/checkpoint-10/model.safetensors" "$tmp/$m.2x2/checkpoint-10/model.safetensors" ||
    fail "$m: 2 ranks x 2 and 1 x 2 x accumulation 2 are not bitwise equal"; }
  same "$tmp/$m.1x4" "$tmp/$m.2x2" "$m: checkpoint-5 tensors" checkpoint-5/model.safetensors
done

# ---- packing + eval (eval batches split over the ranks, the loss summed)
pe=(--packing true --cutoff_len 32 --val_size 2 --eval_strategy steps --eval_steps 5)
one "${pe[@]}" --per_device_train_batch_size 2 --output_dir "$tmp/pe.1" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "packing: 1 rank"; }
two "${pe[@]}" --per_device_train_batch_size 1 --output_dir "$tmp/pe.2" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "packing: 2 ranks"; }
grep -q eval_loss "$tmp/pe.2/trainer_log.jsonl" || fail "packing: no eval_loss logged"
same "$tmp/pe.1" "$tmp/pe.2" "packing + eval: 2 ranks x 1 vs 1 x 2"

# ---- ZeRO-1 = plain data parallel; half the moments per rank
two --finetuning_type full --per_device_train_batch_size 2 --learning_rate 0.0001 --zero_stage 1 --output_dir "$tmp/z1" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "zero_stage 1"; }
line=$(grep "zero_stage 1: rank 0 holds AdamW moments of" "$tmp/log") || { cat "$tmp/log"; fail "zero_stage 1: no shard line"; }
read -r shard total < <(echo "$line" | sed 's/.*moments of \([0-9]*\) of \([0-9]*\) values.*/\1 \2/')
[ $((2 * shard)) -ge "$total" ] && [ $((2 * shard)) -le $((total + 1)) ] || fail "zero_stage 1: rank 0 holds $shard of $total (not half)"
same "$tmp/full.2x2" "$tmp/z1" "zero_stage 1 vs plain data parallel"
same "$tmp/full.2x2" "$tmp/z1" "zero_stage 1: gathered moments in checkpoint-10" checkpoint-10/optimizer.safetensors
echo '{"train_batch_size": "auto", "zero_optimization": {"stage": 2, "overlap_comm": true}}' > "$tmp/ds_z2.json"
two --finetuning_type full --per_device_train_batch_size 2 --learning_rate 0.0001 --deepspeed "$tmp/ds_z2.json" --output_dir "$tmp/ds" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "deepspeed stage 2"; }
grep -q "ZeRO stage 2 read as zero_stage 1" "$tmp/log" || { cat "$tmp/log"; fail "deepspeed: no note"; }
same "$tmp/z1" "$tmp/ds" "deepspeed stage 2 config = zero_stage 1"

# ---- resume a 2-rank checkpoint with 2 ranks and with 1 rank (batch 4)
resume_from() { # SRC DEST: DEST = SRC as it was at checkpoint-5
  mkdir -p "$2" && cp -r "$1/checkpoint-5" "$2/" && head -5 "$1/trainer_log.jsonl" > "$2/trainer_log.jsonl"
}
resume_from "$tmp/lora.2x2" "$tmp/r2"
two --per_device_train_batch_size 2 --resume_from_checkpoint true --overwrite_output_dir false --output_dir "$tmp/r2" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "resume with 2 ranks"; }
same "$tmp/lora.2x2" "$tmp/r2" "resume of a 2-rank checkpoint with 2 ranks"
resume_from "$tmp/lora.2x2" "$tmp/r1"
one --resume_from_checkpoint true --overwrite_output_dir false --output_dir "$tmp/r1" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "resume with 1 rank"; }
same "$tmp/lora.2x2" "$tmp/r1" "resume of a 2-rank checkpoint with 1 rank x batch 4"
resume_from "$tmp/z1" "$tmp/rz"
one --finetuning_type full --learning_rate 0.0001 --resume_from_checkpoint true --overwrite_output_dir false --output_dir "$tmp/rz" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "resume ZeRO-1 with 1 rank"; }
same "$tmp/z1" "$tmp/rz" "resume of a ZeRO-1 checkpoint with 1 rank" checkpoint-10/model.safetensors
resume_from "$tmp/z1" "$tmp/rz2"
two --finetuning_type full --learning_rate 0.0001 --per_device_train_batch_size 2 --zero_stage 1 --resume_from_checkpoint true \
  --overwrite_output_dir false --output_dir "$tmp/rz2" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "resume ZeRO-1 with 2 ranks"; }
same "$tmp/z1" "$tmp/rz2" "resume of a ZeRO-1 checkpoint with 2 ranks, ZeRO-1" checkpoint-10/optimizer.safetensors

# ---- the --nproc launcher
one --nproc 2 --per_device_train_batch_size 2 --output_dir "$tmp/np" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "--nproc 2"; }
grep -q "data parallel: 2 ranks" "$tmp/log" || { cat "$tmp/log"; fail "--nproc 2 did not run 2 ranks"; }
same "$tmp/lora.2x2" "$tmp/np" "--nproc 2 = mpirun -np 2"

# ---- Ctrl-C to `ctune train --nproc 2`: the launcher turns it into SIGUSR1, which mpirun forwards
# to every rank at once; they stop at the same step, rank 0 saves and says how to resume, the
# launcher exits 130 as one process would. (A Ctrl-C to a bare mpirun gives the ranks only Open
# MPI's one second between its SIGTERM and SIGKILL: docs/distributed.md.)
"$bin" train "$tmp/run.yaml" --nproc 2 --per_device_train_batch_size 2 --max_steps 100000 \
  --save_steps 100000 --output_dir "$tmp/int" > "$tmp/ilog" 2>&1 &
job=$!
for _ in $(seq 300); do grep -q '"current_steps": 20,' "$tmp/int/trainer_log.jsonl" 2>/dev/null && break; sleep 0.1; done
kill -INT "$job"
for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
kill -0 "$job" 2>/dev/null && fail "SIGINT: the job still runs 30 s later"
wait "$job"
rc=$?
job=""
[ $rc = 130 ] || { cat "$tmp/ilog"; fail "SIGINT: launcher exit status $rc, not 130"; }
tr '\r' '\n' < "$tmp/ilog" | grep -q "resume with: ctune train .* --nproc 2 --resume_from_checkpoint true" || { cat "$tmp/ilog"; fail "SIGINT: no resume command"; }
# rank 0's stdout and the progress bar share the log (mpirun forwards both): a progress line ended
# by a carriage return may precede the message on the same line
n=$(tr '\r' '\n' < "$tmp/ilog" | sed -n 's/.*interrupted at step \([0-9]*\) of .*/\1/p' | tail -1)
[ -n "$n" ] && [ -d "$tmp/int/checkpoint-$n" ] || { cat "$tmp/ilog"; fail "SIGINT: no checkpoint of the step it stopped at"; }
[ "$(grep -c 'stop requested: saving a checkpoint' "$tmp/ilog")" = 1 ] || fail "SIGINT: not one message (rank 0's)"
echo "  Ctrl-C to ctune train --nproc 2: saved checkpoint-$n"
# the same Ctrl-C typed in a terminal: the launcher is the terminal's foreground job, mpirun and the
# ranks are not, so only the launcher sees it (a pseudo-terminal; the ranks' output reaches it)
python3 - "$bin" "$tmp/run.yaml" "$tmp/pty" > "$tmp/plog" 2>&1 <<'PY' || { cat "$tmp/plog"; fail "Ctrl-C in a terminal"; }
import os, pty, select, sys, time
binary, cfg, out_dir = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "train", cfg, "--nproc", "2", "--per_device_train_batch_size", "2", "--max_steps",
                      "100000", "--save_steps", "100000", "--output_dir", out_dir])
buf, t_end, sent = b"", time.time() + 60, False
while time.time() < t_end:
    if not sent and os.path.exists(os.path.join(out_dir, "trainer_log.jsonl")) and b"data parallel" in buf:
        time.sleep(0.5)
        os.write(fd, b"\x03")  # Ctrl-C
        sent = True
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            d = os.read(fd, 65536)
        except OSError:
            break
        if not d:
            break
        buf += d
_, st = os.waitpid(pid, 0)
text = buf.decode(errors="replace").replace("\r", "\n")
ok = sent and os.waitstatus_to_exitcode(st) == 130 and "--nproc 2 --resume_from_checkpoint true" in text
ok = ok and any(n.startswith("checkpoint-") for n in os.listdir(out_dir))
print(text[-2000:])
sys.exit(0 if ok else 1)
PY
echo "  Ctrl-C typed in a terminal: $(grep -o 'interrupted at step [0-9]*' "$tmp/plog" | tail -1)"

# ---- one rank fails at setup (its model directory is missing): every rank stops, naming it
timeout 60 mpirun --bind-to none -np 1 "$bin" train "$tmp/run.yaml" --per_device_train_batch_size 2 --output_dir "$tmp/f" : \
  -np 1 "$bin" train "$tmp/run.yaml" --per_device_train_batch_size 2 --output_dir "$tmp/f" --model_name_or_path "$tmp/absent" \
  > "$tmp/flog" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$tmp/flog"; fail "setup failure on rank 1: rc $rc"; }
grep -q "rank 1 of 2: model_name_or_path '$tmp/absent' is not a directory" "$tmp/flog" || { cat "$tmp/flog"; fail "setup failure: rank 1's message"; }
# (rank 0's own line, "stopped: rank 1 failed (setup)", may be cut short by rank 1's MPI_Abort)
# ---- a SIGTERM that only rank 1 receives (at its 7th step): all ranks stop at step 7, rank 0 saves it
timeout 60 mpirun --bind-to none -np 1 "$bin" train "$tmp/run.yaml" --per_device_train_batch_size 2 --max_steps 40 --output_dir "$tmp/t1" : \
  -np 1 -x CTUNE_FAULT=train.step@7:term "$bin" train "$tmp/run.yaml" --per_device_train_batch_size 2 --max_steps 40 \
  --output_dir "$tmp/t1" > "$tmp/tlog" 2>&1
grep -q "^interrupted at step 7 of 40" "$tmp/tlog" && [ -d "$tmp/t1/checkpoint-7" ] || { cat "$tmp/tlog"; fail "SIGTERM on rank 1 only"; }

# ---- kill -9 of one rank: the job ends within seconds, naming the rank; checkpoints intact
timeout 120 mpirun -np 2 --bind-to none "$bin" train "$tmp/run.yaml" --per_device_train_batch_size 2 --max_steps 100000 \
  --save_steps 20 --output_dir "$tmp/k" > "$tmp/klog" 2>&1 &
job=$!
for _ in $(seq 300); do [ -d "$tmp/k/checkpoint-40" ] && break; sleep 0.1; done
[ -d "$tmp/k/checkpoint-40" ] || { kill "$job"; cat "$tmp/klog"; fail "kill: no checkpoint-40 after 30 s"; }
victim=""
for d in /proc/[0-9]*; do # the rank-1 process of this job
  { tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null | grep -qF "$tmp/k" || continue
  { tr '\0' '\n' < "$d/environ"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=${d#/proc/}
done
[ -n "$victim" ] || { kill "$job"; fail "kill: rank 1's pid not found"; }
kill -9 "$victim"
t0=$(date +%s)
for _ in $(seq 150); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
kill -0 "$job" 2>/dev/null && { fail "kill: the job still runs 15 s after rank 1 died"; }
wait "$job"; rc=$?
[ $rc -ne 0 ] || fail "kill: the job exited 0"
grep -qi "rank 1" "$tmp/klog" || { cat "$tmp/klog"; fail "kill: no message naming rank 1"; }
echo "  kill -9 of rank 1: job ended in $(( $(date +%s) - t0 )) s, rc $rc: $(grep -i 'rank 1' "$tmp/klog" | head -1)"
last=$(ls -d "$tmp/k"/checkpoint-* | grep -E 'checkpoint-[0-9]+$' | sort -t- -k2 -n | tail -1)
n=$(basename "$last" | cut -d- -f2)
one --per_device_train_batch_size 4 --max_steps $((n + 1)) --save_steps 1000 --resume_from_checkpoint "$last" --overwrite_output_dir false --output_dir "$tmp/k" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "kill: the last checkpoint ($last) does not resume"; }
# eval_tasks under data parallel: rank 0 evaluates, once per evaluation
cat > "$tmp/ev.yaml" <<EOC
model: $(realpath "$model")
template: empty
datasets: [general_qa]
limit: 2
generation_config:
  max_tokens: 4
dataset_args:
  general_qa:
    local_path: $(realpath examples/eval/qa)
    prompt_template: "{question}"
EOC
"$bin" train "$tmp/run.yaml" --nproc 2 --finetuning_type full --learning_rate 0.0001 --max_steps 2 --save_steps 0 \
  --eval_strategy steps --eval_steps 2 --eval_tasks "$tmp/ev.yaml" --output_dir "$tmp/ev" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "eval_tasks: train failed"; }
[ "$(grep -c '"eval_general_qa/Rouge-L-R"' "$tmp/ev/trainer_log.jsonl")" = 1 ] || fail "eval_tasks: $(cat "$tmp/ev/trainer_log.jsonl")"
[ -s "$tmp/ev/eval/step-2/reports/eval/general_qa.json" ] || fail "eval_tasks: no eval/step-2 report"
echo "ok"
