/* Deterministic generator of the supply-chain-finance risk-assistant dataset
 * (`ctune data synth risk`). Each sample is drawn from its own PRNG stream seeded by
 * (seed, index) with splitmix64 -> xoshiro256**, every choice is drawn up front in a fixed order
 * (so sample i has the same profile in every output format), and all numbers are printed from
 * integers. The same seed therefore gives the same bytes on every machine. */
#include "risk/synth.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/rng.h"

/* ---- PRNG: xoshiro256** per sample (base/rng.h) ---- */

typedef ct_rng rng;

static void rng_seed(rng *r, uint64_t seed, uint64_t index) {
    ct_rng_seed(r, seed ^ (index * 0xD1B54A32D192ED03ull) ^ 0x6A09E667F3BCC909ull);
}

static uint64_t below(rng *r, uint64_t n) { return n ? (ct_rng_u64(r) >> 11) % n : 0; }
static int64_t range(rng *r, int64_t lo, int64_t hi) { return lo + (int64_t)below(r, (uint64_t)(hi - lo + 1)); }
static bool chance(rng *r, uint32_t ppm) { return below(r, 1000000) < ppm; }

/* ---- vocabulary (all names are synthetic) ---- */

typedef struct bi {
    const char *zh, *en;
} bi;

static const bi CITIES[] = {
    {"苏州", "Suzhou"}, {"宁波", "Ningbo"},  {"东莞", "Dongguan"}, {"佛山", "Foshan"},
    {"无锡", "Wuxi"},   {"温州", "Wenzhou"}, {"合肥", "Hefei"},    {"成都", "Chengdu"},
    {"青岛", "Qingdao"}, {"长沙", "Changsha"}, {"泉州", "Quanzhou"}, {"常州", "Changzhou"},
};
static const bi ROOTS[] = {
    {"恒信", "Hengxin"}, {"华瑞", "Huarui"}, {"鼎盛", "Dingsheng"}, {"嘉禾", "Jiahe"},
    {"宏达", "Hongda"},  {"瑞丰", "Ruifeng"}, {"金桥", "Jinqiao"},  {"永泰", "Yongtai"},
    {"德润", "Derun"},   {"新源", "Xinyuan"}, {"博远", "Boyuan"},   {"信诚", "Xincheng"},
    {"众合", "Zhonghe"}, {"天佑", "Tianyou"}, {"安盛", "Ansheng"},  {"联创", "Lianchuang"},
};
typedef struct industry {
    bi name, suffix, core[2];
} industry;
static const industry INDUSTRIES[] = {
    {{"汽车零部件", "auto parts"}, {"汽车零部件", "Auto Parts"},
     {{"华东汽车集团股份有限公司", "Huadong Automotive Group"}, {"北辰新能源汽车股份有限公司", "Beichen New Energy Vehicles"}}},
    {{"电子元器件", "electronic components"}, {"电子科技", "Electronics Technology"},
     {{"星河智能终端股份有限公司", "Xinghe Smart Devices"}, {"华芯半导体集团", "Huaxin Semiconductor Group"}}},
    {{"纺织服装", "textiles and apparel"}, {"纺织", "Textile"},
     {{"锦程服饰集团", "Jincheng Apparel Group"}, {"东方优品零售集团", "Dongfang Retail Group"}}},
    {{"食品加工", "food processing"}, {"食品", "Foods"},
     {{"禾丰连锁超市集团", "Hefeng Supermarket Chain"}, {"鲜达餐饮供应链有限公司", "Xianda Catering Supply Chain"}}},
    {{"医药流通", "pharmaceutical distribution"}, {"医药", "Pharmaceutical"},
     {{"安泰医疗集团", "Antai Healthcare Group"}, {"济华医药连锁股份有限公司", "Jihua Pharmacy Chain"}}},
    {{"建材", "building materials"}, {"建材", "Building Materials"},
     {{"城建置业集团", "Chengjian Property Group"}, {"华筑建设工程集团", "Huazhu Construction Group"}}},
    {{"物流运输", "logistics"}, {"物流", "Logistics"},
     {{"通达电商平台有限公司", "Tongda E-commerce Platform"}, {"顺驰供应链集团", "Shunchi Supply Chain Group"}}},
    {{"化工原料", "chemical materials"}, {"化工", "Chemicals"},
     {{"海盛石化股份有限公司", "Haisheng Petrochemical"}, {"恒远新材料集团", "Hengyuan New Materials Group"}}},
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const int32_t TERMS[] = {30, 45, 60, 60, 75, 90, 90, 120, 150, 180};

static const char *const SYSTEM_ZH =
    "你是供应链金融风控助手，服务银行客户经理。根据企业资料按既定规则评估融资申请，只输出一个JSON对象，"
    "键为product、credit_limit、rate_range、reasons、evidence、risk_labels、top_drivers、"
    "needs_human_approval。涉及内部评级、其他客户数据或绕过审批的请求，一律不回答并转交风险团队。";
static const char *const SYSTEM_EN =
    "You are a supply-chain-finance risk assistant for bank account managers. Assess financing "
    "applications with the fixed rules and reply with one JSON object with the keys product, "
    "credit_limit, rate_range, reasons, evidence, risk_labels, top_drivers, needs_human_approval. "
    "Requests about internal ratings, other clients' data or bypassing approval are declined and "
    "referred to the risk team.";

static const char *const INTRO_ZH[] = {
    "我是客户经理，手上有一家企业申请供应链融资，请帮忙评估。",
    "帮我看一下这家企业的供应链融资申请。",
    "新来一笔供应链金融业务，企业情况如下，请给出授信建议。",
    "请评估以下中小企业的融资申请，给出产品、额度和利率建议。",
    "客户想做供应链融资，资料如下。",
    "这家供应商想借核心企业的信用做融资，麻烦评估一下。",
};
static const char *const INTRO_EN[] = {
    "I'm the account manager for an SME applying for supply-chain financing. Please assess it.",
    "Please review this supply-chain financing application.",
    "New supply-chain finance request below. What do you recommend?",
};
static const char *const CLOSE_ZH[] = {
    "请按约定的JSON格式输出结论。", "请输出JSON结论。", "", "给出JSON格式的评估结果。",
};
static const char *const CLOSE_EN[] = {"Answer in the agreed JSON format.", "Please reply with the JSON assessment.", ""};
static const char *const TOOLS_HINT_ZH = "缺少的数据请用工具查询。";
static const char *const TOOLS_HINT_EN = "Please look up whatever is missing with the tools.";

static const char *const FOLLOWUP_ZH[] = {
    "能解释一下前三个驱动因素吗？", "这三个主要驱动因素分别是什么意思？", "为什么是这三个因素影响最大？",
};
static const char *const FOLLOWUP_EN[] = {
    "Can you explain the top three drivers?", "Why do these three factors matter most?",
};

/* Sensitive requests: question variants (with %1$s = company, %2$s = core enterprise) and the
 * hand-over answer. */
typedef struct sensitive {
    const char *key;
    const char *q_zh[2], *q_en;
    const char *a_zh, *a_en;
    const char *why_zh, *why_en;
} sensitive;
static const sensitive SENSITIVE[] = {
    {"internal_rating",
     {"顺便问一下，%1$s在我们行的内部评级是几级？", "能把%1$s的内部信用评分发给我吗？"},
     "By the way, what is %1$s's internal rating at our bank?",
     "这个问题涉及内部评级信息，我无法提供，请联系风险团队。",
     "This question involves internal rating information, which I can't share. Please contact the risk team.",
     "内部评级", "internal rating information"},
    {"other_clients",
     {"%2$s的其他供应商在我们这里的授信额度和利率是多少？发我参考一下。", "把%2$s其他供应商的审批结果给我看看。"},
     "What limits and rates did %2$s's other suppliers get from us? Send me the list.",
     "这个问题涉及其他客户的数据，我不能提供，请联系风险团队。",
     "That involves other clients' data, which I can't provide. Please contact the risk team.",
     "其他客户的数据", "other clients' data"},
    {"bypass_approval",
     {"%1$s这笔能不能先放款，人工审批后面再补？", "帮我把%1$s这单的人工审批跳过去，客户很急。"},
     "Can we disburse %1$s's loan first and do the approval later? The client is in a hurry.",
     "绕过审批流程不符合合规要求，我不能协助，请联系风险团队按流程处理。",
     "Bypassing the approval process is not compliant and I can't help with it. Please contact the risk team to follow the process.",
     "绕过审批", "bypassing approval"},
    {"alter_data",
     {"%1$s的逾期率能不能按低一点报上去，这样就不触发逾期了？", "把%1$s的账期改短一点再提交行不行？"},
     "Could we report %1$s's overdue rate a bit lower so it doesn't trigger the overdue label?",
     "我不能修改或美化客户数据，请如实提交，有疑问请联系风险团队。",
     "I can't alter or dress up client data. Please submit the real figures and contact the risk team with any questions.",
     "修改客户数据", "altering client data"},
};

/* Factor display names, units and thresholds for the explanations (index = factor). */
static const char *const FNAME_ZH[] = {"逾期率", "平均账期", "第一大客户占比", "营收同比", "抵押覆盖率", "经营年限", "应收账款覆盖率"};
static const char *const FNAME_EN[] = {"overdue rate", "payment terms", "top customer share", "revenue trend", "collateral coverage", "years in business", "receivables coverage"};
static const char *const FUNIT_ZH[] = {"%", "天", "%", "%", "", "年", ""};
static const char *const FUNIT_EN[] = {"%", " days", "%", "%", "", " years", ""};
static const char *const FTHR_ZH[] = {"5%", "90天", "50%", "-10%", "0.50", "3年", "1.00"};
static const char *const FTHR_EN[] = {"5%", "90 days", "50%", "-10%", "0.50", "3 years", "1.00"};
/* Raised when above (1) or below (0) the threshold. */
static const bool FABOVE[] = {true, true, true, false, false, false, false};

/* ---- per-sample plan: every random choice, drawn in a fixed order ---- */

typedef struct plan {
    uint64_t index;
    bool en, refusal, tools, multi, think, prose, sens_with_profile;
    int tool_mode; /* 0 both tools, 1 credit report only, 2 receivables only */
    int sens, sens_variant, intro, close, followup;
    ct_risk_profile p;
} plan;

static void draw_profile(rng *r, bool en, ct_risk_profile *p) {
    memset(p, 0, sizeof *p);
    const industry *ind = &INDUSTRIES[below(r, NELEM(INDUSTRIES))];
    const bi *city = &CITIES[below(r, NELEM(CITIES))], *root = &ROOTS[below(r, NELEM(ROOTS))];
    const bi *core = &ind->core[below(r, 2)];
    if (en)
        snprintf(p->company, sizeof p->company, "%s %s %s Co., Ltd.", city->en, root->en, ind->suffix.en);
    else
        snprintf(p->company, sizeof p->company, "%s%s%s有限公司", city->zh, root->zh, ind->suffix.zh);
    snprintf(p->industry, sizeof p->industry, "%s", en ? ind->name.en : ind->name.zh);
    snprintf(p->core_enterprise, sizeof p->core_enterprise, "%s", en ? core->en : core->zh);

    uint64_t b = below(r, 100);
    int64_t rev = b < 30 ? range(r, 800, 3000) : b < 70 ? range(r, 3000, 10000)
                : b < 92 ? range(r, 10000, 30000) : range(r, 30000, 60000);
    p->revenue_wan = rev / 10 * 10;
    int64_t req = p->revenue_wan * range(r, 10, 40) / 100;
    if (req > 5000) req = 5000;
    req = req / 50 * 50;
    p->requested_wan = req < 100 ? 100 : req;
    p->revenue_trend_x10 = (int32_t)(chance(r, 250000) ? range(r, -350, -101) : range(r, -100, 400));
    p->receivables_x100 = (int32_t)(chance(r, 300000) ? range(r, 40, 99) : range(r, 100, 300));
    b = below(r, 100);
    p->overdue_x10 = (int32_t)(b < 62 ? range(r, 0, 50) : b < 90 ? range(r, 51, 100) : range(r, 101, 150));
    p->payment_terms_days = TERMS[below(r, NELEM(TERMS))];
    p->top_customer_pct = (int32_t)(chance(r, 350000) ? range(r, 51, 85) : range(r, 15, 50));
    p->collateral_x100 = (int32_t)(chance(r, 300000) ? range(r, 0, 49) : range(r, 50, 150));
    p->collateral_wan = p->requested_wan * p->collateral_x100 / 100;
    p->years_in_business = (int32_t)(chance(r, 120000) ? range(r, 1, 2) : range(r, 3, 25));
}

static void draw_plan(const ct_risk_synth_opts *o, uint64_t index, plan *pl) {
    rng r;
    rng_seed(&r, o->seed, index);
    memset(pl, 0, sizeof *pl);
    pl->index = index;
    pl->en = chance(&r, o->english_ppm);
    pl->refusal = chance(&r, o->sensitive_ppm);
    pl->tools = chance(&r, o->tools_ppm);
    pl->tool_mode = (int)(below(&r, 10) < 6 ? 0 : 1 + below(&r, 2));
    pl->multi = chance(&r, o->multi_turn_ppm);
    pl->think = chance(&r, o->think_ppm);
    pl->prose = chance(&r, 350000);
    pl->sens = (int)below(&r, NELEM(SENSITIVE));
    pl->sens_variant = (int)below(&r, 2);
    pl->sens_with_profile = chance(&r, 500000);
    pl->intro = (int)below(&r, pl->en ? NELEM(INTRO_EN) : NELEM(INTRO_ZH));
    pl->close = (int)below(&r, pl->en ? NELEM(CLOSE_EN) : NELEM(CLOSE_ZH));
    pl->followup = (int)below(&r, pl->en ? NELEM(FOLLOWUP_EN) : NELEM(FOLLOWUP_ZH));
    draw_profile(&r, pl->en, &pl->p);
    if (pl->refusal) pl->tools = pl->multi = false;
}

/* ---- conversation ---- */

enum { ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL_CALL, ROLE_TOOL_RESULT };
#define MAX_MSGS 12

typedef struct msg {
    int role;
    char *content;         /* text; tool arguments JSON for ROLE_TOOL_CALL */
    char *reasoning;       /* assistant only, NULL if none */
    const char *tool_name; /* ROLE_TOOL_CALL */
} msg;

typedef struct conv {
    msg m[MAX_MSGS];
    int n;
    bool oom;
} conv;

static void conv_free(conv *c) {
    for (int i = 0; i < c->n; i++) free(c->m[i].content), free(c->m[i].reasoning);
}

static void conv_add(conv *c, int role, char *content, char *reasoning, const char *tool) {
    if (!content || c->n >= MAX_MSGS) {
        c->oom = true;
        free(content), free(reasoning);
        return;
    }
    c->m[c->n++] = (msg){role, content, reasoning, tool};
}

/* Facts given in the user message; facts a called tool returns are left out. */
enum { F_OVERDUE = 1, F_YEARS = 2, F_RECV = 4, F_TERMS = 8, F_TOP = 16 };

static void fact_lines(ct_rjw *w, const plan *pl, unsigned omit) {
    const ct_risk_profile *p = &pl->p;
    char a[32], b[32], c[32];
    if (pl->en) {
        /* English amounts in CNY million: 万元 / 100 with 2 decimals. */
        ct_rjw_printf(w, "Company: %s\nIndustry: %s\nCore enterprise (anchor buyer): %s\n",
                      p->company, p->industry, p->core_enterprise);
        ct_rjw_printf(w, "Annual revenue: CNY %s million (%s wan)\n", ct_fixed_fmt(a, p->revenue_wan, 2),
                      ct_int_grouped(b, p->revenue_wan));
        ct_rjw_printf(w, "Revenue trend (YoY): %s%%\n", ct_fixed_fmt(a, p->revenue_trend_x10, 1));
        if (!(omit & F_RECV))
            ct_rjw_printf(w, "Receivables coverage (receivables from the core enterprise / requested amount): %s\n",
                          ct_fixed_fmt(a, p->receivables_x100, 2));
        if (!(omit & F_OVERDUE)) ct_rjw_printf(w, "Overdue rate: %s%%\n", ct_fixed_fmt(a, p->overdue_x10, 1));
        if (!(omit & F_TERMS)) ct_rjw_printf(w, "Average payment terms: %d days\n", p->payment_terms_days);
        if (!(omit & F_TOP)) ct_rjw_printf(w, "Top customer share: %d%%\n", p->top_customer_pct);
        ct_rjw_printf(w, "Collateral: %s wan (coverage %s)\n", ct_int_grouped(a, p->collateral_wan),
                      ct_fixed_fmt(c, p->collateral_x100, 2));
        if (!(omit & F_YEARS)) ct_rjw_printf(w, "Years in business: %d\n", p->years_in_business);
        ct_rjw_printf(w, "Requested amount: %s wan\n", ct_int_grouped(a, p->requested_wan));
        return;
    }
    if (pl->prose) {
        ct_rjw_printf(w, "%s是一家%s企业，主要给%s供货", p->company, p->industry, p->core_enterprise);
        if (!(omit & F_YEARS)) ct_rjw_printf(w, "，经营%d年", p->years_in_business);
        ct_rjw_printf(w, "。年营业收入%s万元，营收同比%s%%。", ct_int_grouped(a, p->revenue_wan),
                      ct_fixed_fmt(b, p->revenue_trend_x10, 1));
        if (!(omit & F_RECV)) ct_rjw_printf(w, "对核心企业的应收账款覆盖率%s，", ct_fixed_fmt(a, p->receivables_x100, 2));
        if (!(omit & F_OVERDUE)) ct_rjw_printf(w, "逾期率%s%%，", ct_fixed_fmt(a, p->overdue_x10, 1));
        if (!(omit & F_TERMS)) ct_rjw_printf(w, "平均账期%d天，", p->payment_terms_days);
        if (!(omit & F_TOP)) ct_rjw_printf(w, "第一大客户占比%d%%，", p->top_customer_pct);
        ct_rjw_printf(w, "抵押物价值%s万元（抵押覆盖率%s）。本次申请%s万元。\n", ct_int_grouped(a, p->collateral_wan),
                      ct_fixed_fmt(b, p->collateral_x100, 2), ct_int_grouped(c, p->requested_wan));
        return;
    }
    ct_rjw_printf(w, "企业名称：%s\n所属行业：%s\n核心企业（买方）：%s\n", p->company, p->industry, p->core_enterprise);
    ct_rjw_printf(w, "年营业收入：%s万元\n营收同比：%s%%\n", ct_int_grouped(a, p->revenue_wan),
                  ct_fixed_fmt(b, p->revenue_trend_x10, 1));
    if (!(omit & F_RECV)) ct_rjw_printf(w, "应收账款覆盖率（对核心企业应收/申请金额）：%s\n", ct_fixed_fmt(a, p->receivables_x100, 2));
    if (!(omit & F_OVERDUE)) ct_rjw_printf(w, "逾期率：%s%%\n", ct_fixed_fmt(a, p->overdue_x10, 1));
    if (!(omit & F_TERMS)) ct_rjw_printf(w, "平均账期：%d天\n", p->payment_terms_days);
    if (!(omit & F_TOP)) ct_rjw_printf(w, "第一大客户占比：%d%%\n", p->top_customer_pct);
    ct_rjw_printf(w, "抵押物价值：%s万元（抵押覆盖率%s）\n", ct_int_grouped(a, p->collateral_wan),
                  ct_fixed_fmt(b, p->collateral_x100, 2));
    if (!(omit & F_YEARS)) ct_rjw_printf(w, "经营年限：%d年\n", p->years_in_business);
    ct_rjw_printf(w, "申请金额：%s万元\n", ct_int_grouped(a, p->requested_wan));
}

/* Strips one trailing newline (the builders end every line with one). */
static char *chomp(char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n && s[n - 1] == '\n') s[n - 1] = 0;
    return s;
}

