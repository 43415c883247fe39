/* JSON-schema validator: a schema, a NUL byte, an instance. Loading must accept or refuse
 * cleanly; validation of any instance against an accepted schema must terminate with CT_OK or
 * an error naming a path ("$..."). The risk answer schema also validates the raw input. */
#include "ctune/risk.h"
#include "eval/json_schema.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static ct_json_schema answer;
    static int init;
    ct_err err = {0};
    if (!init) {
        if (ct_json_schema_load(&answer, ct_risk_answer_schema_json(), "answer", &err)) abort();
        init = 1;
    }
    char *s = fz_str(d, n);
    size_t ns = strlen(s);
    const char *inst_text = ns < n ? s + ns + 1 : "{}";
    json_error_t je;
    json_t *inst = json_loads(inst_text, JSON_DECODE_ANY, &je);
    ct_json_schema sc;
    memset(&sc, 0, sizeof sc);
    ct_status st = ct_json_schema_load(&sc, s, "fuzz.schema.json", &err);
    fz_check_err(st, &err);
    if (st == CT_OK && inst) {
        st = ct_json_schema_validate(&sc, inst, &err);
        fz_check_err(st, &err);
        if (st && !strchr(err.msg, '$')) {
            fprintf(stderr, "validation error without a path: %s\n", err.msg);
            abort();
        }
    }
    ct_json_schema_free(&sc); /* root is NULL after a failed load */
    json_t *whole = json_loadb((const char *)d, n, JSON_DECODE_ANY, &je);
    if (whole) {
        st = ct_json_schema_validate(&answer, whole, &err);
        fz_check_err(st, &err);
    }
    json_decref(whole);
    json_decref(inst);
    free(s);
    return 0;
}
