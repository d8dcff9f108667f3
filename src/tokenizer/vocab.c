// vocab: the token table every tokenizer kind shares. Texts live in one pool;
// a string hash map finds ids by text, another finds BPE merge ranks. After
// the loaders have set every token, tok_finalize derives what the algorithms
// need: byte tokens, the special-token list with its scan trie, and the
// end-of-generation set.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

// ---- hashing and the string map

uint64_t tok_hash(const char *s, size_t n, uint64_t h) {
  // 8 bytes per step, multiply-rotate mixing; good enough for vocab strings.
  const uint64_t k = 0x9E3779B97F4A7C15ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * k;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  memcpy(&w, s + i, n - i);
  h = (h ^ w ^ ((uint64_t)(n - i) << 56)) * k;
  h ^= h >> 32;
  return h * 0xBF58476D1CE4E5B9ull ^ (h >> 31);
}

bool strmap_init(strmap *m, uint32_t expected) {
  memset(m, 0, sizeof *m);
  uint32_t cap = 16;
  while (cap < expected * 2u && cap < (1u << 30)) cap <<= 1;
  m->slots = calloc(cap, sizeof *m->slots);
  m->mask = cap - 1;
  return m->slots != NULL;
}

void strmap_free(strmap *m) {
  free(m->slots);
  free(m->pool);
  memset(m, 0, sizeof *m);
}

// 32 bits pick the slot (low bits) and tag it (all of them), so that a table
// can grow without the keys being hashed again.
uint32_t strmap_hash2(const char *a, size_t an, int sep, const char *b, size_t bn) {
  uint64_t h = tok_hash(a, an, 0x243F6A8885A308D3ull);
  if (sep >= 0) {
    char c = (char)sep;
    h = tok_hash(&c, 1, h);
    h = tok_hash(b, bn, h);
  }
  return (uint32_t)(h >> 32);
}

static bool key_equal(const strmap *m, const strmap_slot *s, const char *a, size_t an, int sep,
                      const char *b, size_t bn) {
  size_t total = an + (sep >= 0 ? 1 + bn : 0);
  if (s->len != total) return false;
  const char *k = m->pool + s->off;
  if (memcmp(k, a, an)) return false;
  if (sep < 0) return true;
  return (uint8_t)k[an] == (uint8_t)sep && !memcmp(k + an + 1, b, bn);
}

static bool strmap_grow(strmap *m) {
  uint32_t cap = (m->mask + 1) * 2;
  strmap_slot *ns = calloc(cap, sizeof *ns);
  if (!ns) return false;
  for (uint32_t i = 0; i <= m->mask; i++) {
    if (!m->slots[i].len) continue;
    uint32_t j = m->slots[i].hash & (cap - 1);
    while (ns[j].len) j = (j + 1) & (cap - 1);
    ns[j] = m->slots[i];
  }
  free(m->slots);
  m->slots = ns;
  m->mask = cap - 1;
  return true;
}

static bool pool_reserve(strmap *m, size_t len) {
  if (m->pool_len + len > UINT32_MAX) return false;
  if (m->pool_len + len <= m->pool_cap) return true;
  size_t cap = m->pool_cap ? m->pool_cap * 2 : 4096;
  while (cap < m->pool_len + len) cap *= 2;
  char *p = realloc(m->pool, cap);
  if (!p) return false;
  m->pool = p;
  m->pool_cap = cap;
  return true;
}

void strmap_prefetch(const strmap *m, uint32_t h) {
  __builtin_prefetch(&m->slots[h & m->mask], 1);
}

bool strmap_put2(strmap *m, const char *a, size_t an, int sep, const char *b, size_t bn, int32_t val,
                 bool overwrite) {
  return strmap_put2_h(m, strmap_hash2(a, an, sep, b, bn), a, an, sep, b, bn, val, overwrite);
}

bool strmap_put2_h(strmap *m, uint32_t h, const char *a, size_t an, int sep, const char *b,
                   size_t bn, int32_t val, bool overwrite) {
  size_t len = an + (sep >= 0 ? 1 + bn : 0);
  if (len == 0) return true;  // never stored, never found
  if (len > UINT32_MAX / 2) return false;
  if ((m->count + 1) * 2 > m->mask + 1 && !strmap_grow(m)) return false;
  uint32_t j = h & m->mask;
  for (; m->slots[j].len; j = (j + 1) & m->mask) {
    if (m->slots[j].hash == h && key_equal(m, &m->slots[j], a, an, sep, b, bn)) {
      if (overwrite) m->slots[j].val = val;
      return true;
    }
  }
  if (!pool_reserve(m, len)) return false;
  char *k = m->pool + m->pool_len;
  memcpy(k, a, an);
  if (sep >= 0) {
    k[an] = (char)sep;
    memcpy(k + an + 1, b, bn);
  }
  m->slots[j] = (strmap_slot){h, (uint32_t)m->pool_len, (uint32_t)len, val};
  m->pool_len += len;
  m->count++;
  return true;
}

