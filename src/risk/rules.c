/* The risk assistant's decision rules (docs/risk-dataset.md, "Rules") and the answer object.
 * Everything is integer arithmetic on the fixed-point profile fields, so the generator and the
 * evaluator agree exactly on every machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/risk.h"
#include "risk/json_writer.h"
#include "risk/synth.h"

static const char *const LABELS[CT_RISK_LABEL_COUNT] = {
    "逾期", "账期过长", "单一客户依赖", "营收下滑", "抵押不足", "经营年限短", "应收覆盖不足",
};
static const char *const PRODUCTS[CT_RISK_PRODUCT_COUNT] = {
    "保理", "应收账款质押融资", "订单融资", "存货质押", "不推荐",
};
static const char *const FACTORS[CT_RISK_LABEL_COUNT] = {
    "overdue_rate_pct",    "payment_terms_days", "top_customer_pct",    "revenue_trend_pct",
    "collateral_coverage", "years_in_business",  "receivables_coverage",
};
/* Base annual rate per product, 0.01 %. */
static const int32_t BASE_RATE_BPS[CT_RISK_PRODUCT_COUNT] = {360, 385, 435, 460, 0};

const char *ct_risk_label_name(int i) { return i >= 0 && i < CT_RISK_LABEL_COUNT ? LABELS[i] : NULL; }
const char *ct_risk_product_name(int i) {
    return i >= 0 && i < CT_RISK_PRODUCT_COUNT ? PRODUCTS[i] : NULL;
}
const char *ct_risk_factor_key(int i) { return i >= 0 && i < CT_RISK_LABEL_COUNT ? FACTORS[i] : NULL; }

