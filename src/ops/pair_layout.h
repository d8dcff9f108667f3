// pair_layout: where two consecutive blocks of Q4_0, Q4_1, Q5_0 and Q5_1 lie
// in one 32-byte and one 16-byte transpose of a tile's rows (the "pairs" of
// avx512_rows.h, 16 rows, and of quant_avx2.c, 8 rows), written once for
// both widths so that the two cannot disagree on a field. A: the 32 bytes
// from block b's start (block b whole, and block b + 1's scale); B: the 16
// bytes where block b + 1's quants start. Fields two bytes off the dword
// grid are realigned by SHR16 (bytes 2..5 of a dword pair). The values are
// those the per-block unpackers give, so results keep their bits.
//
// PAIR_LAYOUT_DEFINE(S, VI, VF, PT, RT, LOAD2, SHR16, NIB, Q5H, HALF, ZERO)
// defines load<S>_q4_0 .. load<S>_q5_1 (LOAD2(R, off, boff, P) fills A at
// off and B at off + boff) and pair<S>_q4_0 .. pair<S>_q5_1 (first: block
// b, else b + 1) for integer / float vectors VI / VF, pair struct PT and
// rows RT; NIB splits nibbles, Q5H adds Q5's fifth bits, HALF(v, hi) turns
// the low or high fp16 of each lane into float, ZERO is the zero float vector.
#ifndef LLMUX_PAIR_LAYOUT_H
#define LLMUX_PAIR_LAYOUT_H

#define PAIR_LAYOUT_DEFINE(S, VI, VF, PT, RT, LOAD2, SHR16, NIB, Q5H, HALF, ZERO)                  \
  AI void load##S##_q4_0(const RT *R, size_t off, PT *P) { LOAD2(R, off, 20, P); }                \
  AI void load##S##_q4_1(const RT *R, size_t off, PT *P) { LOAD2(R, off, 24, P); }                \
  AI void load##S##_q5_0(const RT *R, size_t off, PT *P) { LOAD2(R, off, 28, P); }                \
  AI void load##S##_q5_1(const RT *R, size_t off, PT *P) { LOAD2(R, off, 32, P); }                \
                                                                                                  \
  AI void pair##S##_q4_0(const PT *P, int first, VI W[8], VF *D, VF *M) {                         \
    if (first) { /* d at byte 0, quants at 2..17 */                                               \
      VI Q[4];                                                                                    \
      UNROLL                                                                                      \
      for (int k = 0; k < 4; k++) Q[k] = SHR16(P->A[k], P->A[k + 1]);                             \
      NIB(Q, W);                                                                                  \
      *D = HALF(P->A[0], 0);                                                                      \
    } else { /* d at 18, quants at 20..35 */                                                      \
      NIB(P->B, W);                                                                               \
      *D = HALF(P->A[4], 1);                                                                      \
    }                                                                                             \
    *M = ZERO;                                                                                    \
  }                                                                                               \
                                                                                                  \
  AI void pair##S##_q4_1(const PT *P, int first, VI W[8], VF *D, VF *M) {                         \
    VI dm = P->A[first ? 0 : 5]; /* d, m at 0 (20), quants at 4..19 (24..39) */                   \
    NIB(first ? P->A + 1 : P->B, W);                                                              \
    *D = HALF(dm, 0);                                                                             \
    *M = HALF(dm, 1);                                                                             \
  }                                                                                               \
                                                                                                  \
  AI void pair##S##_q5_0(const PT *P, int first, VI W[8], VF *D, VF *M) {                         \
    if (first) { /* d at 0, qh at 2..5, quants at 6..21 */                                        \
      VI Q[4];                                                                                    \
      UNROLL                                                                                      \
      for (int k = 0; k < 4; k++) Q[k] = SHR16(P->A[k + 1], P->A[k + 2]);                         \
      NIB(Q, W);                                                                                  \
      Q5H(SHR16(P->A[0], P->A[1]), W);                                                            \
      *D = HALF(P->A[0], 0);                                                                      \
    } else { /* d at 22, qh at 24..27, quants at 28..43 */                                        \
      NIB(P->B, W);                                                                               \
      Q5H(P->A[6], W);                                                                            \
      *D = HALF(P->A[5], 1);                                                                      \
    }                                                                                             \
    *M = ZERO;                                                                                    \
  }                                                                                               \
                                                                                                  \
  AI void pair##S##_q5_1(const PT *P, int first, VI W[8], VF *D, VF *M) {                         \
    VI dm = P->A[first ? 0 : 6]; /* d, m at 0 (24), qh at 4 (28), quants at 8..23 (32..47) */     \
    NIB(first ? P->A + 2 : P->B, W);                                                              \
    Q5H(P->A[first ? 1 : 7], W);                                                                  \
    *D = HALF(dm, 0);                                                                             \
    *M = HALF(dm, 1);                                                                             \
  }

#endif
