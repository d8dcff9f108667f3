// tok_gguf: a tokenizer from GGUF metadata (tokenizer.ggml.*). Everything is
// copied, so the file may be closed afterwards. Defaults for absent keys are
// the reference's, except that a BPE vocabulary without BOS/EOS ids gets none
// (the reference guesses id 11, which is an ordinary token in most of them).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

// GGUF token types (llama.cpp's llama_token_type) -> attribute bits.
static uint16_t type_attr(int64_t type) {
  switch (type) {
  case 1: return TA_NORMAL;
  case 2: return TA_UNKNOWN;
  case 3: return TA_CONTROL;
  case 4: return TA_USER_DEFINED;
  case 5: return TA_UNUSED;
  case 6: return TA_BYTE;
  default: return 0;  // undefined
  }
}

static int model_kind(const gguf_file *f, char *model, size_t size) {
  if (!gguf_get_cstr(f, "tokenizer.ggml.model", model, size)) {
    err_set("tokenizer: %s has no tokenizer.ggml.model", f->path);
    return -1;
  }
  if (!strcmp(model, "llama")) return TOK_SPM;
  if (!strcmp(model, "gpt2")) return TOK_BPE;
  if (!strcmp(model, "bert")) return TOK_WPM;
  if (!strcmp(model, "none") || !strcmp(model, "no_vocab"))
    err_set("tokenizer: %s has no vocabulary (tokenizer.ggml.model = \"%s\")", f->path, model);
  else if (!strcmp(model, "t5"))
    err_set("tokenizer: %s: T5 / Unigram tokenizers (tokenizer.ggml.model = \"t5\") are not "
            "supported; supported: llama (SPM), gpt2 (BPE), bert (WordPiece)", f->path);
  else
    err_set("tokenizer: %s: unsupported tokenizer.ggml.model \"%s\"; supported: llama (SPM), "
            "gpt2 (BPE), bert (WordPiece)", f->path, model);
  return -1;
}

static bool load_tokens(tokenizer *t, const gguf_file *f, const gguf_arr *toks) {
  const gguf_arr *types = gguf_get_arr(f, "tokenizer.ggml.token_type");
  const gguf_arr *scores = gguf_get_arr(f, "tokenizer.ggml.scores");
  if (types && (types->n != toks->n || types->type == GGUF_STRING)) {
    err_set("tokenizer: %s: tokenizer.ggml.token_type has %llu entries for %llu tokens", f->path,
            (unsigned long long)types->n, (unsigned long long)toks->n);
    return false;
  }
  if (scores && (scores->n != toks->n || scores->type == GGUF_STRING)) {
    err_set("tokenizer: %s: tokenizer.ggml.scores has %llu entries for %llu tokens", f->path,
            (unsigned long long)scores->n, (unsigned long long)toks->n);
    return false;
  }
  if (scores && t->kind == TOK_SPM) {
    t->scores = malloc((size_t)t->n_vocab * sizeof *t->scores);
    if (!t->scores) {
      err_set("tokenizer: out of memory");
      return false;
    }
  }
  for (int32_t i = 0; i < t->n_vocab; i++) {
    uint16_t attr = types ? type_attr(gguf_arr_int(types, (uint64_t)i)) : TA_NORMAL;
    if (!tok_set_token(t, i, toks->strs[i].s, toks->strs[i].n, attr)) return false;
    if (t->scores) t->scores[i] = (float)gguf_arr_float(scores, (uint64_t)i);
  }
  return true;
}

typedef struct {
  const gguf_arr *m;
  const char *path;
} merge_src;

// "a b", split at the first space after the first byte.
static bool gguf_merge(void *ud, int32_t i, const char **a, size_t *an, const char **b, size_t *bn) {
  const merge_src *src = ud;
  const char *s = src->m->strs[i].s;
  size_t n = src->m->strs[i].n, sp = 1;
  while (sp < n && s[sp] != ' ') sp++;
  if (sp >= n) {
    err_set("tokenizer: %s: merge %d has no space: \"%.*s\"", src->path, (int)i,
            (int)(n > 64 ? 64 : n), s);
    return false;
  }
  *a = s, *an = sp, *b = s + sp + 1, *bn = n - sp - 1;
  return true;
}

