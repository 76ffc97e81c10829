//! Small dense kernels written so LLVM vectorises them (eight independent accumulators: float sums are
//! not reassociated otherwise).

/// The best instruction set this CPU has (AVX2 on x86-64 v3 machines), detected once.
static ARCH: std::sync::LazyLock<pulp::Arch> = std::sync::LazyLock::new(pulp::Arch::new);

/// `a · b`, compiled for the CPU's widest vectors at run time (pulp's dispatch: the same code built with
/// AVX2 enabled runs 8 lanes per instruction instead of SSE's 4; binaries stay portable).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    ARCH.dispatch(|| dot_lanes(a, b))
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // fixed-size arrays: no bounds checks, so the eight lanes become SIMD adds and multiplies
        let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().expect("chunk of 8"), y.try_into().expect("chunk of 8"));
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// `y += a * x`.
#[inline]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_all_lengths() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n={n}");
        }
        let mut y = vec![1.0, 2.0];
        axpy(2.0, &[1.0, -1.0], &mut y);
        assert_eq!(y, vec![3.0, 0.0]);
    }
}
