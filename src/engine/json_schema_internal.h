// json_schema_internal: what the json_schema*.c files share (compiler,
// matcher, masking): the compiled node graph, byte tries, matcher frames and
// configuration sets. Nothing outside src/engine/json_schema*.c, its unit
// test and its fuzz target includes this.
//
// A compiled schema is a graph of nodes. A node is concrete (object, array,
// string, number, integer, literal set) or an anyOf of concrete nodes;
// $ref and allOf become one-entry anyOfs and are flattened away. A matcher
// configuration is a stack of frames, one per open value, under a root
// frame; a state is a small set of configurations, because anyOf and type
// lists leave several readings of the same bytes alive until a byte decides.
#ifndef LLMUX_JSON_SCHEMA_INTERNAL_H
#define LLMUX_JSON_SCHEMA_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "engine/json_schema.h"

#define JSM_MAX_FRAMES (JSM_MAX_DEPTH + 1)  // values + the root frame
#define JSM_MAX_CONFIGS 256                 // live configurations; more are dropped (see DESIGN.md)
#define JSM_INF (1 << 20)                   // mindepth of a node no finite document satisfies
#define JSM_MAX_INT_DIGITS 15
#define JSM_MAX_FRAC_DIGITS 16
#define JSM_MAX_EXP_DIGITS 2

enum { N_ANYOF, N_OBJECT, N_ARRAY, N_STRING, N_NUMBER, N_INTEGER, N_LITERAL };

typedef struct {
  int32_t kind;
  int32_t mindepth;  // frames the shortest instance needs (1 for a scalar), JSM_INF if none fits
  int32_t first, n;  // ANYOF: alternatives (ints); OBJECT: properties (props); ARRAY: prefixItems (ints)
  int32_t trie;      // LITERAL: its values; OBJECT: quoted property names (-1: none);
                     // STRING: names an extra key must not equal (-1: none)
  int32_t child;     // OBJECT: additionalProperties node (-1: no extra keys); ARRAY: items (-1: none)
  int32_t lo, hi;    // ARRAY: min/maxItems; STRING: min/maxLength (hi -1: unbounded)
  int32_t aux;       // OBJECT: ints offset of req_next[0..n] (first required index >= i, or n)
  int32_t key;       // OBJECT: the STRING node extra keys are read with (-1: none)
} jsm_node;

typedef struct {
  int32_t node;
  int32_t required;
} jsm_prop;

// Byte trie node: edges (sorted by byte) at te_byte/te_child[edges ..
// edges+n_edges); id of the string ending here or -1; for key tries the
// sorted ids of all strings in the subtree in sub[sub .. sub+n_sub).
typedef struct {
  int32_t edges, n_edges, id, sub, n_sub;
} jsm_tnode;

struct jsm_schema {
  jsm_node *nodes;
  int32_t n_nodes, cap_nodes;
  int32_t *ints;
  int32_t n_ints, cap_ints;
  jsm_prop *props;
  int32_t n_props, cap_props;
  jsm_tnode *tn;
  int32_t n_tn, cap_tn;
  uint8_t *te_byte;
  int32_t *te_child;
  int32_t n_te, cap_te_byte, cap_te_child;
  int32_t *sub;
  int32_t n_sub, cap_sub;
  int32_t root;
};

// One open value. No padding: configurations are compared with memcmp.
typedef struct {
  int32_t node;   // schema node, -1 for the root frame
  uint8_t phase;  // per kind, see json_schema_match.c
  uint8_t n;      // whitespace run, or UTF-8 bytes / hex digits still due
  uint16_t x;     // \u value being read, or the range of the next UTF-8 byte
  int32_t a, b, c;
} jsm_frame;

typedef struct {
  int32_t n, nf;        // configurations, frames in use
  int32_t cap_n, cap_f;
  int32_t *off;         // (n) first frame of each configuration
  int32_t *len;         // (n) its frame count
  uint64_t *hash;       // (n)
  jsm_frame *fr;        // (nf)
} jsm_cfgset;