static int find(const char *const *list, int n, const char *s) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(list[i], s)) return i;
    return -1;
}
int ct_risk_label_from_name(const char *s) { return find(LABELS, CT_RISK_LABEL_COUNT, s); }
int ct_risk_product_from_name(const char *s) { return find(PRODUCTS, CT_RISK_PRODUCT_COUNT, s); }
int ct_risk_factor_from_key(const char *s) { return find(FACTORS, CT_RISK_LABEL_COUNT, s); }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int32_t clamp32(int64_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

/* Severity of each factor: signed distance past its threshold, in thousandths of a "band"
 * (the band says how far past the threshold counts as one unit), clamped to ±3000.
 * severity > 0 <=> the factor's label is raised (thresholds are strict). */
static void severities(const ct_risk_profile *p, int32_t *s) {
    s[CT_RISK_LABEL_OVERDUE] = clamp32((int64_t)(p->overdue_x10 - 50) * 1000 / 50, -3000, 3000);
    s[CT_RISK_LABEL_LONG_TERMS] =
        clamp32((int64_t)(p->payment_terms_days - 90) * 1000 / 60, -3000, 3000);
    s[CT_RISK_LABEL_SINGLE_CUSTOMER] =
        clamp32((int64_t)(p->top_customer_pct - 50) * 1000 / 25, -3000, 3000);
    s[CT_RISK_LABEL_REVENUE_DECLINE] =
        clamp32((int64_t)(-100 - p->revenue_trend_x10) * 1000 / 100, -3000, 3000);
    s[CT_RISK_LABEL_LOW_COLLATERAL] =
        clamp32((int64_t)(50 - p->collateral_x100) * 1000 / 50, -3000, 3000);
    s[CT_RISK_LABEL_YOUNG] = clamp32((int64_t)(3 - p->years_in_business) * 1000 / 3, -3000, 3000);
    s[CT_RISK_LABEL_LOW_RECEIVABLES] =
        clamp32((int64_t)(100 - p->receivables_x100) * 1000 / 50, -3000, 3000);
}

void ct_risk_decide(const ct_risk_profile *p, ct_risk_decision *d) {
    memset(d, 0, sizeof *d);
    severities(p, d->severity);
    for (int i = 0; i < CT_RISK_LABEL_COUNT; i++)
        if (d->severity[i] > 0) {
            d->labels |= 1u << i;
            d->n_labels++;
        }

    /* Top drivers: raised factors by severity (descending), then the strongest positive factors
     * (most negative severity); ties go to the lower factor index. */
    int order[CT_RISK_LABEL_COUNT];
    for (int i = 0; i < CT_RISK_LABEL_COUNT; i++) order[i] = i;
    for (int i = 1; i < CT_RISK_LABEL_COUNT; i++) /* insertion sort: stable */
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            int32_t sa = d->severity[a], sb = d->severity[b];
            int64_t ka = sa > 0 ? 10000 + sa : -(int64_t)sa, kb = sb > 0 ? 10000 + sb : -(int64_t)sb;
            if (kb > ka) order[j - 1] = b, order[j] = a;
            else break;
        }
    for (int k = 0; k < 3; k++) {
        d->drivers[k] = order[k];
        d->driver_negative[k] = d->severity[order[k]] > 0;
    }

    /* Product. */
    ct_risk_product prod;
    uint32_t ev = 0;
    const uint32_t RC = 1u << CT_RISK_LABEL_LOW_RECEIVABLES, OV = 1u << CT_RISK_LABEL_OVERDUE,
                   TR = 1u << CT_RISK_LABEL_REVENUE_DECLINE, CO = 1u << CT_RISK_LABEL_LOW_COLLATERAL;
    if (p->overdue_x10 > 100) prod = CT_RISK_PRODUCT_NONE, ev |= OV;
    else if (d->n_labels >= 4) prod = CT_RISK_PRODUCT_NONE;
    else if (p->receivables_x100 >= 120 && p->overdue_x10 <= 30)
        prod = CT_RISK_PRODUCT_FACTORING, ev |= RC | OV;
    else if (p->receivables_x100 >= 100) prod = CT_RISK_PRODUCT_RECEIVABLE_PLEDGE, ev |= RC;
    else if (p->revenue_trend_x10 >= 0) prod = CT_RISK_PRODUCT_ORDER, ev |= RC | TR;
    else if (p->collateral_x100 >= 50) prod = CT_RISK_PRODUCT_INVENTORY, ev |= RC | TR | CO;
    else prod = CT_RISK_PRODUCT_NONE, ev |= RC | TR | CO;
    d->product_before_floor = prod;

    /* Limit (万元): min(requested, 30 % of revenue, product capacity), minus 10 % per label,
     * rounded down to 10 万; below 50 万 nothing is offered. */
    d->cap_revenue_wan = p->revenue_wan * 30 / 100;
    switch (prod) {
    case CT_RISK_PRODUCT_FACTORING:
        d->cap_product_wan = p->requested_wan * p->receivables_x100 * 80 / 10000;
        break;
    case CT_RISK_PRODUCT_RECEIVABLE_PLEDGE:
        d->cap_product_wan = p->requested_wan * p->receivables_x100 * 70 / 10000;
        break;
    case CT_RISK_PRODUCT_ORDER: d->cap_product_wan = p->revenue_wan * 20 / 100; break;
    case CT_RISK_PRODUCT_INVENTORY: d->cap_product_wan = p->collateral_wan * 60 / 100; break;
    default: d->cap_product_wan = 0;
    }
    int64_t limit_wan = 0;
    if (prod != CT_RISK_PRODUCT_NONE) {
        d->base_wan = min64(p->requested_wan, min64(d->cap_revenue_wan, d->cap_product_wan));
        d->haircut_wan = d->base_wan * (100 - 10 * d->n_labels) / 100;
        limit_wan = d->haircut_wan / 10 * 10;
        if (limit_wan < 50) prod = CT_RISK_PRODUCT_NONE, limit_wan = 0;
    }
    d->product = prod;
    d->credit_limit_yuan = limit_wan * 10000;
    if (prod != CT_RISK_PRODUCT_NONE) {
        d->rate_lo_bps = BASE_RATE_BPS[prod] + 30 * d->n_labels;
        d->rate_hi_bps = d->rate_lo_bps + 150;
    }
    d->needs_human_approval =
        prod == CT_RISK_PRODUCT_NONE || d->n_labels >= 3 || d->credit_limit_yuan > 20000000;

    /* Evidence: the facts behind the product choice, every raised label and the top drivers. */
    ev |= d->labels;
    for (int k = 0; k < 3; k++) ev |= 1u << d->drivers[k];
    d->evidence = ev;
}

/* ---- answer text ---- */

void ct_risk_factor_value(ct_rjw *w, const ct_risk_profile *p, int f) {
    switch (f) {
    case CT_RISK_LABEL_OVERDUE: ct_rjw_fixed(w, p->overdue_x10, 1); break;
    case CT_RISK_LABEL_LONG_TERMS: ct_rjw_int(w, p->payment_terms_days); break;
    case CT_RISK_LABEL_SINGLE_CUSTOMER: ct_rjw_int(w, p->top_customer_pct); break;
    case CT_RISK_LABEL_REVENUE_DECLINE: ct_rjw_fixed(w, p->revenue_trend_x10, 1); break;
    case CT_RISK_LABEL_LOW_COLLATERAL: ct_rjw_fixed(w, p->collateral_x100, 2); break;
    case CT_RISK_LABEL_YOUNG: ct_rjw_int(w, p->years_in_business); break;
    default: ct_rjw_fixed(w, p->receivables_x100, 2); break;
    }
}

