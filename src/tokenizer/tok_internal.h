// tok_internal: the tokenizer's private structures, shared by the files of
// src/tokenizer/ only (the contract for everyone else is tokenizer.h).
//   vocab.c      token table, hash maps, special ids, end-of-generation set
//   tok_gguf.c   building from GGUF metadata
//   hf_load.c    building from tokenizer.json / encoder.json + vocab.bpe
//   special.c    splitting text around special-token texts
//   spm.c bpe.c wordpiece.c   the three algorithms; merge_heap.c their queue
//   bpe_pre.c    pre-tokenizer regexes (PCRE2) and the byte-level alphabet
//   encode.c decode.c         the public encode / decode entry points
//   tok_utf8.c   UTF-8 decoding exactly as the reference treats bad bytes
//   json_scan.c  fast in-place JSON scanning for tokenizer.json
#ifndef LLMUX_TOK_INTERNAL_H
#define LLMUX_TOK_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

enum tok_kind { TOK_SPM = 1, TOK_BPE = 2, TOK_WPM = 3 };

// Token attributes (a bit set, as llama.cpp's llama_token_attr).
enum {
  TA_UNKNOWN = 1 << 0,
  TA_UNUSED = 1 << 1,
  TA_NORMAL = 1 << 2,
  TA_CONTROL = 1 << 3,
  TA_USER_DEFINED = 1 << 4,
  TA_BYTE = 1 << 5,
  TA_LSTRIP = 1 << 6,  // parsing a special token eats whitespace on its left
  TA_RSTRIP = 1 << 7,  // ... and on its right
  TA_EOG = 1 << 8,     // ends generation
};

// ---- string -> int32 hash map (open addressing, keys copied into a pool)
typedef struct {
  uint32_t hash;      // high half of the key's hash (the low half picks the slot)
  uint32_t off, len;  // key bytes in pool; len == 0: empty slot (empty keys are not stored)
  int32_t val;
} strmap_slot;

typedef struct {
  strmap_slot *slots;
  uint32_t mask, count;
  char *pool;
  size_t pool_len, pool_cap;
} strmap;

bool strmap_init(strmap *m, uint32_t expected);
void strmap_free(strmap *m);
// Inserts the key a, or a + sep byte + b when sep >= 0; an existing key keeps
// its value unless `overwrite`. False on allocation failure.
bool strmap_put2(strmap *m, const char *a, size_t an, int sep, const char *b, size_t bn, int32_t val,
                 bool overwrite);
static inline bool strmap_put(strmap *m, const char *key, size_t len, int32_t val) {
  return strmap_put2(m, key, len, -1, NULL, 0, val, true);
}
// The same with the key's hash computed beforehand (strmap_hash2), so that
// bulk loads can prefetch slots (strmap_prefetch) a few keys ahead.
uint32_t strmap_hash2(const char *a, size_t an, int sep, const char *b, size_t bn);
void strmap_prefetch(const strmap *m, uint32_t h);
bool strmap_put2_h(strmap *m, uint32_t h, const char *a, size_t an, int sep, const char *b,
                   size_t bn, int32_t val, bool overwrite);
// Value, or -1. Key given in two parts (b may be NULL) joined by `sep` when
// sep >= 0: lets BPE look up "left\xffright" without building the string.
int32_t strmap_get2(const strmap *m, const char *a, size_t alen, int sep, const char *b, size_t blen);
static inline int32_t strmap_get(const strmap *m, const char *k, size_t n) {
  return strmap_get2(m, k, n, -1, NULL, 0);
}
uint64_t tok_hash(const char *s, size_t n, uint64_t h);

// ---- growable int32 vector (encode output and scratch)
typedef struct {
  int32_t *v;
  size_t n, cap;
  bool oom;  // an allocation failed; the vector is unusable
} ivec;

void ivec_push(ivec *a, int32_t x);

// ---- merge candidates (spm.c and bpe.c): a binary max-heap by score, then
// leftmost. BPE uses score = -rank (exact in a float for ranks below 2^24).
typedef struct {
  float score;
  int left, right;  // symbol indices
  uint32_t size;    // bytes of the merged text, to detect stale candidates
} tok_bigram;

typedef struct {
  tok_bigram *v;
  size_t n, cap;
} tok_heap;

bool tok_heap_push(tok_heap *h, tok_bigram x);
tok_bigram tok_heap_pop(tok_heap *h);  // h->n must be > 0

// ---- pre-tokenizer
typedef struct tok_pre tok_pre;
// Regex list for a tokenizer.ggml.pre name; NULL (error set) if unknown.
tok_pre *tok_pre_from_name(const char *name);
// From explicit patterns (tokenizer.json Split regexes).
tok_pre *tok_pre_from_patterns(const char *const *patterns, int n);
void tok_pre_free(tok_pre *p);
// Bool options a pre-tokenizer name implies (llama.cpp's per-name settings).
void tok_pre_name_options(const char *name, bool *ignore_merges, bool *add_bos);

// Splits valid UTF-8 text into words: calls fn(word, len, ud) for each in
// order. Returns false on a regex engine failure (error set).
typedef bool (*tok_word_fn)(const char *w, size_t n, void *ud);
bool tok_pre_split(const tok_pre *p, const char *text, size_t len, tok_word_fn fn, void *ud);

