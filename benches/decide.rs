//! Criterion benchmarks of deciding: the reference evaluator, the compiled policy and a
//! hash-lookup floor (precomputed answers keyed by the request) on the same requests, for
//! generated first-match policies of 3 to 10,000 rules; the worst cases of `bench
//! --adversarial` (families of complex globs, requests built against them); and compiling.
//!
//! `cargo bench --bench decide`; `rekall-policy bench` prints the same comparison as a table.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rekall_policy::compile::generate;
use rekall_policy::{Decision, Policy, Request};

const SIZES: [usize; 4] = [3, 100, 1_000, 10_000];
/// Requests per iteration: the repeated workload of `rekall-policy bench`, cut to keep the
/// reference evaluator's iterations short at 10,000 rules.
const REQUESTS: usize = 1_000;

type Key = (String, String, Option<u64>);

fn key(r: &Request) -> Key {
    (
        r.action.clone(),
        r.resource.clone(),
        r.confidence.map(f64::to_bits),
    )
}

fn digest(d: &Decision<'_>) -> usize {
    d.hitl_rule().unwrap_or(7) ^ (d.escalation_rule().unwrap_or(3) << 1)
}

fn decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    group.throughput(Throughput::Elements(REQUESTS as u64));
    for n in SIZES {
        let policy = Policy::from_yaml_str(&generate::policy_yaml(n), "generated.yaml")
            .expect("generated policies are valid");
        let compiled = policy.compile();
        let requests = generate::workload(n, REQUESTS, 1);
        let keys: Vec<Key> = requests.iter().map(key).collect();
        let floor: HashMap<Key, Decision<'_>> = requests
            .iter()
            .zip(&keys)
            .filter_map(|(r, k)| Some((k.clone(), compiled.decide(r).ok()?)))
            .collect();

        group.bench_with_input(BenchmarkId::new("compiled", n), &requests, |b, requests| {
            b.iter(|| {
                requests
                    .iter()
                    .map(|r| compiled.decide(black_box(r)).map_or(0, |d| digest(&d)))
                    .sum::<usize>()
            })
        });
        group.bench_with_input(BenchmarkId::new("floor", n), &keys, |b, keys| {
            b.iter(|| {
                keys.iter()
                    .map(|k| floor.get(black_box(k)).cloned().map_or(0, |d| digest(&d)))
                    .sum::<usize>()
            })
        });
        if n <= 1_000 {
            group.bench_with_input(
                BenchmarkId::new("reference", n),
                &requests,
                |b, requests| {
                    b.iter(|| {
                        requests
                            .iter()
                            .map(|r| policy.decide(black_box(r)).map_or(0, |d| digest(&d)))
                            .sum::<usize>()
                    })
                },
            );
        }
    }
    group.finish();
}

/// Policies whose every rule needs the lazy DFA (`?` and classes): what the automaton costs
/// when the index cannot help, warm (the repeated workload) and against the reference.
fn decide_complex(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_complex");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    group.throughput(Throughput::Elements(REQUESTS as u64));
    for n in [10, 100, 1_000] {
        let policy = Policy::from_yaml_str(&generate::complex_policy_yaml(n), "complex.yaml")
            .expect("generated policies are valid");
        let compiled = policy.compile();
        let requests = generate::complex_workload(n, REQUESTS, 1);
        for r in &requests {
            assert_eq!(compiled.decide(r), policy.decide(r), "{r:?}");
        }
        group.bench_with_input(BenchmarkId::new("compiled", n), &requests, |b, requests| {
            b.iter(|| {
                requests
                    .iter()
                    .map(|r| compiled.decide(black_box(r)).map_or(0, |d| digest(&d)))
                    .sum::<usize>()
            })
        });
        group.bench_with_input(
            BenchmarkId::new("reference", n),
            &requests,
            |b, requests| {
                b.iter(|| {
                    requests
                        .iter()
                        .map(|r| policy.decide(black_box(r)).map_or(0, |d| digest(&d)))
                        .sum::<usize>()
                })
            },
        );
    }
    group.finish();
}

/// The families of complex globs of `rekall-policy bench --adversarial`, at 1,000 and
/// 10,000 rules, on their adversarial requests (fields up to 4 KiB); the reference at 1,000
/// rules only, on a few requests (it takes tens of milliseconds each).
fn decide_adversarial(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_adversarial");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(10);
    for family in generate::Family::ALL {
        for n in [1_000, 10_000] {
            let policy = Policy::from_yaml_str(
                &generate::adversarial_policy_yaml(family, n),
                "adversarial.yaml",
            )
            .expect("generated policies are valid");
            let compiled = policy.compile();
            let requests = generate::adversarial_requests(family, n, 64, 3);
            group.throughput(Throughput::Elements(requests.len() as u64));
            let id = format!("{}/{n}", family.name());
            group.bench_with_input(
                BenchmarkId::new("compiled", &id),
                &requests,
                |b, requests| {
                    b.iter(|| {
                        requests
                            .iter()
                            .map(|r| compiled.decide(black_box(r)).map_or(0, |d| digest(&d)))
                            .sum::<usize>()
                    })
                },
            );
            if n <= 1_000 {
                let few = &requests[..4];
                group.throughput(Throughput::Elements(few.len() as u64));
                group.bench_with_input(BenchmarkId::new("reference", &id), few, |b, few| {
                    b.iter(|| {
                        few.iter()
                            .map(|r| policy.decide(black_box(r)).map_or(0, |d| digest(&d)))
                            .sum::<usize>()
                    })
                });
            }
        }
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    for n in SIZES {
        let policy = Policy::from_yaml_str(&generate::policy_yaml(n), "generated.yaml")
            .expect("generated policies are valid");
        group.bench_with_input(BenchmarkId::from_parameter(n), &policy, |b, policy| {
            b.iter(|| policy.compile())
        });
    }
    group.finish();
}

criterion_group!(benches, decide, decide_complex, decide_adversarial, compile);
criterion_main!(benches);
