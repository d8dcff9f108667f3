#!/usr/bin/env python3
"""ktest_ppl: checks forward.py and gguf_np.py against llama.cpp's own numbers.

    python3 tests/reference/ktest_ppl.py [--act-quant] [SHARED_DIR]

For every model named in SHARED_DIR/reference/perplexity.json (llama.cpp's
perplexities of files its own quantizer wrote), computes the perplexity with
forward.py by the method the JSON states, and prints both and their relative
difference. Not run by ctest (about a minute): a tool for changing the reference.
story.txt is tokenized with a small SentencePiece-BPE merge of the stories260K
vocabulary (every model there shares it).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forward  # noqa: E402
import gguf_np  # noqa: E402


def spm_tokenize(f, text, bos):
    """SentencePiece BPE: '▁' for spaces and in front, then repeatedly merge the adjacent
    pair whose merged piece has the highest score (leftmost on ties); unknown characters
    fall back to <0xNN> byte tokens."""
    tokens, scores = f.kv["tokenizer.ggml.tokens"], f.kv["tokenizer.ggml.scores"]
    index = {t: i for i, t in enumerate(tokens)}
    syms = list("\u2581" + text.replace(" ", "\u2581"))
    while True:
        best = None
        for i in range(len(syms) - 1):
            j = index.get(syms[i] + syms[i + 1])
            if j is not None and (best is None or scores[j] > best[0]):
                best = (scores[j], i)
        if best is None:
            break
        i = best[1]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    out = [bos]
    for s in syms:
        out += [index[s]] if s in index else [index["<0x%02X>" % b] for b in s.encode()]
    return out


def perplexity(model, tokens, ctx, bos):
    nll = []
    for c in range(len(tokens) // ctx):
        chunk = tokens[c * ctx:(c + 1) * ctx]
        chunk[0] = bos
        logits = forward.forward(model, chunk)
        for p in range(ctx // 2, ctx - 1):
            row = logits[p]
            top = row.max()
            nll.append(top + np.log(np.exp(row - top).sum()) - row[chunk[p + 1]])
    return float(np.exp(np.mean(nll)))


def main():
    args = [a for a in sys.argv[1:] if a != "--act-quant"]
    act_quant = "--act-quant" in sys.argv[1:]
    shared = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
    ref = json.load(open(os.path.join(shared, "reference", "perplexity.json")))
    vocab = gguf_np.GGUFFile(os.path.join(shared, "models", "stories260K.gguf"))
    bos = int(vocab.kv["tokenizer.ggml.bos_token_id"])
    text = open(os.path.join(shared, "reference", ref["text"])).read()
    tokens = spm_tokenize(vocab, text, bos)
    for path, want in ref["ppl"].items():
        got = perplexity(forward.Model(os.path.join(shared, path), act_quant), tokens, ref["ctx"], bos)
        print("%-42s forward.py %10.4f  llama.cpp %10.4f  %+.1e" % (path, got, want, got / want - 1))


if __name__ == "__main__":
    main()
