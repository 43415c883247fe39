/* ctune — umbrella header for the public library API. */
#ifndef CTUNE_CTUNE_H
#define CTUNE_CTUNE_H

#include "ctune/err.h"
#include "ctune/generate.h"
#include "ctune/model.h"
#include "ctune/tensor.h"
#include "ctune/tokenizer.h"

#define CTUNE_VERSION "0.1.0"

#endif
