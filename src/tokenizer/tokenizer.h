// tokenizer: text <-> token ids for the three vocabulary families llama.cpp
// knows, built from GGUF metadata (tokenizer.ggml.*) or from Hugging Face files
// (tokenizer.json, or GPT-2 style encoder.json + vocab.bpe):
//   - SPM  (tokenizer.ggml.model = "llama"): SentencePiece BPE over scores, with
//          <0xNN> byte fallback and the "▁" space convention;
//   - BPE  (model "gpt2"): byte-level BPE over ranked merges, after a
//          pre-tokenizer (PCRE2 regexes chosen by tokenizer.ggml.pre);
//   - WPM  (model "bert"): WordPiece, greedy longest match per word.
// The output is exact to llama.cpp's tokenizer (its test vectors are the
// acceptance test), including special-token parsing and its quirks.
//
// Owns: its own copy of the vocabulary (token texts, scores, types, merges) and
// hash indexes over it; a tokenizer never points into the file it came from.
// Never: touches model weights, chat templates or sampling. A tokenizer is
// immutable after loading, so one may be shared by any number of threads.
// Errors: constructors return NULL and set core/error.h's message.
//
// Limits, on purpose: no Unigram (T5) or RWKV vocabularies; tokenizer.json
// only for byte-level BPE (SentencePiece-style files: use the GGUF). Decoding
// skips the reference's clean_up_tokenization_spaces (it loses text) except
// for WordPiece, whose output is not lossless anyway. Speed, one core: a 100k
// vocabulary + merges loads from GGUF in ~20 ms, a 150k tokenizer.json in
// ~80 ms; BPE encodes ~6 MB/s, SPM ~3 MB/s (one merge heap per fragment).
#ifndef LLMUX_TOKENIZER_H
#define LLMUX_TOKENIZER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct tokenizer tokenizer;

// Reads tokenizer.ggml.* (model, pre, tokens, scores, token_type, merges,
// special ids, add_bos_token, add_eos_token, add_space_prefix). Copies what it
// needs: `f` may be closed afterwards. Models "t5", "none", "rwkv" and unknown
// pre-tokenizers fail with a clear error.
tokenizer *tokenizer_from_gguf(const gguf_file *f);
// A Hugging Face tokenizer.json with a BPE model: vocab, merges, added_tokens,
// normalizer (NFC) and the pre-tokenizer's Split regexes.
tokenizer *tokenizer_from_hf_json(const char *tokenizer_json_path);
// GPT-2 style files: encoder.json (token -> id) and vocab.bpe (merges), with the
// pre-tokenizer named as in tokenizer.ggml.pre ("llama-bpe", "gpt-2", ...).
// For Llama 3 names the 256 Llama 3 special tokens (128000..) are added.
tokenizer *tokenizer_from_bpe_files(const char *encoder_json, const char *vocab_bpe,
                                    const char *pre_name);
void tokenizer_free(tokenizer *t);

// Text to ids. add_special: BOS/EOS (CLS/SEP for BERT) as the vocabulary asks.
// parse_special: texts of control tokens in `text` become those tokens
// (user-defined tokens always do, as in llama.cpp). Returns the count; if it
// exceeds max_out, returns -count and writes nothing; INT32_MIN on error.
// Invalid UTF-8 is tokenized as llama.cpp does (BPE: U+FFFD; SPM: byte tokens).
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *out, int max_out);
// The bytes of one token (not NUL-terminated): SPM "▁" -> ' ' and <0xNN> -> the
// byte; BPE byte-level unmapping; control/unknown tokens only when `special`.
// Returns the length, or -needed when it exceeds `size`.
int tokenizer_token_to_piece(const tokenizer *t, int32_t id, char *buf, int size, bool special);
// A whole sequence. With add_space_prefix (SPM) the leading space of the first
// piece (after any BOS) is dropped, so decode(encode(s)) == s. NUL-terminates
// if there is room; returns the length, or -needed.
int tokenizer_decode(const tokenizer *t, const int32_t *ids, int n, char *buf, int size,
                     bool special);

int32_t tokenizer_n_vocab(const tokenizer *t);
int32_t tokenizer_bos(const tokenizer *t);  // -1 if none
int32_t tokenizer_eos(const tokenizer *t);  // -1 if none
// End of generation: eos, eot, eom and the well-known end-of-turn tokens.
bool tokenizer_is_eog(const tokenizer *t, int32_t id);
bool tokenizer_is_control(const tokenizer *t, int32_t id);
const char *tokenizer_token_text(const tokenizer *t, int32_t id);  // raw vocab string; NULL if out of range
int32_t tokenizer_find(const tokenizer *t, const char *text);       // -1 if none
bool tokenizer_add_bos(const tokenizer *t);

#endif
