// cmd_bench: `llmux bench -m FILE`: prompt-processing and generation speed
// (median of repeats), beside this machine's memory bandwidth measured in the
// same run, and the share of the bandwidth roofline generation reaches (bytes
// of weights read per token x tokens/s / bandwidth). The bandwidth is read
// again just before and after each generation run, and each run's share is
// taken against the mean of those two readings: on a shared machine the
// bandwidth swings by a quarter from minute to minute. Prompt runs are
// bracketed the same way by readings of the peak arithmetic rate, which
// swings too (710-920 GOP/s on one core of the same machine in one day).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/membw.h"
#include "core/timing.h"
#include "engine/context.h"
#include "models/model.h"
#include "ops/peak.h"
#include "ops/types.h"

typedef struct {
  const char *model;
  int n_prompt, n_gen, threads, reps;
  bool json;
} bench_opts;

typedef struct {
  double bw_start;   // bytes/s before the runs (median of 7 reads)
  double bw;         // bytes/s beside the generation runs (median over repeats), else bw_start
  double pp, tg;
  double tg_roof;    // median over repeats of each generation run's share of its roofline, %
  double pp_share;   // median over repeats of each prompt run's share of the peak read beside it, %
  double peak_start; // ops/s of the arithmetic the main weight type uses, all threads, before the runs
  double peak;       // the same beside the prompt runs (median over repeats), else peak_start
  double amx_peak;   // the AMX tile unit's int8 ops/s when the quantized kernels use it, else 0
  double mm_params;   // multiply-adds per token in the layers' matrix products
  double out_params;  // those of the output projection, which a prompt runs for its last token only
  uint32_t type;     // the type holding most weight bytes
} bench_result;

#define PROBE_BYTES ((size_t)512 << 20)
#define PROBE_READS 2  // per reading beside a generation run

static void count_matrix(const mm_weight *w, double *params, double *bytes_by_type) {
  if (!w->data) return;
  *params += (double)w->n_in * (double)w->n_out;
  bytes_by_type[w->type] += (double)w->row_bytes * (double)w->n_out;
}

// Multiply-adds per token and the dominant weight type, from the bound weights.
static void describe_weights(const llmux_model *m, bench_result *r) {
  double bytes[T_COUNT] = {0};
  r->mm_params = r->out_params = 0;
  count_matrix(&m->output, &r->out_params, bytes);
  for (int il = 0; il < m->hp.n_layer; il++) {
    const layer_weights *L = &m->layers[il];
    const mm_weight *ws[LAYER_MATRIX_COUNT] = LAYER_MATRICES(L);
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) count_matrix(ws[i], &r->mm_params, bytes);
  }
  r->type = 0;
  for (uint32_t t = 1; t < T_COUNT; t++)
    if (bytes[t] > bytes[r->type]) r->type = t;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Tokens/s of one prompt of n tokens from position 0.
static double time_prompt(llmux_context *c, const llmux_token *toks, int n) {
  int64_t t0 = time_ns();
  if (llmux_decode(c, toks, n, 0, false) < 0) return -1;
  return n / ((double)(time_ns() - t0) * 1e-9);
}

// Tokens/s of n single-token steps after one token at position 0.
static double time_gen(llmux_context *c, const llmux_token *toks, int n) {
  if (llmux_decode(c, toks, 1, 0, false) < 0) return -1;
  int64_t t0 = time_ns();
  for (int i = 0; i < n; i++)
    if (llmux_decode(c, toks + 1 + i, 1, 1 + i, false) < 0) return -1;
  return n / ((double)(time_ns() - t0) * 1e-9);
}

// Multiply-adds per prompt token: every layer's products for each token, the
// output projection once (only the last token's logits are computed).
static double prompt_macs(const bench_result *r, int n_prompt) {
  return n_prompt > 0 ? r->mm_params + r->out_params / n_prompt : 0;
}

// One prompt run between two readings of the peak (on the context's own
// threads): its tokens/s, and in *peak the mean of the readings.
static double time_prompt_probed(llmux_context *c, uint32_t type, const llmux_token *toks, int n, double *peak) {
  double before = peak_for_type(c->pool, type);
  double tps = time_prompt(c, toks, n);
  *peak = 0.5 * (before + peak_for_type(c->pool, type));
  return tps;
}

// One generation run between two bandwidth readings (on the context's own
// threads): its tokens/s, and in *bw the mean of the readings.
static double time_gen_probed(llmux_context *c, membw_probe *probe, const llmux_token *toks, int n, double *bw) {
  double before = membw_probe_run(probe, c->pool, PROBE_READS);
  double tps = time_gen(c, toks, n);
  *bw = 0.5 * (before + membw_probe_run(probe, c->pool, PROBE_READS));
  return tps;
}