int32_t strmap_get2(const strmap *m, const char *a, size_t alen, int sep, const char *b,
                    size_t blen) {
  if (!m->slots) return -1;
  uint32_t h = strmap_hash2(a, alen, sep, b, blen);
  for (uint32_t j = h & m->mask; m->slots[j].len; j = (j + 1) & m->mask) {
    if (m->slots[j].hash == h && key_equal(m, &m->slots[j], a, alen, sep, b, blen))
      return m->slots[j].val;
  }
  return -1;
}

void ivec_push(ivec *a, int32_t x) {
  if (a->oom) return;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    int32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) {
      a->oom = true;
      return;
    }
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = x;
}

// ---- building

tokenizer *tok_alloc(int kind, int32_t n_vocab) {
  if (n_vocab <= 0 || n_vocab > (1 << 26)) {
    err_set("tokenizer: vocabulary size %d out of range", (int)n_vocab);
    return NULL;
  }
  tokenizer *t = calloc(1, sizeof *t);
  if (!t) goto oom;
  t->kind = kind;
  t->n_vocab = n_vocab;
  t->text_off = calloc((size_t)n_vocab, sizeof *t->text_off);
  t->text_len = calloc((size_t)n_vocab, sizeof *t->text_len);
  t->attr = calloc((size_t)n_vocab, sizeof *t->attr);
  t->prio = malloc((size_t)n_vocab * sizeof *t->prio);
  if (!t->text_off || !t->text_len || !t->attr || !t->prio) goto oom;
  if (!strmap_init(&t->vocab, (uint32_t)n_vocab)) goto oom;
  t->pool = calloc(1, 1);  // byte 0: the "" every unset token points at
  if (!t->pool) goto oom;
  t->pool_len = t->pool_cap = 1;
  t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = t->pad = -1;
  for (int i = 0; i < 256; i++) t->byte_tok[i] = -1;
  return t;
oom:
  tokenizer_free(t);
  err_set("tokenizer: out of memory");
  return NULL;
}

static bool pool_append(tokenizer *t, const char *s, size_t n, uint32_t *off) {
  if (t->pool_len + n + 1 > UINT32_MAX) return false;
  if (t->pool_len + n + 1 > t->pool_cap) {
    size_t c = t->pool_cap ? t->pool_cap * 2 : 1 << 16;
    while (c < t->pool_len + n + 1) c *= 2;
    char *p = realloc(t->pool, c);
    if (!p) return false;
    t->pool = p;
    t->pool_cap = c;
  }
  memcpy(t->pool + t->pool_len, s, n);
  t->pool[t->pool_len + n] = 0;
  *off = (uint32_t)t->pool_len;
  t->pool_len += n + 1;
  return true;
}

bool tok_set_token(tokenizer *t, int32_t id, const char *s, size_t n, uint16_t attr) {
  char empty[32];
  if (n == 0) {
    // The reference renames empty tokens so that they cannot match text.
    n = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)id);
    s = empty;
  }
  if (!pool_append(t, s, n, &t->text_off[id])) {
    err_set("tokenizer: out of memory");
    return false;
  }
  t->text_len[id] = (uint32_t)n;
  t->attr[id] = attr;
  return true;
}

// ---- finalizing

static int32_t find_n(const tokenizer *t, const char *s) {
  return strmap_get(&t->vocab, s, strlen(s));
}

static void find_byte_tokens(tokenizer *t) {
  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; b++) {
    char buf[8];
    int32_t id = -1;
    if (t->kind == TOK_SPM) {
      char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
      id = find_n(t, name);
      if (id < 0) buf[0] = (char)b, id = strmap_get(&t->vocab, buf, 1);
    } else if (t->kind == TOK_BPE) {
      int n = tok_byte_to_unicode((uint8_t)b, buf);
      id = strmap_get(&t->vocab, buf, (size_t)n);
    }
    t->byte_tok[b] = id;
  }
}

