//! Per-call cost of `Dependency::call` around an immediately ready no-op: closed (the
//! common path) against calling the no-op directly, and the rejection cost when open.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{Classification, Dependency, DependencyConfig, Idempotency};

#[derive(Debug)]
struct Never;

async fn noop() -> Result<u64, Never> {
    Ok(black_box(1))
}

fn overhead(c: &mut Criterion) {
    // With BENCH_WITH_RECORDER=1 the service's real Prometheus recorder is installed, so the
    // figures include emitting every metric (without it the `metrics` macros are no-ops).
    if std::env::var_os("BENCH_WITH_RECORDER").is_some() {
        metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().expect("recorder installs");
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let dep = Dependency::new(DependencyConfig::new("bench"), |_: &Never| Classification::TRANSIENT);
    let open = Dependency::new(DependencyConfig::new("bench_open"), |_: &Never| Classification::TRANSIENT);
    open.breaker().force_open();

    let mut group = c.benchmark_group("overhead");
    group.bench_function("direct", |b| b.to_async(&rt).iter(noop));
    group.bench_function("closed", |b| b.to_async(&rt).iter(|| dep.call("noop", Idempotency::Safe, noop)));
    group.bench_function("forced_open", |b| b.to_async(&rt).iter(|| open.call("noop", Idempotency::Safe, noop)));
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
