// json_schema: constrained decoding for OpenAI's response_format (json_schema,
// json_object) and forced tool calls. A JSON Schema (the subset below) is
// compiled once into a graph of value nodes; a matcher state follows the
// bytes a model has produced and says which continuations keep the output a
// valid document, down to the token: jsm_mask bans every token of a
// vocabulary whose bytes cannot follow.
//
//   jsm_schema *s = jsm_compile(schema, err, sizeof err);   // once per request
//   jsm_vocab *v = jsm_vocab_new(pieces, lens, n_vocab);    // once per model
//   jsm_state *st = jsm_state_new(s);
//   for (;;) {
//     jsm_mask(st, v, logits);                    // then allow EOG iff jsm_complete(st)
//     t = sample(logits);
//     if (is_eog(t)) break;
//     jsm_feed(st, piece[t], len[t]);             // true for any token mask allowed
//   }
//
// Supported: type (one or a list), properties, required, additionalProperties
// (false, true or a schema), items, prefixItems (and the older items-as-array),
// minItems, maxItems, minLength, maxLength, enum, const, anyOf, oneOf (as
// anyOf), allOf with one entry, $ref to any JSON pointer in the document
// ("#", "#/$defs/x", "#/definitions/x"; recursion allowed), nullable.
// Annotations are ignored: title, description, default, examples, $schema,
// $id, $comment, format, strict, deprecated, readOnly, writeOnly; $defs and
// definitions only hold schemas for $ref. Any other keyword is an error.
// What is generated, on purpose narrower than what validates:
//   - properties come in declaration order; optional ones may be skipped;
//     required names missing from properties come after them (any value);
//   - without additionalProperties (or with false) only the declared
//     properties are generated, except that an object schema declaring no
//     properties at all (json_object mode's {"type":"object"}) takes any
//     keys; with true or a schema, extra keys (never one of the declared
//     names, however escaped) may follow the declared ones;
//   - prefixItems without items: exactly those items, no more;
//   - without type, the type comes from the keywords (properties, required,
//     additionalProperties: object; items, prefixItems, min/maxItems: array;
//     min/maxLength: string); none of them: any value;
//   - enum and const values are written compactly, exactly as serialized
//     (object keys in their order, no spaces); values that contradict the
//     other keywords of the same schema are dropped;
//   - whitespace between JSON tokens: none, one space or tab, or a newline
//     and at most JSM_MAX_INDENT spaces or tabs (pretty-printing fits), so a
//     model cannot loop on whitespace; strings: valid UTF-8, all JSON escapes,
//     surrogates only in pairs, no \u0000; numbers: JSON grammar, at most 15
//     integer digits, 16 fraction digits and 2 exponent digits (integer:
//     no fraction or exponent), so every number is finite as a double;
//   - nesting is limited to JSM_MAX_DEPTH values; a schema branch that cannot
//     be completed within it is never entered, so a state always has a way
//     to finish (the mask never bans every token of a byte-complete
//     vocabulary before jsm_complete).
//
// Owns: the compiled schema (immutable, shareable by threads), states, the
// vocabulary tries. Never: touches logits of tokens it allows, or samples.
// Errors: jsm_compile returns NULL with a one-line message ("schema at
// /properties/age: unsupported keyword 'multipleOf'", root shown as "/");
// other constructors return NULL when out of memory.
#ifndef LLMUX_JSON_SCHEMA_H
#define LLMUX_JSON_SCHEMA_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JSM_MAX_DEPTH 64  // nested values (the document's outermost value counts as 1)
#define JSM_MAX_INDENT 20  // spaces or tabs after a newline between two JSON tokens

typedef struct jsm_schema jsm_schema;  // compiled, immutable, shareable across threads
typedef struct jsm_state jsm_state;    // a matcher position
typedef struct jsm_vocab jsm_vocab;    // a model's token pieces as tries, immutable

// schema NULL or {} (or true) means any JSON value; json_object mode passes
// {"type":"object"}. On an unsupported or malformed schema returns NULL and
// writes a one-line error naming the keyword and its JSON pointer into err.
jsm_schema *jsm_compile(const json_t *schema, char *err, size_t err_size);
void jsm_schema_free(jsm_schema *s);

// A state at the start of a document. The schema must outlive it.
jsm_state *jsm_state_new(const jsm_schema *s);
void jsm_state_free(jsm_state *st);
// dst becomes src (any two states; dst then follows src's schema). Costs the
// live configurations' frames, usually a few hundred bytes. False when out of
// memory (dst unchanged).
bool jsm_state_copy(jsm_state *dst, const jsm_state *src);
// Back to the start of a document.
void jsm_state_reset(jsm_state *st);
// Feeds bytes of output; returns false, and leaves the state unchanged, if
// they cannot continue a valid document. Multi-byte UTF-8 characters may be
// split across calls.
bool jsm_feed(jsm_state *st, const char *bytes, size_t n);
// True when the bytes fed so far are a complete valid document (trailing
// whitespace allowed), so end-of-generation may be allowed.
bool jsm_complete(const jsm_state *st);

// pieces[i] (lens[i] bytes) are the bytes token i decodes to; an empty piece
// (special/control token) is never allowed, nor one longer than 4096 bytes.
// The arrays need not outlive the call.
jsm_vocab *jsm_vocab_new(const char *const *pieces, const size_t *lens, int n_vocab);
void jsm_vocab_free(jsm_vocab *v);
int jsm_vocab_size(const jsm_vocab *v);
// Sets logits[t] = -INFINITY for every token t whose bytes cannot follow the
// state, and leaves the others alone. The caller handles end-of-generation
// itself with jsm_complete. logits has jsm_vocab_size(v) entries. Cost: one
// depth-first walk of the token trie, pruned where a prefix is rejected;
// inside a string the tokens of plain string characters are decided from a
// per-token length without walking.
void jsm_mask(const jsm_state *st, const jsm_vocab *v, float *logits);

#endif
