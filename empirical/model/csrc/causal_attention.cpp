// Causal self-attention for CPU training at small head dims (fp32), forward and backward.
//
// PyTorch's fused CPU attention is built for long rows; at head_dim 16 and a few hundred tokens
// its blocking overhead dominates a small model's step (README, "Training speed"). Here R = 4 query
// rows go together: their scores against 16 keys at a time stay in vector registers (K and V are
// transposed per sequence, so a key block is one load per head dim), the softmax is exact (each
// row's max subtracted) and only its log-sum-exp is kept, and the backward pass recomputes the
// probabilities from it, as flash attention does:
//   P_ij = exp(s_ij - lse_i),  dS_ij = P_ij (dO_i . v_j - dO_i . o_i),
//   dq_i = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dO_i.
// Sequences (batch x heads) run in parallel on PyTorch's intra-op threads. GCC/Clang vector
// extensions, so it compiles to AVX-512 or AVX2 or NEON as the machine has.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <cstring>
#include <vector>

typedef float v16 __attribute__((vector_size(64)));
static inline v16 ld(const float* p) { v16 x; std::memcpy(&x, p, 64); return x; }
static inline void st(float* p, v16 x) { std::memcpy(p, &x, 64); }
constexpr int R = 4;  // query rows per block (the unrolled code below names four)

template <int D>
static void fwd_one(const float* q, const float* k, const float* v, float* o, float* lse, int T, int Tp, float scale,
                    float* kt, float* s) {
  constexpr int DV = D / 16;
  for (int d = 0; d < D; ++d) {
    for (int j = 0; j < T; ++j) kt[d * Tp + j] = k[j * D + d];
    for (int j = T; j < Tp; ++j) kt[d * Tp + j] = 0.f;
  }
  for (int i0 = 0; i0 < T; i0 += R) {
    const int rows = std::min(R, T - i0), n = i0 + rows, nb = (n + 15) / 16;
    float qs[R][D];
    for (int r = 0; r < R; ++r) for (int d = 0; d < D; ++d) qs[r][d] = r < rows ? q[(i0 + r) * D + d] * scale : 0.f;
    for (int jb = 0; jb < nb; ++jb) {
      v16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int d = 0; d < D; ++d) {
        const v16 kv = ld(kt + d * Tp + jb * 16);
        a0 += qs[0][d] * kv; a1 += qs[1][d] * kv; a2 += qs[2][d] * kv; a3 += qs[3][d] * kv;
      }
      st(s + jb * 16, a0); st(s + Tp + jb * 16, a1); st(s + 2 * Tp + jb * 16, a2); st(s + 3 * Tp + jb * 16, a3);
    }
    float inv[R] = {0.f, 0.f, 0.f, 0.f};
    for (int r = 0; r < R; ++r) {
      float* sr = s + r * Tp;
      const int nr = r < rows ? i0 + r + 1 : 0;
      if (nr) {
        float m = sr[0];
        for (int j = 1; j < nr; ++j) m = sr[j] > m ? sr[j] : m;
        float l = 0.f;
        for (int j = 0; j < nr; ++j) { sr[j] = std::exp(sr[j] - m); l += sr[j]; }
        inv[r] = 1.f / l;
        lse[i0 + r] = m + std::log(l);
      }
      for (int j = nr; j < n; ++j) sr[j] = 0.f;
    }
    v16 acc[R][DV] = {};
    for (int j = 0; j < n; ++j) {
      const float p0 = s[j], p1 = s[Tp + j], p2 = s[2 * Tp + j], p3 = s[3 * Tp + j];
      for (int c = 0; c < DV; ++c) {
        const v16 vv = ld(v + j * D + c * 16);
        acc[0][c] += p0 * vv; acc[1][c] += p1 * vv; acc[2][c] += p2 * vv; acc[3][c] += p3 * vv;
      }
    }
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < DV; ++c) st(o + (i0 + r) * D + c * 16, acc[r][c] * inv[r]);
  }
}

