// Shared by the tokenizer tests: reads the reference's vector files
// (models/vocab/ggml-vocab-NAME.gguf.inp / .out) and checks a tokenizer
// against them, including the decode round trip where it is lossless.
#ifndef LLMUX_TEST_TOKENIZER_VECTORS_H
#define LLMUX_TEST_TOKENIZER_VECTORS_H
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tokenizer/tokenizer.h"

#define SEP "\n__ggml_vocab_test__\n"

typedef struct {
  char *buf;      // the .inp file, cut in place
  char **text;    // test strings
  size_t *len;
  char *out_buf;  // the .out file
  char **ids;     // lines of ids
  int n;
} vectors;

static bool vectors_load(vectors *v, const char *name) {
  char path[256];
  size_t n;
  memset(v, 0, sizeof *v);
  snprintf(path, sizeof path, "models/vocab/ggml-vocab-%s.gguf.inp", name);
  v->buf = tu_read_file(tu_shared(path), &n);
  snprintf(path, sizeof path, "models/vocab/ggml-vocab-%s.gguf.out", name);
  v->out_buf = tu_read_file(tu_shared(path), NULL);
  int cap = 64;
  v->text = malloc(cap * sizeof *v->text);
  v->len = malloc(cap * sizeof *v->len);
  v->ids = malloc(cap * sizeof *v->ids);
  char *p = v->buf, *end = v->buf + n;
  while (p < end) {
    char *q = strstr(p, SEP);
    if (!q) break;
    if (v->n == cap) return false;
    v->text[v->n] = p;
    v->len[v->n] = (size_t)(q - p);
    *q = 0;
    v->n++;
    p = q + strlen(SEP);
  }
  char *line = v->out_buf;
  for (int i = 0; i < v->n; i++) {
    v->ids[i] = line;
    char *nl = line ? strchr(line, '\n') : NULL;
    if (nl) *nl = 0;
    line = nl ? nl + 1 : NULL;
  }
  return v->n > 0 && line;
}

static void vectors_free(vectors *v) {
  free(v->buf);
  free(v->out_buf);
  free(v->text);
  free(v->len);
  free(v->ids);
}

static int parse_ids(const char *line, int32_t *out, int max) {
  int n = 0;
  char *e;
  for (const char *p = line; *p && n < max;) {
    long x = strtol(p, &e, 10);
    if (e == p) break;
    out[n++] = (int32_t)x;
    p = e;
  }
  return n;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
  fprintf(stderr, "    %s:", what);
  for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
  fputc('\n', stderr);
}

// Checks one tokenizer against one vector file; returns the count passed.
static int check_vectors(const tokenizer *t, const char *vname, const char *label, bool lossless) {
  vectors v;
  if (!vectors_load(&v, vname)) {
    CHECK_MSG(0, "cannot parse vectors %s", vname);
    vectors_free(&v);
    return 0;
  }
  int pass = 0, rt_fail = 0;
  int32_t want[4096], got[4096];
  static char dec[65536];
  for (int i = 0; i < v.n; i++) {
    int nw = parse_ids(v.ids[i], want, 4096);
    int ng = tokenizer_encode(t, v.text[i], v.len[i], false, false, got, 4096);
    bool ok = ng == nw && !memcmp(want, got, (size_t)nw * sizeof *got);
    if (ok) pass++;
    else {
      fprintf(stderr, "  %s #%d \"%s\"\n", label, i, v.text[i]);
      print_ids("want", want, nw);
      print_ids("got ", got, ng > 0 ? ng : 0);
    }
    if (lossless && ng >= 0) {
      int nd = tokenizer_decode(t, got, ng, dec, sizeof dec, false);
      if (nd != (int)v.len[i] || memcmp(dec, v.text[i], v.len[i])) {
        rt_fail++;
        fprintf(stderr, "  %s #%d round trip: \"%s\" -> \"%.*s\"\n", label, i, v.text[i],
                nd > 0 ? nd : 0, dec);
      }
    }
  }
  printf("%-40s %d/%d vectors%s\n", label, pass, v.n, lossless ? (rt_fail ? ", round trip FAILED" : ", round trip ok") : "");
  CHECK_MSG(pass == v.n, "%s: %d of %d vectors differ", label, v.n - pass, v.n);
  CHECK_MSG(rt_fail == 0, "%s: %d round trips differ", label, rt_fail);
  vectors_free(&v);
  return pass;
}

#endif
