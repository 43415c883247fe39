/* One dataset row (JSON text) through the whole per-sample pipeline: reader (byte 0 % 6 picks
 * auto/alpaca/sharegpt/openai/tokens/text), structural check, a chat template (byte 1 >> 5) with
 * options from byte 1, and ct_encode with the byte-level tokenizer and a small cutoff_len. Rendered segments
 * must tile the text; encoded labels must be the id or -100; cutoff_len must hold. */
#include <omp.h>

#include "ctune/data.h"
#include "fuzz_tok.h"

static const char *const kTemplates[] = {"qwen",     "qwen3",  "qwen3_nothink", "qwen3_5", "llama3",
                                         "llama3_1", "llama2", "chatml",        "empty"};
static const char *const kBuiltin[] = {"brave_search", "code_interpreter", "f", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static ct_tokenizer *tok;
    if (!tok) omp_set_num_threads(1), tok = byte_level_tokenizer();
    if (n < 2) return 0;
    ct_format fmt = (ct_format)(d[0] % 6);
    uint8_t o = d[1];
    d += 2, n -= 2;
    ct_err err = {0};
    ct_conv c;
    ct_status st = ct_conv_from_text((const char *)d, n, fmt, NULL, "fuzz.jsonl:1", &c, &err);
    fz_check_err(st, &err);
    if (st == CT_OK) {
        st = ct_conv_check(&c, "fuzz.jsonl:1", &err);
        fz_check_err(st, &err);
    }
    const ct_template *t = ct_template_get(kTemplates[(o >> 5) % (sizeof kTemplates / sizeof *kTemplates)]);
    if (st == CT_OK && c.kind == CT_CONV_MESSAGES) {
        ct_render_opts ro = ct_render_opts_default();
        ro.add_generation_prompt = o & 1;
        ro.enable_thinking = (ct_think)((o >> 1) % 3 - 1);
        ro.preserve_thinking = o & 8;
        ro.train_on_prompt = o & 16;
        ro.jinja = !(o & 4);
        ro.mask_history = (o & 6) == 6;
        ro.tools_in_system = o & 8; /* llama3_1 keyword arguments */
        ro.builtin_tools = (o & 16) ? kBuiltin : NULL;
        ct_render r;
        ct_render_init(&r);
        ct_status rs = ct_template_render(t, &c, &ro, &r, &err);
        fz_check_err(rs, &err);
        if (rs == CT_OK) {
            size_t off = 0;
            for (size_t i = 0; i < r.n_segs; i++) {
                if (r.segs[i].off != off) abort();
                off += r.segs[i].len;
            }
            if (off != r.len || strlen(r.text) > r.len) abort();
        }
        ct_render_free(&r);
    }
    if (st == CT_OK) {
        ct_encode_opts eo = {0};
        eo.render = ct_render_opts_default();
        eo.render.enable_thinking = (ct_think)((o >> 1) % 3 - 1);
        eo.render.train_on_prompt = o & 16;
        eo.cutoff_len = (o & 2) ? 0 : (size_t)(o % 37) + 1;
        eo.pretrain = c.kind == CT_CONV_TEXT;
        ct_example ex = {0};
        ct_drop_reason why = CT_DROP_NONE;
        ct_status es = ct_encode(tok, t, &c, &eo, &ex, &why, &err);
        fz_check_err(es, &err);
        if (es == CT_OK) {
            if (eo.cutoff_len && ex.n > eo.cutoff_len) abort();
            /* Pre-tokenized rows carry their own ids and labels (checked against the model's
             * vocab by the trainer); labels are -100 or a token id. Encoded text fits the
             * tokenizer and trains exactly its own ids. */
            int32_t V = ct_tokenizer_vocab_size(tok);
            for (size_t i = 0; i < ex.n; i++) {
                if (ex.input_ids[i] < 0 || ex.labels[i] < CT_IGNORE_INDEX) abort();
                if (ex.labels[i] < 0 && ex.labels[i] != CT_IGNORE_INDEX) abort();
                if (c.kind == CT_CONV_TOKENS) continue;
                if (ex.input_ids[i] >= V) abort();
                if (ex.labels[i] != CT_IGNORE_INDEX && ex.labels[i] != ex.input_ids[i]) abort();
            }
        }
        ct_example_free(&ex);
    }
    ct_conv_free(&c);
    return 0;
}
