/* Text-overlap metrics of EvalScope's general_qa (evalscope/metrics/utils/functions.py
 * bleu_ngram_one_sample, evalscope/metrics/utils/rouge.py compute_rouge_score_one_sample_zh), for
 * one prediction against one reference. Definitions (docs/eval.md, "qa"):
 *
 * Tokens. A text "is Chinese" when it holds a code point in U+4E00..U+9FA5 (EvalScope's
 * is_contains_chinese). Chinese text is split per character (EvalScope cuts it with jieba; ctune
 * has no word segmenter, so each CJK character is a token, runs of ASCII letters/digits stay one
 * token, other symbols are one token each, whitespace separates). Other text: for BLEU, runs of
 * letters/digits (any non-ASCII byte counts as a letter) are words and every other non-space
 * character is its own token (nltk word_tokenize on plain sentences); for ROUGE, whitespace
 * separated words, as rouge_chinese's Rouge().get_scores splits an unsegmented text.
 *
 * BLEU-n (nltk sentence_bleu with weights one-hot at n, no smoothing): p_k = clipped k-gram
 * matches / max(1, number of k-grams of the prediction); 0 when there is no unigram match or no
 * n-gram match; else BP * p_n, BP = 1 if c > r, 0 if c == 0, else exp(1 - r/c) (c, r: token
 * counts of prediction and reference).
 * ROUGE-N (rouge_chinese / pltrdy rouge): n-grams as sets; P = |H ∩ R| / |H|, R = |H ∩ R| / |R|,
 * F = 2PR / (P + R + 1e-8). ROUGE-L: LCS of the token sequences; P = LCS / |H|, R = LCS / |R|,
 * F as above. An empty prediction or reference scores 0 everywhere.
 * Exact match (EvalScope exact_match): 1 when both texts are equal after stripping whitespace
 * at both ends and the prediction is not empty. */
#ifndef CT_EVAL_TEXT_METRICS_H
#define CT_EVAL_TEXT_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"

typedef struct ct_text_scores {
    double bleu[4];     /* BLEU-1..4 */
    double rouge[3][3]; /* [ROUGE-1, ROUGE-2, ROUGE-L][P, R, F] */
    double exact_match;
} ct_text_scores;

/* Metric names in the order of the struct: "bleu-1".."bleu-4", "Rouge-1-P", ... "Rouge-L-F"
 * (EvalScope's keys), "exact_match". */
#define CT_TEXT_N_METRICS 14
const char *ct_text_metric_name(int i);
double ct_text_metric_value(const ct_text_scores *s, int i);

bool ct_text_is_chinese(const char *s);

typedef struct ct_text_tokens {
    size_t n;
    const char **p; /* token i is p[i][0 .. len[i]) inside the text */
    size_t *len;
} ct_text_tokens;

/* for_rouge selects the ROUGE tokenisation of non-Chinese text (whitespace words). */
ct_status ct_text_tokenize(const char *s, bool for_rouge, ct_text_tokens *out, ct_err *err);
void ct_text_tokens_free(ct_text_tokens *t);

ct_status ct_text_score(const char *prediction, const char *reference, ct_text_scores *out, ct_err *err);

#endif