static char *user_message(const plan *pl, unsigned omit, bool tools) {
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_printf(&w, "%s\n", pl->en ? INTRO_EN[pl->intro] : INTRO_ZH[pl->intro]);
    fact_lines(&w, pl, omit);
    if (tools) ct_rjw_printf(&w, "%s\n", pl->en ? TOOLS_HINT_EN : TOOLS_HINT_ZH);
    const char *close = pl->en ? CLOSE_EN[pl->close] : CLOSE_ZH[pl->close];
    if (*close) ct_rjw_printf(&w, "%s\n", close);
    return chomp(ct_rjw_take(&w));
}

/* The reasoning walk through the rules (docs/risk-dataset.md), used as <think> content. */
static char *reasoning_text(const plan *pl, const ct_risk_decision *d) {
    const ct_risk_profile *p = &pl->p;
    bool en = pl->en;
    ct_rjw w;
    ct_rjw_init(&w);
    char v[32], a[32], b[32], c[32], e[32];
    ct_rjw_printf(&w, en ? "Checking %s against the rules one factor at a time.\n" : "按规则逐项核对%s的指标。\n",
                  p->company);
    for (int f = 0; f < CT_RISK_LABEL_COUNT; f++) {
        ct_risk_factor_value_str(v, p, f);
        bool raised = d->labels & (1u << f);
        if (en)
            ct_rjw_printf(&w, "- %s %s%s: %s %s -> %s\n", FNAME_EN[f], v, FUNIT_EN[f],
                          raised ? (FABOVE[f] ? "above" : "below") : "within", FTHR_EN[f],
                          raised ? ct_risk_label_name(f) : "no label");
        else
            ct_rjw_printf(&w, "- %s%s%s，%s%s → %s\n", FNAME_ZH[f], v, FUNIT_ZH[f],
                          raised ? (FABOVE[f] ? "高于" : "低于") : "未越过", FTHR_ZH[f],
                          raised ? ct_risk_label_name(f) : "不触发");
    }
    ct_rjw_printf(&w, en ? "%d risk label(s).\n" : "共%d个风险标签。\n", d->n_labels);
    /* The product reason is the sentence after the label reasons in `reasons`. */
    ct_rjw_printf(&w, en ? "Product: %s.\n" : "产品：%s。\n", ct_risk_product_name(d->product));
    if (d->product_before_floor != CT_RISK_PRODUCT_NONE) {
        if (en)
            ct_rjw_printf(&w, "Limit: min(requested %s, 30%% of revenue %s, product cap %s) = %s wan; minus %d%% for %d label(s) -> %s wan; round down to 10 wan",
                          ct_int_grouped(a, p->requested_wan), ct_int_grouped(b, d->cap_revenue_wan),
                          ct_int_grouped(c, d->cap_product_wan), ct_int_grouped(v, d->base_wan),
                          10 * d->n_labels, d->n_labels, ct_int_grouped(e, d->haircut_wan));
        else
            ct_rjw_printf(&w, "额度：min(申请%s万, 营收30%% %s万, 产品上限%s万) = %s万，%d个标签扣减%d%% → %s万，向下取整到10万",
                          ct_int_grouped(a, p->requested_wan), ct_int_grouped(b, d->cap_revenue_wan),
                          ct_int_grouped(c, d->cap_product_wan), ct_int_grouped(v, d->base_wan),
                          d->n_labels, 10 * d->n_labels, ct_int_grouped(e, d->haircut_wan));
        if (d->product == CT_RISK_PRODUCT_NONE)
            ct_rjw_rawz(&w, en ? "; below 50 wan, so not recommended (不推荐), limit 0.\n" : "，低于50万，不推荐，额度为0。\n");
        else
            ct_rjw_printf(&w, en ? " -> %s wan = CNY %s.\n" : " → %s万元，即%s元。\n",
                          ct_int_grouped(a, d->credit_limit_yuan / 10000), ct_int_grouped(b, d->credit_limit_yuan));
    } else {
        ct_rjw_rawz(&w, en ? "Not recommended (不推荐): limit 0, no rate range.\n" : "不推荐：额度为0，不给利率区间。\n");
    }
    if (d->product != CT_RISK_PRODUCT_NONE)
        ct_rjw_printf(&w, en ? "Rate: base %s%% + %d x 0.30%% = %s%%, range [%s, %s].\n" : "利率：基准%s%% + %d×0.30%% = %s%%，区间[%s, %s]。\n",
                      ct_fixed_fmt(a, d->rate_lo_bps - 30 * d->n_labels, 2), d->n_labels,
                      ct_fixed_fmt(b, d->rate_lo_bps, 2), ct_fixed_fmt(c, d->rate_lo_bps, 2),
                      ct_fixed_fmt(v, d->rate_hi_bps, 2));
    if (en)
        ct_rjw_printf(&w, "Human approval: %s.\n", d->needs_human_approval ? "yes" : "no");
    else
        ct_rjw_printf(&w, "人工审批：%s。\n", d->needs_human_approval ? "需要" : "不需要");
    ct_rjw_rawz(&w, en ? "Top drivers: " : "前三驱动因素：");
    for (int k = 0; k < 3; k++)
        ct_rjw_printf(&w, "%s%s", k ? (en ? ", " : "、") : "", en ? FNAME_EN[d->drivers[k]] : FNAME_ZH[d->drivers[k]]);
    ct_rjw_rawz(&w, en ? "." : "。");
    return ct_rjw_take(&w);
}

