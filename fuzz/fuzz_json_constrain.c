/* Constrained decoding: a schema, a NUL byte, a text. Compiling must accept or refuse cleanly;
 * the text is fed byte by byte (and as the end); whatever the automaton calls a complete value
 * must parse and be valid for the validator (the soundness of the grammar), and the canonical
 * completion of every accepted prefix must complete it. */
#include <jansson.h>

#include "ctune/constrain.h"
#include "eval/json_grammar.h"
#include "eval/json_schema.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    char *s = fz_str(d, n);
    size_t ns = strlen(s);
    const char *text = ns < n ? (const char *)d + ns + 1 : "";
    size_t nt = ns < n ? n - ns - 1 : 0;
    ct_err err = {0};
    ct_json_schema sc;
    memset(&sc, 0, sizeof sc);
    ct_status st = ct_json_schema_load(&sc, s, "fuzz.schema.json", &err);
    fz_check_err(st, &err);
    jg_grammar g;
    if (!st) {
        st = jg_compile(&g, &sc, 2, "fuzz.schema.json", &err);
        fz_check_err(st, &err);
    }
    if (!st) {
        static jg_state a, b;
        static uint8_t canon[4096];
        jg_start(&g, false, &a);
        size_t i = 0;
        for (; i < nt && i < 256; i++) {
            if (!jg_step(&g, &a, (uint8_t)text[i], &b)) break;
            a = b;
        }
        int cn = jg_canon(&g, &a, canon, (int)sizeof canon);
        if (cn >= 0 && i < 256) { /* prefix + canonical completion: a complete valid value */
            char *full = malloc(i + (size_t)cn + 1);
            memcpy(full, text, i);
            memcpy(full + i, canon, (size_t)cn);
            full[i + (size_t)cn] = 0;
            for (int k = 0; k < cn; k++) {
                if (!jg_step(&g, &a, canon[k], &b)) abort();
                a = b;
            }
            if (!jg_complete(&g, &a)) abort();
            json_t *v = json_loadb(full, i + (size_t)cn, JSON_DECODE_ANY, NULL);
            ct_err e = {0};
            if (!v || ct_json_schema_validate(&sc, v, &e) != CT_OK) {
                if (!v || !strstr(e.msg, "gave up")) {
                    fprintf(stderr, "complete but invalid: %s (%s)\n", full, e.msg);
                    abort();
                }
            }
            json_decref(v);
            free(full);
        }
        jg_free(&g);
    }
    if (sc.root) ct_json_schema_free(&sc);
    free(s);
    return 0;
}
