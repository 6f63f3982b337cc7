//! Decides the adversarial requests of one family, for instruction counts under callgrind:
//! `adversarial_profile FAMILY RULES REQUESTS ROUNDS [KIND]`, where KIND (0 to 4) keeps only
//! the requests of one kind of `generate::adversarial_requests` (they come in turn).
use rekall_policy::Policy;
use rekall_policy::Request;
use rekall_policy::bench::generate;
use rekall_policy::compile::CompiledPolicy;
use std::hint::black_box;

#[inline(never)]
fn decide_all(c: &CompiledPolicy, rs: &[Request], rounds: usize) -> usize {
    let mut s = 0usize;
    for _ in 0..rounds {
        for r in rs {
            s = s.wrapping_add(
                c.decide(black_box(r))
                    .map_or(0, |d| d.hitl_rule().unwrap_or(7)),
            );
        }
    }
    s
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let family = generate::Family::ALL
        .into_iter()
        .find(|f| f.name() == a[1])
        .unwrap();
    let n: usize = a[2].parse().unwrap();
    let count: usize = a[3].parse().unwrap();
    let rounds: usize = a[4].parse().unwrap();
    let yaml = generate::adversarial_policy_yaml(family, n);
    let policy = Policy::from_yaml_str(&yaml, "p.yaml").unwrap();
    let compiled = policy.compile();
    let mut requests = generate::adversarial_requests(family, n, count, 3);
    if let Some(kind) = a.get(5).and_then(|k| k.parse::<usize>().ok()) {
        requests = requests
            .into_iter()
            .skip(kind)
            .step_by(generate::KINDS)
            .collect();
    }
    black_box(decide_all(&compiled, &requests, 1));
    let t = std::time::Instant::now();
    let s = decide_all(&compiled, &requests, rounds);
    let ns = t.elapsed().as_nanos() as f64 / (rounds * requests.len()) as f64;
    println!("{} {} {s} {ns:.0} ns/decision", a[1], n);
}
