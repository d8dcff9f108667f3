// tmpl_lex: source -> tokens. Text between tags becomes TK_TEXT with the
// whitespace control already applied, the way Hugging Face configures Jinja
// for chat templates:
//   {%- / {{- / {#-   strip all whitespace before the tag
//   -%} / -}} / -#}   strip all whitespace after it
//   trim_blocks       the first newline after %} or #} is dropped
//   lstrip_blocks     spaces and tabs between a line start and {% or {# are
//                     dropped ({%+ turns that off for one tag)
// and one trailing newline of the template is dropped (keep_trailing_newline
// is off). Inside tags we emit names, numbers, strings and operators; the
// closing }} or %} only counts outside brackets, so `{{ {"a": {}} }}` works.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/tmpl_internal.h"

typedef struct {
  const char *src;
  size_t len;
  tk *v;
  size_t n, cap;
} lexer;

void tmpl_linecol(const char *src, size_t len, size_t off, int *line, int *col) {
  int l = 1, c = 1;
  for (size_t i = 0; i < off && i < len; i++) {
    if (src[i] == '\n') l++, c = 1;
    else if (((unsigned char)src[i] & 0xC0) != 0x80) c++;  // columns count characters
  }
  *line = l;
  *col = c;
}

static tk *lex_fail(lexer *lx, size_t off, const char *what) {
  int line, col;
  tmpl_linecol(lx->src, lx->len, off, &line, &col);
  err_set("chat template: %d:%d: %s", line, col, what);
  free(lx->v);
  lx->v = NULL;
  return NULL;
}

