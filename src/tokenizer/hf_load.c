// hf_load: tokenizers from Hugging Face files.
//   tokenizer.json (BPE model): vocab, merges ("a b" strings or [a, b] pairs),
//     added_tokens (special -> control, else user-defined), an NFC normalizer,
//     the pre-tokenizer's Split regexes / Digits / ByteLevel, ignore_merges.
//     BOS/EOS come from a tokenizer_config.json beside it when there is one.
//   encoder.json + vocab.bpe (GPT-2 layout) with a tokenizer.ggml.pre name.
// Only byte-level BPE is accepted: SentencePiece-style tokenizer.json files
// (Metaspace, byte_fallback) are refused with a clear error.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

#define GPT2_PATTERN \
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define MAX_PRE 8

// Whole file into memory (NUL-terminated); NULL with the error set.
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n = -1;
  if (!f) {
    err_set("tokenizer: cannot open %s", path);
    return NULL;
  }
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
      fread(buf, 1, (size_t)n, f) == (size_t)n) {
    buf[n] = 0;
    *len = (size_t)n;
  } else {
    free(buf);
    buf = NULL;
    err_set("tokenizer: cannot read %s", path);
  }
  fclose(f);
  return buf;
}

// Parsed from memory: jansson's file reader goes a byte at a time through stdio.
static json_t *load_json(const char *path) {
  size_t len;
  char *buf = read_file(path, &len);
  if (!buf) return NULL;
  json_error_t je;
  json_t *j = json_loadb(buf, len, JSON_ALLOW_NUL, &je);
  if (!j) err_set("tokenizer: %s:%d: %s", path, je.line, je.text);
  free(buf);
  return j;
}

// ---- shared: vocabulary object, merges, specials by text

static int32_t max_id(json_t *vocab, json_t *added) {
  int64_t m = -1;
  const char *k;
  json_t *v;
  json_object_foreach(vocab, k, v) if (json_is_integer(v) && json_integer_value(v) > m) m = json_integer_value(v);
  size_t i;
  json_array_foreach(added, i, v) {
    json_t *id = json_object_get(v, "id");
    if (json_is_integer(id) && json_integer_value(id) > m) m = json_integer_value(id);
  }
  return m < 0 || m >= (1 << 26) ? -1 : (int32_t)(m + 1);
}

static bool set_vocab(tokenizer *t, json_t *vocab, const char *path) {
  const char *k;
  json_t *v;
  json_object_foreach(vocab, k, v) {
    json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
    if (id < 0 || id >= t->n_vocab) {
      err_set("tokenizer: %s: token \"%.40s\" has a bad id", path, k);
      return false;
    }
    if (!tok_set_token(t, (int32_t)id, k, strlen(k), TA_NORMAL)) return false;
  }
  return true;
}

static bool add_merge_line(tokenizer *t, const char *s, size_t n, int32_t rank, const char *path) {
  size_t sp = 1;
  while (sp < n && s[sp] != ' ') sp++;
  if (sp >= n) {
    err_set("tokenizer: %s: merge %d has no space: \"%.*s\"", path, (int)rank, (int)(n > 40 ? 40 : n), s);
    return false;
  }
  if (!tok_add_merge(t, s, sp, s + sp + 1, n - sp - 1, rank)) {
    err_set("tokenizer: out of memory");
    return false;
  }
  return true;
}

static bool set_merges(tokenizer *t, json_t *merges, const char *path) {
  if (!json_is_array(merges) || !strmap_init(&t->merges, (uint32_t)json_array_size(merges))) {
    err_set("tokenizer: %s: model.merges missing", path);
    return false;
  }
  size_t i;
  json_t *m;
  json_array_foreach(merges, i, m) {
    if (json_is_string(m)) {
      if (!add_merge_line(t, json_string_value(m), json_string_length(m), (int32_t)i, path)) return false;
    } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
               json_is_string(json_array_get(m, 1))) {
      json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
      if (!tok_add_merge(t, json_string_value(a), json_string_length(a), json_string_value(b),
                         json_string_length(b), (int32_t)i)) {
        err_set("tokenizer: out of memory");
        return false;
      }
    } else {
      err_set("tokenizer: %s: merge %zu is neither \"a b\" nor [a, b]", path, i);
      return false;
    }
  }
  return true;
}

static int32_t first_found(const tokenizer *t, const char *const *texts) {
  for (int i = 0; texts[i]; i++) {
    int32_t id = tokenizer_find(t, texts[i]);
    if (id >= 0) return id;
  }
  return -1;
}