static void probe_failed(void) {
  err_set("cannot map the %zu MiB buffer that measures memory bandwidth: free some memory or raise the "
          "process's memory limit (ulimit -v)",
          PROBE_BYTES >> 20);
}

// The machine's peaks, measured before the model's context starts its threads.
static int measure_machine(const bench_opts *o, bench_result *r) {
  pool *bwp = pool_new(o->threads);
  if (!bwp) return -1;
  r->bw = r->bw_start = membw_measure(bwp, PROBE_BYTES, 7);
  if (r->bw_start <= 0) {
    pool_free(bwp);
    probe_failed();
    return -1;
  }
  r->peak = r->peak_start = peak_for_type(bwp, r->type);
  bool quantized = r->type != T_F32 && r->type != T_F16 && r->type != T_BF16;
  r->amx_peak = quantized ? peak_int8_amx(bwp) : 0;
  pool_free(bwp);
  return 0;
}

static int measure(llmux_model *m, const bench_opts *o, bench_result *r) {
  describe_weights(m, r);
  if (measure_machine(o, r) < 0) return -1;
  llmux_context_params cp = llmux_context_default_params();
  cp.n_threads = o->threads;
  cp.n_ctx = o->n_prompt + o->n_gen + 8;
  cp.n_batch = o->n_prompt > 0 ? o->n_prompt : 1;
  llmux_context *c = llmux_context_new(m, &cp);
  membw_probe *probe = o->n_gen > 0 ? membw_probe_new(PROBE_BYTES) : NULL;
  if (o->n_gen > 0 && !probe) probe_failed();
  int n_tok = (o->n_prompt > o->n_gen ? o->n_prompt : o->n_gen) + 1;
  llmux_token *toks = malloc(sizeof *toks * (size_t)n_tok);
  size_t reps = (size_t)o->reps;
  double *pp = calloc(reps, sizeof *pp), *tg = calloc(reps, sizeof *tg), *bw = calloc(reps, sizeof *bw),
         *share = calloc(reps, sizeof *share), *peak = calloc(reps, sizeof *peak), *pp_share = calloc(reps, sizeof *pp_share);
  int rc = !c || !toks || !pp || !tg || !bw || !share || !peak || !pp_share || (o->n_gen > 0 && !probe) ? -1 : 0;
  uint64_t s = 12345;
  for (int i = 0; rc == 0 && i < n_tok; i++)
    s = s * 6364136223846793005ull + 1, toks[i] = (llmux_token)((s >> 33) % (uint64_t)llmux_model_n_vocab(m));
  double wb = (double)llmux_model_weight_bytes(m), pp_ops = 2.0 * prompt_macs(r, o->n_prompt);
  for (int k = 0; k < o->reps && rc == 0; k++) {
    if (o->n_prompt > 0 && (pp[k] = time_prompt_probed(c, r->type, toks, o->n_prompt, &peak[k])) < 0) rc = -1;
    if (o->n_prompt > 0 && rc == 0) pp_share[k] = peak[k] > 0 ? pp[k] * pp_ops / peak[k] * 100.0 : 0;
    if (o->n_gen > 0 && rc == 0 && (tg[k] = time_gen_probed(c, probe, toks, o->n_gen, &bw[k])) < 0) rc = -1;
    if (o->n_gen > 0 && rc == 0) share[k] = bw[k] > 0 ? wb * tg[k] / bw[k] * 100.0 : 0;
    cli_progress("bench", (float)(k + 1) / (float)o->reps);
  }
  r->pp = rc == 0 && o->n_prompt > 0 ? median(pp, o->reps) : 0;
  if (rc == 0 && o->n_prompt > 0) {
    r->peak = median(peak, o->reps);
    r->pp_share = median(pp_share, o->reps);
  }
  r->tg = rc == 0 && o->n_gen > 0 ? median(tg, o->reps) : 0;
  if (rc == 0 && o->n_gen > 0) {
    r->bw = median(bw, o->reps);
    r->tg_roof = median(share, o->reps);
  }
  membw_probe_free(probe);
  llmux_context_free(c);
  free(toks), free(pp), free(tg), free(bw), free(share), free(peak), free(pp_share);
  return rc;
}

