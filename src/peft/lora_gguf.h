/* A PEFT LoRA adapter as a llama.cpp LoRA GGUF (what llama.cpp's convert_lora_to_gguf.py writes;
 * llama-adapter.cpp reads it): general.type "adapter", adapter.type "lora", adapter.lora.alpha,
 * the base's architecture keys, and per adapted linear "<llama.cpp name>.lora_a" (PyTorch shape
 * [r, in]) and ".lora_b" ([out, r]), e.g. blk.0.attn_q.weight.lora_a. llama.cpp scales B A by
 * alpha / r, so an rsLoRA adapter (PEFT scale alpha / sqrt(r)) is written with alpha * sqrt(r).
 * llama only: lora_b of q_proj / k_proj gets the same per-head row permutation as the base
 * weights (convert_lora_to_gguf applies the model's permute to B). Refused: DoRA (magnitude
 * vectors), PiSSA (the base itself changes), modules_to_save tensors. Qwen3.5: names and the
 * value-head reorder of the base (gguf_qwen35.h) on B's rows (in_proj_qkv / z / b / a) or A's
 * columns (out_proj). */
#ifndef CT_PEFT_LORA_GGUF_H
#define CT_PEFT_LORA_GGUF_H

#include "ctune/model.h"
#include "peft/peft_io.h"

ct_status ct_lora_gguf_write(const ct_peft_adapter *a, const ct_config *cfg, const char *adapter_dir, const char *path,
                             const ct_gguf_export_opts *o, ct_err *err);

#endif