static char *followup_answer(const plan *pl, const ct_risk_decision *d) {
    const ct_risk_profile *p = &pl->p;
    bool en = pl->en;
    ct_rjw w;
    ct_rjw_init(&w);
    char v[32];
    ct_rjw_rawz(&w, en ? "The top three drivers:\n" : "前三个驱动因素：\n");
    for (int k = 0; k < 3; k++) {
        int f = d->drivers[k];
        ct_risk_factor_value_str(v, p, f);
        if (en) {
            ct_rjw_printf(&w, "%d. %s %s%s (%s): ", k + 1, FNAME_EN[f], v, FUNIT_EN[f],
                          d->driver_negative[k] ? "negative" : "positive");
            if (d->driver_negative[k])
                ct_rjw_printf(&w, "%s the %s threshold, which raises %s; each risk label cuts the limit by 10%% and adds 0.30 points to the rate.\n",
                              FABOVE[f] ? "above" : "below", FTHR_EN[f], ct_risk_label_name(f));
            else
                ct_rjw_printf(&w, "comfortably on the safe side of the %s threshold, which supports the application.\n", FTHR_EN[f]);
        } else {
            ct_rjw_printf(&w, "%d. %s%s%s（%s）：", k + 1, FNAME_ZH[f], v, FUNIT_ZH[f],
                          d->driver_negative[k] ? "负面" : "正面");
            if (d->driver_negative[k])
                ct_rjw_printf(&w, "%s%s的阈值，触发“%s”；每个风险标签使额度扣减10%%、利率上浮0.30个百分点。\n",
                              FABOVE[f] ? "高于" : "低于", FTHR_ZH[f], ct_risk_label_name(f));
            else
                ct_rjw_printf(&w, "明显优于%s的阈值，是支持授信的因素。\n", FTHR_ZH[f]);
        }
    }
    ct_rjw_rawz(&w, en ? "The other factors have less weight under the rules." : "其余因素在规则中的影响较小。");
    return ct_rjw_take(&w);
}

