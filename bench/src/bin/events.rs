//! Events across replicas: how long an event one replica publishes takes to reach a
//! subscriber of another replica on the same PostgreSQL database, the `NOTIFY` ringing
//! (the reader's timer set to an hour, so only the doorbell counts), against one query
//! round trip to that database, measured in the same run. Then the same while every
//! listening connection is terminated every 50 events: how much a dropped doorbell
//! costs, and that nothing is lost.
//!
//! Usage: `bash scripts/with-postgres.sh ./target/release/events [EVENTS]`
//! (`make bench` runs it).

use std::time::{Duration, Instant};

use burrow_bench::{ms, Stats};
use burrow_store::Store;
use sqlx::Connection;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let pg = burrow_testkit::PgDatabase::create().await;
    let publisher = Store::connect(&pg.url).await.unwrap();
    publisher.migrate().await.unwrap();
    let replica = Store::connect(&pg.url).await.unwrap();
    replica.set_event_poll(Duration::from_secs(3600));

    // Baseline: one query's round trip, on the publisher's pool.
    let mut round_trips = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        publisher.events_after(i64::MAX, 1).await.unwrap();
        round_trips.push(start.elapsed());
    }
    let round_trip = Stats::of(&mut round_trips);

    let mut events = replica.subscribe().await.unwrap();
    let (mut publishes, mut deliveries) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let start = Instant::now();
        publisher.publish("bench", &i.to_string()).await.unwrap();
        publishes.push(start.elapsed());
        let event = events.next().await.unwrap();
        deliveries.push(start.elapsed());
        assert_eq!(event.subject, i.to_string());
    }
    let publish = Stats::of(&mut publishes);
    let delivery = Stats::of(&mut deliveries);

    // The same with the listening connections cut every 50 events.
    let mut admin = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let mut cut_deliveries = Vec::with_capacity(n);
    let mut cuts = 0;
    for i in 0..n {
        if i % 50 == 0 {
            let (killed,): (i64,) = sqlx::query_as(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            cuts += killed;
        }
        let start = Instant::now();
        publisher.publish("cut", &i.to_string()).await.unwrap();
        let event = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .expect("every event arrives")
            .unwrap();
        cut_deliveries.push(start.elapsed());
        assert_eq!(event.subject, i.to_string(), "in order, none lost");
    }
    let cut = Stats::of(&mut cut_deliveries);

    println!("events across two replicas on one PostgreSQL, {n} events each");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>8}",
        "", "p50", "p95", "p99", "p50 ×"
    );
    let row = |what: &str, s: &Stats| {
        println!(
            "{what:<44} {:>10} {:>10} {:>10} {:>7.1}×",
            ms(s.median),
            ms(s.p95),
            ms(s.p99),
            s.median.as_secs_f64() / round_trip.median.as_secs_f64()
        );
    };
    row("one query round trip (baseline)", &round_trip);
    row("publish (lock, insert, notify, commit)", &publish);
    row("publish to the other replica's subscriber", &delivery);
    row(
        &format!("the same, listeners cut every 50 ({cuts} cut)"),
        &cut,
    );
}