// Byte-level alphabet of GPT-2 BPE: byte -> UTF-8 of its stand-in code point.
// tok_bytes_to_unicode returns the number of bytes written to out (<= 2).
int tok_byte_to_unicode(uint8_t b, char out[2]);
// Code point -> byte, or -1 if cp is not in the alphabet.
int tok_unicode_to_byte(uint32_t cp);

// ---- UTF-8 (tok_utf8.c)
// Length of the sequence starting with byte c, from its top four bits
// (1,1,...,2,2,3,4): the reference's rule, which ignores continuation checks.
int tok_utf8_len(uint8_t c);
// Decodes one code point at s[*i] (n bytes in all) with the reference's rules;
// returns -1 for an invalid sequence and advances *i by one byte then.
int32_t tok_utf8_next(const char *s, size_t n, size_t *i);
int tok_utf8_put(uint32_t cp, char *out);  // 1..4 bytes
// Re-encodes `s` code point by code point as the reference does: invalid
// sequences become U+FFFD, overlong forms their shortest form, surrogates stay
// (ED A0..BF xx; *had_surrogate tells). Returns malloc'd NUL-terminated text,
// its length in *out_len; NULL on OOM.
char *tok_utf8_sanitize(const char *s, size_t n, size_t *out_len, bool *had_surrogate);
// Overwrites each surrogate's 3 bytes with U+FFFD's 3 (same length, same
// regex classes), making the text valid for PCRE2.
void tok_utf8_mask_surrogates(char *s, size_t n);

// ---- JSON scanning in place (json_scan.c), for tokenizer.json's big members
typedef struct {
  char *p, *end;  // the caller's buffer, which string unescaping rewrites
} jscan;

void js_ws(jscan *s);
bool js_expect(jscan *s, char c);             // skips white space, then c
bool js_string(jscan *s, const char **str, size_t *len);  // unescaped in place
bool js_int(jscan *s, int64_t *v);
bool js_lit(jscan *s, const char *word);      // true / false / null
bool js_skip(jscan *s, int depth);            // any value
// Inside an object or array after its opening bracket: 1 when another member
// follows (the comma consumed), 0 at the closing bracket (consumed), -1 on error.
int js_next(jscan *s, bool *first, char close);

// ---- the tokenizer
typedef struct {
  int32_t tok;    // -1: raw text
  size_t off, len;
} tok_frag;

struct tokenizer {
  int kind;
  int32_t n_vocab;
  char *pool;  // token texts, each NUL-terminated; byte 0 is "" for unset ids
  size_t pool_len, pool_cap;
  uint32_t *text_off, *text_len;
  float *scores;   // SPM only; NULL otherwise
  uint16_t *attr;  // TA_* per token
  strmap vocab;    // text -> id (the last of duplicates wins, as in the reference)
  strmap merges;   // "left\xffright" -> rank (BPE)
  int max_token_len;

  int32_t bos, eos, eot, eom, unk, sep, pad;
  bool add_bos, add_eos, add_sep, add_space_prefix, ignore_merges, nfc;

  // Special tokens (control, user-defined, unknown) by parsing priority:
  // longest text first, then lowest id. prio[id] is the rank or -1.
  int32_t *special;
  int n_special;
  int32_t *prio;
  // Byte trie over their texts for a one-pass scan: the edge from node n on
  // byte c is trie[(n, c)] (a 5-byte key), node_tok[n] = token ending there or -1.
  strmap trie;
  int32_t *node_tok;
  int n_nodes;

  int32_t byte_tok[256];  // SPM: id of <0xNN>; BPE: id of the byte's stand-in char; -1
  tok_pre *pre;           // BPE
};

// vocab.c: building blocks used by the loaders.
tokenizer *tok_alloc(int kind, int32_t n_vocab);
// Sets token `id`'s text and attribute (copies the text).
bool tok_set_token(tokenizer *t, int32_t id, const char *s, size_t n, uint16_t attr);
// After all tokens are set: indexes, byte tokens, special list, EOG set.
// `model_name` (general.name) selects the reference's per-model attribute fixes.
bool tok_finalize(tokenizer *t, const char *model_name);
// The merges, rank = index, inserted in bulk: get(ud, i, ...) yields merge i's
// two sides, or false with the error set.
typedef bool (*tok_merge_fn)(void *ud, int32_t i, const char **a, size_t *an, const char **b,
                             size_t *bn);
bool tok_add_merges(tokenizer *t, tok_merge_fn get, void *ud, int32_t n);
static inline const char *tok_text(const tokenizer *t, int32_t id, uint32_t *n) {
  *n = t->text_len[id];
  return t->pool + t->text_off[id];
}

// special.c: splits text into raw and token fragments, in order.
bool tok_partition(const tokenizer *t, const char *text, size_t len, bool parse_special,
                   tok_frag **out, size_t *n_out);

// The algorithms: each appends the ids for one raw fragment to `out`.
// SPM escapes ' ' as U+2581 and, with prefix_space, starts with one.
bool tok_spm_encode(const tokenizer *t, const char *text, size_t len, bool prefix_space, ivec *out);
bool tok_bpe_encode(const tokenizer *t, const char *text, size_t len, ivec *out);
bool tok_wpm_encode(const tokenizer *t, const char *text, size_t len, ivec *out);

#endif