static int lex_push(lexer *lx, uint8_t kind, uint8_t op, size_t off, const char *p, size_t n) {
  if (lx->n == lx->cap) {
    size_t cap = lx->cap ? lx->cap * 2 : 256;
    tk *v = realloc(lx->v, cap * sizeof *v);
    if (!v) return -1;
    lx->v = v;
    lx->cap = cap;
  }
  lx->v[lx->n++] = (tk){.kind = kind, .op = op, .off = (uint32_t)off, .p = p, .n = n};
  return 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Next "{{", "{%" or "{#" at or after pos; len if none.
static size_t lex_find_open(const char *s, size_t len, size_t pos) {
  while (pos + 1 < len) {
    const char *p = memchr(s + pos, '{', len - 1 - pos);
    if (!p) return len;
    pos = (size_t)(p - s);
    if (p[1] == '{' || p[1] == '%' || p[1] == '#') return pos;
    pos++;
  }
  return len;
}

// lstrip_blocks: drop spaces/tabs between the start of the line and the tag.
static size_t lex_lstrip_len(const char *src, size_t start, size_t n) {
  size_t l = n;
  while (l > 0 && (src[start + l - 1] == ' ' || src[start + l - 1] == '\t')) l--;
  bool at_line_start = l > 0 ? src[start + l - 1] == '\n' : (start == 0 || src[start - 1] == '\n');
  return at_line_start ? l : n;
}

static const struct {
  const char *s;
  uint8_t op;
} lex_ops[] = {
    {"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
    {"+", OP_ADD},       {"-", OP_SUB},  {"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD}, {"~", OP_TILDE},
    {"<", OP_LT},        {">", OP_GT},   {"=", OP_ASSIGN}, {"(", OP_LPAREN}, {")", OP_RPAREN},
    {"[", OP_LBRACK},    {"]", OP_RBRACK}, {"{", OP_LBRACE}, {"}", OP_RBRACE}, {",", OP_COMMA},
    {".", OP_DOT},       {":", OP_COLON}, {"|", OP_PIPE},
};

// A string literal from src[pos] (the quote) to its closing quote; escapes
// are decoded later by the parser. Returns the offset after it, 0 if open.
static size_t lex_string_end(const char *s, size_t len, size_t pos) {
  char q = s[pos];
  for (size_t i = pos + 1; i < len; i++) {
    if (s[i] == '\\') i++;
    else if (s[i] == q) return i + 1;
  }
  return 0;
}

static size_t lex_number_end(const char *s, size_t len, size_t i, bool *is_float) {
  *is_float = false;
  while (i < len && is_digit(s[i])) i++;
  if (i + 1 < len && s[i] == '.' && is_digit(s[i + 1])) {
    *is_float = true;
    i++;
    while (i < len && is_digit(s[i])) i++;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < len && (s[j] == '+' || s[j] == '-')) j++;
    if (j < len && is_digit(s[j])) {
      *is_float = true;
      i = j;
      while (i < len && is_digit(s[i])) i++;
    }
  }
  return i;
}

// The tag's closing delimiter at pos ("}}" or "%}", maybe after '-' or '+').
// Returns its length (0: not here) and whether it strips what follows.
static size_t lex_close_at(const char *s, size_t len, size_t pos, char kind, bool *strip, bool *plus) {
  *strip = *plus = false;
  size_t i = pos;
  if (i < len && (s[i] == '-' || (s[i] == '+' && kind == '%'))) {
    *strip = s[i] == '-';
    *plus = s[i] == '+';
    i++;
  }
  if (i + 1 < len && s[i] == kind && s[i + 1] == '}') return i + 2 - pos;
  *strip = *plus = false;
  return 0;
}

// Tokens inside {{ }} or {% %} (opened at `open`), from pos up to and including the closing
// delimiter. Returns the offset after the tag, 0 on error (already set).
static size_t lex_tag(lexer *lx, size_t open, size_t pos, char kind, bool *strip_after, bool *plus_after) {
  const char *s = lx->src;
  size_t len = lx->len;
  int depth = 0;
  for (;;) {
    while (pos < len && is_space(s[pos])) pos++;
    if (pos >= len) return lex_fail(lx, open, kind == '%' ? "unterminated {% tag" : "unterminated {{ tag"), 0;
    size_t cl = depth == 0 ? lex_close_at(s, len, pos, kind == '{' ? '}' : '%', strip_after, plus_after) : 0;
    if (cl) {
      if (lex_push(lx, kind == '%' ? TK_STMT_CLOSE : TK_EXPR_CLOSE, 0, pos, NULL, 0)) goto oom;
      return pos + cl;
    }
    char c = s[pos];
    size_t end;
    if (is_name_start(c)) {
      for (end = pos + 1; end < len && is_name_char(s[end]);) end++;
      if (lex_push(lx, TK_NAME, 0, pos, s + pos, end - pos)) goto oom;
    } else if (is_digit(c)) {
      bool fl;
      end = lex_number_end(s, len, pos, &fl);
      if (lex_push(lx, fl ? TK_FLOAT : TK_INT, 0, pos, s + pos, end - pos)) goto oom;
    } else if (c == '\'' || c == '"') {
      end = lex_string_end(s, len, pos);
      if (!end) return lex_fail(lx, pos, "unterminated string"), 0;
      if (lex_push(lx, TK_STRING, 0, pos, s + pos, end - pos)) goto oom;
    } else {
      size_t k = 0, nops = sizeof lex_ops / sizeof lex_ops[0];
      while (k < nops && strncmp(s + pos, lex_ops[k].s, strlen(lex_ops[k].s)) != 0) k++;
      if (k == nops) return lex_fail(lx, pos, "unexpected character in tag"), 0;
      uint8_t op = lex_ops[k].op;
      if (op == OP_LPAREN || op == OP_LBRACK || op == OP_LBRACE) depth++;
      if ((op == OP_RPAREN || op == OP_RBRACK || op == OP_RBRACE) && depth > 0) depth--;
      end = pos + strlen(lex_ops[k].s);
      if (lex_push(lx, TK_OP, op, pos, s + pos, end - pos)) goto oom;
    }
    pos = end;
  }
oom:
  return lex_fail(lx, pos, "out of memory"), 0;
}

// `{% raw %}` at pos (after "{%" and its sign)? Returns the offset after
// "%}" of the raw tag, or 0.
static size_t lex_raw_open(const char *s, size_t len, size_t pos, bool *strip) {
  while (pos < len && is_space(s[pos])) pos++;
  if (pos + 3 > len || memcmp(s + pos, "raw", 3) != 0 || (pos + 3 < len && is_name_char(s[pos + 3]))) return 0;
  pos += 3;
  while (pos < len && is_space(s[pos])) pos++;
  bool plus;
  size_t cl = lex_close_at(s, len, pos, '%', strip, &plus);
  return cl ? pos + cl : 0;
}

// The matching {% endraw %}: sets *body_end (where the text stops), returns
// the offset after its "%}", 0 if none.
static size_t lex_raw_close(const char *s, size_t len, size_t pos, size_t *body_end, bool *strip_before,
                            bool *strip_after) {
  for (size_t i = lex_find_open(s, len, pos); i < len; i = lex_find_open(s, len, i + 1)) {
    if (s[i + 1] != '%') continue;
    size_t j = i + 2;
    *strip_before = j < len && s[j] == '-';
    if (j < len && (s[j] == '-' || s[j] == '+')) j++;
    while (j < len && is_space(s[j])) j++;
    if (j + 6 > len || memcmp(s + j, "endraw", 6) != 0) continue;
    j += 6;
    while (j < len && is_space(s[j])) j++;
    bool plus;
    size_t cl = lex_close_at(s, len, j, '%', strip_after, &plus);
    if (!cl) continue;
    *body_end = i;
    return j + cl;
  }
  return 0;
}

static int lex_text(lexer *lx, size_t start, size_t n) {
  if (n == 0) return 0;
  return lex_push(lx, TK_TEXT, 0, start, lx->src + start, n);
}

// How the text after a tag is trimmed.
typedef struct {
  bool strip;    // '-': all whitespace
  bool trim_nl;  // trim_blocks: one newline
} lex_after;

// {# ... #}: skipped. Returns the offset after it, 0 on error.
static size_t lex_comment(lexer *lx, size_t open, size_t body, lex_after *after) {
  const char *e = body <= lx->len ? memmem(lx->src + body, lx->len - body, "#}", 2) : NULL;
  if (!e) return lex_fail(lx, open, "unterminated comment"), 0;
  size_t end = (size_t)(e - lx->src);
  after->strip = end > body && lx->src[end - 1] == '-';
  after->trim_nl = !(end > body && lx->src[end - 1] == '+');
  return end + 2;
}

// {% raw %}...{% endraw %}: the body is text. Returns the offset after it,
// 0 on error.
static size_t lex_raw(lexer *lx, size_t open, size_t raw, bool raw_strip, lex_after *after) {
  size_t bend;
  bool sb, sa;
  size_t end = lex_raw_close(lx->src, lx->len, raw, &bend, &sb, &sa);
  if (!end) return lex_fail(lx, open, "unterminated {% raw %} block"), 0;
  size_t rs = raw, rn = bend - raw;
  if (raw_strip)
    while (rn && is_space(lx->src[rs])) rs++, rn--;
  if (sb)
    while (rn && is_space(lx->src[rs + rn - 1])) rn--;
  if (lex_text(lx, rs, rn)) return lex_fail(lx, open, "out of memory"), 0;
  after->strip = sa;
  after->trim_nl = !sa;
  return end;
}

// The text from pos to the next tag at `open`, trimmed by the tag before it
// (`after`) and by the next tag's own sign and lstrip_blocks.
static int lex_text_before(lexer *lx, size_t pos, size_t open, lex_after after) {
  const char *src = lx->src;
  size_t ts = pos, tn = open - pos;
  if (after.strip)
    while (tn && is_space(src[ts])) ts++, tn--;
  else if (after.trim_nl && tn && src[ts] == '\n') ts++, tn--;  // not "\r\n", as @huggingface/jinja
  if (open < lx->len) {
    char kind = src[open + 1], sign = open + 2 < lx->len ? src[open + 2] : 0;
    if (sign == '-')
      while (tn && is_space(src[ts + tn - 1])) tn--;
    else if (kind != '{' && sign != '+')
      tn = lex_lstrip_len(src, ts, tn);
  }
  return lex_text(lx, ts, tn);
}

tk *tmpl_lex(const char *src, size_t len, size_t *ntk) {
  lexer lx = {.src = src, .len = len};
  if (len > 0 && src[len - 1] == '\n') lx.len = --len;  // keep_trailing_newline off
  lex_after after = {false, false};
  size_t pos = 0;
  while (pos < len) {
    size_t open = lex_find_open(src, len, pos);
    if (lex_text_before(&lx, pos, open, after)) return lex_fail(&lx, open, "out of memory");
    if (open == len) break;
    char kind = src[open + 1], sign = open + 2 < len ? src[open + 2] : 0;
    size_t body = open + 2 + (sign == '-' || (sign == '+' && kind != '{'));
    bool raw_strip = false;
    size_t raw = kind == '%' ? lex_raw_open(src, len, body, &raw_strip) : 0;
    if (kind == '#') {
      pos = lex_comment(&lx, open, body, &after);
    } else if (raw) {
      pos = lex_raw(&lx, open, raw, raw_strip, &after);
    } else {
      if (lex_push(&lx, kind == '%' ? TK_STMT_OPEN : TK_EXPR_OPEN, 0, open, NULL, 0))
        return lex_fail(&lx, open, "out of memory");
      bool plus_after = false;
      pos = lex_tag(&lx, open, body, kind, &after.strip, &plus_after);
      after.trim_nl = kind == '%' && !plus_after;
    }
    if (!pos) return NULL;
  }
  if (lex_push(&lx, TK_EOF, 0, len, NULL, 0)) return lex_fail(&lx, len, "out of memory");
  *ntk = lx.n;
  return lx.v;
}
