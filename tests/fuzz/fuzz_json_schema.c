// libFuzzer target: the JSON schema compiler and matcher (engine/json_schema).
// Input up to the first NUL is a schema (any value when it does not parse as
// JSON); what follows is output text, fed in pieces of 1 to 5 bytes, a
// rejected piece then byte by byte, skipping the byte that fails. Checks: no
// crash, leak or sanitizer report, and the contract: a failed compile comes
// with a one-line message; a mask allows exactly the tokens that feed (and
// the same with the string fast path off); an incomplete state always allows
// some byte (no dead ends); a rejected feed changes nothing.
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json_schema.h"
#include "engine/json_schema_internal.h"

static const char *const multi[] = {"{\"", "\":", "\",\"", "true", "null", "\\u00", "\\ud83d\\ude00", "\xc3\xa9",
                                    "\xf0\x9f", "\"}", "12", "-0.5", "e+1", "  ", ",\n  ", "\"name\"", "\"a\"", "[]"};
#define N_MULTI (int)(sizeof multi / sizeof multi[0])
#define N_VOCAB (256 + N_MULTI + 1)

static const char *pieces[N_VOCAB];
static size_t lens[N_VOCAB];
static char bytes[256];
static jsm_vocab *vocab;

static void vocab_init(void) {
  if (vocab) return;
  for (int i = 0; i < 256; i++) bytes[i] = (char)i, pieces[i] = &bytes[i], lens[i] = 1;
  for (int i = 0; i < N_MULTI; i++) pieces[256 + i] = multi[i], lens[256 + i] = strlen(multi[i]);
  pieces[N_VOCAB - 1] = "";
  lens[N_VOCAB - 1] = 0;
  vocab = jsm_vocab_new(pieces, lens, N_VOCAB);  // kept for the process
  if (!vocab) abort();
}

static void check_mask(const jsm_state *st, jsm_state *tmp) {
  float a[N_VOCAB] = {0}, b[N_VOCAB] = {0};
  jsm_mask(st, vocab, a);
  jsm_mask_walk_all(st, vocab, b);
  int allowed = 0;
  for (int t = 0; t < N_VOCAB; t++) {
    if (!jsm_state_copy(tmp, st)) abort();
    bool ok = lens[t] > 0 && jsm_feed(tmp, pieces[t], lens[t]);
    if (ok != !isinf(a[t]) || ok != !isinf(b[t])) {
      fprintf(stderr, "token %d ('%.*s'): feeds %d, mask %d, full walk %d\n", t, (int)lens[t], pieces[t], ok,
              !isinf(a[t]), !isinf(b[t]));
      abort();
    }
    allowed += ok;
  }
  if (!allowed && !jsm_complete(st)) {
    fprintf(stderr, "dead end: no token can follow, and the document is not complete\n");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vocab_init();
  const char *src = (const char *)data;
  const uint8_t *nul = memchr(data, 0, size);
  size_t slen = nul ? (size_t)(nul - data) : size;
  json_t *schema = json_loadb(src, slen, JSON_DECODE_ANY, NULL);
  const char *text = schema ? src + slen + (nul ? 1 : 0) : src;
  size_t tlen = schema ? size - slen - (nul ? 1 : 0) : size;
  char err[256] = "";
  jsm_schema *s = jsm_compile(schema, err, sizeof err);
  json_decref(schema);
  if (!s) {
    if (!err[0] || strchr(err, '\n')) abort();
    return 0;
  }
  jsm_state *st = jsm_state_new(s), *before = jsm_state_new(s), *tmp = jsm_state_new(s);
  if (!st || !before || !tmp) abort();
  check_mask(st, tmp);
  for (size_t i = 0, step = 0; i < tlen; step++) {
    size_t k = 1 + (i * 7 + step) % 5;
    if (k > tlen - i) k = tlen - i;
    jsm_state_copy(before, st);
    if (jsm_feed(st, text + i, k)) {
      i += k;
    } else {
      bool was = jsm_complete(before);
      if (jsm_complete(st) != was) abort();
      size_t j = 0;
      while (j < k && jsm_feed(st, text + i + j, 1)) j++;
      if (j == k) abort();  // the bytes one by one went where the piece could not
      i += j + 1;
    }
    if (!(step & (step + 1))) check_mask(st, tmp);  // steps 0, 1, 3, 7, ...: masks cost a feed per token
  }
  check_mask(st, tmp);
  jsm_state_free(st);
  jsm_state_free(before);
  jsm_state_free(tmp);
  jsm_schema_free(s);
  return 0;
}
