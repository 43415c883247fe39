/* ctune — umbrella header for the public library API. */
#ifndef CTUNE_CTUNE_H
#define CTUNE_CTUNE_H

#include "ctune/adapter.h"
#include "ctune/bench_serve.h"
#include "ctune/callback.h"
#include "ctune/chat.h"
#include "ctune/config.h"
#include "ctune/constrain.h"
#include "ctune/data.h"
#include "ctune/err.h"
#include "ctune/estimate.h"
#include "ctune/generate.h"
#include "ctune/model.h"
#include "ctune/ctx.h"
#include "ctune/eval.h"
#include "ctune/risk.h"
#include "ctune/rng.h"
#include "ctune/runtime.h"
#include "ctune/tensor.h"
#include "ctune/tokenizer.h"
#include "ctune/train.h"

#define CTUNE_VERSION "0.1.0"

#endif
