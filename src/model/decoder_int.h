/* What the decoder's files share (decoder.c: the layer skeleton, attention and MLP; deltanet.c:
 * the Gated DeltaNet token mixer): the activations a layer keeps and the linear-with-LoRA steps. */
#ifndef CT_MODEL_DECODER_INT_H
#define CT_MODEL_DECODER_INT_H

#include "model/decoder.h"

/* A Gated DeltaNet layer's activations ([N = B*T rows]; CD = 2*key_dim + value_dim conv
 * channels, VD = value_dim, Hv value heads, Hk key heads). */
typedef struct ct_dn_acts {
    float *mixed;        /* [N,CD] in_proj_qkv output, the conv input */
    float *conv;         /* [N,CD] conv output before SiLU */
    float *qkv;          /* [N,CD] SiLU(conv) with q and k L2-normalised */
    float *l2inv;        /* [N,2*Hk] the L2 norms' rsqrt (q heads, then k heads) */
    float *z;            /* [N,VD] in_proj_z: the gate of the output norm */
    float *a, *b;        /* [N,Hv] in_proj_a / in_proj_b outputs */
    float *g, *beta;     /* [N,Hv] log decay and write strength */
    float *core;         /* [N,VD] the delta rule's output */
    float *nrstd;        /* [N*Hv] the gated norm's rstd */
    float *o;            /* [N,VD] gated-norm output, the out_proj input */
    float *saved;        /* chunk-start states of every segment (train) */
    float *qkt;          /* lin_v_tiled: [N, 2*Hv*Dk] q then k heads, one per value head */
} ct_dn_acts;

/* What a layer computes, and in a train pass keeps for its backward ([N = B*T rows]). In an
 * inference pass buffers that are dead by the time the next is written alias each other. */
struct ct_dec_acts {
    float *xn1, *rstd1;  /* [N,C], [N] input RMSNorm output / rstd */
    /* attention layers */
    float *qg;           /* output gate: [N, Hq*2D] q_proj output (per head: D query, D gate) */
    float *ogate;        /* output gate: [N, Hq*D] the gate before the sigmoid */
    float *qraw, *qrstd; /* qk_norm: [N,Hq*D] projection before q_norm, [N*Hq] */
    float *kraw, *krstd; /* [N,Hkv*D], [N*Hkv] */
    float *q, *k, *v;    /* after norm + RoPE (v: projection) */
    float *att0;         /* output gate: [N,Hq*D] attention output before the gate (train) */
    float *att;          /* [N,Hq*D] attention output (o_proj input) */
    /* Gated DeltaNet layers */
    ct_dn_acts dn;
    float *h;            /* [N,C] residual after the token mixer */
    float *xn2, *rstd2;  /* [N,C], [N] */
    float *gate, *up, *act; /* [N,I] */
};

/* n floats of the pass's arena (*st = CT_ERR_NOMEM when it is full). */
float *ct_dec_get(ct_dec *d, size_t n, ct_status *st);
/* y = x W^T + b (+ LoRA) for linear `wid` (bias `bid`, -1: none) of layer l over the pass's rows. */
void ct_dec_linear_fwd(ct_dec *d, int l, int wid, int bid, float *y, const float *x);
/* dx += dy W (+ LoRA), and the weight / bias / LoRA gradients. */
void ct_dec_linear_bwd(ct_dec *d, const ct_dec_grads *g, int l, int wid, int bid, float *dx, const float *dy,
                       const float *x);
/* The segments of row b: [*s0, *s1) after the previous one (start with *s1 = 0); false after the
 * last. Inference rows are one segment. */
bool ct_dec_next_segment(const ct_dec *d, size_t b, size_t *s0, size_t *s1);

/* Gated DeltaNet mixer of layer l (deltanet.c): out[N,C] = mixer(xn[N,C]). Inference rows
 * continue and update their cache's conv and recurrent states. */
ct_status ct_dn_acts_alloc(ct_dec *d, ct_dn_acts *a, bool keep);
void ct_dn_forward(ct_dec *d, int l, ct_dn_acts *a, const float *xn, float *out);
/* dxn[N,C] += the mixer's backward from dout[N,C]; weight / LoRA gradients into g. Scratch from
 * the pass's arena; CT_ERR_NOMEM when it does not fit. */
ct_status ct_dn_backward(ct_dec *d, const ct_dec_grads *g, int l, const ct_dn_acts *a, const float *xn,
                         const float *dout, float *dxn);

#endif
