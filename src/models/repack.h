// repack: the weights the engine keeps in a layout of its own (see repack.c).
#ifndef LLMUX_REPACK_H
#define LLMUX_REPACK_H
#include "llmux.h"
#include "models/model.h"

// After the weights are bound: tiles the matrices this CPU's kernels read
// faster tiled, unless p->no_repack or LLMUX_NO_REPACK=1 says not to. Never
// fails: without memory for the copy the weights stay as the file has them.
void repack_weights(llmux_model *m, const llmux_model_params *p);

#endif