char *ct_risk_factor_value_str(char *out, const ct_risk_profile *p, int f) {
    switch (f) {
    case CT_RISK_LABEL_OVERDUE: return ct_fixed_fmt(out, p->overdue_x10, 1);
    case CT_RISK_LABEL_LONG_TERMS: return ct_fixed_fmt(out, p->payment_terms_days, 0);
    case CT_RISK_LABEL_SINGLE_CUSTOMER: return ct_fixed_fmt(out, p->top_customer_pct, 0);
    case CT_RISK_LABEL_REVENUE_DECLINE: return ct_fixed_fmt(out, p->revenue_trend_x10, 1);
    case CT_RISK_LABEL_LOW_COLLATERAL: return ct_fixed_fmt(out, p->collateral_x100, 2);
    case CT_RISK_LABEL_YOUNG: return ct_fixed_fmt(out, p->years_in_business, 0);
    default: return ct_fixed_fmt(out, p->receivables_x100, 2);
    }
}

/* One sentence per raised label; {v} is the factor's value. */
static const char *const LABEL_REASON_ZH[CT_RISK_LABEL_COUNT] = {
    "逾期率%s%%高于5%%阈值", "平均账期%s天超过90天", "第一大客户占比%s%%超过50%%",
    "营收同比%s%%低于-10%%", "抵押覆盖率%s低于0.50", "经营年限%s年不足3年",
    "应收账款覆盖率%s低于1.00",
};
static const char *const LABEL_REASON_EN[CT_RISK_LABEL_COUNT] = {
    "overdue rate %s%% is above the 5%% threshold",
    "payment terms of %s days exceed 90 days",
    "top customer share %s%% exceeds 50%%",
    "revenue trend %s%% is below -10%%",
    "collateral coverage %s is below 0.50",
    "%s years in business is less than 3",
    "receivables coverage %s is below 1.00",
};

void ct_risk_reasons(const ct_risk_profile *p, const ct_risk_decision *d, bool en,
                     void (*emit)(void *ctx, const char *s), void *ctx) {
    char v[32], buf[512];
    for (int i = 0; i < CT_RISK_LABEL_COUNT; i++) {
        if (!(d->labels & (1u << i))) continue;
        ct_risk_factor_value_str(v, p, i);
        snprintf(buf, sizeof buf, en ? LABEL_REASON_EN[i] : LABEL_REASON_ZH[i], v);
        if (en) buf[0] = (char)(buf[0] >= 'a' && buf[0] <= 'z' ? buf[0] - 32 : buf[0]);
        emit(ctx, buf);
    }
    if (d->n_labels == 0)
        emit(ctx, en ? "All risk indicators are within their thresholds" : "各项风险指标均在阈值内");
    char rc[32], tr[32], co[32], ov[32];
    ct_fixed_fmt(rc, p->receivables_x100, 2);
    ct_fixed_fmt(tr, p->revenue_trend_x10, 1);
    ct_fixed_fmt(co, p->collateral_x100, 2);
    ct_fixed_fmt(ov, p->overdue_x10, 1);
    switch (d->product) {
    case CT_RISK_PRODUCT_FACTORING:
        snprintf(buf, sizeof buf,
                 en ? "Receivables coverage %s >= 1.20 and overdue rate %s%% <= 3%%: factoring (保理) fits"
                    : "应收账款覆盖率%s≥1.20且逾期率%s%%≤3%%，适合保理",
                 rc, ov);
        break;
    case CT_RISK_PRODUCT_RECEIVABLE_PLEDGE:
        snprintf(buf, sizeof buf,
                 en ? "Receivables coverage %s >= 1.00: receivables pledge financing (应收账款质押融资)"
                    : "应收账款覆盖率%s≥1.00，可做应收账款质押融资",
                 rc);
        break;
    case CT_RISK_PRODUCT_ORDER:
        snprintf(buf, sizeof buf,
                 en ? "Receivables coverage %s < 1.00 but revenue trend %s%% is not negative: order financing (订单融资)"
                    : "应收账款覆盖率%s不足1.00但营收同比%s%%未下降，适合订单融资",
                 rc, tr);
        break;
    case CT_RISK_PRODUCT_INVENTORY:
        snprintf(buf, sizeof buf,
                 en ? "Receivables coverage %s < 1.00 and revenue trend %s%% < 0, collateral coverage %s >= 0.50: inventory pledge (存货质押)"
                    : "应收账款覆盖率%s不足1.00且营收同比%s%%下降，抵押覆盖率%s≥0.50，可做存货质押",
                 rc, tr, co);
        break;
    default:
        if (p->overdue_x10 > 100)
            snprintf(buf, sizeof buf,
                     en ? "Overdue rate %s%% exceeds 10%%: not recommended (不推荐)"
                        : "逾期率%s%%超过10%%，不推荐授信",
                     ov);
        else if (d->n_labels >= 4)
            snprintf(buf, sizeof buf,
                     en ? "%d risk labels (4 or more): not recommended (不推荐)"
                        : "风险标签达%d个（≥4个），不推荐授信",
                     d->n_labels);
        else if (d->product_before_floor != CT_RISK_PRODUCT_NONE)
            snprintf(buf, sizeof buf, "%s",
                     en ? "The computed limit is below CNY 500k: not recommended (不推荐)"
                        : "测算额度低于50万元，不推荐授信");
        else
            snprintf(buf, sizeof buf, "%s",
                     en ? "Receivables coverage below 1.00, falling revenue and collateral coverage below 0.50: no suitable product (不推荐)"
                        : "应收覆盖不足、营收下降且抵押覆盖率不足0.50，无合适产品，不推荐授信");
    }
    emit(ctx, buf);
    if (d->needs_human_approval) {
        const char *why;
        if (d->product == CT_RISK_PRODUCT_NONE)
            why = en ? "Human approval required: the recommendation is a decline"
                     : "需人工审批：结论为不推荐";
        else if (d->n_labels >= 3)
            why = en ? "Human approval required: 3 or more risk labels" : "需人工审批：风险标签≥3个";
        else
            why = en ? "Human approval required: limit above CNY 20 million"
                     : "需人工审批：额度超过2000万元";
        emit(ctx, why);
    } else {
        emit(ctx, en ? "Within automatic approval limits" : "额度与风险标签均在自动审批范围内");
    }
}