// Texts that mark end-of-turn / end-of-generation tokens in the vocabularies
// the reference knows; such tokens are also forced to be control tokens.
static const char *const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<end_of_utterance>", NULL};
static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    // fill-in-the-middle pad / repo / file separators end generation too
    "<|fim_pad|>", "<fim-pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
    "<reponame>", "<|file_sep|>", "<fim-sep>", NULL};

static void mark_control(tokenizer *t, int32_t id) {
  t->attr[id] = (uint16_t)((t->attr[id] & ~(TA_NORMAL | TA_USER_DEFINED | TA_UNUSED | TA_BYTE |
                                            TA_UNKNOWN)) | TA_CONTROL);
}

static void find_eog(tokenizer *t) {
  if (t->eot < 0) {
    for (int i = 0; k_eot_texts[i] && t->eot < 0; i++) t->eot = find_n(t, k_eot_texts[i]);
    if (t->eot >= 0) mark_control(t, t->eot);
  }
  if (t->eom < 0) {
    t->eom = find_n(t, "<|eom_id|>");
    if (t->eom >= 0) mark_control(t, t->eom);
  }
  for (int i = 0; k_eog_texts[i]; i++) {
    int32_t id = find_n(t, k_eog_texts[i]);
    if (id < 0) continue;
    mark_control(t, id);
    t->attr[id] |= TA_EOG;
  }
  int32_t ids[3] = {t->eos, t->eot, t->eom};
  for (int i = 0; i < 3; i++)
    if (ids[i] >= 0) t->attr[ids[i]] |= TA_EOG;
}

// Per-model attribute fixes the reference applies (its GGUF files do not carry
// them): Phi-3 strips whitespace after its chat tokens.
static void model_fixes(tokenizer *t, const char *model_name) {
  char name[256];
  size_t n = 0;
  for (; model_name && model_name[n] && n + 1 < sizeof name; n++)
    name[n] = (char)tolower((unsigned char)model_name[n]);
  name[n] = 0;
  if (!strstr(name, "phi-3") && !strstr(name, "phi3")) return;
  for (int32_t id = 0; id < t->n_vocab; id++)
    if (t->attr[id] & (TA_CONTROL | TA_USER_DEFINED | TA_UNKNOWN)) t->attr[id] |= TA_RSTRIP;
  const char *on[] = {"</s>"}, *off[] = {"<unk>", "<s>", "<|endoftext|>"};
  int32_t id = find_n(t, on[0]);
  if (id >= 0) t->attr[id] |= TA_RSTRIP;
  for (int i = 0; i < 3; i++)
    if ((id = find_n(t, off[i])) >= 0) t->attr[id] &= (uint16_t)~TA_RSTRIP;
}

typedef struct {
  uint32_t len;
  int32_t id;
} by_len;

