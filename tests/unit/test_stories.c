// stories260K: every case of ../shared/reference/stories260K.expected.json
// reproduced token for token (greedy), through the public API, at every SIMD
// level, with both KV cache types; and the prompt tokenization it names.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "llmux.h"
#include "testutil.h"

static void run_case(llmux_model *m, json_t *cs, llmux_kv_type kv, enum simd_level level) {
  const char *name = json_string_value(json_object_get(cs, "name"));
  json_t *prompt = json_object_get(cs, "prompt_ids"), *expect = json_object_get(cs, "expected_generated_ids");
  int n_prompt = (int)json_array_size(prompt), n_gen = (int)json_array_size(expect);
  llmux_context_params cp = llmux_context_default_params();
  cp.n_ctx = 256;
  cp.kv_type = kv;
  cp.n_threads = 2;
  llmux_context *c = llmux_context_new(m, &cp);
  llmux_token toks[256];
  for (int i = 0; i < n_prompt; i++) toks[i] = (llmux_token)json_integer_value(json_array_get(prompt, (size_t)i));
  CHECK(llmux_decode(c, toks, n_prompt, 0, false) == 0);
  int pos = n_prompt, mismatch = -1;
  for (int i = 0; i < n_gen; i++) {
    const float *lg = llmux_logits(c, -1);
    int best = 0;
    for (int v = 1; v < llmux_model_n_vocab(m); v++)
      if (lg[v] > lg[best]) best = v;
    if (best != json_integer_value(json_array_get(expect, (size_t)i)) && mismatch < 0) mismatch = i;
    llmux_token t = best;
    if (llmux_decode(c, &t, 1, pos++, false) != 0) break;
  }
  CHECK_MSG(mismatch < 0, "%s (kv %s, %s): first mismatch at generated token %d", name, kv ? "f32" : "f16",
            cpu_simd_name(level), mismatch);
  llmux_context_free(c);
}

static void check_prompt_tokens(llmux_model *m, json_t *cs) {
  json_t *text = json_object_get(cs, "prompt_text"), *ids = json_object_get(cs, "prompt_ids");
  llmux_token toks[64];
  const char *s = json_string_value(text);
  int n = llmux_tokenize(m, s, strlen(s), toks, 64, true, false);
  CHECK_MSG(n == (int)json_array_size(ids), "'%s' gives %d tokens, expected %zu", s, n, json_array_size(ids));
  for (int i = 0; i < n && i < (int)json_array_size(ids); i++)
    CHECK(toks[i] == json_integer_value(json_array_get(ids, (size_t)i)));
}

int main(void) {
  json_error_t jerr;
  json_t *root = json_load_file(tu_shared("reference/stories260K.expected.json"), 0, &jerr);
  CHECK_MSG(root != NULL, "cannot read expected outputs: %s", jerr.text);
  llmux_model *m = llmux_model_load(tu_shared("models/stories260K.gguf"), NULL);
  CHECK_MSG(m != NULL, "%s", llmux_last_error());
  if (!root || !m) return tu_finish();
  json_t *cases = json_object_get(root, "cases");
  for (size_t i = 0; i < json_array_size(cases); i++) check_prompt_tokens(m, json_array_get(cases, i));
  for (int level = SIMD_SCALAR; level <= (int)cpu_max_simd_level(); level++) {
    cpu_set_simd_level((enum simd_level)level);
    for (size_t i = 0; i < json_array_size(cases); i++) {
      run_case(m, json_array_get(cases, i), LLMUX_KV_F32, (enum simd_level)level);
      run_case(m, json_array_get(cases, i), LLMUX_KV_F16, (enum simd_level)level);
    }
  }
  llmux_model_free(m);
  json_decref(root);
  return tu_finish();
}