template <int D>
static void bwd_one(const float* q, const float* k, const float* v, const float* o, const float* dout, const float* lse,
                    float* dq, float* dk, float* dv, int T, int Tp, float scale, float* kt, float* vt, float* s, float* dp) {
  constexpr int DV = D / 16;
  for (int d = 0; d < D; ++d) {
    for (int j = 0; j < T; ++j) { kt[d * Tp + j] = k[j * D + d]; vt[d * Tp + j] = v[j * D + d]; }
    for (int j = T; j < Tp; ++j) { kt[d * Tp + j] = 0.f; vt[d * Tp + j] = 0.f; }
  }
  std::memset(dk, 0, sizeof(float) * T * D);
  std::memset(dv, 0, sizeof(float) * T * D);
  for (int i0 = 0; i0 < T; i0 += R) {
    const int rows = std::min(R, T - i0), n = i0 + rows, nb = (n + 15) / 16;
    float qs[R][D], gs[R][D], delta[R];
    v16 qv[R][DV], gv[R][DV];
    for (int r = 0; r < R; ++r) {
      delta[r] = 0.f;
      for (int d = 0; d < D; ++d) {
        qs[r][d] = r < rows ? q[(i0 + r) * D + d] * scale : 0.f;  // scaled as in the forward pass
        gs[r][d] = r < rows ? dout[(i0 + r) * D + d] : 0.f;
        delta[r] += r < rows ? gs[r][d] * o[(i0 + r) * D + d] : 0.f;
      }
      for (int c = 0; c < DV; ++c) { qv[r][c] = ld(&qs[r][c * 16]); gv[r][c] = ld(&gs[r][c * 16]); }
    }
    for (int jb = 0; jb < nb; ++jb) {
      v16 a0 = {}, a1 = {}, a2 = {}, a3 = {}, b0 = {}, b1 = {}, b2 = {}, b3 = {};
      for (int d = 0; d < D; ++d) {
        const v16 kv = ld(kt + d * Tp + jb * 16), vv = ld(vt + d * Tp + jb * 16);
        a0 += qs[0][d] * kv; a1 += qs[1][d] * kv; a2 += qs[2][d] * kv; a3 += qs[3][d] * kv;
        b0 += gs[0][d] * vv; b1 += gs[1][d] * vv; b2 += gs[2][d] * vv; b3 += gs[3][d] * vv;
      }
      const int o16 = jb * 16;
      st(s + o16, a0); st(s + Tp + o16, a1); st(s + 2 * Tp + o16, a2); st(s + 3 * Tp + o16, a3);
      st(dp + o16, b0); st(dp + Tp + o16, b1); st(dp + 2 * Tp + o16, b2); st(dp + 3 * Tp + o16, b3);
    }
    for (int r = 0; r < R; ++r) {
      float* sr = s + r * Tp;
      float* pr = dp + r * Tp;
      const int nr = r < rows ? i0 + r + 1 : 0;
      const float L = r < rows ? lse[i0 + r] : 0.f, dl = delta[r];
      for (int j = 0; j < nr; ++j) {
        const float p = std::exp(sr[j] - L);
        sr[j] = p;
        pr[j] = p * (pr[j] - dl);  // dS; dk = sum dS (scale q) below, dq = scale sum dS k
      }
      for (int j = nr; j < n; ++j) { sr[j] = 0.f; pr[j] = 0.f; }
    }
    v16 accq[R][DV] = {};
    for (int j = 0; j < n; ++j) {
      const float e0 = dp[j], e1 = dp[Tp + j], e2 = dp[2 * Tp + j], e3 = dp[3 * Tp + j];
      const float w0 = s[j], w1 = s[Tp + j], w2 = s[2 * Tp + j], w3 = s[3 * Tp + j];
      for (int c = 0; c < DV; ++c) {
        const v16 kv = ld(k + j * D + c * 16);
        accq[0][c] += e0 * kv; accq[1][c] += e1 * kv; accq[2][c] += e2 * kv; accq[3][c] += e3 * kv;
        st(dk + j * D + c * 16, ld(dk + j * D + c * 16) + e0 * qv[0][c] + e1 * qv[1][c] + e2 * qv[2][c] + e3 * qv[3][c]);
        st(dv + j * D + c * 16, ld(dv + j * D + c * 16) + w0 * gv[0][c] + w1 * gv[1][c] + w2 * gv[2][c] + w3 * gv[3][c]);
      }
    }
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < DV; ++c) st(dq + (i0 + r) * D + c * 16, accq[r][c] * scale);
  }
}

