// hf_load: tokenizers from Hugging Face files.
//   tokenizer.json (BPE model): vocab, merges ("a b" strings or [a, b] pairs),
//     added_tokens (special -> control, else user-defined), an NFC normalizer,
//     the pre-tokenizer's Split regexes / Digits / ByteLevel, ignore_merges.
//     BOS/EOS come from a tokenizer_config.json beside it when there is one.
//   encoder.json + vocab.bpe (GPT-2 layout) with a tokenizer.ggml.pre name.
// Only byte-level BPE is accepted: SentencePiece-style tokenizer.json files
// (Metaspace, byte_fallback) are refused with a clear error.
// The big members (vocab, merges, encoder.json) go through json_scan.c in
// place; jansson parses only the small ones (added tokens, pre-tokenizer...).
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

// ---- the big members, scanned in place

typedef struct {
  const char *s;
  size_t n;
  int32_t id;
} vocab_entry;

typedef struct {
  const char *a, *b;
  size_t an, bn;
} merge_entry;

typedef struct {
  void *v;
  size_t n, cap;
} vec;

static void *vec_add(vec *v, size_t elem) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 1024;
    void *p = realloc(v->v, cap * elem);
    if (!p) return NULL;
    v->v = p;
    v->cap = cap;
  }
  return (char *)v->v + elem * v->n++;
}

static bool syntax_error(const char *path, const jscan *s, const char *buf) {
  err_set("tokenizer: %s: JSON syntax error near byte %zu", path, (size_t)(s->p - buf));
  return false;
}

static bool oom(void) {
  err_set("tokenizer: out of memory");
  return false;
}

// {"token": id, ...} -> entries; *max_id raised to the largest id.
static bool scan_vocab(jscan s, const char *buf, const char *path, vec *out, int64_t *max_id) {
  bool first = true;
  if (!js_expect(&s, '{')) return syntax_error(path, &s, buf);
  for (int r; (r = js_next(&s, &first, '}'));) {
    vocab_entry e;
    int64_t id;
    if (r < 0 || !js_string(&s, &e.s, &e.n) || !js_expect(&s, ':') || !js_int(&s, &id))
      return syntax_error(path, &s, buf);
    if (id < 0 || id >= (1 << 26)) {
      err_set("tokenizer: %s: token \"%.*s\" has id %lld", path, (int)(e.n > 40 ? 40 : e.n), e.s,
              (long long)id);
      return false;
    }
    e.id = (int32_t)id;
    vocab_entry *slot = vec_add(out, sizeof e);
    if (!slot) return oom();
    *slot = e;
    if (id > *max_id) *max_id = id;
  }
  return true;
}

static bool set_vocab(tokenizer *t, const vec *v) {
  const vocab_entry *e = v->v;
  for (size_t i = 0; i < v->n; i++)
    if (!tok_set_token(t, e[i].id, e[i].s, e[i].n, TA_NORMAL)) return false;
  return true;
}

// "a b": split at the first space after the first byte.
static bool split_merge(const char *s, size_t n, merge_entry *m, const char *path, size_t i) {
  size_t sp = 1;
  while (sp < n && s[sp] != ' ') sp++;
  if (sp >= n) {
    err_set("tokenizer: %s: merge %zu has no space: \"%.*s\"", path, i, (int)(n > 40 ? 40 : n), s);
    return false;
  }
  *m = (merge_entry){s, s + sp + 1, sp, n - sp - 1};
  return true;
}

// ["a b", ...] or [["a", "b"], ...]
static bool scan_merges(jscan s, const char *buf, const char *path, vec *out) {
  bool first = true;
  if (!js_expect(&s, '[')) return syntax_error(path, &s, buf);
  for (int r; (r = js_next(&s, &first, ']'));) {
    merge_entry m;
    const char *str;
    size_t n;
    if (r < 0) return syntax_error(path, &s, buf);
    js_ws(&s);
    if (s.p < s.end && *s.p == '[') {
      s.p++;
      if (!js_string(&s, &m.a, &m.an) || !js_expect(&s, ',') || !js_string(&s, &m.b, &m.bn) ||
          !js_expect(&s, ']'))
        return syntax_error(path, &s, buf);
    } else if (!js_string(&s, &str, &n)) {
      return syntax_error(path, &s, buf);
    } else if (!split_merge(str, n, &m, path, out->n)) {
      return false;
    }
    merge_entry *slot = vec_add(out, sizeof m);
    if (!slot) return oom();
    *slot = m;
  }
  return true;
}

