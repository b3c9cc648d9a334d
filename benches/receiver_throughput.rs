//! Sustained accepted events/s with durability on (each event committed before its 2xx),
//! against a bare axum handler answering 200 in the same run. Verified notifications from 32
//! concurrent clients.

use crate::load;

use std::time::Duration;

use serde_json::json;
use {
    creditops_net::receiver::spawn, creditops_net::receiver::ReceiverConfig,
    creditops_store::events::EventReader,
};

pub fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dur = if full {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(300)
    };
    let rt = crate::load::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let bare = load::bare_server().await;
        let mut cfg = ReceiverConfig::new(dir.path().join("events.sqlite"));
        cfg.channels.insert("1000000068001".into(), "TOKEN".into());
        let r = spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let body = |n: u64| json!({"server_time": 1718117126473u64, "query_params": {}, "module": "Leads", "ids": [n.to_string()], "affected_fields": [], "operation": "insert", "channel_id": "1000000068001", "token": "TOKEN"});
        let clients = 32;
        let (ceiling, _) = load::post_json(&format!("http://{bare}/hooks/notifications"), &[], clients, dur, body).await;
        let (accepted, failed) = load::post_json(&format!("{}/hooks/notifications", r.base_url()), &[], clients, dur, body).await;
        assert_eq!(failed, 0);
        let stored = EventReader::open(dir.path().join("events.sqlite")).unwrap().count().unwrap();
        println!("| workload | bare axum (ceiling) | receiver, durable | ratio |");
        println!("|---|---|---|---|");
        println!("| verified notification, {clients} clients | {ceiling:.0} req/s | {accepted:.0} events/s | {:.2} |", accepted / ceiling);
        println!("(events stored: {stored})");
    });
}
