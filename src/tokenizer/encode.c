// encode: tokenizer_encode. Splits the text around special tokens, runs the
// vocabulary's algorithm on each raw fragment and adds BOS/EOS (CLS/SEP) as
// the reference does. SPM puts a space before the first raw fragment and
// before any raw fragment that follows a special token.
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

static bool encode_fragments(const tokenizer *t, const char *text, const tok_frag *fr, size_t nf,
                             ivec *v) {
  bool prev_special = true;  // the first fragment counts as following one
  for (size_t i = 0; i < nf; i++) {
    if (fr[i].tok >= 0) {
      ivec_push(v, fr[i].tok);
      prev_special = true;
      continue;
    }
    const char *s = text + fr[i].off;
    bool ok;
    switch (t->kind) {
    case TOK_SPM: ok = tok_spm_encode(t, s, fr[i].len, t->add_space_prefix && prev_special, v); break;
    case TOK_BPE: ok = tok_bpe_encode(t, s, fr[i].len, v); break;
    default: ok = tok_wpm_encode(t, s, fr[i].len, v); break;
    }
    if (!ok) return false;
    prev_special = false;
  }
  return true;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *out, int max_out) {
  if (!t || (!text && len) || (max_out > 0 && !out)) {
    err_set("tokenizer_encode: invalid arguments");
    return INT32_MIN;
  }
  ivec v = {0};
  tok_frag *fr = NULL;
  size_t nf = 0;
  int ret = INT32_MIN;
  if (!tok_partition(t, text ? text : "", len, parse_special, &fr, &nf)) goto done;
  if (add_special && t->add_bos && t->bos >= 0) ivec_push(&v, t->bos);
  if (!encode_fragments(t, text, fr, nf, &v)) goto done;
  if (add_special && t->add_eos && t->eos >= 0) ivec_push(&v, t->eos);
  if (add_special && t->add_sep && t->sep >= 0) ivec_push(&v, t->sep);
  if (v.oom) {
    err_set("tokenizer: out of memory");
    goto done;
  }
  if (v.n > INT32_MAX - 1) {
    err_set("tokenizer_encode: more than %d tokens", INT32_MAX - 1);
    goto done;
  }
  ret = (int)v.n;
  if (ret > max_out) ret = -ret;
  else if (ret) memcpy(out, v.v, v.n * sizeof *out);
done:
  free(fr);
  free(v.v);
  return ret;
}