// Longest first, then lowest id.
static int cmp_special(const void *a, const void *b) {
  const by_len *x = a, *y = b;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

static bool trie_add(tokenizer *t, int32_t id, int *cap_nodes) {
  uint32_t n;
  const char *s = tok_text(t, id, &n);
  int32_t node = 0;
  for (uint32_t i = 0; i < n; i++) {
    char key[5];
    memcpy(key, &node, 4);
    key[4] = s[i];
    int32_t next = strmap_get(&t->trie, key, 5);
    if (next < 0) {
      if (t->n_nodes == *cap_nodes) {
        int cap = *cap_nodes * 2;
        int32_t *nt = realloc(t->node_tok, (size_t)cap * sizeof *nt);
        if (!nt) return false;
        t->node_tok = nt;
        *cap_nodes = cap;
      }
      next = t->n_nodes++;
      t->node_tok[next] = -1;
      if (!strmap_put(&t->trie, key, 5, next)) return false;
    }
    node = next;
  }
  if (t->node_tok[node] < 0) t->node_tok[node] = id;  // duplicates: the first by priority
  return true;
}

static bool build_specials(tokenizer *t) {
  t->special = malloc((size_t)t->n_vocab * sizeof *t->special);
  if (!t->special) return false;
  for (int32_t id = 0; id < t->n_vocab; id++) {
    t->prio[id] = -1;
    if (t->attr[id] & (TA_CONTROL | TA_USER_DEFINED | TA_UNKNOWN)) t->special[t->n_special++] = id;
  }
  by_len *order = malloc(((size_t)t->n_special + 1) * sizeof *order);
  if (!order) return false;
  for (int i = 0; i < t->n_special; i++) order[i] = (by_len){t->text_len[t->special[i]], t->special[i]};
  qsort(order, (size_t)t->n_special, sizeof *order, cmp_special);
  for (int i = 0; i < t->n_special; i++) t->special[i] = order[i].id;
  free(order);
  int cap = 256;
  t->node_tok = malloc((size_t)cap * sizeof *t->node_tok);
  if (!t->node_tok || !strmap_init(&t->trie, 1024)) return false;
  t->node_tok[0] = -1;
  t->n_nodes = 1;
  for (int i = 0; i < t->n_special; i++) {
    t->prio[t->special[i]] = i;
    if (!trie_add(t, t->special[i], &cap)) return false;
  }
  return true;
}

// Inserting 100k+ keys is bound by cache misses on the slots: hash a few
// keys ahead and prefetch their slots (about 3x faster than one by one).
#define AHEAD 16

static bool index_vocab(tokenizer *t) {
  uint32_t hs[AHEAD];
  for (int32_t i = 0; i < t->n_vocab + AHEAD; i++) {
    uint32_t n;
    int32_t id = i - AHEAD;  // insert the key hashed AHEAD steps ago, then hash the next
    if (id >= 0) {
      const char *s = tok_text(t, id, &n);
      // (an id no file named has an empty text, which is never stored)
      if (!strmap_put2_h(&t->vocab, hs[id % AHEAD], s, n, -1, NULL, 0, id, true)) return false;
    }
    if (i < t->n_vocab) {
      const char *s = tok_text(t, i, &n);
      hs[i % AHEAD] = strmap_hash2(s, n, -1, NULL, 0);
      strmap_prefetch(&t->vocab, hs[i % AHEAD]);
      if ((int)n > t->max_token_len) t->max_token_len = (int)n;
    }
  }
  return true;
}

bool tok_add_merges(tokenizer *t, tok_merge_fn get, void *ud, int32_t n) {
  struct {
    const char *a, *b;
    size_t an, bn;
    uint32_t h;
  } q[AHEAD];
  if (!strmap_init(&t->merges, (uint32_t)n)) goto oom;
  for (int32_t i = 0; i < n + AHEAD; i++) {
    int32_t r = i - AHEAD;
    if (r >= 0) {
      int k = r % AHEAD;
      // 0xFF never occurs in UTF-8; of duplicate merges the first rank wins.
      if (!strmap_put2_h(&t->merges, q[k].h, q[k].a, q[k].an, 0xFF, q[k].b, q[k].bn, r, false)) goto oom;
    }
    if (i < n) {
      int k = i % AHEAD;
      if (!get(ud, i, &q[k].a, &q[k].an, &q[k].b, &q[k].bn)) return false;
      q[k].h = strmap_hash2(q[k].a, q[k].an, 0xFF, q[k].b, q[k].bn);
      strmap_prefetch(&t->merges, q[k].h);
    }
  }
  return true;
oom:
  err_set("tokenizer: out of memory");
  return false;
}

bool tok_finalize(tokenizer *t, const char *model_name) {
  if (!index_vocab(t)) goto oom;
  find_byte_tokens(t);
  find_eog(t);
  model_fixes(t, model_name);
  if (!build_specials(t)) goto oom;
  return true;
oom:
  err_set("tokenizer: out of memory");
  return false;
}

void tokenizer_free(tokenizer *t) {
  if (!t) return;
  free(t->pool);
  free(t->text_off);
  free(t->text_len);
  free(t->scores);
  free(t->attr);
  strmap_free(&t->vocab);
  strmap_free(&t->merges);
  free(t->special);
  free(t->prio);
  strmap_free(&t->trie);
  free(t->node_tok);
  tok_pre_free(t->pre);
  free(t);
}

// ---- queries

int32_t tokenizer_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const tokenizer *t) { return t->eos; }
bool tokenizer_add_bos(const tokenizer *t) { return t->add_bos && t->bos >= 0; }

bool tokenizer_is_eog(const tokenizer *t, int32_t id) {
  return id >= 0 && id < t->n_vocab && (t->attr[id] & TA_EOG);
}

bool tokenizer_is_control(const tokenizer *t, int32_t id) {
  return id >= 0 && id < t->n_vocab && (t->attr[id] & TA_CONTROL);
}

const char *tokenizer_token_text(const tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_vocab) return NULL;
  return t->pool + t->text_off[id];
}

int32_t tokenizer_find(const tokenizer *t, const char *text) {
  return text ? strmap_get(&t->vocab, text, strlen(text)) : -1;
}