// Matcher (json_schema_match.c).
void jsm_cfgset_free(jsm_cfgset *c);
bool jsm_cfgset_copy(jsm_cfgset *dst, const jsm_cfgset *src);
// A fresh document whose value is `node`. False when out of memory.
bool jsm_cfgset_start(jsm_cfgset *c, int32_t node);
// out = every configuration `in` reaches by consuming byte c.
void jsm_cfgset_step(const jsm_schema *s, const jsm_cfgset *in, uint8_t c, jsm_cfgset *out);
bool jsm_cfgset_complete(const jsm_schema *s, const jsm_cfgset *c);
// Splits `in` into the configurations inside a string between characters
// (str) and the others; returns the most characters any of the former may
// still take (INT32_MAX: unbounded), -1 if there are none.
int32_t jsm_cfgset_split(const jsm_schema *s, const jsm_cfgset *in, jsm_cfgset *str, jsm_cfgset *other);
const jsm_cfgset *jsm_state_cfgs(const jsm_state *st);
const jsm_schema *jsm_state_schema(const jsm_state *st);

// The values of one LITERAL node while compiling (serialized, malloc'd), and
// the node they must also satisfy (-1: none).
typedef struct {
  int32_t node, base;
  char **vals;
  size_t *lens;
  int32_t n;
} jsm_litset;

// Graph and tries (json_schema.c).
bool jsm_grow(void *pp, int32_t *cap, int64_t need, size_t elem);  // *pp: a pointer to an array of cap elems
int32_t jsm_trie_next(const jsm_schema *s, int32_t node, uint8_t c);  // -1: no edge
// A trie of k strings; string i gets id i (duplicates keep the lowest). With
// with_sub every node lists the ids below it. Returns its root, -1 when out of memory.
int32_t jsm_trie_build(jsm_schema *s, const char *const *str, const size_t *len, int32_t k, bool with_sub);
// Compact JSON text (malloc'd, NUL-terminated): a string with quotes,
// backslashes and control characters escaped and the rest raw; any value
// with no spaces, object keys in their order, reals in their shortest exact
// form. NULL when out of memory or (serialize) nested over 128 deep.
char *jsm_quote(const char *s, size_t n, size_t *len);
char *jsm_serialize(const json_t *v, size_t *len, bool *too_deep);
// After the keyword pass: literal tries, anyOf flattening, mindepth, literal
// filtering; checks the root can be satisfied. False with a message in err.
bool jsm_link(jsm_schema *s, jsm_litset *lits, int32_t n_lits, char *err, size_t err_size);

// UTF-8 lead byte: continuation bytes due and the range of the first one
// (lo | hi << 8); false if c cannot start a character.
static inline bool jsm_utf8_lead(uint8_t c, uint8_t *need, uint16_t *range) {
  if (c >= 0xC2 && c <= 0xDF) *need = 1, *range = 0x80 | 0xBF << 8;
  else if (c == 0xE0) *need = 2, *range = 0xA0 | 0xBF << 8;
  else if (c == 0xED) *need = 2, *range = 0x80 | 0x9F << 8;
  else if (c >= 0xE1 && c <= 0xEF) *need = 2, *range = 0x80 | 0xBF << 8;
  else if (c == 0xF0) *need = 3, *range = 0x90 | 0xBF << 8;
  else if (c >= 0xF1 && c <= 0xF3) *need = 3, *range = 0x80 | 0xBF << 8;
  else if (c == 0xF4) *need = 3, *range = 0x80 | 0x8F << 8;
  else return false;
  return true;
}

static inline int jsm_hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// Reference mask, always walking the whole trie (tests compare it with jsm_mask).
void jsm_mask_walk_all(const jsm_state *st, const jsm_vocab *v, float *logits);

#endif