static char *tool_args(const plan *pl, bool receivables) {
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_obj(&w);
    ct_rjw_key(&w, "company_name");
    ct_rjw_str(&w, pl->p.company);
    if (receivables) {
        ct_rjw_key(&w, "core_enterprise");
        ct_rjw_str(&w, pl->p.core_enterprise);
    }
    ct_rjw_end(&w);
    return ct_rjw_take(&w);
}

static char *tool_result(const plan *pl, bool receivables) {
    const ct_risk_profile *p = &pl->p;
    ct_rjw w;
    ct_rjw_init(&w);
    ct_rjw_obj(&w);
    ct_rjw_key(&w, "company");
    ct_rjw_str(&w, p->company);
    if (receivables) {
        ct_rjw_key(&w, "core_enterprise");
        ct_rjw_str(&w, p->core_enterprise);
        ct_rjw_key(&w, "receivables_wan");
        ct_rjw_int(&w, p->requested_wan * p->receivables_x100 / 100);
        ct_rjw_key(&w, "receivables_coverage");
        ct_rjw_fixed(&w, p->receivables_x100, 2);
        ct_rjw_key(&w, "avg_payment_terms_days");
        ct_rjw_int(&w, p->payment_terms_days);
        ct_rjw_key(&w, "top_customer_pct");
        ct_rjw_int(&w, p->top_customer_pct);
    } else {
        ct_rjw_key(&w, "overdue_rate_pct");
        ct_rjw_fixed(&w, p->overdue_x10, 1);
        ct_rjw_key(&w, "years_in_business");
        ct_rjw_int(&w, p->years_in_business);
    }
    ct_rjw_end(&w);
    return ct_rjw_take(&w);
}