static void emit_str(void *ctx, const char *s) { ct_rjw_str((ct_rjw *)ctx, s); }

char *ct_risk_answer_json(const ct_risk_profile *p, const ct_risk_decision *d, bool en) {
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_obj(&w);
    ct_rjw_key(&w, "product");
    ct_rjw_str(&w, PRODUCTS[d->product]);
    ct_rjw_key(&w, "credit_limit");
    ct_rjw_int(&w, d->credit_limit_yuan);
    ct_rjw_key(&w, "rate_range");
    if (d->product == CT_RISK_PRODUCT_NONE) {
        ct_rjw_null(&w);
    } else {
        ct_rjw_arr(&w);
        ct_rjw_fixed(&w, d->rate_lo_bps, 2);
        ct_rjw_fixed(&w, d->rate_hi_bps, 2);
        ct_rjw_end(&w);
    }
    ct_rjw_key(&w, "reasons");
    ct_rjw_arr(&w);
    ct_risk_reasons(p, d, en, emit_str, &w);
    ct_rjw_end(&w);
    ct_rjw_key(&w, "evidence");
    ct_rjw_obj(&w);
    ct_rjw_key(&w, "annual_revenue_wan");
    ct_rjw_int(&w, p->revenue_wan);
    ct_rjw_key(&w, "requested_amount_wan");
    ct_rjw_int(&w, p->requested_wan);
    for (int f = 0; f < CT_RISK_LABEL_COUNT; f++) {
        if (!(d->evidence & (1u << f))) continue;
        ct_rjw_key(&w, FACTORS[f]);
        ct_risk_factor_value(&w, p, f);
    }
    ct_rjw_end(&w);
    ct_rjw_key(&w, "risk_labels");
    ct_rjw_arr(&w);
    for (int i = 0; i < CT_RISK_LABEL_COUNT; i++)
        if (d->labels & (1u << i)) ct_rjw_str(&w, LABELS[i]);
    ct_rjw_end(&w);
    ct_rjw_key(&w, "top_drivers");
    ct_rjw_arr(&w);
    for (int k = 0; k < 3; k++) {
        ct_rjw_obj(&w);
        ct_rjw_key(&w, "factor");
        ct_rjw_str(&w, FACTORS[d->drivers[k]]);
        ct_rjw_key(&w, "value");
        ct_risk_factor_value(&w, p, d->drivers[k]);
        ct_rjw_key(&w, "impact");
        ct_rjw_str(&w, d->driver_negative[k] ? "negative" : "positive");
        ct_rjw_end(&w);
    }
    ct_rjw_end(&w);
    ct_rjw_key(&w, "needs_human_approval");
    ct_rjw_bool(&w, d->needs_human_approval);
    ct_rjw_end(&w);
    return ct_rjw_take(&w);
}

