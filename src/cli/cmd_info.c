// cmd_info: `llmux info FILE` prints a GGUF file's metadata and tensors.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "ops/types.h"

static void print_value(const gguf_kv *kv) {
  switch (kv->type) {
  case GGUF_STRING: {
    int n = kv->v.str.n > 200 ? 200 : (int)kv->v.str.n;
    printf("\"%.*s\"%s", n, kv->v.str.s, kv->v.str.n > 200 ? "..." : "");
    break;
  }
  case GGUF_ARRAY: printf("[%s x %" PRIu64 "]", gguf_vtype_name(kv->v.arr.type), kv->v.arr.n); break;
  case GGUF_F32: case GGUF_F64: printf("%g", kv->v.f); break;
  case GGUF_BOOL: printf("%s", kv->v.b ? "true" : "false"); break;
  case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64: printf("%" PRId64, kv->v.i); break;
  default: printf("%" PRIu64, kv->v.u); break;
  }
}

static void print_tensors(const gguf_file *f, size_t *total) {
  printf("tensors: %" PRIu64 "\n", f->n_tensors);
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    const gguf_tensor *t = &f->tensors[i];
    printf("  %-40s %-6s [", t->name, type_name(t->type));
    for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? ", " : "", t->ne[d]);
    printf("] %zu bytes\n", t->nbytes);
    *total += t->nbytes;
  }
}

static int64_t arch_int(const gguf_file *f, const char *arch, const char *key, int64_t dflt) {
  char k[160];
  int64_t v;
  snprintf(k, sizeof k, "%s.%s", arch, key);
  return gguf_get_int(f, k, &v) ? v : dflt;
}

// What running the model costs: the mapped weights plus the KV cache, which
// grows with the context (f16 cache, as `llmux run` uses by default).
static void print_memory(const gguf_file *f, size_t weights) {
  char arch[64];
  if (!gguf_get_cstr(f, "general.architecture", arch, sizeof arch)) return;
  int64_t layers = arch_int(f, arch, "block_count", 0), heads = arch_int(f, arch, "attention.head_count", 0);
  int64_t embd = arch_int(f, arch, "embedding_length", 0), ctx = arch_int(f, arch, "context_length", 0);
  if (layers <= 0 || heads <= 0 || embd <= 0) return;
  int64_t kv_heads = arch_int(f, arch, "attention.head_count_kv", heads);
  int64_t hk = arch_int(f, arch, "attention.key_length", embd / heads), hv = arch_int(f, arch, "attention.value_length", hk);
  double per_tok = (double)layers * (double)kv_heads * (double)(hk + hv) * 2.0;
  int64_t run_ctx = ctx > 0 && ctx < 4096 ? ctx : 4096;
  printf("memory: %.1f MiB of weights (mapped, shared between processes) + KV cache %.1f KiB per token "
         "(%.1f MiB at the default context of %lld tokens)\n",
         (double)weights / (1 << 20), per_tok / 1024, per_tok * (double)run_ctx / (1 << 20), (long long)run_ctx);
}

int cmd_info(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help")) {
    fprintf(argc < 2 ? stderr : stdout, "usage: llmux info FILE.gguf\n");
    return argc < 2 ? 2 : 0;
  }
  gguf_file *f = gguf_open(argv[1]);
  if (!f) {
    fprintf(stderr, "llmux info: %s\n", err_get());
    return 1;
  }
  printf("file: %s\nversion: %u\nmetadata: %" PRIu64 " keys\n", argv[1], f->version, f->n_kv);
  for (uint64_t i = 0; i < f->n_kv; i++) {
    printf("  %s = ", f->kv[i].key);
    print_value(&f->kv[i]);
    printf("\n");
  }
  size_t total = 0;
  print_tensors(f, &total);
  printf("tensor data: %zu bytes (%.1f MiB)\n", total, (double)total / (1 << 20));
  print_memory(f, total);
  gguf_close(f);
  return 0;
}