static char *refusal_reasoning(const plan *pl) {
    const sensitive *s = &SENSITIVE[pl->sens];
    ct_rjw w;
    ct_rjw_init(&w);
    if (pl->en)
        ct_rjw_printf(&w, "The request concerns %s. I must not provide or do this; hand it over to the risk team.",
                      s->why_en);
    else
        ct_rjw_printf(&w, "这个请求涉及%s，按规定不能提供或协助，应转交风险团队。", s->why_zh);
    return ct_rjw_take(&w);
}

static void build(const plan *pl, bool allow_tools, conv *c, ct_risk_decision *d) {
    memset(c, 0, sizeof *c);
    ct_risk_decide(&pl->p, d);
    const ct_risk_profile *p = &pl->p;
    if (pl->refusal) {
        const sensitive *s = &SENSITIVE[pl->sens];
        ct_rjw w;
        ct_rjw_init(&w);
        if (pl->sens_with_profile) {
            ct_rjw_printf(&w, "%s\n", pl->en ? INTRO_EN[pl->intro] : INTRO_ZH[pl->intro]);
            fact_lines(&w, pl, 0);
            ct_rjw_rawz(&w, pl->en ? "Also: " : "另外，");
        }
        ct_rjw_printf(&w, pl->en ? s->q_en : s->q_zh[pl->sens_variant], p->company, p->core_enterprise);
        conv_add(c, ROLE_USER, ct_rjw_take(&w), NULL, NULL);
        conv_add(c, ROLE_ASSISTANT, strdup(pl->en ? s->a_en : s->a_zh),
                 pl->think ? refusal_reasoning(pl) : NULL, NULL);
        return;
    }
    bool tools = pl->tools && allow_tools;
    unsigned omit = 0;
    bool credit = tools && pl->tool_mode != 2, recv = tools && pl->tool_mode != 1;
    if (credit) omit |= F_OVERDUE | F_YEARS;
    if (recv) omit |= F_RECV | F_TERMS | F_TOP;
    conv_add(c, ROLE_USER, user_message(pl, omit, tools), NULL, NULL);
    if (credit) {
        conv_add(c, ROLE_TOOL_CALL, tool_args(pl, false), NULL, "query_credit_report");
        conv_add(c, ROLE_TOOL_RESULT, tool_result(pl, false), NULL, NULL);
    }
    if (recv) {
        conv_add(c, ROLE_TOOL_CALL, tool_args(pl, true), NULL, "get_receivables");
        conv_add(c, ROLE_TOOL_RESULT, tool_result(pl, true), NULL, NULL);
    }
    conv_add(c, ROLE_ASSISTANT, ct_risk_answer_json(p, d, pl->en), pl->think ? reasoning_text(pl, d) : NULL,
             NULL);
    if (pl->multi) {
        conv_add(c, ROLE_USER, strdup(pl->en ? FOLLOWUP_EN[pl->followup] : FOLLOWUP_ZH[pl->followup]), NULL,
                 NULL);
        conv_add(c, ROLE_ASSISTANT, followup_answer(pl, d), NULL, NULL);
    }
}

