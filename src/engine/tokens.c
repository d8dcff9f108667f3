// tokens: the public tokenizer calls (llmux.h), over the model's tokenizer.
#include <stdint.h>

#include "llmux.h"
#include "models/model.h"

int llmux_tokenize(const llmux_model *m, const char *text, size_t len, llmux_token *out, int max_tokens,
                   bool add_special, bool parse_special) {
  return tokenizer_encode(m->tok, text, len, add_special, parse_special, out, max_tokens);
}

int llmux_token_to_piece(const llmux_model *m, llmux_token t, char *buf, int size, bool special) {
  return tokenizer_token_to_piece(m->tok, t, buf, size, special);
}

int llmux_detokenize(const llmux_model *m, const llmux_token *toks, int n, char *buf, int size, bool special) {
  return tokenizer_decode(m->tok, toks, n, buf, size, special);
}

llmux_token llmux_token_bos(const llmux_model *m) { return tokenizer_bos(m->tok); }
llmux_token llmux_token_eos(const llmux_model *m) { return tokenizer_eos(m->tok); }
bool llmux_token_is_eog(const llmux_model *m, llmux_token t) { return tokenizer_is_eog(m->tok, t); }
