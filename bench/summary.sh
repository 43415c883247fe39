#!/usr/bin/env bash
# Prints the summary table of a bench/run.sh results file (lines "KEY VALUE").
# ratio = ctune / baseline: > 1 means ctune is faster for throughputs; for peak RSS < 1 means
# ctune uses less memory.
# A key given several times (the decode benchmarks' rounds) shows the median of its values.
set -u
. "$(dirname "$0")/lib.sh"
awk "$BENCH_MEDIAN_AWK"'
BEGIN { v["goal_8gib_mib"] = 8192 }
function row(what, unit, ck, base, bk,   c, b, r) {
  c = (ck in v) ? v[ck] : "";
  b = (bk in v) ? v[bk] : "";
  if (c == "") { printf "| %-44s | %-7s | %10s | %-24s | %20s | %7s |\n", what, unit, "missing", base, b == "" ? "-" : b, "-"; return }
  if (b == "" || b + 0 == 0) { printf "| %-44s | %-7s | %10s | %-24s | %20s | %7s |\n", what, unit, c, base, "baseline unavailable", "-"; return }
  printf "| %-44s | %-7s | %10s | %-24s | %20s | %6.2fx |\n", what, unit, c, base, b, c / b
}
END {
  printf "| %-44s | %-7s | %10s | %-24s | %20s | %7s |\n", "measurement", "unit", "ctune", "baseline", "baseline value", "ratio"
  print "|----------------------------------------------|---------|-----------:|--------------------------|---------------------:|--------:|"
  row("tokenizer encode, 1 thread", "MB/s", "tok_ctune_1t", "JS @lenml/tokenizers", "tok_js")
  row("tokenizer encode, 2 threads", "MB/s", "tok_ctune_2t", "JS @lenml/tokenizers", "tok_js")
  row("data encode (render+tokenize), 1 thread", "smp/s", "data_ctune_1t", "JS jinja+tokenizers", "data_js")
  row("data encode, 2 threads", "smp/s", "data_ctune_2t", "JS jinja+tokenizers", "data_js")
  for (t = 1; t <= 2; t++) for (p = 0; p < 2; p++) {
    prec = p ? "bf16" : "fp32"
    row(sprintf("prefill, %d thread%s", t, t > 1 ? "s" : ""), "tok/s", "fwd_ctune_prefill_" t "t", "PyTorch " prec, "fwd_torch_" prec "_prefill_" t "t")
    row(sprintf("decode, %d thread%s", t, t > 1 ? "s" : ""), "tok/s", "fwd_ctune_decode_" t "t", "PyTorch " prec, "fwd_torch_" prec "_decode_" t "t")
  }
  for (t = 1; t <= 2; t++) {
    row(sprintf("decode + LoRA r=16 unmerged, %d thread%s", t, t > 1 ? "s" : ""), "tok/s", "fwd_lora_unmerged_decode_" t "t", "ctune base model", "fwd_lora_base_decode_" t "t")
    row(sprintf("decode + LoRA r=16 merged f32, %d thread%s", t, t > 1 ? "s" : ""), "tok/s", "fwd_lora_merged_decode_" t "t", "ctune base model", "fwd_lora_base_decode_" t "t")
  }
  row("prefill, 1 thread, bf16 compute (opt-in)", "tok/s", "fwd_bf16c_prefill_1t", "PyTorch bf16", "fwd_torch_bf16_prefill_1t")
  row("prefill, 2 threads, bf16 compute (opt-in)", "tok/s", "fwd_bf16c_prefill_2t", "PyTorch bf16", "fwd_torch_bf16_prefill_2t")
  row("prefill, 2 threads, OMP_WAIT_POLICY=PASSIVE", "tok/s", "fwd_passive_prefill_2t", "ctune default wait", "fwd_ctune_prefill_2t")
  row("decode, 2 threads, OMP_WAIT_POLICY=PASSIVE", "tok/s", "fwd_passive_decode_2t", "ctune default wait", "fwd_ctune_decode_2t")
  for (m = 0; m < 2; m++) for (p = 0; p < 2; p++) {
    meth = m ? "full" : "lora"; prec = p ? "bf16 autocast" : "fp32 eager"; pk = p ? "bf16" : "fp32"
    name = m ? "full fine-tuning" : "LoRA r=16"
    row("train step " name, "tok/s", "train_ctune_" meth "_tok_s", "PyTorch " prec, "train_torch_" pk "_" meth "_tok_s")
    row("train step " name ", peak RSS", "MiB", "train_ctune_" meth "_rss_mib", "PyTorch " prec, "train_torch_" pk "_" meth "_rss_mib")
  }
  for (m = 0; m < 2; m++) {
    meth = m ? "full" : "lora"; name = m ? "full fine-tuning" : "LoRA r=16"
    row("train step " name ", bf16: true", "tok/s", "train_ctune_" meth "_bf16_tok_s", "PyTorch bf16 autocast", "train_torch_bf16_" meth "_tok_s")
    row("train step " name ", bf16: true, peak RSS", "MiB", "train_ctune_" meth "_bf16_rss_mib", "PyTorch bf16 autocast", "train_torch_bf16_" meth "_rss_mib")
  }
  row("train step QLoRA nf4+dq, bf16: true", "tok/s", "train_ctune_qlora_bf16_tok_s", "ctune LoRA bf16: true", "train_ctune_lora_bf16_tok_s")
  row("train step QLoRA nf4+dq, bf16, peak RSS", "MiB", "train_ctune_qlora_bf16_rss_mib", "ctune LoRA bf16: true", "train_ctune_lora_bf16_rss_mib")
  row("Qwen3.5-0.8B shape LoRA (vs Qwen2.5-0.5B)", "tok/s", "train_q35_lora_tok_s", "ctune Qwen2.5-0.5B LoRA", "train_ctune_lora_tok_s")
  row("Qwen3.5-0.8B shape LoRA, bf16: true", "tok/s", "train_q35_lora_bf16_tok_s", "ctune Qwen2.5-0.5B bf16", "train_ctune_lora_bf16_tok_s")
  row("Qwen3.5-0.8B LoRA: delta rule share of step", "frac", "train_q35_lora_delta_rule_share", "-", "none")
  row("Qwen3.5-0.8B LoRA bf16: delta rule share", "frac", "train_q35_lora_bf16_delta_rule_share", "-", "none")
  row("7B QLoRA T=1024 ckpt, 4 layers", "tok/s", "train_7b4_qlora_tok_s", "ctune LoRA bf16 (4 layers)", "train_7b4_lora_tok_s")
  row("7B QLoRA T=1024 ckpt, 28 layers, peak RSS", "MiB", "train_7b_qlora_rss_mib", "goal 8 GiB", "goal_8gib_mib")
  row("7B QLoRA T=1024 ckpt, 28 layers", "tok/s", "train_7b_qlora_tok_s", "-", "none")
  for (t = 1; t <= 2; t++) {
    ts = sprintf("%d thread%s", t, t > 1 ? "s" : "")
    row("decode bf16 (vs llama.cpp F16), " ts, "tok/s", "ctune_bf16_decode_" t "t", "llama.cpp F16 GGUF", "llama_decode_" t "t")
    row("decode f16 (same weights), " ts, "tok/s", "ctune_f16_decode_" t "t", "llama.cpp F16 GGUF", "llama_decode_" t "t")
    row("prefill f16 (same weights), " ts, "tok/s", "ctune_f16_prefill_" t "t", "llama.cpp F16 GGUF", "llama_prefill_" t "t")
    row("batched decode 8 seqs bf16, " ts, "tok/s", "ctune_bf16_batch8_" t "t", "ctune 1 sequence", "ctune_bf16_decode_" t "t")
    row("batched decode 8 seqs bf16, --batch-precision bf16, " ts, "tok/s", "ctune_bf16_batch8dot_" t "t", "ctune 1 sequence", "ctune_bf16_decode_" t "t")
    row("batched decode 8 seqs, llama.cpp, " ts, "tok/s", "llama_batch8_" t "t", "llama.cpp 1 sequence", "llama_decode_" t "t")
    row("decode bf16 weights read, " ts, "GB/s", "dec_bw_ctune_" t "t", "1 GiB read probe", "bw_probe_" t "t")
  }
  for (t = 1; t <= 2; t++) {
    ts = sprintf("%d thread%s", t, t > 1 ? "s" : "")
    row("Qwen3.5-0.8B-shape decode bf16, " ts, "tok/s", "q35_ctune_bf16_decode_" t "t", "llama.cpp BF16 GGUF", "q35_llama_bf16_decode_" t "t")
    row("Qwen3.5-0.8B-shape prefill 8 bf16, " ts, "tok/s", "q35_ctune_bf16_prefill_" t "t", "llama.cpp BF16 GGUF", "q35_llama_bf16_prefill_" t "t")
    row("Qwen3.5 decode, Q4_K_M file, " ts, "tok/s", "q35_ctune_q4_k_m_decode_" t "t", "llama.cpp, same file", "q35_llama_q4_k_m_decode_" t "t")
    row("Qwen3.5 decode Q4_K_M / bf16, " ts, "tok/s", "q35_ctune_q4_k_m_decode_" t "t", "ctune bf16", "q35_ctune_bf16_decode_" t "t")
  }
  row("sgemm 2048^3 (ct_sgemm), all threads", "GFLOP/s", "sgemm_all", "1 thread", "sgemm_1t")
  split("fwd dx dW", pr, " ")
  for (i = 1; i <= 3; i++) {
    row("bf16 GEMM gate/up " pr[i] " T=512, 2 threads", "GFLOP/s", "gemm_" pr[i] "_up_2t_ctune", "oneDNN bf16", "gemm_" pr[i] "_up_2t_onednn")
    row("bf16 GEMM gate/up " pr[i] " T=512, 2 threads", "GFLOP/s", "gemm_" pr[i] "_up_2t_ctune", "ctune 1 thread", "gemm_" pr[i] "_up_1t_ctune")
  }
  row("train step LoRA, achieved", "GFLOP/s", "train_ctune_lora_gflops", "sgemm peak (all threads)", "sgemm_all")
  row("train step full, achieved", "GFLOP/s", "train_ctune_full_gflops", "sgemm peak (all threads)", "sgemm_all")
  row("eval mcq loglik 5-shot, prefix reuse, 1 thr", "q/s", "eval_mcq_reuse_true_q_s", "no prefix reuse", "eval_mcq_reuse_false_q_s")
  row("eval mcq loglik 5-shot, batch 8, 1 thr", "q/s", "eval_mcq_reuse_true_b8_q_s", "eval_batch_size 1", "eval_mcq_reuse_true_q_s")
  row("eval mcq loglik 5-shot qwen3-512, batch 8", "q/s", "eval_mcq_qwen3_reuse_true_b8_q_s", "eval_batch_size 1", "eval_mcq_qwen3_reuse_true_q_s")
  row("eval generation, eval_batch_size 8, 1 thr", "ans/s", "eval_gen_batch8_a_s", "eval_batch_size 1", "eval_gen_batch1_a_s")
  if ("tok_same_ids" in v) printf "\ntokenizer ids identical to the JS reference: %s\n", v["tok_same_ids"] == 1 ? "yes" : "NO"
}' "$1"