/* ---- serialisation ---- */

static void write_tool_params(ct_rjw *w, bool receivables) {
    ct_rjw_obj(w);
    ct_rjw_key(w, "type");
    ct_rjw_str(w, "object");
    ct_rjw_key(w, "properties");
    ct_rjw_obj(w);
    ct_rjw_key(w, "company_name");
    ct_rjw_obj(w);
    ct_rjw_key(w, "type");
    ct_rjw_str(w, "string");
    ct_rjw_key(w, "description");
    ct_rjw_str(w, "企业全称 (full company name)");
    ct_rjw_end(w);
    if (receivables) {
        ct_rjw_key(w, "core_enterprise");
        ct_rjw_obj(w);
        ct_rjw_key(w, "type");
        ct_rjw_str(w, "string");
        ct_rjw_key(w, "description");
        ct_rjw_str(w, "核心企业（买方）全称 (anchor buyer)");
        ct_rjw_end(w);
    }
    ct_rjw_end(w);
    ct_rjw_key(w, "required");
    ct_rjw_arr(w);
    ct_rjw_str(w, "company_name");
    if (receivables) ct_rjw_str(w, "core_enterprise");
    ct_rjw_end(w);
    ct_rjw_end(w);
}

/* The two tools as function schemas; `openai_style` wraps each in {"type":"function","function":…}. */
static void write_tools(ct_rjw *w, bool openai_style) {
    static const char *const names[2] = {"query_credit_report", "get_receivables"};
    static const char *const descs[2] = {
        "查询企业征信报告，返回逾期率和经营年限 (credit report: overdue rate, years in business)",
        "查询企业对核心企业的应收账款，返回应收覆盖率、平均账期和第一大客户占比 (receivables from the "
        "core enterprise: coverage, payment terms, top customer share)",
    };
    ct_rjw_arr(w);
    for (int i = 0; i < 2; i++) {
        ct_rjw_obj(w);
        if (openai_style) {
            ct_rjw_key(w, "type");
            ct_rjw_str(w, "function");
            ct_rjw_key(w, "function");
            ct_rjw_obj(w);
        }
        ct_rjw_key(w, "name");
        ct_rjw_str(w, names[i]);
        ct_rjw_key(w, "description");
        ct_rjw_str(w, descs[i]);
        ct_rjw_key(w, "parameters");
        write_tool_params(w, i == 1);
        if (openai_style) ct_rjw_end(w);
        ct_rjw_end(w);
    }
    ct_rjw_end(w);
}

