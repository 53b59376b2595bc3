/*
 * src/core/rope.c: RoPE inverse frequencies and cos/sin tables.
 *
 * Formulas from shared/spec/rope-scaling.md section 2 (transformers 4.5x semantics), with
 * d = n_rot rotated dimensions and base = theta:
 *   default  f_i = base^(-2i/d)
 *   linear   f_i / factor
 *   dynamic  base' = base * (factor * L / M - (factor - 1))^(d / (d - 2)), L = seq_len
 *   llama3   by wavelength 2 pi / f_i: keep (short), / factor (long), smooth in between
 *   yarn     ramp between f_i and f_i / factor over the correction range, cos/sin scaled
 *            by the attention factor 0.1 ln(factor) + 1 unless given
 * Angles are float32(p) * float32(f_i) in float32, as transformers computes them, and
 * cos/sin are then rounded once from double.
 */
#include "rope.h"

#include <math.h>

static double yarn_mscale(double scale, double m) {
    return scale <= 1.0 ? 1.0 : 0.1 * m * log(scale) + 1.0;
}

/* The pair index at which a frequency makes `rotations` turns over orig_ctx positions. */
static double yarn_correction_dim(double rotations, double d, double base, double orig_ctx) {
    return d * log(orig_ctx / (rotations * 2.0 * M_PI)) / (2.0 * log(base));
}

void ql_rope_freqs(const ql_hparams *hp, int32_t seq_len, float *inv_freq, float *attn_factor) {
    const ql_rope_params *r = &hp->rope;
    int32_t half = hp->n_rot / 2;
    double d = (double)hp->n_rot, base = r->base;
    *attn_factor = 1.0f;
    if (r->scaling == QL_ROPE_SCALING_DYNAMIC && seq_len > hp->n_ctx_train && d > 2) {
        double L = seq_len, M = hp->n_ctx_train, f = r->factor;
        base = base * pow(f * L / M - (f - 1.0), d / (d - 2.0));
    }
    for (int32_t i = 0; i < half; i++) {
        /* transformers: 1 / base^(2i/d) with the exponent and the power in float32 */
        float expo = (float)(2 * i) / (float)d;
        float f = (float)(1.0 / pow(base, (double)expo));
        inv_freq[i] = f;
    }
    if (r->freq_factors) /* llama.cpp's rope_freqs.weight: per-pair divisors */
        for (int32_t i = 0; i < half; i++) inv_freq[i] = (float)((double)inv_freq[i] / r->freq_factors[i]);
    switch (r->scaling) {
    case QL_ROPE_SCALING_NONE:
    case QL_ROPE_SCALING_DYNAMIC:
        break;
    case QL_ROPE_SCALING_LINEAR:
        for (int32_t i = 0; i < half; i++) inv_freq[i] = (float)((double)inv_freq[i] / r->factor);
        break;
    case QL_ROPE_SCALING_LLAMA3: {
        double O = r->orig_ctx > 0 ? r->orig_ctx : hp->n_ctx_train;
        double lf = r->low_freq_factor, hf = r->high_freq_factor, factor = r->factor;
        double low_wavelen = O / lf, high_wavelen = O / hf;
        for (int32_t i = 0; i < half; i++) {
            double f = inv_freq[i], w = 2.0 * M_PI / f, out;
            if (w < high_wavelen) out = f;
            else if (w > low_wavelen) out = f / factor;
            else {
                double s = (O / w - lf) / (hf - lf);
                out = (1.0 - s) * f / factor + s * f;
            }
            inv_freq[i] = (float)out;
        }
        break;
    }
    case QL_ROPE_SCALING_YARN: {
        double factor = r->factor;
        double O = r->orig_ctx > 0 ? r->orig_ctx : hp->n_ctx_train;
        double af = r->attn_factor;
        if (!(af > 0)) {
            if (r->mscale > 0 && r->mscale_all_dim > 0)
                af = yarn_mscale(factor, r->mscale) / yarn_mscale(factor, r->mscale_all_dim);
            else
                af = yarn_mscale(factor, 1.0);
        }
        *attn_factor = (float)af;
        double beta_fast = r->beta_fast > 0 ? r->beta_fast : 32.0;
        double beta_slow = r->beta_slow > 0 ? r->beta_slow : 1.0;
        double low = yarn_correction_dim(beta_fast, d, r->base, O);
        double high = yarn_correction_dim(beta_slow, d, r->base, O);
        if (r->yarn_truncate) {
            low = floor(low);
            high = ceil(high);
        }
        if (low < 0) low = 0;
        if (high > d - 1) high = d - 1;
        if (low == high) high += 0.001;
        for (int32_t i = 0; i < half; i++) {
            double ramp = ((double)i - low) / (high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double extrapolation = 1.0 - ramp;
            double f = inv_freq[i];
            /* f / factor (interpolated) weighted by ramp, f (extrapolated) by 1 - ramp */
            inv_freq[i] = (float)(f / factor * (1.0 - extrapolation) + f * extrapolation);
        }
        break;
    }
    }
}

void ql_rope_table(const float *inv_freq, float attn_factor, int32_t n_rot, int32_t p0,
                   int32_t n, float *cs) {
    int32_t half = n_rot / 2;
    for (int32_t t = 0; t < n; t++) {
        float pos = (float)(p0 + t);
        for (int32_t i = 0; i < half; i++) {
            float angle = pos * inv_freq[i];
            cs[(size_t)t * n_rot + 2 * i] = (float)(cos((double)angle) * attn_factor);
            cs[(size_t)t * n_rot + 2 * i + 1] = (float)(sin((double)angle) * attn_factor);
        }
    }
}