template <int D>
static std::vector<at::Tensor> fwd_d(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const int64_t N = q.size(0), T = q.size(1), Tp = (T + 15) / 16 * 16;
  auto o = at::empty_like(q);
  auto lse = at::empty({N, T}, q.options());
  const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
  float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    std::vector<float> kt(D * Tp), s(R * Tp);
    for (int64_t x = b; x < e; ++x)
      fwd_one<D>(qp + x * T * D, kp + x * T * D, vp + x * T * D, op + x * T * D, lp + x * T, T, Tp, (float)scale,
                 kt.data(), s.data());
  });
  return {o, lse};
}

template <int D>
static std::vector<at::Tensor> bwd_d(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& o,
                                     const at::Tensor& dout, const at::Tensor& lse, double scale) {
  const int64_t N = q.size(0), T = q.size(1), Tp = (T + 15) / 16 * 16;
  auto dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
  const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
  const float *opp = o.data_ptr<float>(), *gp = dout.data_ptr<float>(), *lp = lse.data_ptr<float>();
  float *dqp = dq.data_ptr<float>(), *dkp = dk.data_ptr<float>(), *dvp = dv.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    std::vector<float> kt(D * Tp), vt(D * Tp), s(R * Tp), dp(R * Tp);
    for (int64_t x = b; x < e; ++x) {
      const int64_t off = x * T * D;
      bwd_one<D>(qp + off, kp + off, vp + off, opp + off, gp + off, lp + x * T, dqp + off, dkp + off, dvp + off,
                 T, Tp, (float)scale, kt.data(), vt.data(), s.data(), dp.data());
    }
  });
  return {dq, dk, dv};
}

static void check(const at::Tensor& t, const at::Tensor& q, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 3 && t.is_contiguous(),
              name, " must be a contiguous fp32 CPU tensor (sequences, tokens, head_dim)");
  TORCH_CHECK(t.sizes() == q.sizes(), name, " has shape ", t.sizes(), ", q ", q.sizes());
}

// q, k, v: (N, T, D) contiguous fp32; returns the output (N, T, D) and the rows' log-sum-exp (N, T).
std::vector<at::Tensor> forward(at::Tensor q, at::Tensor k, at::Tensor v, double scale) {
  check(q, q, "q"); check(k, q, "k"); check(v, q, "v");
  switch (q.size(2)) {
    case 16: return fwd_d<16>(q, k, v, scale);
    case 32: return fwd_d<32>(q, k, v, scale);
    case 64: return fwd_d<64>(q, k, v, scale);
  }
  TORCH_CHECK(false, "head_dim ", q.size(2), " is not one of 16, 32, 64");
}

std::vector<at::Tensor> backward(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor o, at::Tensor dout,
                                 at::Tensor lse, double scale) {
  dout = dout.contiguous();
  check(q, q, "q"); check(k, q, "k"); check(v, q, "v"); check(o, q, "o"); check(dout, q, "grad");
  TORCH_CHECK(lse.device().is_cpu() && lse.scalar_type() == at::kFloat && lse.is_contiguous() && lse.dim() == 2 &&
              lse.size(0) == q.size(0) && lse.size(1) == q.size(1), "lse must be the forward pass's (N, T) fp32 output");
  switch (q.size(2)) {
    case 16: return bwd_d<16>(q, k, v, o, dout, lse, scale);
    case 32: return bwd_d<32>(q, k, v, o, dout, lse, scale);
    case 64: return bwd_d<64>(q, k, v, o, dout, lse, scale);
  }
  TORCH_CHECK(false, "head_dim ", q.size(2), " is not one of 16, 32, 64");
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "causal attention forward: (out, lse)");
  m.def("backward", &backward, "causal attention backward: (dq, dk, dv)");
}