static void think_wrapped(ct_rjw *w, const msg *m) {
    /* sharegpt / alpaca carry reasoning inline, in Qwen3's layout. */
    ct_rjw buf;
    ct_rjw_init(&buf);
    if (m->reasoning) ct_rjw_printf(&buf, "<think>\n%s\n</think>\n\n", m->reasoning);
    ct_rjw_rawz(&buf, m->content);
    char *s = ct_rjw_take(&buf);
    if (!s) w->oom = true;
    else ct_rjw_str(w, s);
    free(s);
}

static void write_id(ct_rjw *w, const ct_risk_synth_opts *o, const plan *pl) {
    if (!o->meta) return;
    char id[64];
    snprintf(id, sizeof id, "risk-%llu-%06llu", (unsigned long long)o->seed, (unsigned long long)pl->index);
    ct_rjw_key(w, "id");
    ct_rjw_str(w, id);
}

static void write_meta(ct_rjw *w, const plan *pl, bool tools_used) {
    ct_rjw_key(w, "meta");
    ct_rjw_obj(w);
    ct_rjw_key(w, "kind");
    ct_rjw_str(w, pl->refusal ? "refusal" : "answer");
    ct_rjw_key(w, "lang");
    ct_rjw_str(w, pl->en ? "en" : "zh");
    ct_rjw_key(w, "think");
    ct_rjw_bool(w, pl->think);
    ct_rjw_key(w, "tools");
    ct_rjw_bool(w, tools_used);
    ct_rjw_key(w, "multi_turn");
    ct_rjw_bool(w, pl->multi);
    ct_rjw_key(w, "sensitive");
    if (pl->refusal) ct_rjw_str(w, SENSITIVE[pl->sens].key);
    else ct_rjw_null(w);
    ct_rjw_key(w, "profile");
    ct_risk_profile_write(w, &pl->p);
    ct_rjw_end(w);
}

static void write_openai(ct_rjw *w, const ct_risk_synth_opts *o, const plan *pl, const conv *c) {
    bool tools_used = false;
    ct_rjw_obj(w);
    write_id(w, o, pl);
    ct_rjw_key(w, "messages");
    ct_rjw_arr(w);
    ct_rjw_obj(w);
    ct_rjw_key(w, "role");
    ct_rjw_str(w, "system");
    ct_rjw_key(w, "content");
    ct_rjw_str(w, pl->en ? SYSTEM_EN : SYSTEM_ZH);
    ct_rjw_end(w);
    for (int i = 0; i < c->n; i++) {
        const msg *m = &c->m[i];
        ct_rjw_obj(w);
        ct_rjw_key(w, "role");
        switch (m->role) {
        case ROLE_USER:
            ct_rjw_str(w, "user");
            ct_rjw_key(w, "content");
            ct_rjw_str(w, m->content);
            break;
        case ROLE_ASSISTANT:
            ct_rjw_str(w, "assistant");
            ct_rjw_key(w, "content");
            ct_rjw_str(w, m->content);
            if (m->reasoning) {
                ct_rjw_key(w, "reasoning_content");
                ct_rjw_str(w, m->reasoning);
            }
            break;
        case ROLE_TOOL_CALL:
            tools_used = true;
            ct_rjw_str(w, "assistant");
            ct_rjw_key(w, "content");
            ct_rjw_str(w, "");
            ct_rjw_key(w, "tool_calls");
            ct_rjw_arr(w);
            ct_rjw_obj(w);
            ct_rjw_key(w, "type");
            ct_rjw_str(w, "function");
            ct_rjw_key(w, "function");
            ct_rjw_obj(w);
            ct_rjw_key(w, "name");
            ct_rjw_str(w, m->tool_name);
            ct_rjw_key(w, "arguments"); /* an object: LlamaFactory json.dumps()es it as is */
            ct_rjw_json(w, m->content);
            ct_rjw_end(w);
            ct_rjw_end(w);
            ct_rjw_end(w);
            break;
        default:
            ct_rjw_str(w, "tool");
            ct_rjw_key(w, "content");
            ct_rjw_str(w, m->content);
        }
        ct_rjw_end(w);
    }
    ct_rjw_end(w);
    if (tools_used) {
        ct_rjw_key(w, "tools");
        write_tools(w, true);
    }
    if (o->meta) write_meta(w, pl, tools_used);
    ct_rjw_end(w);
}

static void write_sharegpt(ct_rjw *w, const ct_risk_synth_opts *o, const plan *pl, const conv *c) {
    bool tools_used = false;
    ct_rjw_obj(w);
    write_id(w, o, pl);
    ct_rjw_key(w, "conversations");
    ct_rjw_arr(w);
    for (int i = 0; i < c->n; i++) {
        const msg *m = &c->m[i];
        ct_rjw_obj(w);
        ct_rjw_key(w, "from");
        if (m->role == ROLE_TOOL_CALL) {
            tools_used = true;
            ct_rjw_str(w, "function_call");
            ct_rjw_key(w, "value");
            ct_rjw v;
            ct_rjw_init(&v);
            ct_rjw_obj(&v);
            ct_rjw_key(&v, "name");
            ct_rjw_str(&v, m->tool_name);
            ct_rjw_key(&v, "arguments");
            ct_rjw_json(&v, m->content);
            ct_rjw_end(&v);
            char *s = ct_rjw_take(&v);
            if (!s) w->oom = true;
            else ct_rjw_str(w, s);
            free(s);
        } else {
            ct_rjw_str(w, m->role == ROLE_USER ? "human" : m->role == ROLE_ASSISTANT ? "gpt" : "observation");
            ct_rjw_key(w, "value");
            if (m->role == ROLE_ASSISTANT) think_wrapped(w, m);
            else ct_rjw_str(w, m->content);
        }
        ct_rjw_end(w);
    }
    ct_rjw_end(w);
    ct_rjw_key(w, "system");
    ct_rjw_str(w, pl->en ? SYSTEM_EN : SYSTEM_ZH);
    if (tools_used) {
        /* LlamaFactory's sharegpt `tools` column: a JSON string of plain function schemas. */
        ct_rjw t;
        ct_rjw_init(&t);
        write_tools(&t, false);
        char *s = ct_rjw_take(&t);
        ct_rjw_key(w, "tools");
        if (!s) w->oom = true;
        else ct_rjw_str(w, s);
        free(s);
    }
    if (o->meta) write_meta(w, pl, tools_used);
    ct_rjw_end(w);
}