static void report(const llmux_model *m, const bench_opts *o, const bench_result *r) {
  double wb = (double)llmux_model_weight_bytes(m), roof = r->tg_roof;
  double pp_macs = prompt_macs(r, o->n_prompt);
  double pp_ops = r->pp * 2.0 * pp_macs, pp_pct = r->pp_share;
  double amx_pct = r->amx_peak > 0 ? pp_ops / r->amx_peak * 100.0 : 0;
  const char *unit = r->type == T_F32 || r->type == T_F16 || r->type == T_BF16 ? "f32 FMA" : "int8 dot";
  if (o->json) {
    printf("{\"model\": \"%s\", \"arch\": \"%s\", \"weight_bytes\": %.0f, \"threads\": %d, \"simd\": \"%s\", "
           "\"mem_bw_gbs\": %.2f, \"mem_bw_start_gbs\": %.2f, \"n_prompt\": %d, \"pp_tps\": %.2f, \"n_gen\": %d, \"tg_tps\": %.2f, "
           "\"tg_roofline_pct\": %.1f, \"weight_type\": \"%s\", \"pp_macs_per_token\": %.0f, \"pp_gops\": %.1f, "
           "\"peak_gops\": %.1f, \"peak_start_gops\": %.1f, \"pp_peak_pct\": %.1f, \"amx_peak_gops\": %.1f, \"pp_amx_peak_pct\": %.1f, "
           "\"reps\": %d}\n",
           llmux_model_name(m), llmux_model_arch(m), wb, o->threads, cpu_simd_name(cpu_simd_level()), r->bw / 1e9,
           r->bw_start / 1e9, o->n_prompt, r->pp, o->n_gen, r->tg, roof, type_name(r->type), pp_macs, pp_ops / 1e9, r->peak / 1e9, r->peak_start / 1e9, pp_pct,
           r->amx_peak / 1e9, amx_pct, o->reps);
    return;
  }
  printf("model           %s (%s), %.1f MiB of weights read per token\n", llmux_model_name(m), llmux_model_arch(m),
         wb / (1 << 20));
  printf("threads         %d (%s kernels)\n", o->threads, cpu_simd_name(cpu_simd_level()));
  if (o->n_gen > 0)
    printf("memory bw       %.2f GB/s beside the generation runs (%.2f before the runs)\n", r->bw / 1e9,
           r->bw_start / 1e9);
  else
    printf("memory bw       %.2f GB/s (median of 7 reads of 512 MiB)\n", r->bw / 1e9);
  if (o->n_prompt > 0)
    printf("peak            %.1f GOP/s %s (%s weights) beside the prompt runs (%.1f before the runs)\n", r->peak / 1e9,
           unit, type_name(r->type), r->peak_start / 1e9);
  else
    printf("peak            %.1f GOP/s %s (%s weights), measured\n", r->peak / 1e9, unit, type_name(r->type));
  if (r->amx_peak > 0) printf("AMX peak        %.1f GOP/s int8 tile products, measured\n", r->amx_peak / 1e9);
  if (o->n_prompt > 0)
    printf("prompt  pp%-5d %.2f tokens/s (median of %d) = %.1f GOP/s, %.1f%% of peak\n"
           "                (each run against the peak read beside it, median of the runs)\n",
           o->n_prompt, r->pp, o->reps, pp_ops / 1e9, pp_pct);
  if (o->n_prompt > 0 && r->amx_peak > 0) printf("                %.1f%% of the AMX peak\n", amx_pct);
  if (o->n_gen > 0)
    printf("generate tg%-4d %.2f tokens/s (median of %d), %.1f%% of the bandwidth roofline (%.2f tokens/s;\n"
           "                each run against the bandwidth read beside it, median of the runs)\n",
           o->n_gen, r->tg, o->reps, roof, r->bw / wb);
}

int cmd_bench(int argc, char **argv) {
  bench_opts o = {.n_prompt = 512, .n_gen = 128, .threads = cpu_count(), .reps = 3};
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help")) {
      printf("usage: llmux bench -m FILE [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r REPEATS] [--json]\n");
      return 0;
    } else if (arg_str(argc, argv, &i, "-m", "--model", &o.model) || arg_int(argc, argv, &i, "-p", NULL, &o.n_prompt) ||
               arg_int(argc, argv, &i, "-n", NULL, &o.n_gen) || arg_int(argc, argv, &i, "-t", "--threads", &o.threads) ||
               arg_int(argc, argv, &i, "-r", "--repeats", &o.reps)) {
    } else if (arg_flag(argv, i, "--json")) {
      o.json = true;
    } else {
      return arg_unknown("bench", argv[i]);
    }
  }
  if (o.n_prompt < 0 || o.n_gen < 0 || o.reps < 1 || o.threads < 1)
    return fprintf(stderr, "llmux bench: -p, -n must be >= 0, -r and -t >= 1\n"), 2;
  llmux_model *m = cli_load_model("bench", o.model);
  if (!m) return 1;
  bench_result r = {0};
  int rc = measure(m, &o, &r);
  if (rc < 0) fprintf(stderr, "llmux bench: %s\n", llmux_last_error());
  else report(m, &o, &r);
  llmux_model_free(m);
  return rc < 0 ? 1 : 0;
}