/* Committed as examples/risk/answer.schema.json (tests/test_risk.c checks they are equal). The
 * validator in src/eval/json_schema.c implements exactly the keywords used here. */
static const char SCHEMA[] =
    "{\n"
    "  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n"
    "  \"title\": \"ctune risk assistant answer\",\n"
    "  \"description\": \"Answer object of the supply-chain-finance risk assistant; the rules that fill it are in docs/risk-dataset.md.\",\n"
    "  \"type\": \"object\",\n"
    "  \"required\": [\"product\", \"credit_limit\", \"rate_range\", \"reasons\", \"evidence\", \"risk_labels\", \"top_drivers\", \"needs_human_approval\"],\n"
    "  \"additionalProperties\": false,\n"
    "  \"properties\": {\n"
    "    \"product\": {\"type\": \"string\", \"enum\": [\"保理\", \"应收账款质押融资\", \"订单融资\", \"存货质押\", \"不推荐\"]},\n"
    "    \"credit_limit\": {\"type\": \"integer\", \"minimum\": 0, \"description\": \"yuan\"},\n"
    "    \"rate_range\": {\n"
    "      \"type\": [\"array\", \"null\"],\n"
    "      \"description\": \"[low, high] annual rate in percent; null when the product is 不推荐\",\n"
    "      \"prefixItems\": [{\"type\": \"number\", \"minimum\": 0, \"maximum\": 36}, {\"type\": \"number\", \"minimum\": 0, \"maximum\": 36}],\n"
    "      \"items\": false,\n"
    "      \"minItems\": 2,\n"
    "      \"maxItems\": 2\n"
    "    },\n"
    "    \"reasons\": {\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"string\", \"minLength\": 1}},\n"
    "    \"evidence\": {\n"
    "      \"type\": \"object\",\n"
    "      \"minProperties\": 1,\n"
    "      \"additionalProperties\": false,\n"
    "      \"properties\": {\n"
    "        \"annual_revenue_wan\": {\"type\": \"number\", \"minimum\": 0},\n"
    "        \"requested_amount_wan\": {\"type\": \"number\", \"minimum\": 0},\n"
    "        \"overdue_rate_pct\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 100},\n"
    "        \"payment_terms_days\": {\"type\": \"integer\", \"minimum\": 0},\n"
    "        \"top_customer_pct\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 100},\n"
    "        \"revenue_trend_pct\": {\"type\": \"number\"},\n"
    "        \"collateral_coverage\": {\"type\": \"number\", \"minimum\": 0},\n"
    "        \"years_in_business\": {\"type\": \"integer\", \"minimum\": 0},\n"
    "        \"receivables_coverage\": {\"type\": \"number\", \"minimum\": 0}\n"
    "      }\n"
    "    },\n"
    "    \"risk_labels\": {\n"
    "      \"type\": \"array\",\n"
    "      \"uniqueItems\": true,\n"
    "      \"items\": {\"type\": \"string\", \"enum\": [\"逾期\", \"账期过长\", \"单一客户依赖\", \"营收下滑\", \"抵押不足\", \"经营年限短\", \"应收覆盖不足\"]}\n"
    "    },\n"
    "    \"top_drivers\": {\n"
    "      \"type\": \"array\",\n"
    "      \"minItems\": 3,\n"
    "      \"maxItems\": 3,\n"
    "      \"items\": {\n"
    "        \"type\": \"object\",\n"
    "        \"required\": [\"factor\", \"value\", \"impact\"],\n"
    "        \"additionalProperties\": false,\n"
    "        \"properties\": {\n"
    "          \"factor\": {\"type\": \"string\", \"enum\": [\"overdue_rate_pct\", \"payment_terms_days\", \"top_customer_pct\", \"revenue_trend_pct\", \"collateral_coverage\", \"years_in_business\", \"receivables_coverage\"]},\n"
    "          \"value\": {\"type\": \"number\"},\n"
    "          \"impact\": {\"type\": \"string\", \"enum\": [\"negative\", \"positive\"]}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"needs_human_approval\": {\"type\": \"boolean\"}\n"
    "  }\n"
    "}\n";

const char *ct_risk_answer_schema_json(void) { return SCHEMA; }
