//! Exact binomial tail bounds (Clopper–Pearson), from the regularized incomplete beta function.
//!
//! `P(Bin(n, p) <= k) = 1 - I_p(k + 1, n - k)`, so the one-sided Clopper–Pearson upper bound
//! at level `delta` is the `p` where that tail falls to `delta`: the quantile `1 - delta` of
//! `Beta(k + 1, n - k)`. Everything here is plain `f64` arithmetic with no table, so a bound
//! costs a few microseconds at any `n`.

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine terms: about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in the range where it is accurate.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function `I_x(a, b)`, for `a, b > 0` and `x` in [0, 1].
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast on the side of the mean it is evaluated on.
    if x < (a + 1.0) / (a + b + 2.0) {
        (ln_front.exp() * beta_fraction(x, a, b) / a).clamp(0.0, 1.0)
    } else {
        (1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b).clamp(0.0, 1.0)
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-15;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // Convergence takes O(sqrt(max(a, b))) steps; the cap is far above that for any n a
    // policy's window allows, and only guards against a non-terminating loop.
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + even * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + even / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + odd * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + odd / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// `P(Bin(n, p) <= k)`.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    1.0 - incomplete_beta(p, k as f64 + 1.0, (n - k) as f64)
}

/// The one-sided Clopper–Pearson upper bound on a binomial rate: with `bad` of `n` observed,
/// the true rate is at most this with probability at least `1 - delta`. With nothing observed
/// the bound is 1, the most cautious value.
pub fn upper_bound(bad: u64, n: u64, delta: f64) -> f64 {
    if n == 0 || bad >= n {
        return 1.0;
    }
    if bad == 0 {
        // P(Bin(n, p) = 0) = (1 - p)^n = delta, in closed form.
        return 1.0 - delta.powf(1.0 / n as f64);
    }
    // The smallest p whose lower tail at `bad` is at most delta: the tail falls as p grows.
    invert(
        |p| binomial_cdf(bad, n, p) - delta,
        bad as f64 / n as f64,
        1.0,
    )
}

/// The one-sided Clopper–Pearson lower bound: the true rate is at least this with probability
/// at least `1 - delta`.
pub fn lower_bound(bad: u64, n: u64, delta: f64) -> f64 {
    if n == 0 || bad == 0 {
        return 0.0;
    }
    if bad >= n {
        return delta.powf(1.0 / n as f64);
    }
    // The largest p whose upper tail at `bad` (P(X >= bad)) is at most delta.
    invert(
        |p| delta - (1.0 - binomial_cdf(bad - 1, n, p)),
        0.0,
        bad as f64 / n as f64,
    )
}

/// The root of `f`, decreasing across `[lo, hi]`, to 1e-12, by bisection (the tails are
/// monotone in p, so bisection cannot be led astray where Newton's method could).
fn invert(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P(Bin(n, p) <= k)` summed term by term in logarithms: an independent computation.
    fn cdf_by_sum(k: u64, n: u64, p: f64) -> f64 {
        let ln_choose = |n: u64, i: u64| {
            ln_gamma(n as f64 + 1.0) - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0)
        };
        (0..=k)
            .map(|i| (ln_choose(n, i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp())
            .sum()
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut factorial = 1.0f64;
        for n in 1..30u32 {
            factorial *= n as f64;
            let got = ln_gamma(n as f64 + 1.0);
            assert!(
                (got - factorial.ln()).abs() < 1e-10 * factorial.ln().max(1.0),
                "{n}"
            );
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn the_cdf_agrees_with_the_sum_of_its_terms() {
        for &(k, n, p) in &[
            (0, 10, 0.1),
            (3, 10, 0.25),
            (5, 50, 0.05),
            (40, 1_000, 0.05),
            (100, 2_000, 0.06),
            (7, 7, 0.5),
            (499, 10_000, 0.05),
        ] {
            let exact = cdf_by_sum(k, n, p);
            let got = binomial_cdf(k, n, p);
            assert!(
                (exact - got).abs() < 1e-9,
                "P(Bin({n}, {p}) <= {k}): {got} against {exact}"
            );
        }
    }

    #[test]
    fn upper_bounds_match_known_values_and_their_definition() {
        // k = 0 in closed form; the "rule of three" says about 3/n at delta = 0.05.
        assert!((upper_bound(0, 10, 0.05) - 0.258_866_4).abs() < 1e-6);
        assert!((upper_bound(0, 1_000, 0.05) - 0.002_991_5).abs() < 1e-6);
        // One-sided 95% Clopper–Pearson values, computed with exact integer binomial
        // coefficients in rational arithmetic and bisection.
        assert!((upper_bound(1, 10, 0.05) - 0.394_163_302).abs() < 1e-8);
        assert!((upper_bound(5, 100, 0.05) - 0.102_253_378).abs() < 1e-8);
        for &(k, n, delta) in &[
            (1, 10, 0.1),
            (12, 300, 0.1),
            (60, 2_000, 0.05),
            (3, 40, 0.01),
        ] {
            let u = upper_bound(k, n, delta);
            // The bound is where the lower tail reaches delta, computed independently.
            assert!((cdf_by_sum(k, n, u) - delta).abs() < 1e-8, "{k}/{n}");
            assert!(u > k as f64 / n as f64);
            let l = lower_bound(k, n, delta);
            assert!(l < k as f64 / n as f64);
            assert!(
                (1.0 - cdf_by_sum(k - 1, n, l) - delta).abs() < 1e-8,
                "{k}/{n}"
            );
        }
    }

    #[test]
    fn bounds_are_cautious_at_the_edges() {
        assert_eq!(upper_bound(0, 0, 0.1), 1.0);
        assert_eq!(upper_bound(5, 5, 0.1), 1.0);
        assert_eq!(lower_bound(0, 100, 0.1), 0.0);
        assert!(upper_bound(3, 100, 0.01) > upper_bound(3, 100, 0.1));
        assert!(upper_bound(3, 100, 0.1) > upper_bound(3, 1_000, 0.1));
    }
}