static bool get_merge(void *ud, int32_t i, const char **a, size_t *an, const char **b, size_t *bn) {
  const merge_entry *m = (const merge_entry *)((vec *)ud)->v + i;
  *a = m->a, *an = m->an, *b = m->b, *bn = m->bn;
  return true;
}

static bool set_merges(tokenizer *t, vec *merges) {
  if (merges->n > INT32_MAX / 2) return oom();
  return tok_add_merges(t, get_merge, merges, (int32_t)merges->n);
}

// Value spans of the named members of the object at s (absent: p == NULL).
static bool find_members(jscan s, const char *buf, const char *path, const char *const *names,
                         jscan *spans, int n) {
  bool first = true;
  for (int i = 0; i < n; i++) spans[i] = (jscan){NULL, NULL};
  if (!js_expect(&s, '{')) return syntax_error(path, &s, buf);
  for (int r; (r = js_next(&s, &first, '}'));) {
    const char *key;
    size_t kn;
    if (r < 0 || !js_string(&s, &key, &kn) || !js_expect(&s, ':')) return syntax_error(path, &s, buf);
    js_ws(&s);
    char *start = s.p;
    if (!js_skip(&s, 0)) return syntax_error(path, &s, buf);
    for (int i = 0; i < n; i++)
      if (strlen(names[i]) == kn && !memcmp(names[i], key, kn)) spans[i] = (jscan){start, s.p};
  }
  return true;
}

