/* Data parallelism pieces that one process can check (the 2-rank runs are tests/cli/train_mpi.sh):
 * shards tile the flat parameters; AdamW run shard by shard (ZeRO-1) is bitwise the whole-buffer
 * update, with LoRA+ lr groups, no-decay tensors and pure_bf16 rounding; moments can be dropped
 * and pointed elsewhere; zero_stage is range-checked; one process is rank 0 of 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/config.h"
#include "harness.h"
#include "train/dist.h"
#include "train/optim.h"

static void fill(ct_params *ps, unsigned seed) {
    for (size_t i = 0; i < ps->total; i++) {
        seed = seed * 1103515245u + 12345u;
        ps->data[i] = ((float)(seed >> 8 & 0xffff) / 65536.0f - 0.5f);
        ps->grad[i] = ((float)(seed >> 4 & 0xfff) / 4096.0f - 0.5f) * 1e-2f;
    }
}

static ct_status make(ct_params *ps, ct_err *err) {
    memset(ps, 0, sizeof *ps);
    if (ct_params_add(ps, "model.layers.0.self_attn.q_proj.lora_A.weight", 2, 7, 13, true, NULL) < 0 ||
        ct_params_add(ps, "model.layers.0.self_attn.q_proj.lora_B.weight", 2, 5, 7, true, NULL) < 0 ||
        ct_params_add(ps, "model.norm.weight", 1, 33, 0, false, NULL) < 0)
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_params_alloc(ps, err);
    if (!st) ps->p[1].lr_scale = 16.0; /* LoRA+ group */
    return st;
}

TEST(dist_single_process) {
    ct_err err = {0};
    CHECK_OK(ct_dist_init(&err), &err);
    CHECK_EQ_INT(ct_dist_rank(), 0);
    CHECK_EQ_INT(ct_dist_size(), 1);
    size_t lo, hi;
    ct_dist_shard(1000, 0, &lo, &hi);
    CHECK(lo == 0 && hi == 1000);
    float x[3] = {1, 2, 3};
    CHECK_OK(ct_dist_sum_f32(x, 3, &err), &err);
    CHECK(x[0] == 1 && x[2] == 3);
    bool f = true;
    CHECK_OK(ct_dist_any(&f, &err), &err);
    CHECK(f);
    ct_dist_abort(3); /* a no-op outside a job: we are still here */
}

TEST(dist_adamw_shards_equal_whole) {
    ct_err err = {0};
    ct_ctx *ctx = NULL;
    CHECK_OK(ct_ctx_new(&ctx, 1, &err), &err);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        ct_params a, b;
        CHECK_OK(make(&a, &err), &err);
        CHECK_OK(make(&b, &err), &err);
        fill(&a, 7);
        fill(&b, 7);
        ct_adamw oa, ob[3];
        ct_adamw_init(&oa, 0.9, 0.999, 1e-8, 0.1);
        oa.bf16_params = bf16;
        for (int r = 0; r < 3; r++) ob[r] = oa;
        /* b: three uneven shards with their own moments, as three ranks hold them */
        size_t cut[4] = {0, 11, 40, b.total};
        float *m = calloc(b.total, sizeof *m), *v = calloc(b.total, sizeof *v);
        CHECK(m && v);
        ct_params_drop_moments(&b);
        CHECK(b.m == NULL && b.p[0].m == NULL && b.moments == NULL);
        for (int step = 0; step < 3; step++) {
            float clip = step == 1 ? 0.25f : 1.0f;
            ct_adamw_step(ctx, &oa, &a, 1e-2, clip);
            for (int r = 0; r < 3; r++)
                ct_adamw_step_range(ctx, &ob[r], &b, 1e-2, clip, cut[r], cut[r + 1], b.grad + cut[r], m + cut[r], v + cut[r]);
        }
        CHECK_MSG(!memcmp(a.data, b.data, a.total * sizeof(float)), "bf16 %d: sharded AdamW differs from whole", bf16);
        CHECK(!memcmp(a.m, m, a.total * sizeof(float)) && !memcmp(a.v, v, a.total * sizeof(float)));
        ct_params_point_moments(&b, m, v);
        CHECK(b.p[2].m == m + b.p[2].offset && b.p[2].v == v + b.p[2].offset);
        ct_params_point_moments(&b, NULL, NULL);
        free(m);
        free(v);
        ct_params_free(&a);
        ct_params_free(&b);
    }
    ct_ctx_free(ctx);
}

TEST(dist_clip_factor) {
    CHECK(ct_clip_factor(2.0, 1.0) == (float)(1.0 / (2.0 + 1e-6)));
    CHECK(ct_clip_factor(0.5, 1.0) == 1.0f);
    CHECK(ct_clip_factor(NAN, 1.0) == 1.0f);
    CHECK(ct_clip_factor(5.0, 0.0) == 1.0f);
}

TEST(dist_zero_stage_config) {
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    CHECK_OK(ct_train_config_set(&c, "zero_stage", "1", "t", &err), &err);
    CHECK_OK(ct_train_config_validate(&c, &err), &err);
    CHECK_OK(ct_train_config_set(&c, "zero_stage", "3", "t", &err), &err);
    CHECK(ct_train_config_validate(&c, &err) == CT_ERR_ARG && strstr(err.msg, "zero_stage"));
    CHECK_OK(ct_train_config_set(&c, "zero_stage", "0", "t", &err), &err);
    CHECK_OK(ct_train_config_set(&c, "deepspeed", "examples/deepspeed/ds_z2.json", "t", &err), &err);
    CHECK(c.deepspeed && !strcmp(c.deepspeed, "examples/deepspeed/ds_z2.json"));
    ct_train_config_free(&c);
}
