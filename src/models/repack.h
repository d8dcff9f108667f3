// repack: the weights the engine keeps in a layout of its own (see repack.c).
#ifndef LLMUX_REPACK_H
#define LLMUX_REPACK_H
#include "llmux.h"
#include "models/model.h"

// The bytes of the matrices repack_weights would tile (0: none, or p or
// LLMUX_NO_REPACK=1 says not to), for the load's progress.
size_t repack_planned(llmux_model *m, const llmux_model_params *p);
// After the weights are bound: tiles the matrices this CPU's kernels read
// faster tiled, unless p->no_repack or LLMUX_NO_REPACK=1 says not to,
// reporting its progress (0..1) when progress is not NULL. Never fails:
// without memory for the copy the weights stay as the file has them.
void repack_weights(llmux_model *m, const llmux_model_params *p, llmux_progress_fn progress, void *user);

#endif