// A small member parsed by jansson; NULL when absent (or JSON null).
static json_t *parse_span(jscan sp, const char *path, bool *ok) {
  if (!sp.p) return NULL;
  json_error_t je;
  json_t *j = json_loadb(sp.p, (size_t)(sp.end - sp.p), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!j) {
    err_set("tokenizer: %s: %s", path, je.text);
    *ok = false;
  }
  return j;
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

static void added_max_id(json_t *added, int64_t *max_id) {
  size_t i;
  json_t *v;
  json_array_foreach(added, i, v) {
    json_t *id = json_object_get(v, "id");
    if (json_is_integer(id) && json_integer_value(id) > *max_id) *max_id = json_integer_value(id);
  }
}


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

static bool build_pre(tokenizer *t, json_t *pre, json_t *decoder, const char *path) {
  const char *pats[MAX_PRE];
  int n = 0;
  bool byte_level = is_type(decoder, "ByteLevel");
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

enum { M_MODEL, M_ADDED, M_NORM, M_PRE, M_DEC, M_COUNT };
enum { K_TYPE, K_VOCAB, K_MERGES, K_IGNORE, K_FALLBACK, K_COUNT };

typedef struct {
  char *buf;
  json_t *added, *norm, *pre, *dec;
  vec vocab, merges;
  jscan model[K_COUNT];
} hf_doc;

static void doc_free(hf_doc *d) {
  free(d->buf);
  json_decref(d->added);
  json_decref(d->norm);
  json_decref(d->pre);
  json_decref(d->dec);
  free(d->vocab.v);
  free(d->merges.v);
}

static bool span_is(jscan sp, const char *lit) {
  return sp.p && js_lit(&sp, lit);
}

// Splits the document into its members; checks that the model is BPE.
static bool doc_parse(hf_doc *d, const char *path, int64_t *max_id) {
  static const char *const top[M_COUNT] = {"model", "added_tokens", "normalizer", "pre_tokenizer",
                                           "decoder"};
  static const char *const model[K_COUNT] = {"type", "vocab", "merges", "ignore_merges",
                                             "byte_fallback"};
  size_t len;
  jscan m[M_COUNT];
  bool ok = true;
  if (!(d->buf = read_file(path, &len))) return false;
  if (!find_members((jscan){d->buf, d->buf + len}, d->buf, path, top, m, M_COUNT)) return false;
  if (!m[M_MODEL].p || !find_members(m[M_MODEL], d->buf, path, model, d->model, K_COUNT)) {
    if (!m[M_MODEL].p) err_set("tokenizer: %s: no \"model\"", path);
    return false;
  }
  jscan ty = d->model[K_TYPE];
  const char *type = NULL;
  size_t tn = 0;
  if (ty.p && !js_string(&ty, &type, &tn)) return syntax_error(path, &ty, d->buf);
  if (!d->model[K_VOCAB].p || (type && (tn != 3 || memcmp(type, "BPE", 3)))) {
    err_set("tokenizer: %s: model type \"%.*s\" is not supported (only BPE)", path,
            type ? (int)tn : 1, type ? type : "?");
    return false;
  }
  if (span_is(d->model[K_FALLBACK], "true")) {
    err_set("tokenizer: %s: byte_fallback BPE (SentencePiece-style) is not supported: use the "
            "model's GGUF", path);
    return false;
  }
  d->added = parse_span(m[M_ADDED], path, &ok);
  d->norm = parse_span(m[M_NORM], path, &ok);
  d->pre = parse_span(m[M_PRE], path, &ok);
  d->dec = parse_span(m[M_DEC], path, &ok);
  if (!ok) return false;
  if (!scan_vocab(d->model[K_VOCAB], d->buf, path, &d->vocab, max_id)) return false;
  added_max_id(d->added, max_id);
  if (!d->model[K_MERGES].p) {
    err_set("tokenizer: %s: model.merges missing", path);
    return false;
  }
  return scan_merges(d->model[K_MERGES], d->buf, path, &d->merges);
}

tokenizer *tokenizer_from_hf_json(const char *path) {
  hf_doc d = {0};
  tokenizer *t = NULL;
  int64_t max_id = -1;
  if (!path) {
    err_set("tokenizer_from_hf_json: no path");
    return NULL;
  }
  if (!doc_parse(&d, path, &max_id)) goto fail;
  if (!(t = tok_alloc(TOK_BPE, (int32_t)(max_id + 1)))) goto fail;
  if (!set_vocab(t, &d.vocab) || !set_added(t, d.added, path) || !set_merges(t, &d.merges)) goto fail;
  if (!normalizer_nfc(d.norm, &t->nfc, path) || !build_pre(t, d.pre, d.dec, path)) goto fail;
  t->ignore_merges = span_is(d.model[K_IGNORE], "true");
  if (!tok_finalize(t, NULL)) goto fail;
  read_config(t, path);
  if (t->eos >= 0) t->attr[t->eos] |= TA_EOG;
  doc_free(&d);
  return t;
fail:
  tokenizer_free(t);
  doc_free(&d);
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

// One merge per line; a first "#version:" line is a comment.
static bool read_merges_file(tokenizer *t, const char *path) {
  size_t len;
  vec merges = {0};
  char *buf = read_file(path, &len);
  bool ok = buf != NULL;
  for (size_t i = 0; ok && i < len;) {
    size_t e = i;
    while (e < len && buf[e] != '\n') e++;
    size_t n = e > i && buf[e - 1] == '\r' ? e - i - 1 : e - i;
    if (n > 0 && !(merges.n == 0 && n >= 9 && !memcmp(buf + i, "#version:", 9))) {
      merge_entry *m = vec_add(&merges, sizeof *m);
      ok = m ? split_merge(buf + i, n, m, path, merges.n - 1) : oom();
    }
    i = e + 1;
  }
  ok = ok && set_merges(t, &merges);
  free(merges.v);
  free(buf);
  return ok;
}

tokenizer *tokenizer_from_bpe_files(const char *encoder_json, const char *vocab_bpe,
                                    const char *pre_name) {
  if (!encoder_json || !vocab_bpe) {
    err_set("tokenizer_from_bpe_files: missing path");
    return NULL;
  }
  size_t len;
  vec vocab = {0};
  int64_t max_id = -1;
  tokenizer *t = NULL;
  char *enc = read_file(encoder_json, &len);
  if (!enc || !scan_vocab((jscan){enc, enc + len}, enc, encoder_json, &vocab, &max_id)) goto fail;
  // A Llama 3 encoder.json stops at 127999; its specials follow.
  bool llama3 = is_llama3_name(pre_name) && max_id == 127999;
  if (!(t = tok_alloc(TOK_BPE, llama3 ? 128256 : (int32_t)(max_id + 1)))) goto fail;
  if (!set_vocab(t, &vocab)) goto fail;
  if (llama3 && !add_llama3_specials(t)) goto fail;
  if (!read_merges_file(t, vocab_bpe)) goto fail;
  if (!(t->pre = tok_pre_from_name(pre_name ? pre_name : "gpt-2"))) goto fail;
  tok_pre_name_options(pre_name ? pre_name : "gpt-2", &t->ignore_merges, &t->add_bos);
  if (!tok_finalize(t, NULL)) goto fail;
  guess_specials(t);
  if (t->eos >= 0) t->attr[t->eos] |= TA_EOG;
  free(vocab.v);
  free(enc);
  return t;
fail:
  tokenizer_free(t);
  free(vocab.v);
  free(enc);
  return NULL;
}
