// version: library version and the public error accessor.
#include "core/error.h"
#include "llmux.h"

const char *llmux_version(void) { return LLMUX_VERSION; }
const char *llmux_last_error(void) { return err_get(); }