static bool load_merges(tokenizer *t, const gguf_file *f) {
  const gguf_arr *m = gguf_get_arr(f, "tokenizer.ggml.merges");
  if (!m || m->type != GGUF_STRING || m->n > INT32_MAX / 2) {
    err_set("tokenizer: %s: BPE vocabulary without tokenizer.ggml.merges", f->path);
    return false;
  }
  merge_src src = {m, f->path};
  return tok_add_merges(t, gguf_merge, &src, (int32_t)m->n);
}

// An id key: absent -> keep the default; -1 / 0xFFFFFFFF -> none; out of range -> keep.
static void get_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *id) {
  int64_t v;
  if (!gguf_get_int(f, key, &v)) return;
  if (v == -1 || v == 0xFFFFFFFFll) *id = -1;
  else if (v >= 0 && v < n_vocab) *id = (int32_t)v;
}

static void load_specials(tokenizer *t, const gguf_file *f) {
  if (t->kind == TOK_SPM) t->bos = 1, t->eos = 2, t->unk = 0;
  if (t->kind == TOK_WPM) t->bos = 101, t->unk = 100, t->sep = 102, t->pad = 0;
  int32_t *ids[] = {&t->bos, &t->eos, &t->unk, &t->sep, &t->pad};
  for (int i = 0; i < 5; i++)
    if (*ids[i] >= t->n_vocab) *ids[i] = -1;
  if (t->kind == TOK_WPM) get_id(f, "tokenizer.ggml.cls_token_id", t->n_vocab, &t->bos);
  get_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos);
  get_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos);
  get_id(f, "tokenizer.ggml.eot_token_id", t->n_vocab, &t->eot);
  get_id(f, "tokenizer.ggml.eom_token_id", t->n_vocab, &t->eom);
  get_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk);
  get_id(f, "tokenizer.ggml.seperator_token_id", t->n_vocab, &t->sep);
  get_id(f, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad);
}

static void load_flags(tokenizer *t, const gguf_file *f, const char *pre) {
  bool im = false, bos = false;
  if (t->kind == TOK_BPE) tok_pre_name_options(pre, &im, &bos);
  t->ignore_merges = im;
  t->add_bos = t->kind == TOK_BPE ? bos : true;
  t->add_eos = false;
  t->add_sep = t->kind == TOK_WPM;
  t->add_space_prefix = t->kind == TOK_SPM;
  gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos);
  gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &t->add_eos);
  gguf_get_bool(f, "tokenizer.ggml.add_sep_token", &t->add_sep);
  gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
  // tokenizer.ggml.remove_extra_whitespaces only affects Unigram (T5)
  // vocabularies in the reference; SPM input is taken as it is.
}

tokenizer *tokenizer_from_gguf(const gguf_file *f) {
  char model[64], pre[64] = "default", name[256] = "";
  if (!f) {
    err_set("tokenizer_from_gguf: no file");
    return NULL;
  }
  int kind = model_kind(f, model, sizeof model);
  if (kind < 0) return NULL;
  const gguf_arr *toks = gguf_get_arr(f, "tokenizer.ggml.tokens");
  if (!toks || toks->type != GGUF_STRING || toks->n == 0 || toks->n > INT32_MAX) {
    err_set("tokenizer: %s: tokenizer.ggml.tokens is missing or not a string array", f->path);
    return NULL;
  }
  gguf_get_cstr(f, "tokenizer.ggml.pre", pre, sizeof pre);
  gguf_get_cstr(f, "general.name", name, sizeof name);
  tokenizer *t = tok_alloc(kind, (int32_t)toks->n);
  if (!t) return NULL;
  if (!load_tokens(t, f, toks)) goto fail;
  if (kind == TOK_BPE) {
    if (!load_merges(t, f)) goto fail;
    if (!(t->pre = tok_pre_from_name(pre))) {
      err_set("tokenizer: %s: unknown pre-tokenizer type '%s' (tokenizer.ggml.pre)", f->path, pre);
      goto fail;
    }
  }
  load_specials(t, f);
  load_flags(t, f, pre);
  if (!tok_finalize(t, name)) goto fail;
  return t;
fail:
  tokenizer_free(t);
  return NULL;
}