static void guess_specials(tokenizer *t) {
  static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<|startoftext|>", NULL};
  static const char *const eos[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", NULL};
  if (t->bos < 0) t->bos = first_found(t, bos);
  if (t->eos < 0) t->eos = first_found(t, eos);
}

// ---- tokenizer.json

static bool set_added(tokenizer *t, json_t *added, const char *path) {
  size_t i;
  json_t *a;
  json_array_foreach(added, i, a) {
    json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
    if (!json_is_integer(id) || !json_is_string(content) || json_integer_value(id) < 0 ||
        json_integer_value(id) >= t->n_vocab) {
      err_set("tokenizer: %s: added_tokens[%zu] lacks an id or content", path, i);
      return false;
    }
    uint16_t attr = json_is_true(json_object_get(a, "special")) ? TA_CONTROL : TA_USER_DEFINED;
    if (json_is_true(json_object_get(a, "lstrip"))) attr |= TA_LSTRIP;
    if (json_is_true(json_object_get(a, "rstrip"))) attr |= TA_RSTRIP;
    if (!tok_set_token(t, (int32_t)json_integer_value(id), json_string_value(content),
                       json_string_length(content), attr))
      return false;
  }
  return true;
}

static bool is_type(json_t *o, const char *type) {
  const char *s = json_string_value(json_object_get(o, "type"));
  return s && !strcmp(s, type);
}

static bool normalizer_nfc(json_t *norm, bool *nfc, const char *path) {
  *nfc = false;
  if (!norm || json_is_null(norm)) return true;
  json_t *list = is_type(norm, "Sequence") ? json_object_get(norm, "normalizers") : NULL;
  size_t n = list ? json_array_size(list) : 1;
  for (size_t i = 0; i < n; i++) {
    json_t *one = list ? json_array_get(list, i) : norm;
    if (is_type(one, "NFC")) *nfc = true;
    else {
      const char *ty = json_string_value(json_object_get(one, "type"));
      err_set("tokenizer: %s: normalizer \"%s\" is not supported (only NFC)", path, ty ? ty : "?");
      return false;
    }
  }
  return true;
}

// One pre-tokenizer step -> patterns. *byte_level is set by ByteLevel.
static bool pre_step(json_t *p, const char **pats, int *n, bool *byte_level, const char *path) {
  if (*n >= MAX_PRE) goto unsupported;
  if (is_type(p, "ByteLevel")) {
    *byte_level = true;
    if (!json_is_false(json_object_get(p, "use_regex"))) pats[(*n)++] = GPT2_PATTERN;
    return true;
  }
  if (is_type(p, "Digits")) {
    pats[(*n)++] = json_is_true(json_object_get(p, "individual_digits")) ? "\\p{N}" : "\\p{N}+";
    return true;
  }
  if (is_type(p, "Split")) {
    const char *beh = json_string_value(json_object_get(p, "behavior"));
    const char *re = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
    if (!re || !beh || strcmp(beh, "Isolated") || json_is_true(json_object_get(p, "invert")))
      goto unsupported;
    pats[(*n)++] = re;
    return true;
  }
unsupported:;
  const char *ty = json_string_value(json_object_get(p, "type"));
  err_set("tokenizer: %s: pre-tokenizer step \"%s\" is not supported (Split with a Regex and "
          "behavior Isolated, Digits, ByteLevel are)", path, ty ? ty : "?");
  return false;
}

static bool build_pre(tokenizer *t, json_t *root, const char *path) {
  json_t *pre = json_object_get(root, "pre_tokenizer");
  const char *pats[MAX_PRE];
  int n = 0;
  bool byte_level = is_type(json_object_get(root, "decoder"), "ByteLevel");
  if (pre && !json_is_null(pre)) {
    json_t *list = is_type(pre, "Sequence") ? json_object_get(pre, "pretokenizers") : NULL;
    size_t cnt = list ? json_array_size(list) : 1;
    for (size_t i = 0; i < cnt; i++)
      if (!pre_step(list ? json_array_get(list, i) : pre, pats, &n, &byte_level, path)) return false;
  }
  if (!byte_level) {
    err_set("tokenizer: %s: not a byte-level BPE tokenizer (SentencePiece-style tokenizer.json "
            "files are not supported: use the model's GGUF)", path);
    return false;
  }
  t->pre = tok_pre_from_patterns(pats, n);
  return t->pre != NULL;
}

// bos_token / eos_token of a tokenizer_config.json: a string or {content}.
static int32_t config_token(const tokenizer *t, json_t *cfg, const char *key) {
  json_t *v = json_object_get(cfg, key);
  if (json_is_object(v)) v = json_object_get(v, "content");
  return json_is_string(v) ? tokenizer_find(t, json_string_value(v)) : -1;
}

static void read_config(tokenizer *t, const char *json_path) {
  char path[4096];
  const char *slash = strrchr(json_path, '/');
  int dir = slash ? (int)(slash - json_path + 1) : 0;
  snprintf(path, sizeof path, "%.*stokenizer_config.json", dir, json_path);
  json_t *cfg = json_load_file(path, 0, NULL);
  if (!cfg) {
    guess_specials(t);
    t->add_bos = tokenizer_find(t, "<|begin_of_text|>") >= 0;
    return;
  }
  t->bos = config_token(t, cfg, "bos_token");
  t->eos = config_token(t, cfg, "eos_token");
  t->unk = config_token(t, cfg, "unk_token");
  t->pad = config_token(t, cfg, "pad_token");
  json_t *ab = json_object_get(cfg, "add_bos_token");
  t->add_bos = json_is_boolean(ab) ? json_is_true(ab) : t->bos >= 0;
  t->add_eos = json_is_true(json_object_get(cfg, "add_eos_token"));
  json_decref(cfg);
}

tokenizer *tokenizer_from_hf_json(const char *path) {
  json_t *root = path ? load_json(path) : NULL;
  tokenizer *t = NULL;
  if (!root) {
    if (!path) err_set("tokenizer_from_hf_json: no path");
    return NULL;
  }
  json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
  json_t *added = json_object_get(root, "added_tokens");
  const char *mtype = json_string_value(json_object_get(model, "type"));
  if (!json_is_object(vocab) || (mtype && strcmp(mtype, "BPE"))) {
    err_set("tokenizer: %s: model type \"%s\" is not supported (only BPE)", path, mtype ? mtype : "?");
    goto fail;
  }
  if (json_is_true(json_object_get(model, "byte_fallback"))) {
    err_set("tokenizer: %s: byte_fallback BPE (SentencePiece-style) is not supported: use the "
            "model's GGUF", path);
    goto fail;
  }
  int32_t n_vocab = max_id(vocab, added);
  if (!(t = tok_alloc(TOK_BPE, n_vocab))) goto fail;
  if (!set_vocab(t, vocab, path) || !set_added(t, added, path)) goto fail;
  if (!set_merges(t, json_object_get(model, "merges"), path)) goto fail;
  if (!normalizer_nfc(json_object_get(root, "normalizer"), &t->nfc, path)) goto fail;
  if (!build_pre(t, root, path)) goto fail;
  t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
  if (!tok_finalize(t, NULL)) goto fail;
  read_config(t, path);
  if (t->eos >= 0) t->attr[t->eos] |= TA_EOG;
  json_decref(root);
  return t;
fail:
  tokenizer_free(t);
  json_decref(root);
  return NULL;
}

// ---- encoder.json + vocab.bpe

// Llama 3.1 / 3.2 special tokens, ids 128000..128255, which encoder.json
// files of Llama 3 leave out.
static bool add_llama3_specials(tokenizer *t) {
  static const char *const named[11] = {
      "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
      "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
      "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
  char buf[64];
  for (int i = 0; i < 256; i++) {
    const char *s = buf;
    if (i < 11) s = named[i];
    else snprintf(buf, sizeof buf, "<|reserved_special_token_%d|>", i - 8);
    if (!tok_set_token(t, 128000 + i, s, strlen(s), TA_CONTROL)) return false;
  }
  return true;
}

static bool is_llama3_name(const char *pre) {
  return pre && (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3") || !strcmp(pre, "llama-v3"));
}

static bool read_merges_file(tokenizer *t, const char *path) {
  size_t len;
  char *buf = read_file(path, &len);
  if (!buf) return false;
  bool ok;
  int32_t rank = 0;
  ok = strmap_init(&t->merges, (uint32_t)(len / 8 + 16));
  for (size_t i = 0; ok && i < len;) {
    size_t e = i;
    while (e < len && buf[e] != '\n') e++;
    size_t n = e > i && buf[e - 1] == '\r' ? e - i - 1 : e - i;
    if (n > 0 && !(rank == 0 && n >= 9 && !memcmp(buf + i, "#version:", 9)))
      ok = add_merge_line(t, buf + i, n, rank++, path);
    i = e + 1;
  }
  free(buf);
  return ok;
}

tokenizer *tokenizer_from_bpe_files(const char *encoder_json, const char *vocab_bpe,
                                    const char *pre_name) {
  if (!encoder_json || !vocab_bpe) {
    err_set("tokenizer_from_bpe_files: missing path");
    return NULL;
  }
  json_t *enc = load_json(encoder_json);
  tokenizer *t = NULL;
  if (!enc) return NULL;
  if (!json_is_object(enc)) {
    err_set("tokenizer: %s: not a JSON object of token -> id", encoder_json);
    goto fail;
  }
  int32_t n_vocab = max_id(enc, NULL);
  bool llama3 = is_llama3_name(pre_name) && n_vocab == 128000 && !json_object_get(enc, "<|begin_of_text|>");
  if (!(t = tok_alloc(TOK_BPE, llama3 ? 128256 : n_vocab))) goto fail;
  if (!set_vocab(t, enc, encoder_json)) goto fail;
  if (llama3 && !add_llama3_specials(t)) goto fail;
  if (!read_merges_file(t, vocab_bpe)) goto fail;
  if (!(t->pre = tok_pre_from_name(pre_name ? pre_name : "gpt-2"))) goto fail;
  tok_pre_name_options(pre_name ? pre_name : "gpt-2", &t->ignore_merges, &t->add_bos);
  if (!tok_finalize(t, NULL)) goto fail;
  guess_specials(t);
  if (t->eos >= 0) t->attr[t->eos] |= TA_EOG;
  json_decref(enc);
  return t;
fail:
  tokenizer_free(t);
  json_decref(enc);
  return NULL;
}
