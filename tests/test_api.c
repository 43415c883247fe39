/* The public API: the umbrella header includes every public header together (no clashing
 * names between modules) and compiles on its own, as a user program would include it. */
#include "ctune/ctune.h"
#include "harness.h"

TEST(api_umbrella_header_self_contained) {
    CHECK_STREQ(ct_status_name(CT_ERR_SHAPE), "shape mismatch");
    CHECK_STREQ(CTUNE_VERSION, "0.1.0");
    CHECK(ct_template_get("qwen3") != NULL);
    CHECK_EQ_INT(CT_IGNORE_INDEX, -100);
}
