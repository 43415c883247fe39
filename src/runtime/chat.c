/* Multi-turn chat sessions with KV-cache reuse, and the answer display splitter (see
 * include/ctune/chat.h). */
#include "ctune/chat.h"

#include <stdlib.h>
#include <string.h>

struct ct_chat {
    ct_runtime *rt;
    const ct_tokenizer *tok;
    ct_chat_opts o;
    char *system;
    ct_conv conv;
    ct_kv_cache *kv;
    size_t n_prefix; /* prompt-tuning virtual tokens at the start of the cache */
    ct_ids cached;   /* token ids whose keys/values follow the prefix in the cache */
};

static ct_status add_system(ct_chat *c, ct_err *err) {
    if (c->system && !ct_conv_add(&c->conv, CT_ROLE_SYSTEM, c->system, err))
        return err && err->code ? err->code : CT_ERR_NOMEM;
    return CT_OK;
}

ct_status ct_chat_init(ct_chat **out, ct_runtime *rt, const ct_chat_opts *o, ct_err *err) {
    *out = NULL;
    const ct_template *t;
    ct_status st = ct_runtime_template(rt, &t, err);
    if (st) return st;
    const char *why = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(rt, &why);
    if (!tok) return ct_err_set(err, CT_ERR_IO, "chat: needs the tokenizer: %s", why);
    ct_chat *c = calloc(1, sizeof *c);
    if (!c) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    c->rt = rt;
    c->tok = tok;
    c->o = *o;
    ct_conv_init(&c->conv);
    if (o->system && !(c->system = strdup(o->system))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    c->o.system = c->system;
    if (!st) st = ct_runtime_chat_stops(rt, &c->o.gen, err);
    if (!st) st = add_system(c, err);
    if (!st) st = ct_kv_cache_init(&c->kv, ct_model_config(ct_runtime_model(rt)), 256, err);
    const ct_adapter *ad = ct_runtime_adapter(rt);
    c->n_prefix = ad ? ct_adapter_num_virtual(ad) : 0;
    if (st) ct_chat_free(c);
    else *out = c;
    return st;
}

void ct_chat_free(ct_chat *c) {
    if (!c) return;
    ct_conv_free(&c->conv);
    ct_kv_cache_free(c->kv);
    ct_ids_free(&c->cached);
    free(c->system);
    free(c);
}

void ct_chat_reset(ct_chat *c) {
    ct_conv_free(&c->conv);
    ct_conv_init(&c->conv);
    add_system(c, NULL);
    ct_kv_cache_truncate(c->kv, c->n_prefix);
    c->cached.n = 0;
}

size_t ct_chat_num_messages(const ct_chat *c) { return c->conv.n_msgs; }

/* Removes the last message (a user turn whose answer failed). */
static void pop_message(ct_chat *c) {
    ct_message *m = &c->conv.msgs[c->conv.n_msgs - 1];
    free(m->content);
    free(m->reasoning);
    m->content = m->reasoning = NULL;
    c->conv.n_msgs--;
}

ct_status ct_chat_send(ct_chat *c, const char *user, char **answer, ct_chat_stats *stats,
                       ct_err *err) {
    *answer = NULL;
    ct_chat_stats st0 = {0};
    if (!ct_conv_add(&c->conv, CT_ROLE_USER, user, err))
        return err && err->code ? err->code : CT_ERR_NOMEM;
    ct_ids ids = {0}, out = {0};
    ct_render_opts ro = ct_render_opts_default();
    ro.add_generation_prompt = true;
    ro.enable_thinking = c->o.enable_thinking;
    ro.jinja = true;
    ct_status s = ct_runtime_encode_chat(c->rt, &c->conv, &ro, &ids, err);
    if (!s && ids.n == 0) s = ct_err_set(err, CT_ERR_ARG, "chat: the prompt encodes to no tokens");
    if (!s) {
        /* reuse the longest common prefix (at least one token must be run for fresh logits) */
        size_t keep = 0;
        if (!c->o.no_cache_reuse)
            while (keep < c->cached.n && keep < ids.n && c->cached.data[keep] == ids.data[keep]) keep++;
        if (keep >= ids.n) keep = ids.n - 1;
        ct_kv_cache_truncate(c->kv, c->n_prefix + keep);
        if (ct_kv_cache_len(c->kv) < c->n_prefix + keep) keep = 0; /* a recurrent state starts over */
        c->cached.n = keep;
        st0.prompt_tokens = ids.n;
        st0.reused_tokens = keep;
        s = ct_generate_cached(ct_runtime_ctx(c->rt), ct_runtime_model(c->rt), ct_runtime_adapter(c->rt), c->kv,
                               ids.data, ids.n, &c->o.gen, &out, &st0.stop, err);
    }
    if (!s) {
        /* the cache now holds ids + out[:-1] */
        c->cached.n = 0;
        for (size_t i = 0; !s && i < ids.n; i++) s = ct_ids_push(&c->cached, ids.data[i], err);
        for (size_t i = 0; !s && i + 1 < out.n; i++) s = ct_ids_push(&c->cached, out.data[i], err);
    } else {
        /* the cache may hold a partial run: keep only what is known */
        ct_kv_cache_truncate(c->kv, c->n_prefix + c->cached.n);
    }
    size_t n_text = out.n;
    if (!s && st0.stop == CT_GEN_STOP_EOS && n_text) n_text--;
    char *text = NULL;
    size_t len = 0;
    if (!s) s = ct_tokenizer_decode(c->tok, out.data, n_text, true, &text, &len, err);
    if (!s) {
        char *reasoning = NULL, *rest = NULL;
        ct_message *msg;
        if (ct_split_think(text, &reasoning, &rest)) {
            msg = ct_conv_add(&c->conv, CT_ROLE_ASSISTANT, rest, err);
            if (msg) msg->reasoning = reasoning, reasoning = NULL;
        } else {
            msg = ct_conv_add(&c->conv, CT_ROLE_ASSISTANT, text, err);
        }
        free(reasoning);
        free(rest);
        if (!msg) s = err && err->code ? err->code : CT_ERR_NOMEM;
    }
    if (s) {
        free(text);
        pop_message(c);
    } else {
        *answer = text;
        st0.new_tokens = out.n;
    }
    if (stats) *stats = st0;
    ct_ids_free(&ids);
    ct_ids_free(&out);
    return s;
}

/* ---- display splitter ---- */

static const char *const OPEN_TAGS[] = {"<think>", "<tool_call>"};
static const char *const CLOSE_TAGS[] = {NULL, "</think>", "</tool_call>"};

/* Length of the longest suffix of text[from..len) that is a proper prefix of one of tags. */
static size_t partial_tag(const char *text, size_t from, size_t len, const char *const *tags,
                          size_t ntags) {
    for (size_t k = len - from; k > 0; k--)
        for (size_t t = 0; t < ntags; t++)
            if (tags[t] && k < strlen(tags[t]) && !memcmp(text + len - k, tags[t], k)) return k;
    return 0;
}

static void emit_trimmed(ct_chat_emit_fn emit, void *user, const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t')) n--;
    emit(CT_CHAT_SPAN_TOOL_CALL, s, n, user);
}

void ct_chat_splitter_init(ct_chat_splitter *s) { memset(s, 0, sizeof *s); }

void ct_chat_splitter_feed(ct_chat_splitter *s, const char *text, size_t len, bool final,
                           ct_chat_emit_fn emit, void *user) {
    while (s->pos < len) {
        const char *rest = text + s->pos;
        size_t rn = len - s->pos;
        if (s->state == CT_CHAT_SPAN_TEXT) {
            const char *best = NULL;
            int which = 0;
            for (int t = 0; t < 2; t++) {
                const char *p = memmem(rest, rn, OPEN_TAGS[t], strlen(OPEN_TAGS[t]));
                if (p && (!best || p < best)) best = p, which = t;
            }
            if (best) {
                if (best > rest) emit(CT_CHAT_SPAN_TEXT, rest, (size_t)(best - rest), user);
                s->pos += (size_t)(best - rest) + strlen(OPEN_TAGS[which]);
                s->state = which == 0 ? CT_CHAT_SPAN_THINK : CT_CHAT_SPAN_TOOL_CALL;
                continue;
            }
            size_t hold = final ? 0 : partial_tag(text, s->pos, len, OPEN_TAGS, 2);
            if (rn > hold) emit(CT_CHAT_SPAN_TEXT, rest, rn - hold, user);
            s->pos += rn - hold;
            return;
        }
        const char *close = CLOSE_TAGS[s->state];
        const char *p = memmem(rest, rn, close, strlen(close));
        if (s->state == CT_CHAT_SPAN_THINK) {
            if (p) {
                if (p > rest) emit(CT_CHAT_SPAN_THINK, rest, (size_t)(p - rest), user);
                s->pos += (size_t)(p - rest) + strlen(close);
                s->state = CT_CHAT_SPAN_TEXT;
                continue;
            }
            const char *const one[] = {close};
            size_t hold = final ? 0 : partial_tag(text, s->pos, len, one, 1);
            if (rn > hold) emit(CT_CHAT_SPAN_THINK, rest, rn - hold, user);
            s->pos += rn - hold;
            return;
        }
        /* tool call: emitted whole */
        if (p) {
            emit_trimmed(emit, user, rest, (size_t)(p - rest));
            s->pos += (size_t)(p - rest) + strlen(close);
            s->state = CT_CHAT_SPAN_TEXT;
            continue;
        }
        if (final) {
            emit_trimmed(emit, user, rest, rn);
            s->pos = len;
        }
        return;
    }
}
