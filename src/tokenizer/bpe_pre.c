// bpe_pre: the pre-tokenizer of byte-level BPE vocabularies. A list of regexes
// is applied in turn; each one splits every piece from the previous step into
// its matches and the gaps between them (Hugging Face's Split "isolated"),
// matching inside one piece only, so look-aheads never see past its end.
// The patterns per tokenizer.ggml.pre name are those of the models' own
// tokenizer.json files, as the reference selects them. PCRE2 (UTF, UCP, JIT)
// runs them; \s then means Unicode white space, as in the reference.
//
// Also here: GPT-2's byte-level alphabet, which stands each byte in for a
// printable code point so that BPE works on text.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

#define MAX_PATTERNS 8

struct tok_pre {
  pcre2_code *re[MAX_PATTERNS];
  int n;
};

// ---- patterns

#define P_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define P_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define P_LLAMA3                                                                         \
  P_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                 "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_QWEN2                                                                      \
  P_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                 "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define P_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define P_GPT4O                                                                               \
  "[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "*" P_LOWER "+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"               \
  "|[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "+" P_LOWER "*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"              \
  "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_TEKKEN                                                                        \
  "[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "*" P_LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" P_UPPER "+" P_LOWER \
  "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
// DeepSeek LLM's letter class: cased letters of many scripts, written out.
#define P_DEEPSEEK_LETTERS                                                                   \
  "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-"    \
  "\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}"       \
  "\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"      \
  "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-"       \
  "\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"    \
  "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-"   \
  "\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-"     \
  "\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-"    \
  "\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"    \
  "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"      \
  "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-"    \
  "\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-"     \
  "\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"     \
  "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-"   \
  "\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-"         \
  "\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-"     \
  "\\x{118DF}\\x{1E900}-\\x{1E943}"
#define P_DEEPSEEK_PUNCT "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"
#define P_CJK_HANGUL "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

typedef struct {
  const char *names;  // space-separated tokenizer.ggml.pre values
  const char *patterns[MAX_PATTERNS];
  bool ignore_merges, add_bos;
} pre_def;

static const pre_def k_pres[] = {
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2", {P_LLAMA3}, true, true},
    {"dbrx smaug-bpe chatglm-bpe glm4", {P_LLAMA3}, false, false},
    {"qwen2 deepseek-r1-qwen megrez stablelm2", {P_QWEN2}, false, false},
    {"gpt-2 phi-2 jina-es jina-de gigachat jina-v1-en jina-v2-es jina-v2-de jina-v2-code "
     "roberta-bpe mpt olmo jais",
     {P_GPT2}, false, false},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b", {"\\p{N}", P_GPT2}, false, false},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", P_GPT2, "[0-9][0-9][0-9]"}, false, false},
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", P_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
    {"deepseek-llm",
     {"[\\r\\n]", "\\s?[" P_DEEPSEEK_LETTERS "]+", P_DEEPSEEK_PUNCT, "\\s+$", P_CJK_HANGUL, "\\p{N}+"},
     false, false},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", P_CJK_HANGUL, "\\p{N}"}, false, false},
    {"deepseek-v3 hunyuan-dense",
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
      "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     false, false},
    {"gpt-4o llama4", {P_GPT4O}, false, false},
    {"tekken", {P_TEKKEN}, true, true},
};

static const pre_def *find_def(const char *name) {
  if (!name || !*name) name = "default";
  size_t n = strlen(name);
  for (size_t i = 0; i < sizeof k_pres / sizeof k_pres[0]; i++) {
    for (const char *p = k_pres[i].names; (p = strstr(p, name)); p += n) {
      bool start = p == k_pres[i].names || p[-1] == ' ';
      if (start && (p[n] == ' ' || p[n] == 0)) return &k_pres[i];
    }
  }
  return NULL;
}

void tok_pre_name_options(const char *name, bool *ignore_merges, bool *add_bos) {
  const pre_def *d = find_def(name);
  *ignore_merges = d && d->ignore_merges;
  *add_bos = d && d->add_bos;
}

void tok_pre_free(tok_pre *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
  free(p);
}

tok_pre *tok_pre_from_patterns(const char *const *patterns, int n) {
  if (n > MAX_PATTERNS) {
    err_set("tokenizer: %d pre-tokenizer patterns, at most %d supported", n, MAX_PATTERNS);
    return NULL;
  }
  tok_pre *p = calloc(1, sizeof *p);
  if (!p) {
    err_set("tokenizer: out of memory");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    int code;
    PCRE2_SIZE at;
    p->re[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                             &code, &at, NULL);
    if (!p->re[i]) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(code, msg, sizeof msg);
      err_set("tokenizer: pre-tokenizer regex %d: %s at offset %zu", i, (char *)msg, (size_t)at);
      tok_pre_free(p);
      return NULL;
    }
    p->n = i + 1;
    pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE);  // without JIT it still works, slower
  }
  return p;
}

