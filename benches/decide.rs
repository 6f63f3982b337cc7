//! Criterion benchmarks of deciding: the compiled policy against the floor (precomputed
//! answers found by a hash lookup of the request, returned by reference: `bench::Floor`)
//! and the reference evaluator, on the first-match policies of `rekall-policy bench` (3 to
//! 10,000 rules, HITL-only and both stages), repeated and distinct requests; the worst cases
//! of `bench --adversarial` (families of complex globs, requests built against them); and
//! text to compiled policy.
//!
//! `cargo bench --bench decide`; `rekall-policy bench` prints the same comparison as a table
//! with the targets.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rekall_policy::bench::generate::{self, Stages};
use rekall_policy::bench::{Floor, SIZES, digest};
use rekall_policy::front::Language;
use rekall_policy::{Policy, Request};

/// Requests per iteration of the repeated workload: cut to keep the reference evaluator's
/// iterations short at 10,000 rules.
const REQUESTS: usize = 1_000;
/// Distinct requests of the varied workload, as `rekall-policy bench` times.
const VARIED: usize = 1_000_000;

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times the compiled policy on `requests`, under `compiled/ID`.
fn bench_compiled(
    group: &mut Group<'_>,
    id: &str,
    compiled: &rekall_policy::compile::CompiledPolicy,
    requests: &[Request],
) {
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_with_input(BenchmarkId::new("compiled", id), requests, |b, requests| {
        b.iter(|| {
            requests
                .iter()
                .map(|r| compiled.decide(black_box(r)).map_or(0, |d| digest(&d)))
                .sum::<usize>()
        })
    });
}

/// Times the reference evaluator on `requests`, under `reference/ID`.
fn bench_reference(group: &mut Group<'_>, id: &str, policy: &Policy, requests: &[Request]) {
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("reference", id),
        requests,
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

fn compiled_and_floor(
    group: &mut Group<'_>,
    id: &str,
    compiled: &rekall_policy::compile::CompiledPolicy,
    requests: &[Request],
) {
    let floor = Floor::new(compiled, requests);
    bench_compiled(group, id, compiled, requests);
    group.bench_with_input(BenchmarkId::new("floor", id), requests, |b, requests| {
        b.iter(|| {
            requests
                .iter()
                .map(|r| floor.decide(black_box(r)).map_or(0, digest))
                .sum::<usize>()
        })
    });
}

fn decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    for n in SIZES {
        for stages in Stages::ALL {
            let policy = Policy::from_yaml_str(
                &generate::first_match_policy_yaml(n, stages),
                "generated.yaml",
            )
            .expect("generated policies are valid");
            let compiled = policy.compile();
            let requests = generate::first_match_workload(n, REQUESTS, 1, false);
            let id = format!("{}/{n}", stages.name());
            compiled_and_floor(&mut group, &id, &compiled, &requests);
            if n <= 1_000 {
                bench_reference(&mut group, &id, &policy, &requests);
            }
        }
    }
    group.finish();
}

/// The same on a million distinct requests, where neither side's caches can hold them.
fn decide_varied(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_varied");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    for n in SIZES {
        for stages in Stages::ALL {
            let policy = Policy::from_yaml_str(
                &generate::first_match_policy_yaml(n, stages),
                "generated.yaml",
            )
            .expect("generated policies are valid");
            let compiled = policy.compile();
            let requests = generate::first_match_workload(n, VARIED, 2, true);
            let id = format!("{}/{n}", stages.name());
            compiled_and_floor(&mut group, &id, &compiled, &requests);
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
    for n in [10, 100, 1_000] {
        let policy = Policy::from_yaml_str(&generate::complex_policy_yaml(n), "complex.yaml")
            .expect("generated policies are valid");
        let compiled = policy.compile();
        let requests = generate::complex_workload(n, REQUESTS, 1);
        for r in &requests {
            assert_eq!(compiled.decide(r), policy.decide(r), "{r:?}");
        }
        let id = n.to_string();
        bench_compiled(&mut group, &id, &compiled, &requests);
        bench_reference(&mut group, &id, &policy, &requests);
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
            let id = format!("{}/{n}", family.name());
            bench_compiled(&mut group, &id, &compiled, &requests);
            if n <= 1_000 {
                bench_reference(&mut group, &id, &policy, &requests[..4]);
            }
        }
    }
    group.finish();
}

/// Text to compiled policy (parse, validate, compile), YAML and DSL.
fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    for n in SIZES {
        let yaml = generate::first_match_policy_yaml(n, Stages::Both);
        let policy =
            Policy::from_yaml_str(&yaml, "generated.yaml").expect("generated policies are valid");
        let dsl = rekall_policy::print::to_dsl(policy.doc());
        for (language, name, text) in [
            (Language::Yaml, "yaml", &yaml),
            (Language::Dsl, "dsl", &dsl),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), text, |b, text| {
                b.iter(|| Policy::from_str_in(language, text, "bench").map(|p| p.compile()))
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    decide,
    decide_varied,
    decide_complex,
    decide_adversarial,
    compile
);
criterion_main!(benches);