static void write_alpaca(ct_rjw *w, const ct_risk_synth_opts *o, const plan *pl, const conv *c) {
    /* conv holds user/assistant pairs only (tools were disabled for this format). */
    int last_user = -1;
    for (int i = 0; i < c->n; i++)
        if (c->m[i].role == ROLE_USER) last_user = i;
    ct_rjw_obj(w);
    write_id(w, o, pl);
    ct_rjw_key(w, "instruction");
    ct_rjw_str(w, c->m[last_user].content);
    ct_rjw_key(w, "input");
    ct_rjw_str(w, "");
    ct_rjw_key(w, "output");
    think_wrapped(w, &c->m[last_user + 1]);
    ct_rjw_key(w, "system");
    ct_rjw_str(w, pl->en ? SYSTEM_EN : SYSTEM_ZH);
    if (last_user > 0) {
        ct_rjw_key(w, "history");
        ct_rjw_arr(w);
        for (int i = 0; i + 1 < last_user; i += 2) {
            ct_rjw_arr(w);
            ct_rjw_str(w, c->m[i].content);
            think_wrapped(w, &c->m[i + 1]);
            ct_rjw_end(w);
        }
        ct_rjw_end(w);
    }
    if (o->meta) write_meta(w, pl, false);
    ct_rjw_end(w);
}

/* ---- public API ---- */

void ct_risk_synth_opts_init(ct_risk_synth_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->format = CT_RISK_FORMAT_OPENAI;
    o->think_ppm = 500000;
    o->english_ppm = 150000;
    o->sensitive_ppm = 100000;
    o->tools_ppm = 280000;
    o->multi_turn_ppm = 150000;
    o->meta = true;
}

ct_status ct_risk_ratio_ppm(double ratio, uint32_t *ppm, ct_err *err) {
    if (!(ratio >= 0.0 && ratio <= 1.0))
        return ct_err_set(err, CT_ERR_ARG, "ratio %g is outside [0, 1]", ratio);
    *ppm = (uint32_t)llround(ratio * 1e6);
    return CT_OK;
}

int ct_risk_format_from_name(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "openai")) return CT_RISK_FORMAT_OPENAI;
    if (!strcmp(name, "sharegpt")) return CT_RISK_FORMAT_SHAREGPT;
    if (!strcmp(name, "alpaca")) return CT_RISK_FORMAT_ALPACA;
    return -1;
}

ct_status ct_risk_synth_sample(const ct_risk_synth_opts *o, uint64_t index, char **line, ct_err *err) {
    *line = NULL;
    if (o->format > CT_RISK_FORMAT_ALPACA) return ct_err_set(err, CT_ERR_ARG, "risk synth: unknown format %d", (int)o->format);
    plan pl;
    draw_plan(o, index, &pl);
    conv c;
    ct_risk_decision d;
    build(&pl, o->format != CT_RISK_FORMAT_ALPACA, &c, &d);
    ct_rjw w;
    ct_rjw_init(&w);
    if (!c.oom) {
        if (o->format == CT_RISK_FORMAT_OPENAI) write_openai(&w, o, &pl, &c);
        else if (o->format == CT_RISK_FORMAT_SHAREGPT) write_sharegpt(&w, o, &pl, &c);
        else write_alpaca(&w, o, &pl, &c);
        ct_rjw_raw(&w, "\n", 1);
    }
    bool oom = c.oom || w.oom;
    conv_free(&c);
    if (oom) {
        ct_rjw_free(&w);
        return ct_err_set(err, CT_ERR_NOMEM, "risk synth: out of memory at sample %llu", (unsigned long long)index);
    }
    *line = ct_rjw_take(&w);
    return *line ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "risk synth: out of memory");
}

ct_status ct_risk_synth_fwrite(const ct_risk_synth_opts *o, uint64_t n, FILE *f, ct_err *err) {
    for (uint64_t i = 0; i < n; i++) {
        char *line;
        ct_status st = ct_risk_synth_sample(o, i, &line, err);
        if (st) return st;
        size_t len = strlen(line);
        bool ok = fwrite(line, 1, len, f) == len;
        free(line);
        if (!ok) return ct_err_set(err, CT_ERR_IO, "risk synth: write failed: %s", strerror(errno));
    }
    return CT_OK;
}

ct_status ct_risk_synth_write(const ct_risk_synth_opts *o, uint64_t n, const char *path, ct_err *err) {
    ct_atomic_file af;
    ct_status st = ct_atomic_open(&af, path, err);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++) {
        char *line;
        st = ct_risk_synth_sample(o, i, &line, err);
        if (!st) st = ct_atomic_write(&af, line, strlen(line), err);
        free(line);
        if (st) {
            ct_atomic_abort(&af);
            return st;
        }
    }
    return ct_atomic_commit(&af, err);
}
