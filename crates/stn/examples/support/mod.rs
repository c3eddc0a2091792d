//! Shared by the benchmark examples.

/// The value below which a fraction `at` of `values` falls (NaN when empty).
pub fn percentile(values: &[f64], at: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 * at) as usize).min(sorted.len() - 1);
    sorted[index]
}