tok_pre *tok_pre_from_name(const char *name) {
  const pre_def *d = find_def(name);
  if (!d) {
    err_set("tokenizer: unknown pre-tokenizer type '%s'", name);
    return NULL;
  }
  int n = 0;
  while (n < MAX_PATTERNS && d->patterns[n]) n++;
  return tok_pre_from_patterns(d->patterns, n);
}

// ---- splitting

typedef struct {
  size_t off, len;
} span;

typedef struct {
  span *v;
  size_t n, cap;
} spanvec;

static bool span_push(spanvec *s, size_t off, size_t len) {
  if (len == 0) return true;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    span *v = realloc(s->v, cap * sizeof *v);
    if (!v) return false;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = (span){off, len};
  return true;
}

// Splits text[sp] by re into matches and gaps, appended to out.
static int split_one(const pcre2_code *re, pcre2_match_data *md, pcre2_match_context *mc,
                     const char *text, span sp, spanvec *out) {
  PCRE2_SPTR subj = (PCRE2_SPTR)(text + sp.off);
  size_t pos = 0, last = 0;
  while (pos < sp.len) {
    int rc = pcre2_match(re, subj, sp.len, pos, PCRE2_NO_UTF_CHECK, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) return rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    if (e == s) {  // an empty match splits nothing: step over one character
      pos = s + (size_t)tok_utf8_len(subj[s]);
      continue;
    }
    if (!span_push(out, sp.off + last, s - last) || !span_push(out, sp.off + s, e - s))
      return PCRE2_ERROR_NOMEMORY;
    pos = last = e;
  }
  if (!span_push(out, sp.off + last, sp.len - last)) return PCRE2_ERROR_NOMEMORY;
  return 0;
}

bool tok_pre_split(const tok_pre *p, const char *text, size_t len, tok_word_fn fn, void *ud) {
  spanvec a = {0}, b = {0};
  pcre2_match_data *md = NULL;
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  pcre2_jit_stack *js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
  bool ok = false;
  int rc = 0;
  if (!mc || !js || !span_push(&a, 0, len)) goto done;
  pcre2_jit_stack_assign(mc, NULL, js);
  for (int i = 0; i < p->n; i++) {
    pcre2_match_data_free(md);
    md = pcre2_match_data_create_from_pattern(p->re[i], NULL);
    if (!md) goto done;
    b.n = 0;
    for (size_t k = 0; k < a.n; k++)
      if ((rc = split_one(p->re[i], md, mc, text, a.v[k], &b)) < 0) goto done;
    spanvec t = a;
    a = b;
    b = t;
  }
  for (size_t k = 0; k < a.n; k++)
    if (!fn(text + a.v[k].off, a.v[k].len, ud)) goto done_quiet;  // fn set the error
  ok = true;
done:
  if (!ok && rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    err_set("tokenizer: pre-tokenizer regex failed: %s", (char *)msg);
  } else if (!ok) {
    err_set("tokenizer: out of memory");
  }
done_quiet:
  pcre2_match_data_free(md);
  pcre2_match_context_free(mc);
  pcre2_jit_stack_free(js);
  free(a.v);
  free(b.v);
  return ok;
}

// ---- byte-level alphabet
// Printable bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for
// themselves; the other 68 take U+0100.. in byte order.

static int byte_to_cp(uint8_t b) {
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
  if (b <= 32) return 256 + b;
  if (b <= 160) return 256 + 33 + (b - 127);
  return 256 + 67;  // 173
}

int tok_byte_to_unicode(uint8_t b, char out[2]) {
  return tok_utf8_put((uint32_t)byte_to_cp(b), out);
}

int tok_unicode_to_byte(uint32_t cp) {
  if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
  if (cp < 256 || cp >= 256 + 68) return -1;
  uint32_t n = cp - 256;
  if (n < 33) return (int)n;
  if (n < 67) return (int)(127 + n - 33);
  return 173;
}
